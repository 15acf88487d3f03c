"""brief.xlsx (reportgen.report.workbook): read back with openpyxl (and LibreOffice where it is
installed): the sheets, numbers as numbers, every customer, formulas neutralised as in the CSV,
the frozen header and autofilter, number formats and the heatmap-like colour scale, the Changes
sheet of a re-report and the Excel row limit."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess

import numpy as np
import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from reportgen import build_brief
from reportgen.cli import app
from reportgen.io.dictionary import ColumnSpec
from reportgen.report import workbook
from tests.conftest import pdf_text, two_group_frame

runner = CliRunner()


def _book(folder):
    return openpyxl.load_workbook(folder / "brief.xlsx")


def _rows(sheet, first=1):
    return list(sheet.iter_rows(min_row=first, values_only=True))


def _csv_rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_demo_workbook_has_every_sheet_with_numbers(demo_run):
    folder = demo_run.config.out_dir
    book = _book(folder)
    assert book.sheetnames == ["Summary", "Profiles", "Customers", "Method"]
    rows = _rows(book["Summary"])
    header = rows.index(workbook.SUMMARY_COLUMNS)
    body = [r for r in rows[header + 1 :] if isinstance(r[0], int)]
    assert [r[1] for r in body] == [s.name for s in demo_run.stories]
    for r, seg in zip(body, demo_run.profiles.segments, strict=True):
        assert r[2] == seg.size and isinstance(r[2], int)
        assert r[3] == pytest.approx(seg.share) and isinstance(r[3], float)
        assert r[5] in ("stable", "doubtful", "unstable") and 0 <= r[6] <= 1
        assert r[4] and r[7]  # what sets it apart, the marketing angle


def test_customers_sheet_is_assignments_csv(demo_run):
    folder = demo_run.config.out_dir
    sheet = _book(folder)["Customers"]
    csv_rows = _csv_rows(folder / "assignments.csv")
    rows = _rows(sheet)
    assert list(rows[0]) == csv_rows[0]
    assert len(rows) == len(csv_rows)  # every customer
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:F{len(rows)}"
    for got, want in zip(rows[1:], csv_rows[1:], strict=True):
        assert got[0] == want[0]
        assert isinstance(got[1], int) and got[1] == int(want[1])
        # The CSV prints six significant digits; the workbook keeps the number itself.
        assert isinstance(got[3], float) and got[3] == pytest.approx(float(want[3]), rel=1e-5)


def test_profiles_sheet_units_formats_and_colour_scale(demo_run):
    sheet = _book(demo_run.config.out_dir)["Profiles"]
    rows = _rows(sheet)
    k = len(demo_run.stories)
    assert rows[k + 1][0] == "All" and rows[k + 1][2] == demo_run.profiles.n
    for j, mean in enumerate(demo_run.profiles.overall_mean):
        assert rows[k + 1][4 + j] == pytest.approx(mean)
        # The survey's answers are on a 1-7 scale: shown as "5.8 / 7", stored as 5.846...
        assert sheet.cell(row=2, column=5 + j).number_format == '0.0" / 7"'
    assert sheet.cell(row=2, column=4).number_format == "0.0%"
    rules = [r for cf in sheet.conditional_formatting for r in cf.rules]
    assert len(rules) == len(demo_run.profiles.features)
    assert all(r.type == "colorScale" for r in rules)
    mids = sorted(float(r.colorScale.cfvo[1].val) for r in rules)
    assert mids == pytest.approx(sorted(demo_run.profiles.overall_mean))


def test_method_sheet_has_the_k_evidence_and_counts(demo_run):
    rows = _rows(_book(demo_run.config.out_dir)["Method"])
    header = rows.index(workbook.EVIDENCE_COLUMNS)
    evidence = demo_run.k_choice.evidence
    table = rows[header + 1 : header + 1 + len(evidence)]
    assert [r[0] for r in table] == [e.k for e in evidence]
    assert [r[1] for r in table] == pytest.approx([e.inertia for e in evidence])
    assert [r[8] for r in table] == [e.k == demo_run.k_choice.k for e in evidence]
    counts = {r[0]: r[1] for r in rows if r[0] and isinstance(r[1], int)}
    assert counts["Read from the file"] == demo_run.prepared.n_read
    assert counts["Segmented on every feature"] == demo_run.prepared.n_kept


HOSTILE = ['=HYPERLINK("http://x")', "+41 22", "-2+3", "@SUM(A1)", "\tTAB", "\rCR", "|pipe", "%x"]


def test_formula_text_neutralised_exactly_as_in_the_csv(tmp_path):
    frame = two_group_frame(n=120)[0].drop(columns=["joined"])
    frame.loc[: len(HOSTILE) - 1, "id"] = HOSTILE
    data = tmp_path / "c.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "out"
    build_brief(data, out_dir=out, k=2, resamples=0, n_init=2, id_column="id")
    csv_ids = [r[0] for r in _csv_rows(out / "assignments.csv")[1:]]
    book_ids = [r[0] for r in _rows(_book(out)["Customers"], first=2)]
    assert book_ids == csv_ids
    for text in HOSTILE:  # the CSV rule: a leading quote (the reader strips tabs and CRs)
        assert "'" + text.strip() in book_ids or text.strip()[0] not in "=+-@|%"
    assert all(t.strip() in csv_ids or "'" + t.strip() in csv_ids for t in HOSTILE)
    cells = [c for row in _book(out)["Customers"].iter_rows(min_row=2) for c in row]
    assert not any(c.data_type == "f" for c in cells)  # no formula anywhere


def test_changes_sheet_on_a_re_report(periods):
    run = periods["runs"][2]
    book = _book(run.config.out_dir)
    assert book.sheetnames[-1] == "Changes"
    rows = _rows(book["Changes"])
    header = rows.index(workbook.CHANGE_COLUMNS)
    body = [r for r in rows[header + 1 :] if isinstance(r[0], int)][: len(run.changes.segments)]
    assert [r[0] for r in body] == [s.id for s in run.changes.segments]
    for r, s in zip(body, run.changes.segments, strict=True):
        assert r[2] == s.status
        if s.size_after is not None:
            assert r[5] == s.size_after
    assert "Changes" not in _book(periods["runs"][1].config.out_dir).sheetnames


def test_customers_sheet_stops_at_the_row_limit_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(workbook, "CUSTOMER_ROWS", 50)
    frame = two_group_frame(n=120)[0].drop(columns=["joined"])
    data = tmp_path / "c.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "out"
    build_brief(data, out_dir=out, k=2, resamples=0, n_init=2)
    book = _book(out)
    rows = _rows(book["Customers"])
    assert len(rows) == 51
    assert "first 50 of 120 rows" in rows[0][-1]
    assert len(_csv_rows(out / "assignments.csv")) == 121  # the CSV keeps every row
    assert any(r[0] and "first 50 of 120" in str(r[0]) for r in _rows(book["Summary"]))
    brief = " ".join(" ".join(pdf_text(out / "brief.pdf")).split())
    assert "The Customers sheet lists the first 50 of 120 rows" in brief  # the brief says so too


def test_number_formats_follow_the_units():
    def spec(**kw):
        kw.setdefault("name", "x")
        return ColumnSpec(role="segment", type="numeric", label=kw["name"], **kw)

    assert workbook.number_format(spec(unit="€"), 1234.5) == '"€"#,##0'
    assert workbook.number_format(spec(unit="kWh"), 12.3) == '#,##0.0" kWh"'
    assert workbook.number_format(spec(unit="%"), 0.5) == '#,##0.00" %"'
    assert workbook.number_format(spec(), 3.0) == "#,##0.0"
    assert workbook.number_format(spec(name="Year_Birth"), 1970.0) == "0"


def _customers_only(frame):
    """The Customers sheet of `frame` as the run writes it: XlsxWriter's sheet, rows spliced in."""
    import xlsxwriter

    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"constant_memory": True})
    book.add_worksheet("Summary")
    book.add_worksheet("Profiles")
    workbook._customers_sheet(book, workbook._Formats(book, workbook.WorkbookStyle()), frame)
    book.close()
    out = io.BytesIO()
    workbook.splice_rows(buf.getvalue(), workbook.CUSTOMERS_SHEET, frame, out)
    return openpyxl.load_workbook(io.BytesIO(out.getvalue()))["Customers"]


