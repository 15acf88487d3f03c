"""Segment profiles (reportgen.analysis.profile): effect sizes and tests, and the fast statistics
(threads, one-sort Kruskal-Wallis, blockwise SD) that equal the plain ones."""

from __future__ import annotations

import numpy as np
import pytest

from reportgen.analysis import profile
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
        return profile._kruskal(xs[i], index, 4), profile._group_moments(xs[i], index, 4)

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
    assert np.array_equal(profile.column_std(x), x.std(axis=0))
    assert np.array_equal(profile.column_std(x, block=7), x.std(axis=0))


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
    moments = profile_mod._group_moments(x, index, 4)
    for g in range(4):
        m, rest, d = profile_mod._vs_rest(moments, g)
        assert m == pytest_approx(x[index == g].mean())
        assert rest == pytest_approx(x[index != g].mean())
        assert d == pytest_approx(profile_mod._cohen_d(x[index == g], x[index != g]))


def pytest_approx(value, **kw):
    return pytest.approx(value, rel=1e-9, **kw)
