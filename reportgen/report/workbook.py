"""brief.xlsx: the brief as a workbook a marketer filters in Excel (XlsxWriter).

Sheets: Summary (one row per segment), Profiles (segment averages in the data's units, coloured
like the heatmap), Customers (every row of assignments.csv, header frozen, autofilter on), Method
(the evidence for k and the data-handling counts) and, on a re-report, Changes. Built from the
same results the PDF and the CSV files show (`Analysis`, the assignments frame, the template
context); numbers are written as numbers with number formats, never as text.

Untrusted text (ids, names, notes, labels) is neutralised by the rule `deliver/csvtext.py`
applies to the CSV files, `fmt.FORMULA_START` (a leading ``= + - @ \\t \\r | %`` gets a ``'``):
no cell is ever written as a formula, but a cell's text is what a user copies into another sheet
or saves as CSV. XlsxWriter writes in constant_memory mode (rows leave memory as they are
written); the Customers rows are spliced into its sheet from Arrow text (`splice_rows`) instead
of a call per cell. Excel holds at most 1,048,576 rows: a longer Customers sheet stops there
and says so, and so does the brief (assignments.csv always has every row).
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from reportgen import fmt
from reportgen.analysis.results import Analysis
from reportgen.io.dictionary import ColumnSpec

if TYPE_CHECKING:
    from reportgen.report.context import BriefContext
    from reportgen.report.theme import Theme
    from reportgen.runs.compare import Changes

EXCEL_MAX_ROWS = 1_048_576  # rows of a sheet, the header row included
CUSTOMER_ROWS = EXCEL_MAX_ROWS - 1
EXCEL_DIGITS = 10**15  # whole numbers from here on lose digits in an Excel cell
HEATMAP_COLOURS = ("#4393c3", "#f7f7f7", "#d6604d")  # RdBu_r's blue, centre and red (charts)


@dataclass(frozen=True)
class WorkbookStyle:
    """The look of the workbook: a theme's primary colour, footer and classification."""

    accent: str = "#1d1d1f"  # header fill
    footer: str = ""
    classification: str = ""
    logo_png: bytes | None = None
    font: str = ""  # an installed family (a font file cannot travel inside a workbook)


def workbook_style(theme: Theme) -> WorkbookStyle:
    """The workbook in a theme's look: its primary colour on header rows, its footer and
    classification on printed pages, a PNG logo on the Summary sheet (XlsxWriter cannot place
    SVG)."""
    return WorkbookStyle(
        accent=theme.primary_color or WorkbookStyle.accent,
        footer=theme.footer,
        classification=theme.classification,
        logo_png=theme.logo_png,
        font=theme.font_family if theme.font_family and not theme.font_uri else "",
    )


def customers_truncated(n_rows: int) -> bool:
    """Whether the Customers sheet holds fewer rows than assignments.csv."""
    return n_rows > CUSTOMER_ROWS


def truncation_note(n_rows: int) -> str:
    """The sentence the workbook and the brief print when the Customers sheet is cut short."""
    return (
        f"The Customers sheet lists the first {CUSTOMER_ROWS:,} of {n_rows:,} rows: Excel holds "
        f"at most {EXCEL_MAX_ROWS:,} rows a sheet. assignments.csv has every row."
    )


def write_workbook(
    target: IO[bytes],
    a: Analysis,
    context: BriefContext,
    assignments: pd.DataFrame,
    changes: Changes | None = None,
    style: WorkbookStyle | None = None,
    customers_note: str | None = None,
) -> None:
    """Write brief.xlsx into `target` (a binary file, or a BytesIO). `customers_note` says what
    the Customers sheet holds when it is not every customer (a Dask run lists its sample).

    XlsxWriter writes every sheet, format, frozen pane and filter; the Customers sheet's rows
    (up to a million, where XlsxWriter's cell-by-cell Python costs about 4 µs a cell: 20 s for
    1M customers) are then streamed into that sheet's XML from column-wise Arrow text
    (`customer_rows_xml`), as the CSV is."""
    import io

    import xlsxwriter

    style = style or WorkbookStyle()
    staged = io.BytesIO()
    book = xlsxwriter.Workbook(
        staged, {"constant_memory": True, "strings_to_numbers": False, "strings_to_urls": False}
    )
    book.set_properties(
        {"title": context.doc.title, "subject": "Customer segment brief", "comments": ""}
    )
    if style.font:  # the default cell format: every cell without its own font
        book.formats[0].set_font_name(style.font)
    formats = _Formats(book, style)
    note = customers_note or (
        truncation_note(len(assignments)) if customers_truncated(len(assignments)) else None
    )
    _summary_sheet(book, formats, a, context, note, style)
    _profiles_sheet(book, formats, a, context)
    _customers_sheet(book, formats, assignments, note)
    _method_sheet(book, formats, a)
    if changes is not None:
        _changes_sheet(book, formats, changes)
    for sheet in book.worksheets():
        _print_setup(sheet, style)
    book.close()
    rows = assignments.iloc[: min(len(assignments), CUSTOMER_ROWS)]
    splice_rows(staged.getvalue(), CUSTOMERS_SHEET, rows, target)


