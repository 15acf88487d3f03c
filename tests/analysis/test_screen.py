"""Screening (reportgen.analysis.screen): noise columns go, structure and single-column groups stay,
a column that repeats another counts once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reportgen.analysis.prepare import prepare
from reportgen.io.dictionary import dictionary_from_mapping, resolve_dictionary


def test_screening_keeps_a_column_that_alone_sets_a_group_apart():
    """Groups found on the other columns say nothing about 'tier' (they are noise), yet 'tier'
    splits the customers in two on its own: it is structure, not noise. The noise columns go."""
    from reportgen.analysis.screen import screen_features

    rng = np.random.default_rng(8)
    n = 600
    group = rng.random(n) < 0.3
    df = pd.DataFrame(
        {
            "tier": np.where(group, 60.0, 20.0) + rng.normal(0, 3, n),
            "a": rng.normal(50, 10, n),
            "b": rng.normal(5, 1, n),
            "c": rng.normal(0, 2, n),
        }
    )
    d = resolve_dictionary(df, dictionary_from_mapping({"columns": {c: {} for c in df}}))
    s = screen_features(prepare(df, d), seed=42)
    assert "tier" not in s.noise
    assert s.r2["tier"] < 0.02 and s.r2_all["tier"] >= 0.5  # kept by the all-features route
    assert s.noise == ("a", "b", "c")  # 'tier' carries the groups on its own
    assert set(s.one_curve) == {"a", "b", "c"}  # each fits one normal curve; 'tier' two


@pytest.mark.parametrize("n_noise", [2, 3, 4])
def test_screening_with_few_features_removes_every_noise_column(n_noise):
    """One real feature and a few normal noise columns: over-split k-means cuts the noise
    columns as readily as the real one (R² with them up to 0.6), but their values are one
    normal curve and unrelated to the rest, so they go and the two real groups are found."""
    from reportgen.analysis.screen import screen_features

    rng = np.random.default_rng(7 + n_noise)
    g = rng.integers(0, 2, 600)
    df = pd.DataFrame({"a": rng.normal(3 * g, 1)})
    for j in range(n_noise):
        df[f"noise{j}"] = rng.normal(size=600)
    d = resolve_dictionary(df, dictionary_from_mapping({"columns": {c: {} for c in df}}))
    s = screen_features(prepare(df, d), seed=42)
    assert s.noise == tuple(f"noise{j}" for j in range(n_noise))


def test_a_feature_that_repeats_another_counts_once():
    """'spend_usd' next to 'spend_eur' would count spend twice in the distances k-means uses:
    the repeat is left out (and said why), even with only two features."""
    from reportgen.analysis.screen import screen_features

    rng = np.random.default_rng(3)
    eur = rng.gamma(2, 50, 500).round(2)
    df = pd.DataFrame(
        {"spend_eur": eur, "spend_usd": (eur * 1.08).round(2), "visits": rng.poisson(5, 500)}
    )
    d = resolve_dictionary(df, dictionary_from_mapping({"columns": {c: {} for c in df}}))
    s = screen_features(prepare(df, d), seed=42)
    assert list(s.copies) == ["spend_usd"] and s.copies["spend_usd"][0] == "spend_eur"
    assert s.removed[0] == "spend_usd" and "repeats 'spend_eur'" in s.reason("spend_usd")
    assert "visits" not in s.removed
    two = df[["spend_eur", "spend_usd"]]
    d2 = resolve_dictionary(two, dictionary_from_mapping({"columns": {c: {} for c in two}}))
    assert list(screen_features(prepare(two, d2), seed=42).copies) == ["spend_usd"]
    # Related but not the same (r 0.9) is two features.
    df["spend_usd"] = eur + rng.normal(0, eur.std() / 2, 500)
    d = resolve_dictionary(df, dictionary_from_mapping({"columns": {c: {} for c in df}}))
    assert screen_features(prepare(df, d), seed=42).copies == {}
