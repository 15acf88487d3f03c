"""Issue 6 speed work: each shortcut gives exactly what the longer way gave."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reportgen.analysis import prepare, profile
from reportgen.engine import parallel
from reportgen.errors import ReportgenError
from reportgen.io import dictionary


def test_repeated_ids_equal_the_pandas_duplicate_rule():
    def reference(column):
        ids = column.astype("string").str.strip()
        return (ids.duplicated(keep="first") & ids.notna() & (ids != "")).to_numpy()

    rng = np.random.default_rng(1)
    cases = [
        pd.Series(["a", " a", "b", None, "", " ", "b ", "c", "a", None, ""]),
        pd.Series([1, 2, 1, 3, 2]),
        pd.Series([1.0, np.nan, 1.0, 2.5]),
        pd.Series([], dtype=object),
        pd.Series(["x\u3000", "x", "\u00a0x", "é", "e\u0301", "é"], dtype="string"),
        pd.Series(rng.integers(0, 500, 5_000).astype(str)).astype("str"),
    ]
    for column in cases:
        assert prepare.repeated_ids(column).tolist() == reference(column).tolist()


def test_numeric_columns_with_many_values_are_numbers_and_the_rest_still_fully_checked():
    rng = np.random.default_rng(2)
    n = 30_000
    plain = pd.Series(rng.normal(50, 10, n).round(2))
    assert dictionary._many_values(plain)
    assert dictionary.infer_column("spend", plain, n).type == "numeric"
    # Few values in the first 10,000 rows: the full checks decide, as before.
    late = pd.Series(np.r_[np.ones(10_000), rng.normal(size=n - 10_000)])
    assert not dictionary._many_values(late)
    assert dictionary.infer_column("late", late, n).type == "numeric"
    rating = pd.Series(rng.integers(1, 8, n))
    assert dictionary.infer_column("rating", rating, n).type == "ordinal"
    flag = pd.Series(rng.integers(0, 2, n).astype(float))
    assert dictionary.infer_column("flag", flag, n).type == "binary"
    ids = pd.Series(np.arange(n))
    assert dictionary.infer_column("customer_id", ids, n).role == "id"


@pytest.mark.parametrize("seed", range(5))
def test_fast_skewness_decides_and_prints_as_the_exact_one(seed):
    rng = np.random.default_rng(seed)
    for x in [rng.lognormal(0, s, 20_000) for s in (0.1, 0.3, 0.5, 1.0)] + [
        rng.normal(size=20_000)
    ]:
        exact = float(((x - x.mean()) ** 3).mean() / x.std() ** 3)
        fast = prepare._skewness(x)
        assert fast == pytest.approx(exact, rel=1e-12, abs=1e-12)
        assert (fast > prepare.SKEW_LIMIT) == (exact > prepare.SKEW_LIMIT)
        assert f"{fast:.1f}" == f"{exact:.1f}"


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


def test_kept_float_columns_are_views_of_values_with_the_same_numbers():
    rng = np.random.default_rng(7)
    n = 400
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:04d}" for i in range(n)],
            "spend": rng.normal(100, 20, n).round(2),
            "visits": rng.integers(0, 40, n),
            "patchy": np.where(rng.random(n) < 0.2, np.nan, rng.normal(5, 1, n)),
            "region": rng.choice(["north", "south", "east"], n),
        }
    )
    original = frame.copy(deep=True)
    prepared = prepare.prepare(frame, dictionary.resolve_dictionary(frame))
    assert prepared.n_kept == n
    pd.testing.assert_frame_equal(prepared.kept, original)
    pd.testing.assert_frame_equal(frame, original)  # the caller's frame is untouched
    share = {c: np.shares_memory(prepared.kept[c].to_numpy(), prepared.values) for c in frame}
    # float columns read as is share memory; imputed, integer and text columns do not
    assert share == {
        "customer_id": False,
        "spend": True,
        "visits": False,
        "patchy": False,
        "region": False,
    }


@pytest.mark.parametrize(
    "shape", [(1, 3), (5, 2), (200_001, 4), (70_000, 1), (150_000, 3), (90_000, 16), (66_000, 50)]
)
def test_column_std_is_numpys_std_bit_for_bit(shape):
    x = np.random.default_rng(8).normal(100, 30, shape).round(2)
    assert np.array_equal(profile.column_std(x), x.std(axis=0))
    assert np.array_equal(profile.column_std(x, block=7), x.std(axis=0))


def test_lean_median_absolute_deviation_equals_the_plain_one():
    x = np.random.default_rng(9).lognormal(0, 1, 100_001)
    med = float(np.median(x))
    scratch = np.abs(x - med)
    assert np.median(scratch.copy(), overwrite_input=True) == np.median(np.abs(x - med))


def test_csv_in_background_writes_the_same_bytes_and_raises_its_errors(tmp_path, monkeypatch):
    import hashlib

    from reportgen.deliver import files as deliver

    frame = pd.DataFrame({"id": ["=x", "a,b", "c"] * 1000, "v": np.arange(3000) / 7})
    with deliver.staged_outputs(tmp_path / "out") as staging:
        with deliver.csv_in_background(staging, "assignments.csv", frame) as job:
            pass
        assert job.sha256 == hashlib.sha256(deliver.csv_bytes(frame)).hexdigest()
    assert (tmp_path / "out" / "assignments.csv").read_bytes() == deliver.csv_bytes(frame)

    class Boom(Exception):
        pass

    # A failure in the block waits for the writer, then leaves the output folder as it was.
    with (
        pytest.raises(Boom),
        deliver.staged_outputs(tmp_path / "new") as staging,
        deliver.csv_in_background(staging, "assignments.csv", frame),
    ):
        raise Boom
    assert not (tmp_path / "new").exists()

    # A failure while writing is raised when the block ends (a disk error becomes the one-line
    # ReportgenError, as for any staged file), and nothing is moved into place.
    def broken(frame, fh):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(deliver, "write_csv", broken)
    with (
        pytest.raises(ReportgenError, match="No space left"),
        deliver.staged_outputs(tmp_path / "full") as staging,
        deliver.csv_in_background(staging, "assignments.csv", frame),
    ):
        pass
    assert not (tmp_path / "full").exists()


def test_threaded_csv_typing_reads_what_the_serial_one_read(tmp_path, monkeypatch):
    from reportgen.io import load

    n = 250_000  # above parallel.PARALLEL_FROM: the columns are typed on threads
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "id": [f"{i:07d}" for i in range(n)],  # leading zeros: stays text
            "visits": rng.integers(0, 40, n),
            "spend": rng.normal(500, 120, n).round(2),
            "plan": rng.choice(["basic", " plus", "pro "], n),
            "fee": [f"£{v}" for v in rng.integers(1, 9, n)],
        }
    )
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False)
    threaded = load.read_table(path)
    monkeypatch.setattr(parallel, "PARALLEL_FROM", 10**9)
    serial = load.read_table(path)
    pd.testing.assert_frame_equal(threaded.frame, serial.frame)
    assert threaded.frame["id"].iloc[7] == "0000007"
    assert threaded.frame["visits"].dtype == "Int64" and threaded.frame["spend"].dtype == float
    assert threaded.units == serial.units
