"""Files as real systems write them: Excel's 'sep=;' hint, titles above the header, data on a
later sheet, cut-short downloads, endless lines, names alike but for case, numbers near the float
limit, dictionaries saved by any editor. Each is read correctly with a note saying how, or
refused with one line (InputError) — never a traceback."""

from __future__ import annotations

import gzip
import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from reportgen.cli import app
from reportgen.config import BriefConfig
from reportgen.errors import ConfigError, InputError
from reportgen.io import load
from reportgen.io.dictionary import MAX_DICTIONARY_BYTES, read_dictionary
from reportgen.io.load import MAX_COLUMNS, read_table
from reportgen.io.sources import FileSource, open_source


def customers(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:04d}" for i in range(n)],
            "spend": np.r_[rng.normal(100, 10, n // 2), rng.normal(900, 50, n - n // 2)].round(2),
            "visits": np.r_[rng.poisson(2, n // 2), rng.poisson(20, n - n // 2)],
            "tenure": rng.integers(1, 60, n),
        }
    )


def refused(path, **options) -> str:
    with pytest.raises(InputError) as err:
        read_table(path, **options)
    message = str(err.value)
    assert "\n" not in message and message
    return message


# --------------------------------------------------------------------------- Excel's sep= hint


@pytest.mark.parametrize("hint", ["sep=;", '"sep=;"', "SEP=;", "sep=;;;"])
def test_excel_sep_hint_names_the_delimiter_and_is_skipped(tmp_path, hint):
    p = tmp_path / "hint.csv"
    p.write_text(hint + "\r\n" + customers(40).to_csv(index=False, sep=";", lineterminator="\r\n"))
    t = read_table(p)
    assert t.delimiter == ";"
    assert list(t.frame.columns) == ["customer_id", "spend", "visits", "tenure"]
    assert len(t.frame) == 40 and t.frame["spend"].dtype == float
    assert any("sep=;" in n.lower() and "skipped" in n for n in t.notes)


def test_sep_hint_wins_over_what_the_lines_suggest(tmp_path):
    # Decimal commas in a ';' file: a sniffer might split on ','; the hint says ';'.
    p = tmp_path / "hint.csv"
    p.write_bytes("sep=;\nname;amount\nMüller;12,50\nRenée;7,20\nOla;3,10\n".encode("cp1252"))
    t = read_table(p)
    assert t.delimiter == ";" and t.frame["amount"].tolist() == [12.5, 7.2, 3.1]
    assert t.frame["name"].tolist() == ["Müller", "Renée", "Ola"]


# --------------------------------------------------------------------------- titles above header


def test_a_title_line_above_the_header_is_skipped_and_stated(tmp_path):
    p = tmp_path / "export.csv"
    p.write_text("Customer export 2024-05-01 (CRM)\n" + customers().to_csv(index=False))
    t = read_table(p)
    assert list(t.frame.columns) == ["customer_id", "spend", "visits", "tenure"]
    assert len(t.frame) == 200
    assert any("Customer export 2024-05-01 (CRM)" in n and "skipped" in n for n in t.notes)


def test_padded_title_and_note_lines_in_a_small_semicolon_file(tmp_path):
    """A spreadsheet pads its title rows with delimiters; the file is too short for the sniffer
    to see past them."""
    p = tmp_path / "export.csv"
    p.write_text(
        "Kundenexport Mai;;;\nErstellt von: Jane;;;\n\nid;umsatz;besuche;plan\n"
        "1;12,5;3;basic\n2;7,25;1;plus\n3;99,0;8;basic\n"
    )
    t = read_table(p)
    assert t.delimiter == ";"
    assert list(t.frame.columns) == ["id", "umsatz", "besuche", "plan"]
    assert t.frame["umsatz"].tolist() == [12.5, 7.25, 99.0]
    (note,) = t.notes
    assert "3 lines above its header" in note and "'Kundenexport Mai'" in note


def test_skip_rows_forces_the_header_line(tmp_path):
    p = tmp_path / "export.csv"
    p.write_text("report,2024\nregion,north\n" + customers(30).to_csv(index=False))
    t = read_table(p, skip_rows=2)
    assert list(t.frame.columns) == ["customer_id", "spend", "visits", "tenure"]
    assert len(t.frame) == 30
    assert any("first 2 lines were skipped as asked" in n for n in t.notes)
    # Through the source the pipeline opens, as BriefConfig(skip_rows=2) asks for it.
    assert open_source(p, skip_rows=2).read().frame.shape == (30, 4)
    assert FileSource(p).skip_rows is None  # not given: detected


def test_unsure_title_is_refused_naming_skip_rows(tmp_path):
    p = tmp_path / "export.csv"
    # A short first line, but no line of names below it: not a header, not a recognised title.
    p.write_text("Quarterly numbers\n1,2,3\n4,5,6\n7,8,9\n")
    message = refused(p)
    assert "--skip-rows" in message and "Quarterly numbers" in message


def test_normal_files_are_not_taken_for_titles(tmp_path):
    # A file whose first line is a header with fewer names than a pandas index column would add,
    # a two-column file, and a file of categories: read as before, without notes.
    for text in [
        "id,plan\n1,basic\n2,plus\n3,basic\n",
        "name;city\nAnna;Rome\nBob;Paris\nCleo;Oslo\n",
        "a\n1\n2\n3\n",
    ]:
        p = tmp_path / "plain.csv"
        p.write_text(text)
        t = read_table(p)
        assert list(t.frame.columns) == text.splitlines()[0].split(t.delimiter)
        assert len(t.frame) == 3 and t.notes == ()


def test_header_names_with_spaces_around_them_read_on_the_fast_path(tmp_path):
    p = tmp_path / "spaces.csv"
    p.write_text("id, spend ,visits\na,2.5,1\nb,3.5,2\n")
    t = read_table(p)
    assert list(t.frame.columns) == ["id", "spend", "visits"]
    assert t.frame["spend"].tolist() == [2.5, 3.5]


# --------------------------------------------------------------------------- Excel sheets


def workbook(path, sheets: dict[str, pd.DataFrame | list[list[object]]]) -> None:
    with pd.ExcelWriter(path) as w:
        for name, content in sheets.items():
            if isinstance(content, pd.DataFrame):
                content.to_excel(w, sheet_name=name, index=False)
            else:
                width = max(len(row) for row in content)
                padded = [list(row) + [None] * (width - len(row)) for row in content]
                pd.DataFrame(padded).to_excel(w, sheet_name=name, index=False, header=False)


def test_cover_page_first_sheet_is_passed_over_with_a_note(tmp_path):
    p = tmp_path / "book.xlsx"
    cover = [["Customer report"], ["Prepared by", "Jane"], ["Date", "2024-05-01"]]
    workbook(p, {"Cover": cover, "Data": customers(50)})
    t = read_table(p)
    assert list(t.frame.columns) == ["customer_id", "spend", "visits", "tenure"]
    assert len(t.frame) == 50
    assert any("'Cover'" in n and "'Data' was read" in n for n in t.notes)


def test_empty_first_sheet_is_passed_over(tmp_path):
    p = tmp_path / "book.xlsx"
    workbook(p, {"Leer": [[None]], "Notes": [["see the next sheet"]], "Kunden": customers(20)})
    t = read_table(p)
    assert t.frame.shape == (20, 4)
    assert any("'Leer' is empty" in n and "'Kunden' was read" in n for n in t.notes)


def test_sheet_by_name_or_number(tmp_path):
    p = tmp_path / "book.xlsx"
    other = customers(10).rename(columns={"spend": "other_spend"})
    workbook(p, {"First": other, "Second": customers(30)})
    assert "other_spend" in read_table(p).frame.columns  # a table on the first sheet: kept
    assert read_table(p, sheet="Second").frame.shape == (30, 4)
    assert read_table(p, sheet="second").frame.shape == (30, 4)
    assert read_table(p, sheet=2).frame.shape == (30, 4)
    assert read_table(p, sheet="2").frame.shape == (30, 4)
    assert any("'Second' was read, as asked" in n for n in read_table(p, sheet=2).notes)


def test_unknown_sheet_is_refused_naming_the_sheets(tmp_path):
    p = tmp_path / "book.xlsx"
    workbook(p, {"Cover": [["x"]], "Data": customers(10)})
    message = refused(p, sheet="Daten")
    assert "no sheet 'Daten'" in message and "'Cover', 'Data'" in message
    assert "no sheet 5" in refused(p, sheet=5)


def test_sheet_and_skip_rows_are_checked_settings(tmp_path):
    p = tmp_path / "c.csv"
    customers(10).to_csv(p, index=False)
    with pytest.raises(ConfigError) as err:
        read_table(p, sheet="Data")
    assert err.value.setting == "sheet" and str(err.value).startswith("sheet ")
    with pytest.raises(ConfigError) as err:
        read_table(p, skip_rows=-1)
    assert err.value.setting == "skip_rows"
    with pytest.raises(ConfigError) as err:
        BriefConfig(data_path=p, sheet=0)
    assert err.value.setting == "sheet"
    with pytest.raises(ConfigError) as err:
        BriefConfig(data_path=p, skip_rows=10**6)
    assert err.value.setting == "skip_rows"
    assert BriefConfig(data_path=p, sheet=" Data ", skip_rows=2).sheet == "Data"


def test_title_and_blank_rows_above_an_excel_header(tmp_path):
    p = tmp_path / "book.xlsx"
    rows: list[list[object]] = [["Customer export 2024-05-01"], [None], ["id", "spend", "visits"]]
    rows += [[f"C{i}", 10.0 * i, i % 4] for i in range(12)]
    workbook(p, {"Export": rows})
    t = read_table(p)
    assert list(t.frame.columns) == ["id", "spend", "visits"] and len(t.frame) == 12
    assert any("Customer export 2024-05-01" in n for n in t.notes)
    assert list(read_table(p, skip_rows=2).frame.columns) == ["id", "spend", "visits"]


# --------------------------------------------------------------------------- truncated gzip


@pytest.mark.parametrize("rows", [50, 20_000])  # cut inside the first block, or far after it
def test_truncated_gzip_is_refused_in_one_line(tmp_path, rows):
    data = gzip.compress(customers(rows).to_csv(index=False).encode())
    p = tmp_path / "cut.csv.gz"
    p.write_bytes(data[: int(len(data) * 0.8)])
    assert refused(p) == "cut.csv.gz is truncated (the gzip stream ends early)"


def test_gz_that_is_not_gzip_or_is_corrupt(tmp_path):
    plain = tmp_path / "plain.csv.gz"
    plain.write_text("a,b\n1,2\n")
    assert "not gzip-compressed" in refused(plain)
    data = bytearray(gzip.compress(customers(2000).to_csv(index=False).encode()))
    data[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(bytes(data))
    assert "damaged" in refused(bad)


# --------------------------------------------------------------------------- long lines, columns


def test_a_20_mb_value_is_refused_stating_the_limit(tmp_path):
    frame = customers(50).astype({"customer_id": object})
    frame.loc[3, "customer_id"] = "x" * (20 << 20)
    p = tmp_path / "long.csv"
    frame.to_csv(p, index=False)
    message = refused(p)
    assert "'customer_id' in row 4" in message and "20.0 MB" in message and "1 MB" in message


def test_long_values_under_the_limit_are_read(tmp_path):
    # 300 KB: over the csv module's 128 KB field limit and the 256 KB sample, under 1 MB.
    p = tmp_path / "notes.csv"
    p.write_text("id,note,spend\n1," + "y" * 300_000 + ",3\n2,short,4\n")
    t = read_table(p)
    assert len(t.frame.loc[0, "note"]) == 300_000 and t.frame["spend"].tolist() == [3, 4]


def test_a_first_line_too_long_for_a_header_is_refused(tmp_path):
    p = tmp_path / "oneline.csv"
    p.write_text("z" * (1 << 20))
    assert "longer than 256 KB" in refused(p)
    p.write_text("id," + "n" * 200_000 + "\n1,2\n")  # one field over the csv module's limit
    assert "header line" in refused(p)


def test_too_many_columns_is_refused_stating_the_limit(tmp_path):
    wide = pd.DataFrame(np.ones((3, MAX_COLUMNS + 1)), columns=[f"c{i}" for i in range(1001)])
    p = tmp_path / "wide.csv"
    wide.to_csv(p, index=False)
    assert f"{MAX_COLUMNS + 1:,} columns" in refused(p) and f"{MAX_COLUMNS:,}" in refused(p)
    q = tmp_path / "wide.parquet"
    wide.to_parquet(q)
    assert "MAX_COLUMNS" in refused(q)
    ok = tmp_path / "ok.csv"
    wide.iloc[:, :MAX_COLUMNS].to_csv(ok, index=False)
    assert read_table(ok).frame.shape == (3, MAX_COLUMNS)


# --------------------------------------------------------------------------- names alike


@pytest.mark.parametrize(
    "header",
    ["id,Spend,spend \n", "id,spend, spend\n", "id,SPEND,spend\n"],
)
def test_names_alike_but_for_case_or_spaces_are_refused_naming_both(tmp_path, header):
    p = tmp_path / "alike.csv"
    p.write_text(header + "a,1,2\nb,3,4\n")
    message = refused(p)
    assert "duplicate column names" in message
    first, second = header.strip().split(",")[1:]
    assert (first in message and second in message) or first.strip() == second.strip()


def test_names_alike_in_excel_and_parquet(tmp_path):
    frame = pd.DataFrame([[1, 2], [3, 4]], columns=["Spend", "spend"])
    x = tmp_path / "a.xlsx"
    frame.to_excel(x, index=False)
    assert "'Spend' and 'spend'" in refused(x)
    q = tmp_path / "a.parquet"
    frame.to_parquet(q)
    assert "'Spend' and 'spend'" in refused(q)


# --------------------------------------------------------------------------- float limits


def test_numbers_near_the_float_limit_are_read_as_missing_with_a_note(tmp_path):
    frame = customers(50).astype({"spend": object, "visits": object})
    frame.loc[5, "spend"] = "1e308"
    frame.loc[7, "visits"] = "-9.9E+307"
    frame.loc[8, "visits"] = "n/a"  # keeps the column text: checked as text
    p = tmp_path / "huge.csv"
    frame.to_csv(p, index=False)
    t = read_table(p)
    assert math.isnan(t.frame.loc[5, "spend"]) and t.frame["spend"].notna().sum() == 49
    assert pd.isna(t.frame.loc[7, "visits"])
    assert any("'spend'" in n and "1e+308" in n and "missing" in n for n in t.notes)
    assert any("'visits'" in n and "-9.9E+307" in n for n in t.notes)


def test_large_but_usable_numbers_are_kept(tmp_path):
    p = tmp_path / "big.csv"
    p.write_text("id,x,y\na,1e99,inf\nb,2,3\nc,1e100,4\n")
    t = read_table(p)
    assert t.frame["x"].tolist() == [1e99, 2, 1e100] and t.notes == ()


def test_huge_numbers_in_excel_and_in_a_cp1252_file(tmp_path):
    x = tmp_path / "h.xlsx"
    pd.DataFrame({"id": ["a", "b", "c"], "v": [1.0, 1e300, 2.0]}).to_excel(x, index=False)
    t = read_table(x)
    assert t.frame["v"].isna().tolist() == [False, True, False] and len(t.notes) == 1
    c = tmp_path / "h.csv"
    c.write_bytes("name;betrag\nMüller;1,5\nRenée;2e200\nOla;3\n".encode("cp1252"))
    t = read_table(c)
    assert pd.isna(t.frame.loc[1, "betrag"]) and "2e200" in t.notes[-1]


# --------------------------------------------------------------------------- data dictionaries

DICTIONARY = "title: Kunden für Müller\ncolumns:\n  spend:\n    label: Umsatz in €\n  visits: {}\n"


@pytest.mark.parametrize(
    "encode",
    [
        lambda t: t.encode("cp1252"),
        lambda t: t.encode("utf-16"),  # with its BOM
        lambda t: b"\xfe\xff" + t.encode("utf-16-be"),
        lambda t: b"\xef\xbb\xbf" + t.encode("utf-8"),
        lambda t: t.encode("utf-32"),
    ],
    ids=["cp1252", "utf-16-le", "utf-16-be", "utf-8-bom", "utf-32"],
)
def test_dictionaries_in_any_common_encoding(tmp_path, encode):
    p = tmp_path / "d.yaml"
    p.write_bytes(encode(DICTIONARY))
    d = read_dictionary(p)
    assert d.title == "Kunden für Müller"
    assert d.column("spend").label == "Umsatz in €"
    assert [c.name for c in d.columns] == ["spend", "visits"]


@pytest.mark.parametrize(
    "text",
    [
        "columns: " + "[" * 5000 + "]" * 5000 + "\n",
        "columns: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n",
        "columns:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 400)),
    ],
    ids=["lists", "flow-mappings", "block-mappings"],
)
def test_deeply_nested_dictionary_is_refused(tmp_path, text):
    p = tmp_path / "deep.yaml"
    p.write_text(text)
    with pytest.raises(InputError, match="nested more than 50 levels"):
        read_dictionary(p)


def test_folder_huge_file_and_unreadable_values_as_dictionary(tmp_path):
    with pytest.raises(InputError, match="is a folder"):
        read_dictionary(tmp_path)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"columns:\n" + b"  c: {label: x}\n" * (MAX_DICTIONARY_BYTES // 16 + 10))
    with pytest.raises(InputError, match="at most 5 MB"):
        read_dictionary(big)
    bad_date = tmp_path / "date.yaml"
    bad_date.write_text("title: 2024-13-45\ncolumns: {a: {}}\n")
    with pytest.raises(InputError, match="cannot be read"):
        read_dictionary(bad_date)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\x00\x9f\x92\x96" * 100)
    with pytest.raises(InputError):
        read_dictionary(binary)


# --------------------------------------------------------------------------- end to end (CLI)

runner = CliRunner()


def brief(path, out, *extra: str):
    result = runner.invoke(app, ["brief", str(path), "--out", str(out), "--quiet", *extra])
    text = result.output
    assert result.exit_code in (0, 2), text
    assert "Traceback" not in text and "unexpected" not in text, text
    assert len(text.strip().splitlines()) <= 1, text
    return result.exit_code, text.strip()


def test_cli_reads_hint_title_sheet_and_huge_numbers(tmp_path):
    hint = tmp_path / "hint.csv"
    hint.write_text("sep=;\n" + customers().to_csv(index=False, sep=";"))
    titled = tmp_path / "titled.csv"
    titled.write_text("Customer export 2024-05-01 (CRM)\n" + customers().to_csv(index=False))
    book = tmp_path / "book.xlsx"
    workbook(book, {"Cover": [["Customer report"], ["by", "Jane"]], "Data": customers()})
    huge = tmp_path / "huge.csv"
    frame = customers().astype({"spend": object})
    frame.loc[3, "spend"] = "1e308"
    frame.to_csv(huge, index=False)
    for i, path in enumerate([hint, titled, book, huge]):
        code, text = brief(path, tmp_path / f"out{i}")
        assert code == 0 and text == "", (path.name, text)
        assert (tmp_path / f"out{i}" / "brief.pdf").exists()


def test_cli_refusals_are_one_line_with_exit_code_2(tmp_path):
    data = customers().to_csv(index=False)
    cut = tmp_path / "cut.csv.gz"
    packed = gzip.compress(data.encode() * 20)
    cut.write_bytes(packed[: len(packed) // 2])
    alike = tmp_path / "alike.csv"
    alike.write_text(data.replace("visits", "Spend").replace("spend", "spend "))
    unsure = tmp_path / "unsure.csv"
    unsure.write_text("Quarterly numbers\n" + "\n".join(data.splitlines()[1:]) + "\n")
    expected = {
        cut: "truncated",
        alike: "duplicate column names",
        unsure: "--skip-rows",
    }
    for path, words in expected.items():
        code, text = brief(path, tmp_path / "out")
        assert code == 2 and words in text and text.startswith("reportgen: error: "), text
    book = tmp_path / "book.xlsx"
    workbook(book, {"Data": customers(30)})
    code, text = brief(book, tmp_path / "out", "--sheet", "Nope")
    assert code == 2 and "'Data'" in text
    code, text = brief(alike, tmp_path / "out", "--sheet", "Data")
    assert code == 2 and "--sheet applies to Excel workbooks" in text
    code, text = brief(alike, tmp_path / "out", "--skip-rows", "-3")
    assert code == 2 and text.endswith("--skip-rows must be a whole number from 0 to 1000 (got -3)")
    folder = tmp_path / "dictionary"
    folder.mkdir()
    code, text = brief(book, tmp_path / "out", "--dictionary", str(folder))
    assert code == 2 and "is a folder" in text


def test_cli_skip_rows_and_sheet_reach_the_reader(tmp_path):
    forced = tmp_path / "forced.csv"
    forced.write_text("Quarterly numbers\nfrom the CRM\n" + customers().to_csv(index=False))
    code, text = brief(forced, tmp_path / "a", "--skip-rows", "2")
    assert code == 0, text
    book = tmp_path / "book.xlsx"
    workbook(book, {"Old": customers(30).rename(columns={"spend": "x"}), "New": customers()})
    code, text = brief(book, tmp_path / "b", "--sheet", "New")
    assert code == 0, text
    assert "spend" in (tmp_path / "b" / "profiles.csv").read_text()
    result = runner.invoke(
        app, ["init", str(book), "--sheet", "2", "--out", str(tmp_path / "d.yaml")]
    )
    assert result.exit_code == 0, result.output
    assert '"spend":' in (tmp_path / "d.yaml").read_text()
    # score reads with the same options: a sheet it does not have is refused in one line
    result = runner.invoke(
        app, ["score", str(book), "--model", str(tmp_path / "b"), "--sheet", "9"]
    )
    assert result.exit_code == 2 and "no sheet 9" in result.output
    result = runner.invoke(
        app, ["score", str(book), "--model", str(tmp_path / "b"), "--sheet", "New"]
    )
    assert result.exit_code == 0, result.output


def test_loader_limits_are_stated_constants():
    assert load.MAX_COLUMNS == 1000 and load.MAX_VALUE_CHARS == 1 << 20
    assert load.HUGE_NUMBER == 1e100 and MAX_DICTIONARY_BYTES == 5 << 20
