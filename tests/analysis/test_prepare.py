"""Preparation (reportgen.analysis.prepare): drop rules and their reasons, data policies, repeated
ids, skewness and outlier caps, and the memory-conscious paths that give the same numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reportgen.analysis.prepare import FeatureStep, prepare
from reportgen.errors import InputError
from reportgen.io.dictionary import dictionary_from_mapping, resolve_dictionary
from tests.conftest import two_group_frame


def test_prepare_counts_every_drop_with_a_reason():
    df = pd.DataFrame(
        {
            "score": ["1", "", "3", "x", "5", "9", "2", "4"],
            "amount": ["10", "20", None, "40", "inf", "60", "70", "80"],
        }
    )
    spec = {
        "columns": {
            "score": {"type": "ordinal", "scale": {"min": 1, "max": 7}, "missing": "drop"},
            "amount": {"missing": "drop"},
        }
    }
    d = resolve_dictionary(df, dictionary_from_mapping(spec))
    p = prepare(df, d)
    reasons = {r.reason: r.rows for r in p.drops}
    assert reasons == {
        "no value for 'score'": 1,
        "no value for 'amount'": 1,
        "'score' is not a number": 1,
        "'amount' is infinite": 1,
        "'score' outside its 1–7 scale": 1,
    }
    assert p.n_read == 8 and p.n_kept == 3 and p.n_dropped == 5
    assert list(p.row_numbers) == [1, 7, 8]
    assert np.allclose(p.scaled.mean(axis=0), 0)
    assert np.allclose(p.scaled.std(axis=0), 1)
    assert p.values[:, 1].tolist() == [10.0, 70.0, 80.0]  # real units kept for profiles


def test_prepare_drops_constant_feature_and_notes_it():
    df = pd.DataFrame(
        {"a": ["1", "2", "3", "4"], "b": ["5", "5", "5", "5"], "c": ["1", "3", "2", "9"]}
    )
    d = resolve_dictionary(df, columns=("a", "b", "c"))
    p = prepare(df, d)
    assert p.features == ("a", "c")
    assert any("same value" in n for n in p.notes)


def test_prepare_tells_a_blank_segmentation_column_from_a_constant_one():
    df = pd.DataFrame({"a": ["1", "2", "3", "4"], "notes": ["", "", None, ""]})
    d = resolve_dictionary(df, columns=("a", "notes"))
    p = prepare(df, d)
    assert p.features == ("a",)
    assert "Left out because every kept row is blank: notes." in p.notes
    assert not any("same value" in n for n in p.notes)
    with pytest.raises(InputError, match=r"every segmentation column is blank \(notes\)"):
        prepare(df, resolve_dictionary(df, columns=("notes",)))


def test_prepare_no_numeric_column():
    df = pd.DataFrame({"name": ["x", "y", "z"], "city": ["a", "b", "c"]})
    with pytest.raises(InputError, match="no usable numeric column"):
        prepare(df, resolve_dictionary(df))


def test_policies_are_applied_and_counted():
    frame, _ = two_group_frame()
    frame["joined"] = frame["joined"].dt.strftime("%d-%m-%Y")
    frame.loc[:59, "visits"] = None  # 15 % missing -> filled in with the median
    frame.loc[399, "id"] = "c0"  # a repeated id -> the repeat is left out
    frame.loc[5, "spend"] = 1e9  # one extreme value -> capped for clustering
    spec = {
        "id_column": "id",
        "columns": {
            "id": {"role": "id"},
            "spend": {},
            "visits": {},
            "plan": {"role": "segment", "type": "categorical"},
            "joined": {"role": "segment", "type": "date"},
        },
    }
    d = resolve_dictionary(frame, dictionary_from_mapping(spec))
    p = prepare(frame, d)
    steps = {s.column: s for s in p.steps}
    assert p.duplicate_ids == 1 and p.n_kept == 399
    assert any(r.reason.startswith("duplicate id") for r in p.drops)
    assert steps["visits"].imputed == 60 and steps["visits"].impute is not None
    assert steps["spend"].transform == "log1p" and steps["spend"].capped == 1
    assert steps["joined"].kind == "date" and steps["joined"].reference_date
    plan = steps["plan"]
    block = p.scaled[:, [p.model_columns.index(c) for c in plan.model_columns]]
    assert block.var(axis=0).sum() == pytest.approx(0.25)  # half a numeric feature's spread
    assert any("filled in" in n for n in p.notes) and any("log-transformed" in n for n in p.notes)
    assert p.values[5, list(p.numeric_features).index("spend")] == 1e9  # profiles keep real values


def test_a_group_far_out_is_not_capped():
    rng = np.random.default_rng(1)
    spend = np.concatenate([rng.normal(100, 5, 900), rng.normal(1000, 20, 100)])
    frame = pd.DataFrame({"spend": spend, "visits": rng.normal(5, 1, 1000)})
    p = prepare(frame, resolve_dictionary(frame))
    assert all(s.capped == 0 for s in p.steps)


def test_repeated_ids_equal_the_pandas_duplicate_rule():
    from reportgen.analysis import prepare  # the module; `prepare` above is its function

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
        pd.Series(rng.integers(-50, 50, 5_000)),  # whole numbers: compared as numbers
        pd.Series(pd.array([7, None, 7, 8, None, 8], dtype="Int64")),  # a blank never repeats
        pd.Series(np.array([3, 1, 3, 255], dtype=np.uint8)),
    ]
    for column in cases:
        assert prepare.repeated_ids(column).tolist() == reference(column).tolist()


@pytest.mark.parametrize("seed", range(5))
def test_fast_skewness_decides_and_prints_as_the_exact_one(seed):
    from reportgen.analysis import prepare  # the module; `prepare` above is its function

    rng = np.random.default_rng(seed)
    for x in [rng.lognormal(0, s, 20_000) for s in (0.1, 0.3, 0.5, 1.0)] + [
        rng.normal(size=20_000)
    ]:
        exact = float(((x - x.mean()) ** 3).mean() / x.std() ** 3)
        fast = prepare._skewness(x)
        assert fast == pytest.approx(exact, rel=1e-12, abs=1e-12)
        assert (fast > prepare.SKEW_LIMIT) == (exact > prepare.SKEW_LIMIT)
        assert f"{fast:.1f}" == f"{exact:.1f}"


def test_kept_float_columns_are_views_of_values_with_the_same_numbers():
    from reportgen.analysis import prepare  # the module; `prepare` above is its function
    from reportgen.io import dictionary

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


def test_lean_median_absolute_deviation_equals_the_plain_one():
    x = np.random.default_rng(9).lognormal(0, 1, 100_001)
    med = float(np.median(x))
    scratch = np.abs(x - med)
    assert np.median(scratch.copy(), overwrite_input=True) == np.median(np.abs(x - med))


def _reference_number_step(raw, kind, drop_blank, scale_like=False):
    """preparation's fit of one number column as it was before it read ColumnStats (numpy
    directly on the column): (impute, imputed, transform, clip_low, clip_high, capped, mean,
    scale), or None when constant."""
    from reportgen.analysis import prepare as prep

    missing = np.isnan(raw)
    n_missing = int(missing.sum())
    impute = None
    if not drop_blank:
        if not missing.any():
            impute = float(np.median(raw))
        elif kind == "binary":
            impute = float(np.round(raw[~missing].mean()))
        else:
            impute = float(np.median(raw[~missing]))
        raw = np.where(missing, impute, raw)
    if raw.std() == 0:
        return None
    skew = float(((raw - raw.mean()) ** 3).mean() / raw.std() ** 3) if raw.min() >= 0 else 0
    log = kind == "numeric" and not scale_like and raw.min() >= 0 and skew > prep.SKEW_LIMIT
    x = np.log1p(raw) if log else raw
    lo = hi = None
    capped = 0
    if kind == "numeric":
        med = float(np.median(x))
        mad = float(np.median(np.abs(x - med))) * 1.4826
        if mad > 0:
            lo, hi = med - prep.OUTLIER_RSD * mad, med + prep.OUTLIER_RSD * mad
            capped = int(((x < lo) | (x > hi)).sum())
            if not capped or capped > prep.MAX_OUTLIER_SHARE * len(x):
                lo = hi = None
                capped = 0
    if lo is not None:
        x = np.clip(x, lo, hi)
    return (
        impute,
        n_missing if impute is not None else 0,
        "log1p" if log else "none",
        lo,
        hi,
        capped,
        float(x.mean()),
        float(x.std()),
    )


def test_fit_from_column_stats_equals_numpy_on_each_column():
    """The fit reads its medians, MADs, minima and skewness from engine.column_stats (one sort
    per column): the steps equal, bit for bit, numpy's functions on each column."""
    from reportgen.io import dictionary

    rng = np.random.default_rng(11)
    n = 3_001
    spend = rng.lognormal(3, 1, n)
    spend[:20] *= 40  # a few huge spenders: capped after the log
    frame = pd.DataFrame(
        {
            "spend": spend,
            "patchy": np.where(rng.random(n) < 0.2, np.nan, rng.normal(50, 5, n)),
            "flag": np.where(rng.random(n) < 0.1, np.nan, rng.integers(0, 2, n).astype(float)),
            "score": np.round(rng.normal(10, 2, n), 1),
            "flat": np.full(n, 4.0),
        }
    )
    frame.loc[:5, "score"] = [60, -40, 70, 55, -35, 80]  # outliers to cap, no log
    d = dictionary.resolve_dictionary(frame)
    d = (
        dictionary.with_roles(d, {"flag": ("segment", "")})
        if "flag" not in d.segment_columns
        else d
    )
    prepared = prepare(frame, d)
    steps = {s.column: s for s in prepared.steps}
    assert "flat" not in steps  # constant
    for name, step in steps.items():
        raw = frame[name].to_numpy(dtype=float)
        expected = _reference_number_step(raw, step.kind, drop_blank=step.impute is None)
        got = (
            step.impute,
            step.imputed,
            step.transform,
            step.clip_low,
            step.clip_high,
            step.capped,
            step.mean,
            step.scale,
        )
        assert got == expected, name
    assert steps["spend"].transform == "log1p" and steps["spend"].capped > 0
    assert steps["patchy"].imputed > 0 and steps["score"].capped == 6


