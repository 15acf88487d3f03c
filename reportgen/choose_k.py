"""Stage 3 — choose k: evidence for each candidate number of segments, and the choice.

Pure: takes the standardised matrix, returns `KChoice` (the evidence table and the chosen k with
the reason in words). The elbow's knee is found by `kneed` (Satopää et al.'s Kneedle), not by eye.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from kneed import KneeLocator
from sklearn.cluster import KMeans

from .errors import InputError


@dataclass(frozen=True)
class KEvidence:
    k: int
    inertia: float  # within-cluster sum of squares, standardised units


@dataclass(frozen=True)
class KChoice:
    k: int
    method: str  # "elbow" or "user"
    reason: str
    evidence: tuple[KEvidence, ...]
    knee: int | None  # what the elbow said, even when the user chose k


def max_k_for(n_rows: int, n_distinct: int, k_max: int) -> int:
    return max(1, min(k_max, n_rows - 1, n_distinct))


def choose_k(
    scaled: np.ndarray, *, k: int | None, k_max: int, seed: int, n_init: int = 10
) -> KChoice:
    n_rows = scaled.shape[0]
    n_distinct = len(np.unique(scaled, axis=0))
    if k is not None and k > n_rows:
        raise InputError(f"only {n_rows} usable rows: fewer than the {k} segments asked for")
    if k is not None and k > n_distinct:
        raise InputError(
            f"only {n_distinct} distinct customer profiles in the data: cannot make {k} segments"
        )
    upper = max_k_for(n_rows, n_distinct, k_max)
    if k is None and upper < 2:
        raise InputError(
            f"only {n_rows} usable rows with {n_distinct} distinct profiles: too few to segment"
        )
    evidence = []
    for cand in range(1, max(upper, 1) + 1):
        model = KMeans(n_clusters=cand, n_init=n_init, random_state=seed).fit(scaled)
        evidence.append(KEvidence(cand, float(model.inertia_)))
    knee = _knee([e.k for e in evidence], [e.inertia for e in evidence])
    if k is not None:
        said = f"the elbow suggested {knee}" if knee else "the elbow showed no clear bend"
        return KChoice(k, "user", f"k = {k} was chosen by the user; {said}.", tuple(evidence), knee)
    if knee is None:
        chosen = 2
        reason = (
            f"The elbow curve over k = 1–{upper} has no clear bend, so the smallest useful "
            "number of segments, 2, was used."
        )
    else:
        chosen = knee
        drop = 1 - evidence[knee - 1].inertia / evidence[0].inertia
        nxt = (
            f" Going to k = {knee + 1} removes only a further "
            f"{_pct(1 - evidence[knee].inertia / evidence[knee - 1].inertia)} of what remains."
            if knee < upper
            else ""
        )
        reason = (
            f"The elbow (knee found by the Kneedle method over k = 1–{upper}) is at k = {knee}: "
            f"{knee} segments explain {_pct(drop)} of the spread between customers.{nxt}"
        )
    return KChoice(chosen, "elbow", reason, tuple(evidence), knee)


def _knee(ks: list[int], inertias: list[float]) -> int | None:
    if len(ks) < 3:
        return None
    locator = KneeLocator(ks, inertias, curve="convex", direction="decreasing", S=1.0)
    if locator.knee is None:
        return None
    knee = int(locator.knee)
    return knee if knee >= 2 else None


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"
