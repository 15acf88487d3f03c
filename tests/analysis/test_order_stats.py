"""Order statistics from one sort equal numpy's own functions on the unsorted column."""

import numpy as np
import pytest
from scipy.stats import rankdata

from reportgen.analysis import order_stats


def _columns(seed: int):
    rng = np.random.default_rng(seed)
    for n in (1, 2, 3, 4, 7, 50, 51, 1_000, 4_001):
        yield rng.normal(size=n)
        yield rng.integers(0, 5, n).astype(float)  # heavy ties
        yield np.round(rng.lognormal(size=n), 2)
        x = np.full(n, 3.3)
        x[: n // 3] = rng.normal(size=n // 3)  # a big run of one value off-centre
        yield x


LEVELS = (0.0, 0.01, 0.05, 0.1, 0.25, 1 / 3, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)


@pytest.mark.parametrize("seed", range(3))
def test_median_quantiles_and_mad_are_numpys(seed):
    for x in _columns(seed):
        s = np.sort(x)
        median = np.median(x)
        assert order_stats.median(s) == median
        assert np.array_equal(order_stats.quantiles(s, LEVELS), np.quantile(x, LEVELS))
        assert order_stats.mad(s, order_stats.median(s)) == np.median(np.abs(x - median))


@pytest.mark.parametrize("seed", range(3))
def test_bin_counts_equal_searchsorted_and_bincount(seed):
    for x in _columns(seed):
        s = np.sort(x)
        edges = np.unique(np.quantile(x, np.linspace(0.1, 0.9, 9)))
        expected = np.bincount(np.searchsorted(edges, x, side="left"), minlength=len(edges) + 1)
        assert np.array_equal(order_stats.bin_counts(s, edges), expected)


@pytest.mark.parametrize("seed", range(3))
def test_rank_sums_and_tie_correction_equal_ranking_every_value(seed, monkeypatch):
    monkeypatch.setattr(order_stats, "RANK_BLOCK", 64)  # several blocks per group
    rng = np.random.default_rng(seed + 10)
    for x in _columns(seed):
        groups = rng.integers(0, 4, len(x))
        parts = [np.sort(x[groups == g]) for g in range(4)]
        sums, ties = order_stats.rank_sums(np.sort(x), parts)
        ranks = rankdata(x)
        assert np.array_equal(sums, [ranks[groups == g].sum() for g in range(4)])
        _, counts = np.unique(x, return_counts=True)
        n = len(x)
        expected = 1.0 - float((counts**3 - counts).sum()) / (n**3 - n) if n > 1 else 1.0
        assert ties == pytest.approx(expected, rel=1e-15)


def test_empty_columns_have_no_statistics():
    s = np.zeros(0)
    assert np.isnan(order_stats.median(s)) and np.isnan(order_stats.mad(s, 0.0))
    assert np.isnan(order_stats.quantiles(s, (0.5,))).all()