def test_prepare_fits_its_numbers_through_the_engine_it_is_given():
    from reportgen.analysis.engine import InMemoryEngine
    from reportgen.io import dictionary

    class Counting(InMemoryEngine):
        def __init__(self):
            self.calls = []

        def column_stats(self, values, columns):
            self.calls.append(tuple(columns))
            return super().column_stats(values, columns)

    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {"a": rng.normal(size=500), "b": rng.lognormal(size=500), "c": rng.normal(size=500)}
    )
    frame.loc[:100, "c"] = np.nan  # 20 % blank: filled in with the median
    engine = Counting()
    plain = prepare(frame, dictionary.resolve_dictionary(frame))
    given = prepare(frame, dictionary.resolve_dictionary(frame), engine=engine)
    assert given.steps == plain.steps
    # every column once; the filled-in one again; the log-transformed one again
    assert engine.calls == [("a", "b", "c"), ("c",), ("b",)]


def test_the_cli_refuses_too_many_segmentation_columns_in_one_line_and_names_the_way_out(tmp_path):
    from typer.testing import CliRunner

    from reportgen.analysis.prepare import MAX_SEGMENT_FEATURES
    from reportgen.cli import app

    rng = np.random.default_rng(0)
    wide = pd.DataFrame(rng.normal(size=(40, MAX_SEGMENT_FEATURES + 20)))
    wide.columns = [f"m{j}" for j in range(wide.shape[1])]
    wide.insert(0, "customer_id", range(1, 41))
    path = tmp_path / "wide.csv"
    wide.to_csv(path, index=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["brief", str(path), "--out", str(out), "--quiet"])
    assert result.exit_code == 2
    message = result.output.strip()
    assert "\n" not in message and "120 columns would segment" in message
    assert "--columns" in message and not out.exists()


