"""The CSV reader (reportgen.io.load.read_table): numbers parsed once, text ids kept, large files,
typing on threads, and the same brief numbers as Parquet."""

from __future__ import annotations

import numpy as np
import pandas as pd

from reportgen.engine import parallel
from reportgen.io.load import read_table
from reportgen.pipeline import build_brief
from tests.synthetic import make_table


def test_csv_reader_parses_numbers_once_and_keeps_text_ids(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(
        "customer_id,age,spend,code,plan\n007,31,12.5,1,Basic\n012,45,NA,2, Plus\n113,52,7,,Basic\n"
    )
    frame = read_table(path).frame
    assert frame["customer_id"].tolist() == ["007", "012", "113"]
    assert frame["age"].dtype.kind == "i" or str(frame["age"].dtype) == "Int64"
    assert frame["spend"].dtype == float and np.isnan(frame["spend"][1])
    assert frame["code"].astype("string").tolist()[:2] == ["1", "2"]
    assert frame["plan"].tolist() == ["Basic", "Plus", "Basic"]


def test_read_keeps_row_count_for_a_large_csv(tmp_path):
    n = 50_000
    rng = np.random.default_rng(0)
    pd.DataFrame({"id": [f"A{i:06d}" for i in range(n)], "x": rng.normal(size=n)}).to_csv(
        tmp_path / "big.csv", index=False
    )
    frame = read_table(tmp_path / "big.csv").frame
    assert len(frame) == n and frame["id"].iloc[0] == "A000000" and frame["x"].dtype == float


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


def test_csv_fast_path_gives_the_same_brief_numbers_as_parquet(tmp_path):
    frame, _ = make_table(3, seed=5, n=600)
    frame.to_csv(tmp_path / "c.csv", index=False)
    frame.to_parquet(tmp_path / "c.parquet", index=False)
    a = build_brief(tmp_path / "c.csv", out_dir=tmp_path / "a", k=3)
    b = build_brief(tmp_path / "c.parquet", out_dir=tmp_path / "b", k=3)
    assert np.array_equal(a.segmentation.labels, b.segmentation.labels)
    assert np.allclose(a.prepared.scaled, b.prepared.scaled)


def test_integer_typing_looks_at_every_value_not_only_the_first(tmp_path, monkeypatch):
    """The first TYPING_SAMPLE values only rule integers out early: a column whose later values
    are decimals is floats, one of signed integers that Arrow's cast refuses ('+5') is read
    (as numbers, the way the text rules read '+5'), not a traceback."""
    from reportgen.io import load

    monkeypatch.setattr(load, "TYPING_SAMPLE", 3)
    rows = ["id,count,late,signed"] + [f"C{i},{i},{i},{i}" for i in range(6)]
    rows[-1] = "C9,9,9.5,+9"
    path = tmp_path / "t.csv"
    path.write_text("\n".join(rows) + "\n")
    frame = read_table(path).frame
    assert str(frame["count"].dtype) == "Int64"
    assert frame["late"].dtype == float and frame["late"].iloc[-1] == 9.5
    assert frame["signed"].dtype == float and frame["signed"].iloc[-1] == 9.0
