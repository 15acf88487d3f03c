"""Segment profiles (reportgen.analysis.profile): effect sizes and tests, and the fast statistics
(threads, one-sort Kruskal-Wallis, blockwise SD) that equal the plain ones."""

from __future__ import annotations

import numpy as np
import pytest

from reportgen.analysis import engine, profile
from reportgen.analysis.cluster import cluster
from reportgen.analysis.prepare import prepare
from reportgen.engine import parallel
from reportgen.io.dictionary import dictionary_from_mapping, resolve_dictionary
from tests.conftest import two_group_frame


def test_profiles_have_effect_sizes_and_tests():
    from reportgen.analysis.profile import profile  # the function; `profile` above is its module

    frame, g = two_group_frame()
    frame["noise"] = np.random.default_rng(9).normal(size=len(frame))
    frame["region"] = np.random.default_rng(8).choice(["N", "S"], len(frame))
    spec = {
        "columns": {
            "spend": {},
            "visits": {},
            "noise": {"role": "describe"},
            "region": {"role": "describe", "type": "categorical"},
        }
    }
    d = resolve_dictionary(frame, dictionary_from_mapping(spec))
    p = prepare(frame, d)
    seg = cluster(p.scaled, k=2, seed=0)
    prof = profile(p, seg, d)
    tests = {t.column: t for t in prof.tests}
    assert tests["visits"].separates and tests["visits"].p_value < 1e-6
    assert not tests["noise"].separates and not tests["region"].separates
    assert tests["region"].test == "chi-squared"
    top = prof.segments[0].ranked()[0]
    assert abs(top.d) > 2 and top.rest_mean == pytest.approx(
        p.values[seg.labels != 1, list(p.numeric_features).index(top.column)].mean()
    )


def test_threaded_profile_statistics_equal_the_serial_ones(monkeypatch):
    rng = np.random.default_rng(4)
    n = 300_000  # above parallel.PARALLEL_FROM
    index = rng.integers(0, 4, size=n)
    xs = [np.round(rng.normal(size=n) + 0.1 * j * index, 2) for j in range(4)]

    def stats(i):
        return profile._kruskal(xs[i], index, 4), engine.group_moments(xs[i], index, 4)

    threaded = parallel.map_threads(stats, range(4), rows=n)
    monkeypatch.setattr(parallel, "PARALLEL_FROM", 10**9)
    serial = parallel.map_threads(stats, range(4), rows=n)
    for (kw_a, m_a), (kw_b, m_b) in zip(threaded, serial, strict=True):
        assert kw_a == kw_b  # bit for bit: rank sums are exact in any order
        for a, b in zip(m_a, m_b, strict=True):
            assert np.array_equal(a, b)


def test_kruskal_does_not_depend_on_the_order_of_ties():
    rng = np.random.default_rng(6)
    n = 250_000
    index = rng.integers(0, 3, size=n)
    x = np.round(rng.normal(size=n), 1)  # heavy ties
    perm = rng.permutation(n)
    assert profile._kruskal(x, index, 3) == profile._kruskal(x[perm], index[perm], 3)


@pytest.mark.parametrize(
    "shape", [(1, 3), (5, 2), (200_001, 4), (70_000, 1), (150_000, 3), (90_000, 16), (66_000, 50)]
)
def test_column_std_is_numpys_std_bit_for_bit(shape):
    x = np.random.default_rng(8).normal(100, 30, shape).round(2)
    assert np.array_equal(engine.column_std(x), x.std(axis=0))
    assert np.array_equal(engine.column_std(x, block=7), x.std(axis=0))


def test_profile_moments_and_large_kruskal_equal_the_per_segment_versions():
    from scipy import stats

    from reportgen.analysis import profile as profile_mod

    rng = np.random.default_rng(5)
    n = 250_000  # above KW_EXACT_MAX: the one-sort path
    index = rng.integers(0, 4, size=n)
    x = np.round(rng.normal(size=n) + 0.05 * index, 2)  # many ties
    h, p = profile_mod._kruskal(x, index, 4)
    h0, p0 = stats.kruskal(*[x[index == g] for g in range(4)])
    assert h == pytest_approx(h0) and p == pytest_approx(p0, abs=1e-300)
    moments = engine.group_moments(x, index, 4)
    for g in range(4):
        m, rest, d = profile_mod.vs_rest(moments, g)
        assert m == pytest_approx(x[index == g].mean())
        assert rest == pytest_approx(x[index != g].mean())
        assert d == pytest_approx(profile_mod._cohen_d(x[index == g], x[index != g]))


