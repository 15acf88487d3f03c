"""The engine seam (analysis/engine.py): the in-memory engine's numbers, and that the stages
really go through whatever engine they are given."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from reportgen.analysis import cluster as cluster_mod
from reportgen.analysis.cluster import cluster
from reportgen.analysis.engine import (
    DEFAULT_ENGINE,
    QUANTILE_LEVELS,
    Engine,
    InMemoryEngine,
    LloydResult,
    SegmentAggregates,
)
from reportgen.analysis.prepare import prepare
from reportgen.analysis.profile import profile
from reportgen.io.dictionary import dictionary_from_mapping, resolve_dictionary

# Two groups on a line: {0, 1, 2} and {10, 11, 12, 13}.
LINE = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [12.0], [13.0]])


def test_lloyd_from_given_centres_converges_to_the_known_partition():
    result = InMemoryEngine().lloyd(LINE, np.array([[4.0], [6.0]]), 300, 1e-4)
    # Larger segment first, whatever order the centres came in.
    assert result.labels.tolist() == [1, 1, 1, 0, 0, 0, 0]
    assert result.centers.tolist() == [[11.5], [1.0]]
    assert result.sizes == (4, 3)
    assert result.distances.tolist() == [1.0, 0.0, 1.0, 1.5, 0.5, 0.5, 1.5]
    assert result.inertia == pytest.approx(2.0 + 5.0)
    assert 1 <= result.n_iter <= 3


def test_lloyd_ties_in_size_are_ordered_by_the_centres_coordinates():
    x = np.array([[5.0, 0.0], [5.0, 1.0], [0.0, 0.0], [0.0, 1.0]])
    for start in ([[5.0, 0.5], [0.0, 0.5]], [[0.0, 0.5], [5.0, 0.5]]):
        result = InMemoryEngine().lloyd(x, np.array(start), 300, 1e-4)
        assert result.centers.tolist() == [[0.0, 0.5], [5.0, 0.5]]
        assert result.labels.tolist() == [1, 1, 0, 0]


def test_segment_aggregates_equal_numpys_per_group_means_and_variances():
    rng = np.random.default_rng(1)
    values = rng.normal(50, 10, size=(40, 3))
    labels = rng.choice([3, 1, 7], size=40)
    ids = (7, 1, 3)  # the order the results come in, not sorted
    agg = InMemoryEngine().segment_aggregates(values, labels, ids)
    assert agg.segment_ids == ids
    for pos, sid in enumerate(ids):
        rows = values[labels == sid]
        assert agg.n[pos] == len(rows)
        np.testing.assert_allclose(agg.sums[pos], rows.sum(axis=0), rtol=1e-12)
        np.testing.assert_allclose(agg.means[pos], rows.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(agg.sum_sq_dev[pos] / len(rows), rows.var(axis=0), rtol=1e-12)
        counts, means, ss = agg.moments(1)
        assert counts[pos] == len(rows)
        assert means[pos] == pytest.approx(rows[:, 1].mean(), rel=1e-12)
        assert ss[pos] == pytest.approx(rows[:, 1].var() * len(rows), rel=1e-12)
    assert np.array_equal(agg.overall_mean, values.mean(axis=0))
    assert np.array_equal(agg.overall_sd, values.std(axis=0))


def test_segment_aggregates_of_an_empty_segment_are_zero_counts_and_nan_means():
    agg = InMemoryEngine().segment_aggregates(LINE, np.array([1, 1, 1, 2, 2, 2, 2]), (1, 2, 3))
    assert agg.n.tolist() == [3, 4, 0]
    assert agg.sums[:, 0].tolist() == [3.0, 46.0, 0.0]
    assert np.isnan(agg.means[2, 0]) and agg.sum_sq_dev[2, 0] == 0.0


def _table():
    rng = np.random.default_rng(2)
    n = 60
    a = rng.lognormal(3, 1, n)
    a[[3, 17, 40]] = np.nan
    return pd.DataFrame(
        {
            "spend": a,
            "visits": pd.array(rng.integers(0, 9, n), dtype="Int64"),
            "flat": np.full(n, 2.5),
            "empty": np.full(n, np.nan),
        }
    )


def test_column_stats_equal_numpys_and_pandas():
    frame = _table()
    frame.loc[5, "visits"] = pd.NA
    s = InMemoryEngine().column_stats(frame, ["spend", "visits", "flat", "empty"])
    assert s.columns == ("spend", "visits", "flat", "empty")
    assert s.count.tolist() == frame.count().tolist()
    assert s.blanks.tolist() == frame.isna().sum().tolist()
    numbers = frame.astype(float)
    used = ["spend", "visits", "flat"]
    np.testing.assert_allclose(s.mean[:3], numbers[used].mean(), rtol=1e-12)
    np.testing.assert_allclose(s.sd[:3], numbers[used].std(ddof=0), rtol=1e-12)
    skew = [stats.skew(numbers[c].dropna(), bias=True) for c in ["spend", "visits"]]
    np.testing.assert_allclose(s.skew[:2], skew, rtol=1e-9)
    assert s.skew[2] == 0.0  # constant
    quantiles = numbers[used].quantile(list(QUANTILE_LEVELS)).to_numpy()
    np.testing.assert_allclose(s.quantiles[:, :3], quantiles, rtol=1e-12)
    np.testing.assert_allclose(s.median[:3], numbers[used].median(), rtol=1e-12)
    mad = [stats.median_abs_deviation(numbers[c].dropna()) for c in used]
    np.testing.assert_allclose(s.mad[:3], mad, rtol=1e-12)
    # A column without a value: counted, no statistics.
    assert s.count[3] == 0 and s.blanks[3] == len(frame)
    assert np.isnan(s.mean[3]) and np.isnan(s.quantiles[:, 3]).all()


def test_column_stats_of_a_matrix_equal_those_of_its_frame():
    frame = _table()[["spend", "visits"]]
    matrix = frame.to_numpy(dtype=float, na_value=np.nan)
    a = InMemoryEngine().column_stats(matrix, ["spend", "visits"])
    b = InMemoryEngine().column_stats(frame, ["spend", "visits"])
    for field in dataclasses.fields(a):
        left, right = getattr(a, field.name), getattr(b, field.name)
        assert np.array_equal(np.asarray(left), np.asarray(right)), field.name
    with pytest.raises(ValueError):
        InMemoryEngine().column_stats(matrix, ["spend"])


class CountingEngine(InMemoryEngine):
    """The in-memory engine, counting its calls and marking what it returns, so a test can tell
    its numbers from any the stages might compute themselves."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def lloyd(self, x, centers, max_iter, tol) -> LloydResult:
        self.calls.append(("lloyd", len(x)))
        result = super().lloyd(x, centers, max_iter, tol)
        return dataclasses.replace(result, n_iter=result.n_iter + 1000)

    def segment_aggregates(self, values, labels, segment_ids) -> SegmentAggregates:
        self.calls.append(("segment_aggregates", len(values)))
        agg = super().segment_aggregates(values, labels, segment_ids)
        # Every segment's mean 100 higher.
        return dataclasses.replace(agg, sums=agg.sums + 100.0 * agg.n[:, None])