def test_customer_columns_of_every_kind_written_as_their_kind():
    frame = pd.DataFrame(
        {
            "id": ["\tTAB", "=b", "\rCR"],
            "n": pd.array([1, None, 3], dtype="Int64"),
            "x": [1.5, np.nan, np.inf],
            "flag": [True, False, True],
            "money": pd.Series([1.25, None, 3.5]),
        }
    )
    sheet = _customers_only(frame)
    rows = _rows(sheet)
    # A CR is stored as Excel's escape _x000D_ (openpyxl leaves it escaped; Excel shows a CR).
    rows = [tuple(v.replace("_x000D_", "\r") if isinstance(v, str) else v for v in r) for r in rows]
    assert rows[1:] == [
        ("'\tTAB", 1, 1.5, True, 1.25),
        ("'=b", None, None, False, None),
        ("'\rCR", 3, None, True, 3.5),
    ]
    assert sheet.dimensions == "A1:E4"


def test_columns_of_few_values_read_back_as_the_rows_they_came_from():
    """A column with few distinct values is written once per value and gathered: every row's
    cells, blanks and positions included, read back as a column of many values would."""
    n = 300
    frame = pd.DataFrame(
        {
            "id": [f"C{i:04d}" for i in range(n)],
            "segment": pd.array([[1, 2, None][i % 3] for i in range(n)], dtype="Int64"),
            "name": [["=Risky", "Savers", None, "  spaced "][i % 4] for i in range(n)],
            "flag": [i % 2 == 0 for i in range(n)],
            "note": [None if i % 5 else "left out" for i in range(n)],
        }
    )
    rows = _rows(_customers_only(frame), first=2)
    expected = [
        tuple(None if pd.isna(v) else v for v in row)
        for row in frame.assign(
            name=frame["name"].map(lambda t: "'" + t if isinstance(t, str) and t[0] == "=" else t)
        ).itertuples(index=False)
    ]
    assert [tuple(r) for r in rows] == expected