def pytest_approx(value, **kw):
    return pytest.approx(value, rel=1e-9, **kw)


def test_profiles_reference_bins_are_model_jsons_from_the_same_sort(monkeypatch):
    """The decile bins for drift come from the sort the rank test made, and equal what
    runs.model computes from the values (np.quantile, searchsorted, bincount)."""
    from reportgen.analysis.profile import profile as build_profiles
    from reportgen.runs import model

    assert profile.REFERENCE_LEVELS == model.REFERENCE_QUANTILES
    monkeypatch.setattr(profile, "KW_EXACT_MAX", 100)  # the one-sort rank test on 600 rows
    frame, _ = two_group_frame()
    frame["score"] = np.random.default_rng(3).integers(1, 6, len(frame)).astype(float)  # ties
    d = resolve_dictionary(frame)
    prepared = prepare(frame, d)
    seg = cluster(prepared.scaled, k=2, seed=0)
    profiles = build_profiles(prepared, seg, d)
    assert len(profiles.reference) == len(prepared.numeric_features)
    for j, bins in enumerate(profiles.reference):
        assert bins == model.reference_bins(prepared.values[:, j])
    # and the Kruskal–Wallis numbers equal scipy's on the same columns
    from scipy import stats

    for test in profiles.tests:
        if test.column not in prepared.numeric_features:
            continue
        j = prepared.numeric_features.index(test.column)
        x = prepared.values[:, j]
        h, p = stats.kruskal(*[x[seg.labels == s] for s in seg.segment_ids])
        assert test.statistic == pytest.approx(h, rel=1e-12)


def _wide(rows: int, segment: int, describe: int, seed: int = 0):
    import pandas as pd

    rng = np.random.default_rng(seed)
    group = rng.integers(0, 3, rows)
    data = {f"s{j}": group * 2.0 + rng.normal(size=rows) for j in range(segment)}
    data |= {f"d{j:04d}": group + rng.normal(size=rows) for j in range(describe)}
    return pd.DataFrame(data)


def test_a_wide_table_is_refused_before_any_work():
    """300 rows x 800 numeric columns: every one would segment, which grows faster than the
    column count (screening refits without each feature): refused at once, one line."""
    from reportgen.analysis import prepare as prep
    from reportgen.analysis.engine import InMemoryEngine
    from reportgen.errors import InputError

    class Counting(InMemoryEngine):
        calls = 0

        def column_stats(self, values, columns):
            Counting.calls += 1
            return super().column_stats(values, columns)

    frame = _wide(300, 800, 0)
    with pytest.raises(InputError, match="800 columns would segment") as err:
        prep.prepare(frame, resolve_dictionary(frame), engine=Counting())
    assert "\n" not in str(err.value) and Counting.calls == 0
    assert len(resolve_dictionary(frame).segment_columns) > prep.MAX_SEGMENT_FEATURES


def test_profile_memory_grows_linearly_with_the_described_columns():
    """Profiles of a wide table (300 rows, 5 segmenting and 40 or 280 described columns): the
    peak of the memory they allocate grows with the column count, not with its square."""
    import tracemalloc

    from reportgen.analysis.profile import profile as build_profiles

    peaks = {}
    for describe in (40, 280):
        frame = _wide(300, 5, describe)
        d = resolve_dictionary(frame, columns=tuple(f"s{j}" for j in range(5)))
        prepared = prepare(frame, d)
        seg = cluster(prepared.scaled, k=3, seed=0)
        tracemalloc.start()
        profiles = build_profiles(prepared, seg, d)
        peaks[describe] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert len(profiles.tests) == 5 + describe
        assert all(len(s.describe) == describe for s in profiles.segments)
    # 7x the columns: about 7x the memory (quadratic growth would be 49x)
    assert peaks[280] < 10 * peaks[40], peaks