class _Formats:
    """The workbook's cell formats, made once (XlsxWriter wants one object per look)."""

    def __init__(self, book: Any, style: WorkbookStyle):
        self.book = book
        self.font = style.font
        self.title = self.add({"bold": True, "font_size": 16})
        self.bold = self.add({"bold": True})
        self.note = self.add({"italic": True, "font_color": "#595959", "text_wrap": False})
        self.warn = self.add({"bold": True, "font_color": "#a33a1a"})
        self.header = self.add(
            {
                "bold": True,
                "font_color": _text_on(style.accent),
                "bg_color": style.accent,
                "text_wrap": True,
                "valign": "top",
            }
        )
        self.wrap = self.add({"text_wrap": True, "valign": "top"})
        self.int = self.add({"num_format": "#,##0", "valign": "top"})
        self.pct = self.add({"num_format": "0.0%", "valign": "top"})
        self.dec2 = self.add({"num_format": "0.00", "valign": "top"})
        self.general = self.add({"valign": "top"})
        self._numbers: dict[str, Any] = {}

    def number(self, num_format: str) -> Any:
        if num_format not in self._numbers:
            self._numbers[num_format] = self.add({"num_format": num_format})
        return self._numbers[num_format]

    def add(self, properties: dict[str, Any]) -> Any:
        """A format in the theme's font (XlsxWriter's formats do not inherit the default's)."""
        return self.book.add_format(
            {"font_name": self.font, **properties} if self.font else properties
        )

    def swatch(self, color: str) -> Any:
        key = f"swatch:{color}"
        if key not in self._numbers:
            self._numbers[key] = self.add(
                {"bg_color": color, "font_color": _text_on(color), "bold": True, "valign": "top"}
            )
        return self._numbers[key]


def _text_on(background: str) -> str:
    """Black or white text, whichever contrasts more with the background."""
    from reportgen.report.palette import contrast_ratio

    return "#000000" if contrast_ratio("#000000", background) >= 4.5 else "#ffffff"


def _text(value: Any) -> str:
    return str(fmt.neutralise(str(value)))


def _header(sheet: Any, row: int, names: Sequence[str], formats: _Formats) -> None:
    for col, name in enumerate(names):
        sheet.write_string(row, col, _text(name), formats.header)


