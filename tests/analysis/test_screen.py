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
    assert s.r2_linear["tier"] < 0.02 and s.r2_all["tier"] > 0.5  # unrelated to the others …
    assert "tier" not in s.r2  # two humps: never a suspect, so no refit without it
    assert s.noise == ("a", "b", "c")  # … but 'tier' carries the groups on its own
    assert set(s.one_curve) == {"a", "b", "c"}  # each is one hump; 'tier' two
    assert "no other feature predicts it" in s.reason("a") and "one hump" in s.reason("a")


@pytest.mark.parametrize("n_noise", [2, 3, 4])
def test_screening_with_few_features_removes_every_noise_column(n_noise):
    """One real feature (two groups 4 SD apart) and a few normal noise columns: over-split
    k-means cuts the noise columns as readily as the real one (R² with them up to 0.6), but
    their values are one hump and unrelated to the rest, so they go; the real one stays."""
    from reportgen.analysis.screen import screen_features

    rng = np.random.default_rng(7 + n_noise)
    g = rng.integers(0, 2, 600)
    df = pd.DataFrame({"a": rng.normal(4 * g, 1)})
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


def _screen(df: pd.DataFrame):
    from reportgen.analysis.screen import screen_features

    d = resolve_dictionary(df, dictionary_from_mapping({"columns": {c: {} for c in df}}))
    return screen_features(prepare(df, d), seed=42)


def test_a_skewed_feature_related_to_the_others_is_kept_though_the_split_ignores_it():
    """The card table of issue 15: two segments differ on purchases and their frequency; the
    credit limit (skewed, real spread) follows balance but not the segments, and payments follow
    purchases loosely. The old rule screened both because the k = 2 split does not use them;
    related to the other features, they stay. The pure-noise column goes."""
    rng = np.random.default_rng(11)
    n = 1_500
    g = rng.random(n) < 0.4
    balance = rng.lognormal(7, 0.8, n)
    df = pd.DataFrame(
        {
            "purchases": np.exp(np.where(g, 7.5, 5.0) + rng.normal(0, 0.5, n)),
            "purchase_frequency": np.clip(np.where(g, 0.8, 0.2) + rng.normal(0, 0.1, n), 0, 1),
            "balance": balance,
            "credit_limit": np.exp(0.5 * np.log(balance) + rng.normal(4.5, 0.5, n)).round(-2),
            "payments": balance * rng.lognormal(-0.5, 0.6, n),
            "noise": rng.normal(0, 1, n),
        }
    )
    s = _screen(df)
    assert s.noise == ("noise",)
    assert s.r2_linear["credit_limit"] > 0.1 and s.r2_linear["payments"] > 0.1


def test_uniform_and_random_rating_columns_unrelated_to_anything_are_noise():
    """No structure: a uniform number and a random 1-5 answer, related to nothing, go; the
    planted groups stay."""
    rng = np.random.default_rng(5)
    n = 800
    g = rng.integers(0, 3, n)
    df = pd.DataFrame(
        {
            "x1": rng.normal(3 * g, 1),
            "x2": rng.normal(-2 * g, 1),
            "uniform": rng.uniform(0, 100, n),
            "random_answer": rng.integers(1, 6, n),
        }
    )
    s = _screen(df)
    assert set(s.noise) == {"uniform", "random_answer"}


def test_an_exact_copy_goes_and_a_yes_no_column_is_two_groups():
    """A column equal to another is counted once; a yes/no column unrelated to the rest is
    still two groups of customers, not noise."""
    rng = np.random.default_rng(9)
    n = 600
    g = rng.integers(0, 2, n)
    a = rng.normal(3 * g, 1)
    df = pd.DataFrame(
        {
            "a": a,
            "a_again": a,
            "b": rng.normal(2 * g, 1),
            "flag": rng.random(n) < 0.3,
            "noise": rng.normal(size=n),
        }
    )
    s = _screen(df)
    assert list(s.copies) == ["a_again"] and s.noise == ("noise",)
    assert "flag" not in s.removed


@pytest.mark.parametrize(
    ("values", "one_hump"),
    [
        (np.random.default_rng(1).normal(size=3000), True),
        (np.random.default_rng(2).uniform(size=3000), True),
        (np.rint(45 + 12 * np.random.default_rng(3).normal(size=3000)), True),  # integers
        (np.random.default_rng(4).integers(1, 6, 3000).astype(float), True),  # flat 1-5
        (np.log1p(np.random.default_rng(5).lognormal(3, 1, 3000)), True),
        (np.r_[np.zeros(900), np.log1p(np.random.default_rng(6).lognormal(3, 1, 2100))], False),
        (
            np.r_[np.full(900, 60.0), np.full(2100, 20.0)]
            + np.random.default_rng(7).normal(0, 3, 3000),
            False,
        ),
        (np.r_[np.full(60, 5.0), np.random.default_rng(8).normal(size=2940)], True),  # 2 %
    ],
)
def test_one_hump(values, one_hump):
    """Normal, uniform, integer and flat rating values are one hump; non-buyers beside buyers
    and a two-tier column are two; a lump of 2 % is not a group."""
    from reportgen.analysis.screen import one_hump_of

    assert one_hump_of(values) is one_hump


def test_only_the_columns_that_could_be_noise_are_refitted_without():
    """The k-means refit without a column, screening's cost per column, is paid only for a
    one-hump column the others do not predict: never for related or lumpy ones."""
    from reportgen.analysis.screen import screen_features

    rng = np.random.default_rng(5)
    n = 600
    g = rng.integers(0, 2, n)
    spend = rng.normal(10 + 8 * g, 1, n)
    df = pd.DataFrame(
        {
            "spend": spend,
            "visits": 0.5 * spend + rng.normal(0, 1, n),  # predicted by spend
            "limit": 2 * spend + rng.normal(0, 2, n),
            "noise": rng.normal(0, 1, n),
        }
    )
    d = resolve_dictionary(df, dictionary_from_mapping({"columns": {c: {} for c in df}}))
    s = screen_features(prepare(df, d), seed=42)
    assert set(s.r2) == {"noise"} and s.noise == ("noise",)
    assert set(s.r2_linear) == set(s.r2_all) == set(df)


def test_linear_r2_from_cross_products_equals_a_least_squares_fit_per_column():
    from reportgen.analysis.screen import linear_r2

    rng = np.random.default_rng(2)
    n = 400
    a = rng.normal(size=n)
    plan = np.eye(3)[rng.integers(0, 3, n)] * 0.5  # a one-hot block: collinear with the intercept
    x = np.column_stack([a, 2 * a + rng.normal(size=n), rng.normal(size=n), plan])
    blocks = [np.array([0]), np.array([1]), np.array([2]), np.array([3, 4, 5])]

    def direct(cols):
        rest = np.setdiff1d(np.arange(x.shape[1]), cols)
        design = np.column_stack([x[:, rest], np.ones(n)])
        coef, *_ = np.linalg.lstsq(design, x[:, cols], rcond=None)
        raw = (
            1
            - ((x[:, cols] - design @ coef) ** 2).sum()
            / ((x[:, cols] - x[:, cols].mean(axis=0)) ** 2).sum()
        )
        return 1 - (1 - raw) * (n - 1) / (n - len(rest) - 1)

    assert linear_r2(x, blocks) == pytest.approx([direct(b) for b in blocks], abs=1e-9)