def _blobs(n: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    centres = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]])
    return centres[rng.integers(0, 3, size=n)] + rng.normal(size=(n, 2))


def test_cluster_runs_its_full_data_pass_on_the_engine_it_is_given(monkeypatch):
    x = _blobs(600)
    monkeypatch.setattr(cluster_mod, "FINAL_FIT_SAMPLE", 200)
    engine = CountingEngine()
    seg = cluster(x, k=3, seed=1, engine=engine)
    assert engine.calls == [("lloyd", 600)]  # once, on every row
    default = cluster(x, k=3, seed=1)
    assert seg.n_iter == default.n_iter + 1000  # the engine's answer, not a local one
    assert np.array_equal(seg.labels, default.labels)
    assert seg.start_sample == 200


def test_cluster_needs_no_engine_when_the_restarts_saw_every_row():
    engine = CountingEngine()
    seg = cluster(_blobs(150), k=3, seed=1, engine=engine)
    assert engine.calls == [] and seg.start_sample == 150


def test_profile_takes_its_means_from_the_engine_it_is_given():
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        {
            "spend": np.r_[rng.normal(100, 5, 30), rng.normal(300, 5, 30)],
            "visits": rng.normal(10, 2, 60),
            "age": np.where(rng.random(60) < 0.2, np.nan, rng.normal(40, 9, 60)),
        }
    )
    raw = {"columns": {"spend": {}, "visits": {}, "age": {"role": "describe"}}}
    dictionary = resolve_dictionary(frame, dictionary_from_mapping(raw))
    prepared = prepare(frame, dictionary)
    seg = cluster(prepared.scaled, k=2, seed=0)
    engine = CountingEngine()
    marked = profile(prepared, seg, dictionary, engine=engine)
    plain = profile(prepared, seg, dictionary)
    ages = int(frame["age"].notna().sum())
    # The numeric features in one call, the numeric descriptive column (its finite rows) in one.
    assert engine.calls == [("segment_aggregates", 60), ("segment_aggregates", ages)]
    for a, b in zip(marked.segments, plain.segments, strict=True):
        for fa, fb in zip(a.features, b.features, strict=True):
            assert fa.segment_mean == pytest.approx(fb.segment_mean + 100.0)
    assert profile(prepared, seg, dictionary, engine=DEFAULT_ENGINE) == plain