def _number(sheet: Any, row: int, col: int, x: float | None, cell_format: Any) -> None:
    """A number, or an empty cell for a missing one (never NaN text)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        sheet.write_blank(row, col, None, cell_format)
    else:
        sheet.write_number(row, col, float(x), cell_format)


# --------------------------------------------------------------------------- Summary


SUMMARY_COLUMNS = (
    "Segment",
    "Name",
    "Size",
    "Share",
    "What sets it apart",
    "Stability",
    "Jaccard",
    "Marketing angle",
)


def _summary_sheet(
    book: Any,
    f: _Formats,
    a: Analysis,
    context: BriefContext,
    note: str | None,
    style: WorkbookStyle,
) -> None:
    sheet = book.add_worksheet("Summary")
    doc = context.doc
    sheet.write_string(0, 0, _text(doc.title), f.title)
    lines = [f"Customer segment brief · {doc.date_text}", f"Data: {doc.source_text}"]
    if style.classification:
        lines.insert(0, f"Classification: {style.classification}")
    for i, line in enumerate(lines, start=1):
        sheet.write_string(i, 0, _text(line), f.bold if line.startswith("Class") else f.note)
    row = len(lines) + 2
    _header(sheet, row, SUMMARY_COLUMNS, f)
    for seg, story, prof in zip(context.segments, a.stories, a.profiles.segments, strict=True):
        row += 1
        stability = a.evaluation.of(seg.id)
        sheet.write_number(row, 0, seg.id, f.swatch(seg.color))
        sheet.write_string(row, 1, _text(seg.name), f.wrap)
        sheet.write_number(row, 2, prof.size, f.int)
        sheet.write_number(row, 3, prof.share, f.pct)
        sheet.write_string(row, 4, _text(story.headline[:1].upper() + story.headline[1:]), f.wrap)
        sheet.write_string(row, 5, stability.verdict, f.general)
        _number(sheet, row, 6, stability.jaccard, f.dec2)
        sheet.write_string(row, 7, _text(story.angle), f.wrap)
    row += 2
    sheet.write_string(row, 0, _text(context.overview.quality_line), f.note)
    sheet.write_string(row + 1, 0, _text(context.overview.stability_line), f.note)
    if note:
        sheet.write_string(row + 2, 0, note, f.warn)
    for col, width in enumerate((9, 26, 10, 8, 60, 10, 8, 60)):
        sheet.set_column(col, col, width)
    if style.logo_png:
        import io

        sheet.insert_image(
            0,
            7,
            "logo.png",
            {"image_data": io.BytesIO(style.logo_png), "y_scale": 0.5, "x_scale": 0.5},
        )


# --------------------------------------------------------------------------- Profiles


def number_format(spec: ColumnSpec, typical: float) -> str:
    """An Excel number format that shows a value as the brief does (fmt.value): the unit, and
    fewer decimals for bigger numbers ('"€"#,##0', '0.0" / 7"', '#,##0.0" kWh"')."""
    if spec.is_scale and spec.type == "ordinal":
        return f'0.0" / {spec.scale_max:g}"'
    if fmt.is_year_column(spec):
        return "0"
    ax = abs(typical) if math.isfinite(typical) else 0.0
    body = "#,##0" if ax >= 100 else "#,##0.0" if ax >= 1 else "#,##0.00"
    unit = str(spec.unit or "").replace('"', "")
    if unit in fmt.PREFIX_UNITS:
        return f'"{unit}"{body}'
    if unit == "%":
        return body + '" %"'
    return f'{body}" {unit}"' if unit else body


def _profiles_sheet(book: Any, f: _Formats, a: Analysis, context: BriefContext) -> None:
    sheet = book.add_worksheet("Profiles")
    profiles = a.profiles
    specs = [a.dictionary.column(c) for c in profiles.features]
    categories = _category_columns(a)
    names = ["Segment", "Name", "Size", "Share"]
    names += [f"{s.label} (average)" for s in specs] + [label for label, _, _ in categories]
    _header(sheet, 0, names, f)
    feature_formats = [
        f.number(number_format(s, m)) for s, m in zip(specs, profiles.overall_mean, strict=True)
    ]
    rows = list(zip(context.segments, profiles.segments, strict=True))
    for r, (view, prof) in enumerate(rows, start=1):
        sheet.write_number(r, 0, prof.segment_id, f.swatch(view.color))
        sheet.write_string(r, 1, _text(view.name))
        sheet.write_number(r, 2, prof.size, f.int)
        sheet.write_number(r, 3, prof.share, f.pct)
        for j, stat in enumerate(prof.features):
            _number(sheet, r, 4 + j, stat.segment_mean, feature_formats[j])
        for j, (_, shares, _) in enumerate(categories):
            _number(sheet, r, 4 + len(specs) + j, shares[r - 1], f.pct)
    last = len(rows) + 1
    sheet.write_string(last, 0, "All", f.bold)
    sheet.write_string(last, 1, _text(f"All {a.dictionary.units}"), f.bold)
    sheet.write_number(last, 2, profiles.n, f.int)
    sheet.write_number(last, 3, 1.0, f.pct)
    for j, m in enumerate(profiles.overall_mean):
        _number(sheet, last, 4 + j, m, feature_formats[j])
    for j, (_, _, overall) in enumerate(categories):
        _number(sheet, last, 4 + len(specs) + j, overall, f.pct)
    _heat_scale(sheet, rows, profiles.overall_mean, 4)
    sheet.freeze_panes(1, 2)
    sheet.set_column(0, 0, 9)
    sheet.set_column(1, 1, 26)
    sheet.set_column(2, len(names) - 1, 14)
    sheet.set_row(0, 45)
    sheet.write_string(
        last + 2,
        0,
        "Colours as in the brief's heatmap: red above the average of all "
        f"{a.dictionary.units}, blue below (each column on its own scale).",
        f.note,
    )


def _heat_scale(sheet: Any, rows: Sequence[Any], overall: Sequence[float], first: int) -> None:
    """Per feature column: blue below the overall average, white at it, red above."""
    if not rows:
        return
    low, mid, high = HEATMAP_COLOURS
    for j, m in enumerate(overall):
        if not math.isfinite(m):
            continue
        sheet.conditional_format(
            1,
            first + j,
            len(rows),
            first + j,
            {
                "type": "3_color_scale",
                "min_color": low,
                "mid_type": "num",
                "mid_value": float(m),
                "mid_color": mid,
                "max_color": high,
            },
        )


def _category_columns(a: Analysis) -> list[tuple[str, list[float], float]]:
    """(label, share in each segment, share overall) per category of a categorical feature."""
    segments = a.profiles.segments
    out: list[tuple[str, list[float], float]] = []
    for j, field in enumerate(segments[0].categories if segments else ()):
        for share in field.shares:
            per = [
                next(
                    (s.segment_share for s in seg.categories[j].shares if s.value == share.value),
                    0.0,
                )
                for seg in segments
            ]
            out.append((f"{field.label}: {share.value} (share)", per, share.overall_share))
    return out


# --------------------------------------------------------------------------- Customers


CUSTOMERS_SHEET = 3  # its place among the sheets: xl/worksheets/sheet3.xml
ROWS_PER_CHUNK = 65_536
# The characters a spreadsheet runs as a formula at the start of a cell: fmt.FORMULA_START, the
# rule deliver/csvtext.py applies to the CSV files (the same characters, as one regex).
FORMULA_RE = "^[" + re.escape("".join(fmt.FORMULA_START)) + "]"
# XML 1.0 has no place for most C0 controls: Excel writes them as _xHHHH_ (as XlsxWriter does),
# and a literal "_xHHHH_" in the text is itself escaped so it is not read as one.
_CONTROLS = [chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20))]
_CONTROL_RE = "[" + "".join(f"\\x{ord(c):02x}" for c in _CONTROLS) + "\\r]"


def _customers_sheet(
    book: Any, f: _Formats, assignments: pd.DataFrame, note: str | None = None
) -> None:
    """The Customers sheet as XlsxWriter writes it: header, frozen pane, filter, widths, and the
    note when Excel's row limit cuts it short. The rows follow in `splice_rows`."""
    sheet = book.add_worksheet("Customers")
    assert len(book.worksheets()) == CUSTOMERS_SHEET
    columns = list(assignments.columns)
    n = min(len(assignments), CUSTOMER_ROWS)
    _header(sheet, 0, columns, f)
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(n, 1), len(columns) - 1)
    for col, name in enumerate(columns):
        sheet.set_column(col, col, max(10, min(40, len(str(name)) + 4)))
    if note:
        sheet.write_string(0, len(columns), note, f.warn)


