"""The Arrow CSV writer (deliver.csvtext) writes exactly the bytes of the pandas writer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reportgen.deliver import csvtext
from reportgen.deliver import files as deliver
from reportgen.fmt import neutralise

NASTY = [
    "ok",
    '=HYPERLINK("http://x")',
    "+1",
    "-2",
    "@SUM(A1)",
    "\tTab",
    "\rcr",
    "|pipe",
    "%pct",
    "a,b",
    'say "hi"',
    "two\nlines",
    "cr\rinside",
    "",
    " lead",
    "trail ",
    "é ü 中文 🙂",
    "'already",
    "x;y",
    "\u2028sep",
    '=",',
]


def pandas_bytes(frame: pd.DataFrame, chunk_rows: int = deliver.CSV_CHUNK_ROWS) -> bytes:
    header = [neutralise(str(c)) for c in frame.columns]
    return b"".join(deliver._pandas_csv_chunks(frame, header, chunk_rows))


def test_g6_is_percent_g_on_hard_values():
    rng = np.random.default_rng(3)
    special = [
        0.0,
        -0.0,
        np.inf,
        -np.inf,
        1e-4,
        9.99999e-5,
        0.001953125,
        99999.95,
        999999.5,
        999999.4,
        1e5,
        1e6,
        123456.5,
        0.5,
        10.0,
        1e-5,
        5e-7,
        0.1,
        1.0000005,
        12.345675,
        0.00390625,
        -1e-4,
        1e300,
        -1e-300,
        5e-324,
    ]
    x = np.concatenate(
        [
            np.array(special),
            rng.normal(2, 1, 200_000).round(6),  # half the 7th digits are ties in decimal
            rng.normal(0, 1, 100_000).round(7),
            10 ** rng.uniform(-8, 9, 100_000),
            rng.integers(0, 10**7, 100_000) / 10.0 ** rng.integers(1, 12, 100_000),
            np.arange(1, 20_000) / 2.0**17,  # exact binary halves
        ]
    )
    got = csvtext.g6(x).to_pylist()
    assert got == ["%.6g" % v for v in x.tolist()]  # noqa: UP031 - pandas' float_format
    assert csvtext.g6(np.array([np.nan, 1.0])).to_pylist() == [None, "1"]


@pytest.mark.parametrize("chunk_rows", [3, 1000])
def test_arrow_csv_is_byte_for_byte_the_pandas_csv(chunk_rows):
    n = len(NASTY) * 3
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "id": pd.array(NASTY * 3, dtype="string"),
            "segment_id": np.arange(n) % 4 + 1,
            "segment_name": np.array(NASTY[::-1] * 3, dtype=object),
            "distance_to_center": rng.normal(2, 1, n).round(6),
            "nullable": pd.array([1, None, -3] * len(NASTY), dtype="Int64"),
            "with_nan": np.where(np.arange(n) % 5 == 0, np.nan, rng.normal(0, 100, n)),
            "obj_na": pd.Series([None, "=x", "y"] * len(NASTY), dtype=object),
            "=formula header": 1.5,
            'a "quoted", header': "v",
        }
    )
    frame.loc[3, "id"] = pd.NA
    assert all(csvtext.handles(frame[c]) for c in frame.columns)
    got = b"".join(deliver.csv_chunks(frame, chunk_rows=chunk_rows))
    assert got == pandas_bytes(frame, chunk_rows)
    assert b"'=HYPERLINK" in got and b'"two\nlines"' in got


def test_other_columns_and_single_columns_use_pandas():
    frame = pd.DataFrame({"flag": [True, False], "when": pd.to_datetime(["2024-01-01", None])})
    assert not csvtext.handles(frame["flag"]) and not csvtext.handles(frame["when"])
    assert deliver.csv_bytes(frame) == pandas_bytes(frame)
    mixed = pd.DataFrame({"a": pd.Series([1, "x"], dtype=object), "b": [1, 2]})
    assert not csvtext.handles(mixed["a"])
    assert deliver.csv_bytes(mixed) == pandas_bytes(mixed)
    single = pd.DataFrame({"id": ["", "=a"]})
    assert deliver.csv_bytes(single) == pandas_bytes(single)
    empty = pd.DataFrame({"id": pd.Series([], dtype="string"), "v": pd.Series([], dtype=float)})
    assert deliver.csv_bytes(empty) == pandas_bytes(empty) == b"id,v\n"


def test_categorical_text_is_written_as_its_text():
    """Segment names travel as a categorical column: the same bytes as the text column."""
    names = pd.Categorical.from_codes(
        [0, 1, -1, 2, 0, 2], categories=pd.Index(["=Risky", "Savers, loyal", 'Say "hi"'])
    )
    frame = pd.DataFrame({"id": list("abcdef"), "segment_name": names, "n": range(6)})
    plain = frame.assign(segment_name=frame["segment_name"].astype(object))
    assert csvtext.handles(frame["segment_name"])
    assert deliver.csv_bytes(frame) == deliver.csv_bytes(plain)
    assert not csvtext.handles(pd.Series(pd.Categorical([1, 2, 1])))  # numbers: pandas writes