@pytest.mark.slow
def test_naming_the_columns_to_segment_on_is_the_way_out_of_the_refusal(tmp_path):
    from typer.testing import CliRunner

    from reportgen.analysis.prepare import MAX_SEGMENT_FEATURES
    from reportgen.cli import app

    rng = np.random.default_rng(0)
    wide = pd.DataFrame(rng.normal(size=(40, MAX_SEGMENT_FEATURES + 1)))
    wide.columns = [f"m{j}" for j in range(wide.shape[1])]
    path = tmp_path / "wide.csv"
    wide.to_csv(path, index=False)
    named = ",".join(f"m{j}" for j in range(4))
    out = tmp_path / "out"
    ok = CliRunner().invoke(app, ["brief", str(path), "--out", str(out), "--quiet", "-c", named])
    assert ok.exit_code == 0, ok.output
    assert (out / "assignments.csv").exists()


def test_whole_number_ids_stay_integers_and_other_ids_are_text():
    from reportgen.analysis import prepare as module

    whole = pd.Series(np.array([1001, 1002, 1003], dtype=np.int64), name="cid")
    assert module.customer_ids(whole) is whole  # no text made for millions of ids
    blanks = pd.Series([1001.0, np.nan, 1003.0], name="cid")  # read as floats: text as before
    assert module.customer_ids(blanks).tolist() == ["1001", "", "1003"]
    frame = pd.DataFrame({"cid": whole, "spend": [10.0, 20.0, 30.5], "visits": [1.0, 5.0, 2.0]})
    p = prepare(frame, resolve_dictionary(frame, id_column="cid"))
    assert p.ids.dtype == np.int64 and p.ids.tolist() == [1001, 1002, 1003]