def splice_rows(book: bytes, sheet: int, rows: pd.DataFrame, target: IO[bytes]) -> None:
    """Copy the XlsxWriter workbook `book` into `target`, with `rows` (from row 2 on) added to
    the sheet numbered `sheet`, and its <dimension> widened to them."""
    import zipfile

    name = f"xl/worksheets/sheet{sheet}.xml"
    last = f"{_column_letter(max(len(rows.columns), 1) - 1)}{len(rows) + 1}"
    with (
        zipfile.ZipFile(io.BytesIO(book)) as source,
        zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out,
    ):
        for item in source.infolist():
            if item.filename != name:
                out.writestr(item, source.read(item))
                continue
            xml = source.read(item).decode("utf-8")
            xml = re.sub(r'<dimension ref="[^"]*"/>', f'<dimension ref="A1:{last}"/>', xml, count=1)
            head, end, tail = xml.partition("</sheetData>")
            if not end:  # no <sheetData> element at all: XlsxWriter wrote <sheetData/>
                head, end, tail = xml.partition("<sheetData/>")
                head, end = head + "<sheetData>", "</sheetData>"
            info = zipfile.ZipInfo(name, item.date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            with out.open(info, "w", force_zip64=True) as fh:
                fh.write(head.encode("utf-8"))
                _write_rows(fh, rows)
                fh.write((end + tail).encode("utf-8"))


def _write_rows(fh: IO[bytes], rows: pd.DataFrame) -> None:
    """The rows' XML in chunks, each compressed on a thread while the next one is built (zlib
    and Arrow's kernels both run without the GIL: the two halves take the same time)."""
    from concurrent.futures import Future, ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="reportgen-xlsx") as pool:
        pending: Future[int] | None = None
        for start in range(0, len(rows), ROWS_PER_CHUNK):
            chunk = customer_rows_xml(rows.iloc[start : start + ROWS_PER_CHUNK], start)
            if pending is not None:
                pending.result()
            pending = pool.submit(fh.write, chunk)
        if pending is not None:
            pending.result()