def test_the_default_engine_is_the_in_memory_one():
    engine: Engine = DEFAULT_ENGINE
    assert isinstance(engine, InMemoryEngine)


def test_large_fits_get_scikit_learns_tolerance_without_its_variance_pass(monkeypatch):
    """Above SINGLE_THREAD_BELOW rows the tolerance is computed by blocks (np.var's bits, no
    copy of the matrix); the fit is scikit-learn's own: same centres, labels, inertia, n_iter."""
    from sklearn.cluster import KMeans

    from reportgen.analysis import engine

    monkeypatch.setattr(engine, "SINGLE_THREAD_BELOW", 100)
    x0 = _blobs(3_000) * np.array([1.0, 30.0])  # columns of unequal variance
    init = x0[[0, 1, 2]].copy()
    x = x0.copy()
    plain = KMeans(3, init=init, n_init=1, copy_x=False, random_state=0, tol=1e-2).fit(x)
    y = x0.copy()
    calls = []
    real_var = np.var
    monkeypatch.setattr(np, "var", lambda *a, **k: calls.append(1) or real_var(*a, **k))
    given = engine.fit_kmeans(y, 3, 0, init=init, tol=1e-2)
    assert calls == []  # no np.var over the matrix
    assert given._tol == plain._tol  # noqa: SLF001  # scikit-learn's absolute tolerance
    assert np.array_equal(given.cluster_centers_, plain.cluster_centers_)
    assert np.array_equal(given.labels_, plain.labels_)
    assert (given.inertia_, given.n_iter_) == (plain.inertia_, plain.n_iter_)


def test_column_variance_is_numpys_bit_for_bit():
    from reportgen.analysis.engine import column_variance

    rng = np.random.default_rng(1)
    for shape in [(1, 3), (7, 2), (1_000, 5), (70_001, 4)]:
        x = rng.lognormal(size=shape) * 1e3
        assert np.array_equal(column_variance(x, block=64), x.var(axis=0))
        assert np.array_equal(column_variance(x), x.var(axis=0))


def test_column_moments_of_a_column_major_matrix_are_the_row_major_bits():
    """prepare's values are column-major; their means and SDs stay those numpy gives for the
    row-major matrix (numpy itself would sum each column pairwise: other last bits)."""
    from reportgen.analysis.engine import column_mean, column_std, column_variance

    rng = np.random.default_rng(2)
    for shape in [(1, 3), (7, 2), (1_000, 5), (70_001, 4)]:
        c = rng.lognormal(size=shape) * 1e3
        f = np.asfortranarray(c)
        assert np.array_equal(column_mean(f, block=64), c.mean(axis=0))
        assert np.array_equal(column_mean(f), c.mean(axis=0))
        assert np.array_equal(column_variance(f), c.var(axis=0))
        assert np.array_equal(column_std(f, block=100), c.std(axis=0))
