"""Synthetic customer tables with known segments, for checking the choice of k and recovery.

Each table has k planted groups of unequal size, columns in different units (years, visits per
month, a 1-7 rating, a right-skewed amount in EUR), a pure-noise column and a categorical column
that leans with the group. The truth is returned alongside.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SUITE_KS = (2, 3, 4, 5, 6, 7, 8, 3, 4, 5)
DICTIONARY = {
    "id_column": "customer_id",
    "columns": {
        "customer_id": {"role": "id"},
        "age": {"unit": "years"},
        "visits": {"unit": "visits / month"},
        "rating": {"type": "ordinal", "scale": {"min": 1, "max": 7}},
        "spend": {"unit": "EUR"},
        "noise": {},
        "plan": {"role": "segment", "type": "categorical"},
    },
}


def _centres(k: int, rng: np.random.Generator, dims: int = 4, min_dist: float = 6.0) -> np.ndarray:
    """k centres in units of the within-group SD, pairwise at least min_dist apart."""
    for _ in range(10_000):
        c = rng.uniform(-7, 7, size=(k, dims))
        d = np.sqrt(((c[:, None] - c[None]) ** 2).sum(-1)) + np.eye(k) * 99
        if d.min() >= min_dist:
            return c
    raise RuntimeError("could not place centres")


def make_table(k: int, seed: int, n: int = 1500) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    shares = rng.dirichlet(np.full(k, 3.0))
    shares = np.maximum(shares, 0.08)
    shares /= shares.sum()
    sizes = np.maximum((shares * n).astype(int), 1)
    truth = np.repeat(np.arange(k), sizes)
    c = _centres(k, rng)[truth]
    m = len(truth)
    age = 45 + 4 * (c[:, 0] + rng.normal(size=m))
    visits = np.maximum(0, 8 + 1.2 * (c[:, 1] + rng.normal(size=m)))
    rating = np.clip(np.rint(4 + 0.45 * (c[:, 2] + rng.normal(size=m))), 1, 7)
    spend = np.exp(5.5 + 0.25 * (c[:, 3] + rng.normal(size=m)))  # log-normal: skewed amounts
    noise = rng.normal(100, 25, size=m)
    plans = np.array(["Basic", "Plus", "Premium", "Family"])
    lean = rng.integers(0, len(plans), size=k)[truth]
    plan = np.where(rng.random(m) < 0.7, plans[lean], rng.choice(plans, size=m))
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(m)],
            "age": age.round(0),
            "visits": visits.round(1),
            "rating": rating.astype(int),
            "spend": spend.round(2),
            "noise": noise.round(2),
            "plan": plan,
        }
    )
    order = rng.permutation(m)
    return frame.iloc[order].reset_index(drop=True), truth[order]


def recover(k: int, seed: int) -> tuple[int, float, tuple[str, ...]]:
    """Run the brief's analysis stages on one synthetic table: (k found, ARI, screened out)."""
    from dataclasses import replace

    from sklearn.metrics import adjusted_rand_score

    from reportgen.analysis.choose_k import choose_k
    from reportgen.analysis.cluster import cluster
    from reportgen.analysis.prepare import prepare
    from reportgen.analysis.screen import screen_features
    from reportgen.io.dictionary import dictionary_from_mapping, resolve_dictionary

    frame, truth = make_table(k, seed)
    dictionary = resolve_dictionary(frame, dictionary_from_mapping(DICTIONARY))
    prepared = prepare(frame, dictionary)
    screening = screen_features(prepared, seed=42)
    if screening.noise:
        columns = tuple(
            replace(c, role="describe") if c.name in screening.noise else c
            for c in dictionary.columns
        )
        prepared = prepare(frame, replace(dictionary, columns=columns))
    choice = choose_k(prepared.scaled, k=None, k_max=10, seed=42)
    seg = cluster(prepared.scaled, k=choice.k, seed=42)
    return choice.k, float(adjusted_rand_score(truth, seg.labels)), screening.noise