def customer_rows_xml(rows: pd.DataFrame, start: int) -> bytes:
    """<row> elements for `rows`, the first being data row `start` (sheet row start + 2):
    numbers as numbers, booleans as booleans, text neutralised and escaped, blanks as empty
    cells. Cells carry no reference (ECMA-376 makes `r` optional: a cell without one is the
    next column), so a column's cells do not depend on the row and a column of few distinct
    values (segment names, notes) is written once per value and gathered."""
    import pyarrow as pa
    import pyarrow.compute as pc

    numbers = pa.array(np.arange(start + 2, start + 2 + len(rows))).cast(pa.large_string())
    cells = [_cells(rows.iloc[:, j]) for j in range(len(rows.columns))]
    joined = pc.binary_join_element_wise(
        pa.scalar('<row r="', pa.large_string()),
        numbers,
        pa.scalar('">', pa.large_string()),
        *cells,
        pa.scalar("</row>", pa.large_string()),
        pa.scalar("", pa.large_string()),
    )
    if isinstance(joined, pa.ChunkedArray):
        joined = joined.combine_chunks()
    if not len(joined):
        return b""
    # The rows' text is one contiguous Arrow buffer: take it whole, no Python string per row.
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int64)
    first, end = int(offsets[joined.offset]), int(offsets[joined.offset + len(joined)])
    data: bytes = joined.buffers()[2][first:end].to_pybytes()
    return data


BLANK_CELL = "<c/>"


def _cells(series: pd.Series) -> Any:
    """One column's <c> elements (an empty cell where the value is blank)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = _cell_values(series)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    cells = None
    if pa.types.is_dictionary(values.type):
        cells = pc.take(_cell_xml(values.dictionary), values.indices)
    elif len(values) >= 64 and not pa.types.is_floating(values.type):
        encoded = pc.dictionary_encode(values)
        if 4 * len(encoded.dictionary) <= len(values):
            cells = pc.take(_cell_xml(encoded.dictionary), encoded.indices)
    if cells is None:
        cells = _cell_xml(values)
    return pc.fill_null(cells, pa.scalar(BLANK_CELL, pa.large_string()))


def _cell_values(series: pd.Series) -> Any:
    """The column as an Arrow array of booleans, int64, float64 (non-finite as null) or text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(series.dtype, pd.CategoricalDtype):  # each category's text made once
        codes = series.cat.codes.to_numpy()
        text = pa.array(series.cat.categories.astype(object), type=pa.large_string())
        return pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), text)
    if pd.api.types.is_bool_dtype(series.dtype):
        return pa.array(series.astype(object).where(series.notna(), None), pa.bool_())
    if (numeric := _as_float(series)) is not None:
        finite = np.isfinite(numeric)
        if pd.api.types.is_integer_dtype(series.dtype):
            whole = pa.array(series, from_pandas=True).cast(pa.int64())
            # Excel keeps 15 significant digits: a longer number (an 18-digit customer id)
            # would be shown rounded, so it is written as its text.
            bounds = pc.min_max(whole).as_py()
            if len(whole) > whole.null_count and max(-bounds["min"], bounds["max"]) >= EXCEL_DIGITS:
                return whole.cast(pa.large_string())
            return whole
        return pa.array(np.where(finite, numeric, 0.0), mask=~finite)
    return pa.array(series.astype(object), pa.large_string(), from_pandas=True)