def test_a_handed_over_frame_reads_the_same_and_shares_the_values():
    """With frame_released, the frame's float columns become views of the values in units as
    they are filled (so a 10M-row table's read copy is given back at once): same numbers, the
    same prepared data, and the call made once per column given up."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "spend": rng.lognormal(3, 1, 500),
            "visits": rng.poisson(4, 500).astype(np.int64),  # not float64: kept as read
            "age": rng.normal(40, 9, 500),
        }
    )
    before = frame.copy(deep=True)
    calls = []
    dictionary = resolve_dictionary(frame)
    handed = prepare(frame, dictionary, frame_released=lambda: calls.append(1))
    plain = prepare(before.copy(deep=True), dictionary)
    pd.testing.assert_frame_equal(frame, before)
    assert np.array_equal(handed.values, plain.values)
    assert np.array_equal(handed.scaled, plain.scaled)
    assert handed.values.flags.f_contiguous
    spend = handed.numeric_features.index("spend")
    assert np.shares_memory(frame["spend"].to_numpy(), handed.values[:, spend])
    assert len(calls) == 2  # spend and age: visits is not float64, so it stays as read
    blank = before.copy(deep=True)
    blank.loc[3, "age"] = np.nan  # a row left out: nothing is shared, the frame stays as read
    kept = blank.copy(deep=True)
    prepare(blank, resolve_dictionary(blank), frame_released=lambda: calls.append(1))
    pd.testing.assert_frame_equal(blank, kept)


def test_iso_dates_read_as_iso_and_day_month_order_decided_by_the_values():
    """A date column is read as an order log's date is: 2026-06-12 is 12 June (pandas' mixed
    parse with dayfirst read it as 6 December), and 13/06/2026 says the column is day first."""
    from reportgen.analysis.prepare import parse_column

    iso = parse_column(pd.Series(["2026-06-12", "2026-06-13", "2026-01-02", None]), "date")
    assert iso.values.tolist()[:3] == [1.0, 0.0, 162.0]
    assert not iso.invalid.any()
    day_first = parse_column(pd.Series(["13/06/2026", "01/02/2026"]), "date")
    assert day_first.values.tolist() == [0.0, 132.0]  # 1 February, not 2 January
    month_first = parse_column(pd.Series(["06/13/2026", "01/02/2026"]), "date")
    assert month_first.values.tolist() == [0.0, 162.0]  # 2 January
    junk = parse_column(pd.Series(["2026-06-12", "not a date"]), "date")
    assert junk.invalid.tolist() == [False, True]


def test_a_fitted_date_format_reads_a_batch_whose_days_decide_nothing():
    """Scoring applies the fit's format: a batch of 01/02-style dates is read as the fit read
    its dates (day first here), not by the month-first default of an undecided column."""
    from reportgen.analysis.prepare import parse_column

    fit = parse_column(pd.Series(["13/06/2026", "01/02/2026"]), "date")
    assert fit.date_format == "%d/%m/%Y"
    step = FeatureStep("d", "date", reference_date="2026-06-13", date_format=fit.date_format)
    batch = parse_column(pd.Series(["01/02/2026", "2026-06-12", None]), "date", step)
    assert batch.values.tolist()[:2] == [132.0, 1.0]  # 1 February; another shape on its own