TRICKY = [
    "plain",
    "  leading and trailing  ",
    "a & b < c > d \" q ' s",
    "line\nbreak",
    "bell\x07 and nul\x00 and esc\x1b",
    "Zürich · 東京 · emoji 🎉",
    "=1+1",
    "-5",
    "@x",
    "|pipe",
    "%pct",
    "\u2028sep",
    "",
    None,
]


def test_spliced_text_reads_back_as_xlsxwriter_writes_it():
    """Each tricky text, read back by openpyxl, is what XlsxWriter's own write_string gives for
    the neutralised text (the rows are spliced for speed, not written by another rule)."""
    import xlsxwriter

    from reportgen import fmt

    ours = [r[0] for r in _rows(_customers_only(pd.DataFrame({"t": TRICKY})), first=2)]
    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"constant_memory": True})
    sheet = book.add_worksheet()
    for r, text in enumerate(TRICKY):
        if text:
            sheet.write_string(r, 0, fmt.neutralise(text))
    book.close()
    theirs = [r[0] for r in _rows(openpyxl.load_workbook(buf)["Sheet1"])]
    pad = [None] * len(TRICKY)
    assert (ours + pad)[: len(TRICKY)] == (theirs + pad)[: len(TRICKY)]


def test_literal_excel_escape_in_text_is_kept_literal():
    sheet = _customers_only(pd.DataFrame({"t": ["code _x0041_ here"]}))
    # "_x005F_" escapes the underscore: Excel shows "code _x0041_ here", not "code A here".
    assert sheet["A2"].value == "code _x005F_x0041_ here"


def test_many_rows_and_columns_beyond_z():
    frame = pd.DataFrame({f"c{j}": np.arange(70_000) * j for j in range(28)})
    sheet = _customers_only(frame)
    assert sheet.max_row == 70_001 and sheet.max_column == 28
    assert sheet["AB70001"].value == 69_999 * 27


def test_workbook_option_through_the_cli(tmp_path):
    frame = two_group_frame(n=80)[0].drop(columns=["joined"])
    data = tmp_path / "c.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "out"
    result = runner.invoke(app, ["brief", str(data), "--out", str(out), "--k", "2", "-q"])
    assert result.exit_code == 0, result.output
    assert len(_rows(_book(out)["Customers"])) == 81


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_libreoffice_opens_the_workbook(demo_run, tmp_path):
    """A real spreadsheet program reads the workbook: every sheet as CSV (LibreOffice 7.2+ writes
    brief-<Sheet>.csv for each; older versions write the first sheet only, as brief.csv)."""
    src = demo_run.config.out_dir / "brief.xlsx"
    shutil.copy(src, tmp_path / "brief.xlsx")
    done = subprocess.run(
        [
            "soffice",
            "--headless",
            f"-env:UserInstallation=file://{tmp_path}/lo-profile",
            "--convert-to",
            "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1",
            "--outdir",
            str(tmp_path / "csv"),
            str(tmp_path / "brief.xlsx"),
        ],
        capture_output=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    converted = {p.stem: p for p in (tmp_path / "csv").glob("*.csv")}
    assert converted, done.stdout
    if "brief-Customers" in converted:
        rows = _csv_rows(converted["brief-Customers"])
        want = _csv_rows(src.parent / "assignments.csv")
        assert [r[0] for r in rows] == [r[0] for r in want]
        assert len(_csv_rows(converted["brief-Summary"])) > len(demo_run.stories)
    else:
        first = _csv_rows(next(iter(converted.values())))
        assert first[0][0] == demo_run.summary["title"]


def test_whole_numbers_beyond_excels_digits_are_written_as_text():
    """Excel shows 15 significant digits: an 18-digit id as a number would read rounded."""
    frame = pd.DataFrame(
        {"small": np.array([42, -7], dtype=np.int64), "long": [123456789012345678, 5]}
    )
    rows = _rows(_customers_only(frame), first=2)
    assert rows == [(42, "123456789012345678"), (-7, "5")]