def _cell_xml(values: Any) -> Any:
    """<c> elements for an Arrow array from `_cell_values` (null where the cell is blank)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def s(text: str) -> Any:
        return pa.scalar(text, pa.large_string())

    if pa.types.is_boolean(values.type):
        return pc.if_else(values, s('<c t="b"><v>1</v></c>'), s('<c t="b"><v>0</v></c>'))
    if not pa.types.is_large_string(values.type):
        text = values.cast(pa.large_string())
        return pc.binary_join_element_wise(s("<c><v>"), text, s("</v></c>"), s(""))
    text = _xml_text(values)
    # xml:space="preserve" only where the text starts or ends with white space.
    spaced = pc.match_substring_regex(text, r"^\s|\s$")
    opening = pc.if_else(
        spaced, s('<c t="inlineStr"><is><t xml:space="preserve">'), s('<c t="inlineStr"><is><t>')
    )
    return pc.binary_join_element_wise(opening, text, s("</t></is></c>"), s(""))


def _xml_text(values: Any) -> Any:
    """Untrusted text for an inline-string cell: formulas neutralised (the CSV's rule), then
    escaped for XML and Excel (_xHHHH_ for controls); empty text is a blank cell (null)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    quote = pa.scalar("'", pa.large_string())
    none = pa.scalar("", pa.large_string())
    formula = pc.match_substring_regex(values, FORMULA_RE)
    values = pc.if_else(formula, pc.binary_join_element_wise(quote, values, none), values)
    values = pc.replace_substring_regex(values, "_(x[0-9A-Fa-f]{4}_)", "_x005F_\\1")
    for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        values = pc.replace_substring(values, char, entity)
    if pc.any(pc.match_substring_regex(values, _CONTROL_RE)).as_py():
        for char in (*_CONTROLS, "\r"):
            values = pc.replace_substring(values, char, f"_x{ord(char):04X}_")
    return pc.if_else(pc.equal(values, none), pa.scalar(None, pa.large_string()), values)


def _as_float(series: pd.Series) -> np.ndarray | None:
    """The column as floats if it holds numbers (integers, floats, decimals), else None."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return None
    if pd.api.types.is_numeric_dtype(dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    if isinstance(dtype, pd.ArrowDtype):
        import pyarrow as pa

        if pa.types.is_decimal(dtype.pyarrow_dtype):
            return series.astype("float64").to_numpy(na_value=np.nan)
    return None


def _column_letter(j: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        letters = chr(65 + r) + letters
    return letters


# --------------------------------------------------------------------------- Method


EVIDENCE_COLUMNS = (
    "k",
    "Within-segment SS",
    "Silhouette (higher is better)",
    "Calinski–Harabasz (higher is better)",
    "Davies–Bouldin (lower is better)",
    "Gap (higher is better)",
    "Smallest segment (share)",
    "Admissible",
    "Chosen",
)


def _method_sheet(book: Any, f: _Formats, a: Analysis) -> None:
    sheet = book.add_worksheet("Method")
    kchoice, prepared = a.k_choice, a.prepared
    sheet.write_string(0, 0, "Choice of the number of segments (k)", f.title)
    sheet.write_string(1, 0, _text(kchoice.reason), f.note)
    sheet.write_string(2, 0, _text(f"Evidence sample: {kchoice.sample_size:,} rows."), f.note)
    _header(sheet, 4, EVIDENCE_COLUMNS, f)
    row = 4
    for e in kchoice.evidence:
        row += 1
        sheet.write_number(row, 0, e.k, f.bold if e.k == kchoice.k else f.general)
        _number(sheet, row, 1, e.inertia, f.number("#,##0.0"))
        _number(sheet, row, 2, e.silhouette, f.dec2)
        _number(sheet, row, 3, e.calinski_harabasz, f.number("#,##0"))
        _number(sheet, row, 4, e.davies_bouldin, f.dec2)
        _number(sheet, row, 5, e.gap, f.dec2)
        _number(sheet, row, 6, e.min_share, f.pct)
        sheet.write_boolean(row, 7, bool(e.admissible))
        sheet.write_boolean(row, 8, e.k == kchoice.k)
    row += 2
    sheet.write_string(row, 0, "Data handling", f.title)
    _header(sheet, row + 1, ("Rows", "Count"), f)
    row += 1
    for label, count in _handling_counts(a):
        row += 1
        sheet.write_string(row, 0, _text(label))
        sheet.write_number(row, 1, count, f.int)
    row += 2
    sheet.write_string(row, 0, "Features", f.title)
    _header(sheet, row + 1, ("Feature", "Column", "Kind", "Transform", "Missing filled"), f)
    row += 1
    for step in prepared.steps:
        row += 1
        sheet.write_string(row, 0, _text(a.dictionary.column(step.column).label))
        sheet.write_string(row, 1, _text(step.column))
        sheet.write_string(row, 2, step.kind)
        sheet.write_string(row, 3, step.transform)
        sheet.write_number(row, 4, step.imputed, f.int)
    sheet.set_column(0, 0, 44)
    sheet.set_column(1, len(EVIDENCE_COLUMNS) - 1, 16)


def _handling_counts(a: Analysis) -> list[tuple[str, int]]:
    prepared, rest = a.prepared, a.rest
    rows = [("Read from the file", prepared.n_read)]
    rows += [(f"Left out of the fit: {d.reason}", d.rows) for d in prepared.drops]
    rows.append(("Segmented on every feature", prepared.n_kept))
    if rest is not None and len(rest.positions):
        rows.append(("Left out, assigned on the features they have", rest.n_partial))
        rows.append(("Without a segment (reason in assignments.csv)", rest.n_unassigned))
    if prepared.duplicate_ids:
        rows.append(("Ids that repeat", prepared.duplicate_ids))
    return rows


# --------------------------------------------------------------------------- Changes


CHANGE_COLUMNS = (
    "Segment",
    "Name",
    "Status",
    "Size before",
    "Share before",
    "Size now",
    "Share now",
    "Change in share (points)",
    "Centre moved (SD)",
)


def _changes_sheet(book: Any, f: _Formats, changes: Changes) -> None:
    sheet = book.add_worksheet("Changes")
    sheet.write_string(0, 0, _text(f"What changed since {changes.previous_date}"), f.title)
    sheet.write_string(1, 0, _text(f"Previous data: {changes.previous_file}"), f.note)
    _header(sheet, 3, CHANGE_COLUMNS, f)
    row = 3
    for s in changes.segments:
        row += 1
        sheet.write_number(row, 0, s.id)
        sheet.write_string(row, 1, _text(s.name))
        sheet.write_string(row, 2, s.status)
        _number(sheet, row, 3, s.size_before, f.int)
        _number(sheet, row, 4, s.share_before, f.pct)
        _number(sheet, row, 5, s.size_after, f.int)
        _number(sheet, row, 6, s.share_after, f.pct)
        shift = None
        if s.share_before is not None and s.share_after is not None:
            shift = 100 * (s.share_after - s.share_before)
        _number(sheet, row, 7, shift, f.number("+0.0;-0.0;0.0"))
        _number(sheet, row, 8, s.centre_distance, f.dec2)
    row += 2
    _header(sheet, row, ("Feature", "Average before", "Average now", "PSI", "Drift"), f)
    for d in changes.drift:
        row += 1
        sheet.write_string(row, 0, _text(d.column))
        _number(sheet, row, 1, d.mean_before, f.number("#,##0.00"))
        _number(sheet, row, 2, d.mean_after, f.number("#,##0.00"))
        _number(sheet, row, 3, d.psi, f.number("0.000"))
        sheet.write_string(row, 4, d.level)
    if changes.migration is not None:
        _migration(sheet, f, changes, row + 2)
    sheet.set_column(0, 0, 24)
    sheet.set_column(1, 1, 26)
    sheet.set_column(2, len(CHANGE_COLUMNS) - 1, 13)


def _migration(sheet: Any, f: _Formats, changes: Changes, row: int) -> None:
    m = changes.migration
    assert m is not None
    sheet.write_string(
        row, 0, f"Who moved: rows were in a segment on {changes.previous_date}, columns now", f.bold
    )
    _header(sheet, row + 1, ["Then \\ now", *[str(c) for c in m.cols]], f)
    for i, label in enumerate(m.rows):
        sheet.write_string(row + 2 + i, 0, str(label), f.bold)
        for j in range(len(m.cols)):
            sheet.write_number(row + 2 + i, 1 + j, int(m.counts[i, j]), f.int)


def _print_setup(sheet: Any, style: WorkbookStyle) -> None:
    """Printed pages carry the theme's classification and footer, like the PDF."""
    sheet.set_landscape()
    sheet.fit_to_pages(1, 0)
    if style.classification:
        sheet.set_header("&C&B" + style.classification.replace("&", "&&"))
    footer = style.footer.replace("&", "&&") if style.footer else "reportgen segment brief"
    sheet.set_footer(f"&L{footer}&RPage &P of &N")
