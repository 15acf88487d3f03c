"""Stage 1 — load: read a customer table from disk into a DataFrame, with facts about the source.

Edge stage: the only place (with the data dictionary reader) that reads the input file.
CSV delimiter and encoding are detected; TSV, Parquet and Excel are read by extension.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import re
import unicodedata
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reportgen.config import MAX_SKIP_ROWS
from reportgen.engine.parallel import map_threads
from reportgen.errors import ConfigError, InputError

CSV_SUFFIXES = {".csv", ".txt", ".tsv", ".tab"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls"}
SNIFF_BYTES = 256 * 1024
NA_VALUES = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "#N/A", "?"]
# Bounds on what a customer table can hold, so that a wrong file is refused before it fills memory.
MAX_COLUMNS = 1000
MAX_VALUE_CHARS = 1 << 20  # 1 MB of text in one value
# Numbers beyond this are read as missing: the analysis cubes deviations (skewness), and
# (1e103)**3 is already past the largest float. No amount, count or score comes near it.
HUGE_NUMBER = 1e100
MAX_TITLE_LINES = 10  # title or note lines above a header that are recognised and skipped
SCAN_LINES = 200  # lines looked at to recognise them
PREVIEW_ROWS = 60  # rows of an Excel sheet looked at to find its table and header


@dataclass(frozen=True)
class LoadedTable:
    """The raw table exactly as read (all columns), plus where it came from."""

    frame: pd.DataFrame
    path: Path
    file_format: str  # "csv", "parquet", "excel"
    sha256: str
    encoding: str | None = None
    delimiter: str | None = None
    # Text columns of numbers written with decimal commas ("206,29"; "1.234,5"), read as numbers.
    decimal_comma: tuple[str, ...] = ()
    # Text columns of numbers written with thousands separators ("1,234"), read as numbers.
    thousands_comma: tuple[str, ...] = ()
    # Columns whose values carried a currency or percent sign ("12,50 €"): column -> sign.
    units: dict[str, str] = field(default_factory=dict)
    # How the file was read where it was not a plain CSV with a header (for the appendix).
    notes: tuple[str, ...] = ()

    @property
    def n_rows(self) -> int:
        return len(self.frame)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _format_of(path: Path) -> tuple[str, bool]:
    """Return (format, gzipped) from the file name."""
    suffixes = [s.lower() for s in path.suffixes]
    gz = bool(suffixes) and suffixes[-1] == ".gz"
    last = suffixes[-2] if gz and len(suffixes) >= 2 else (suffixes[-1] if suffixes else "")
    if last in CSV_SUFFIXES:
        return "csv", gz
    if last in PARQUET_SUFFIXES:
        return "parquet", False
    if last in EXCEL_SUFFIXES:
        return "excel", False
    return "", gz


# The accented letters each language writes. A Windows export is cp1252 (Western), cp1250
# (Central European) or cp1254 (Turkish); the same byte is 'è' in one and 'č' in the other, so
# the reading whose letters one language explains better wins.
_ALPHABETS = (
    "äöüßéè",  # German (with French loan names)
    "àâæçéèêëîïôœùûüÿ",  # French
    "áéíñóúü",  # Spanish
    "áâãàçéêíóôõú",  # Portuguese
    "àèéìíîòóùú",  # Italian
    "áéèëïóöü",  # Dutch
    "åäæéöø",  # Danish, Norwegian, Swedish, Finnish
    "áæðéíóöþúý",  # Icelandic
    "àçéèíïòóúü",  # Catalan
    "ąćęłńóśźż",  # Polish
    "áäčďéěíĺľňóôřŕšťúůýž",  # Czech, Slovak
    "áéíóöőúüű",  # Hungarian
    "čćđšž",  # Slovenian, Croatian, Bosnian
    "ăâîşţ",  # Romanian
    "çğıiöşü",  # Turkish ('İ' lower-cases to 'i' and a combining dot)
)
# Letters every Western code page shares and no language's alphabet lists: ordinals ('1º',
# '2ª') and the micro sign ('5 µg').
_NEUTRAL = frozenset("ºªµ")
# Where a letter can stand in its language. Portuguese nasal vowels end a syllable ('São',
# 'limões', 'mãe') and French 'œ' comes before a vowel ('cœur', 'œil'), so 'Gyõr' (Hungarian
# 'Győr' read as cp1252) or 'Wiœniewski' (Polish 'Wiśniewski') are not those letters.
_FOLLOWED_BY = {"ã": "aeiosu", "õ": "aeiosu", "œ": "aeiu"}
_JOINERS = frozenset("’‘´·-–'")


def _letter_fit(text: str) -> float:
    """Share of non-ASCII letters that one language's alphabet explains, where it allows them.
    A symbol inside a word ('Micha³') or opening one ('©imek', ISO-8859-2 'Šimek' read as
    cp1252) counts as a letter no alphabet has; other symbols ('12 €', '20 °C') do not count."""
    chars = []
    for m in re.finditer(r"[^\x00-\x7f]", text):
        c, i = m.group(), m.start()
        before, after = text[i - 1 : i], text[i + 1 : i + 2]
        if c in _NEUTRAL:
            continue
        if c.isalpha():
            low = c.lower()[0]
            follow = _FOLLOWED_BY.get(low)
            if follow and after.isalpha() and after.lower() not in follow:
                low = "?"  # a letter out of place is explained by no alphabet
            chars.append(low)
        elif c not in _JOINERS and after.isalpha() and (before.isalpha() or after.islower()):
            chars.append("?")
    if not chars:
        return 1.0
    return max(sum(c in alphabet for c in chars) for alphabet in _ALPHABETS) / len(chars)


def _windows_latin(text: str) -> bool:
    """Text as a Windows Latin code page would show a real Latin-script file: letters are Latin,
    other characters are punctuation, symbols or spaces, and accented letters stand alone
    among ASCII ones ("Müller", "Jiří"). Cyrillic or Greek bytes read this way also come out
    as Latin letters, but whole words of them."""
    for c in set(text):
        if ord(c) > 127 and not (
            c in _NEUTRAL
            or unicodedata.name(c, "").startswith("LATIN")
            or unicodedata.category(c)[0] in "PSZN"
        ):
            return False
    runs = re.findall(r"[^\x00-\x7f]+", text)
    return not runs or sum(map(len, runs)) / len(runs) <= 2.0


def _windows_code_page(sample: bytes) -> str | None:
    """cp1252 (Excel's CSV exports in Western Europe and the Americas), cp1250 (Central Europe)
    or cp1254 (Turkey), whichever reading one language's letters explain better, ties to
    cp1252; None when none is a plausible reading. On short samples charset_normalizer tends to
    pick rarer code pages for such files (mac_roman, hp_roman8, cp932, or cp1250 for French),
    garbling names."""
    if b"\x00" in sample:
        return None
    fits: dict[str, float] = {}
    for code_page in ("cp1252", "cp1250", "iso8859_2", "cp1254"):
        try:
            text = sample.decode(code_page)
        except UnicodeDecodeError:
            continue
        if _windows_latin(text):
            fits[code_page] = _letter_fit(text)
    return max(fits, key=lambda c: fits[c]) if fits else None


def windows_code_page(sample: bytes) -> str | None:
    """The Windows Latin code page a text's letters fit (see _windows_code_page): for other files
    than tables that a Windows editor saved, such as data dictionaries."""
    return _windows_code_page(sample)


def _detect_encoding(sample: bytes) -> str:
    if sample.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still UTF-8.
        if exc.start >= len(sample) - 4:
            return "utf-8"
    code_page = _windows_code_page(sample)
    if code_page:
        return code_page
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is None:
        raise InputError("cannot tell the text encoding of the file: is it really a CSV file?")
    return best.encoding


WHITESPACE = " "  # columns separated by runs of spaces or tabs (fixed-width exports)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?")


def _detect_delimiter(text: str, suffix: str) -> str:
    if suffix in {".tsv", ".tab"}:
        return "\t"
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    if not lines:
        return ","
    if not any(d in lines[0] for d in ",;\t|") and _whitespace_columns(lines):
        return WHITESPACE
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
    except csv.Error:
        # Sniffer gives up on one-column files and ragged quoting; count instead.
        counts = {d: lines[0].count(d) for d in [",", ";", "\t", "|"]}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] > 0 else ","


def _whitespace_columns(lines: list[str]) -> bool:
    """Every line splits on runs of spaces into the same number (two or more) of fields."""
    counts = {len(ln.split()) for ln in lines}
    return len(counts) == 1 and counts.pop() >= 2


def _damaged(path: Path, exc: Exception) -> InputError:
    """One line for a file that cannot be read to its end: a gzip stream cut short (a download or
    copy that stopped), one that is not gzip at all, or corrupt compressed data."""
    if isinstance(exc, EOFError):
        return InputError(f"{path.name} is truncated (the gzip stream ends early)")
    if isinstance(exc, gzip.BadGzipFile) and "not a gzipped file" in str(exc).lower():
        return InputError(f"{path.name} is not gzip-compressed, though its name ends in .gz")
    if isinstance(exc, (gzip.BadGzipFile, zlib.error)):
        return InputError(f"{path.name} is damaged (its gzip data is corrupt: {_first_line(exc)})")
    return InputError(f"cannot read {path.name}: {_first_line(exc)}")


def _sample(path: Path, gz: bool) -> bytes:
    opener = gzip.open if gz else open
    try:
        with opener(path, "rb") as fh:
            sample: bytes = fh.read(SNIFF_BYTES)
    except (OSError, EOFError, zlib.error) as exc:
        raise _damaged(path, exc) from exc
    if not sample.strip():
        raise InputError(f"{path.name} is empty")
    if b"\x00" in sample[:4096] and not sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{path.name} looks like a binary file, not a CSV table")
    return sample


def _cr_only_as_lines(path: Path, gz: bool) -> io.BytesIO:
    """An old Mac export ends its lines with a carriage return alone, which the CSV readers take
    for one endless line: the whole file with its line ends made ordinary."""
    opener = gzip.open if gz else open
    try:
        with opener(path, "rb") as fh:
            return io.BytesIO(fh.read().replace(b"\r", b"\n"))
    except (OSError, EOFError, zlib.error) as exc:
        raise _damaged(path, exc) from exc


_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # what the CSV readers end a line with
# Excel's hint on the first line of a CSV, "sep=;" (some tools quote it, or pad it with the
# delimiter): the delimiter to split on, whatever the locale.
_SEP_HINT = re.compile(r'"?sep=([^\w"\'\s]|\t)"?[,;|\t]*\s*', re.IGNORECASE)


@dataclass(frozen=True)
class _Layout:
    """Where the table starts in a text file and how its lines split."""

    delimiter: str
    header_at: int  # physical lines above the header (or above the first row, without one)
    header_line: str
    notes: tuple[str, ...] = ()


def _split(line: str, delimiter: str) -> list[str] | None:
    """One line's fields, or None when the csv module cannot split it (a field over its limit)."""
    if delimiter == WHITESPACE:
        return line.split()
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return None


def _first_filled(lines: list[str], start: int) -> int | None:
    return next((i for i in range(start, len(lines)) if lines[i].strip()), None)


def _lines(n: int, word: str = "line") -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _shown(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _layout(
    text: str,
    complete: bool,
    suffix: str,
    path: Path,
    given: tuple[str, ...] | None,
    skip_rows: int | None,
) -> _Layout:
    """The delimiter and the line the header is on: after Excel's 'sep=;' hint, after the lines
    `skip_rows` names, or after title or note lines recognised above the header."""
    lines = _LINE_BREAK.split(text.lstrip("\ufeff"))
    if not complete:
        lines = lines[:-1]  # the sample may end inside a line
        if not lines:
            raise InputError(
                f"{path.name}: its first line is longer than {SNIFF_BYTES // 1024} KB, "
                "too long for a table's header: is it really a CSV file?"
            )
    notes: list[str] = []
    first = _first_filled(lines, 0)
    if first is None:
        raise InputError(f"{path.name} has no header in its first {SNIFF_BYTES // 1024} KB")
    start, hint = 0, None
    match = _SEP_HINT.fullmatch(lines[first])
    if match:
        hint, start = match.group(1), first + 1
        notes.append(
            f"its first line '{lines[first].strip()}' (a hint Excel writes) named the "
            "delimiter and was skipped"
        )
    if skip_rows is not None:
        at = _first_filled(lines, max(skip_rows, start))
        if at is None:
            raise InputError(
                f"{path.name} has no header below its first {_lines(skip_rows)}"
                + ("" if complete else f" (within its first {SNIFF_BYTES // 1024} KB)")
            )
        delimiter = hint or _detect_delimiter("\n".join(lines[at : at + 50]), suffix)
        if skip_rows:
            notes.append(
                f"its first {_lines(skip_rows)} were skipped as asked: the header is line {at + 1}"
            )
        return _Layout(delimiter, at, lines[at], tuple(notes))
    at = _first_filled(lines, start)
    if at is None:
        raise InputError(f"{path.name} has nothing but its 'sep=' line")
    delimiter = hint or _detect_delimiter(text if start == 0 else "\n".join(lines[start:]), suffix)
    if given is None:
        found = _below_titles(lines, at, hint, delimiter, suffix, path)
        if found is not None:
            titles = [_words(ln, found[1]) for ln in lines[at : found[0]] if ln.strip()]
            notes.append(
                f"the {_lines(found[0] - at)} above its header "
                + ("was" if found[0] - at == 1 else "were")
                + f" skipped as a title or note: '{_shown(titles[0])}'"
                + (f" and {_lines(len(titles) - 1)} more" if len(titles) > 1 else "")
            )
            at, delimiter = found
    return _Layout(delimiter, at, lines[at], tuple(notes))


def _words(line: str, delimiter: str) -> str:
    """A title line's text without the empty fields a spreadsheet pads it with ('Export;;;')."""
    fields = _split(line, delimiter)
    return " ".join(f.strip() for f in fields if f.strip()) if fields else line


def _sparse(fields: list[str], width: int) -> bool:
    """A line with far fewer fields than the table's rows: a title, a note, a blank line."""
    filled = sum(1 for f in fields if f.strip())
    return len(fields) <= width and filled <= max(1, width // 2)


def _header_like(fields: list[str]) -> bool:
    names = [f.strip() for f in fields]
    return (
        len(names) >= 2
        and all(names)
        and not any(_NUMBER.fullmatch(n) for n in names)
        and len({n.casefold() for n in names}) == len(names)
    )


def _mode(values: list[int]) -> int:
    return Counter(values).most_common(1)[0][0] if values else 0


def _below_titles(
    lines: list[str], at: int, hint: str | None, delimiter: str, suffix: str, path: Path
) -> tuple[int, str] | None:
    """(header line, delimiter) when the first lines are a title or notes above the real header:
    lines with far fewer fields than the rows below, then a line of names and a block of rows
    with as many fields. None when the first line is the header as usual. Raises when the first
    line is far too short for the rows below and no header is found under it."""
    rows: list[tuple[int, str]] = []
    for i in range(at, len(lines)):
        if lines[i].strip():
            rows.append((i, lines[i]))
            if len(rows) == SCAN_LINES:
                break
    if len(rows) < 3:
        return None
    below_delimiter = hint or _detect_delimiter("\n".join(ln for _, ln in rows[1:51]), suffix)
    head = _split(rows[0][1], below_delimiter)
    below = [_split(ln, below_delimiter) for _, ln in rows[1:]]
    if head is None or any(b is None for b in below):
        return None
    width = _mode([len(b) for b in below if b is not None])
    if width < 2 or not _sparse(head, width):
        return None  # the first line is as wide as the rows: the header, as in most files
    for j in range(1, min(MAX_TITLE_LINES, len(rows) - 2) + 1):
        d = hint or _detect_delimiter("\n".join(ln for _, ln in rows[j : j + 50]), suffix)
        split = [_split(ln, d) for _, ln in rows[: j + 1]]
        if any(s is None for s in split):
            return None
        fields = [s for s in split if s is not None]
        header, above = fields[-1], fields[:-1]
        if not all(_sparse(a, len(header)) for a in above):
            break  # a line as wide as the header above it: not a block of titles
        if _header_like(header) and _consistent(rows[j + 1 :], d, len(header)):
            return rows[j][0], d
    # The first line cannot be the header of the rows below, and none was found under it.
    head = _split(rows[0][1], delimiter)
    below = [_split(ln, delimiter) for _, ln in rows[1:]]
    widths = [len(b) for b in below if b is not None]
    if head is not None and len(widths) == len(below) and len(head) < _mode(widths):
        raise InputError(
            f"{path.name}: its first line ('{_shown(rows[0][1], 40)}') is not the header of "
            "the rows below it, and no header was recognised under it: say how many lines "
            "stand above the header with --skip-rows N (or, for a file without a header, "
            "name the columns with --names)"
        )
    return None


def _consistent(rows: list[tuple[int, str]], delimiter: str, width: int) -> bool:
    """Nine rows in ten (the sample's) have the header's number of fields."""
    if not rows:
        return False
    fit = sum(1 for _, ln in rows if (f := _split(ln, delimiter)) is not None and len(f) == width)
    return fit >= 0.9 * len(rows)


def _header(
    line: str, delimiter: str, path: Path, given: tuple[str, ...] | None
) -> tuple[list[str], list[str]]:
    """The column names (the header line's, trimmed, or the ones given for a file without a
    header) and the header's fields as written."""
    fields = _split(line.lstrip("\ufeff"), delimiter)
    if fields is None:
        raise InputError(
            f"{path.name}: its header line has a field of more than "
            f"{csv.field_size_limit() // 1024} KB: is it really a CSV file?"
        )
    if len(fields) > MAX_COLUMNS:
        raise InputError(
            f"{path.name} has {len(fields):,} columns: at most {MAX_COLUMNS:,} are read "
            "(MAX_COLUMNS); is it a customer table?"
        )
    if given is not None:
        if len(given) != len(fields):
            raise InputError(
                f"{path.name} has {len(fields)} columns but {len(given)} names were given "
                f"({', '.join(given)})"
            )
        return list(given), list(given)
    names = [h.strip() for h in fields]
    if len(names) > 1 and all(_NUMBER.fullmatch(n) for n in names):
        raise InputError(
            f"{path.name} has no header row (its first line holds only numbers): give the "
            "column names in order with --names (e.g. --names customer,date,amount)"
        )
    # pandas silently renames a repeated header ("a", "a.1"); a repeated name is a user error.
    same = same_names(fields)
    if same:
        raise InputError(f"{path.name} has {same}")
    return names, fields


def same_names(raw: list[Any]) -> str | None:
    """What is wrong when two column names are the same, or the same but for case or the spaces
    around them ('Spend', 'spend '): columns are chosen, declared and exported by name, so the
    two would be taken for one. None when every name is distinct."""
    names = [str(r).strip() for r in raw]
    exact = sorted({n for n in names if n and names.count(n) > 1})
    if exact:
        return f"duplicate column names: {', '.join(exact)}"
    seen: dict[str, Any] = {}
    for r, name in zip(raw, names, strict=True):
        if not name:
            continue
        other = seen.setdefault(name.casefold(), r)
        if other is not r:
            return (
                f"duplicate column names: '{other}' and '{r}' (the same name but for case or "
                "spaces): rename one of them"
            )
    return None


def _read_csv(
    path: Path,
    gz: bool,
    given: tuple[str, ...] | None = None,
    skip_rows: int | None = None,
) -> tuple[pd.DataFrame, str, str, tuple[str, ...]]:
    sample = _sample(path, gz)
    encoding = _detect_encoding(sample)
    cr_only = b"\r" in sample and b"\n" not in sample
    text = sample.decode(encoding, errors="replace")
    if cr_only:
        text = text.replace("\r", "\n")
    suffix = [s.lower() for s in path.suffixes if s.lower() != ".gz"][-1:] or [""]
    layout = _layout(text, len(sample) < SNIFF_BYTES, suffix[0], path, given, skip_rows)
    delimiter, skip = layout.delimiter, layout.header_at
    names, fields = _header(layout.header_line, delimiter, path, given)
    notes = layout.notes + _reading_notes(cr_only, delimiter, given)
    plain = not gz and not cr_only and given is None and delimiter != WHITESPACE
    if plain and encoding in ("utf-8", "utf-8-sig"):
        frame = _read_csv_arrow(path, delimiter, names, fields, skip)
        if frame is not None:
            return frame, encoding, delimiter, notes
    source: Path | io.BytesIO = _cr_only_as_lines(path, gz) if cr_only else path
    try:
        frame = pd.read_csv(
            source,
            sep=r"\s+" if delimiter == WHITESPACE else delimiter,
            header=None if given is not None else "infer",
            names=list(given) if given is not None else None,
            skiprows=skip or None,
            encoding=encoding,
            compression="gzip" if gz and not cr_only else None,
            # Keep ids like "007" intact and let the prepare stage decide each column's type.
            dtype=str,
            keep_default_na=False,
            na_values=NA_VALUES,
            skipinitialspace=True,
            encoding_errors="replace",
        )
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"{path.name} is empty") from exc
    except (EOFError, zlib.error, OSError) as exc:
        raise _damaged(path, exc) from exc
    except (pd.errors.ParserError, UnicodeError, ValueError, csv.Error) as exc:
        raise InputError(f"cannot parse {path.name} as a table: {_first_line(exc)}") from exc
    return frame, encoding, delimiter, notes


def _reading_notes(cr_only: bool, delimiter: str, given: tuple[str, ...] | None) -> tuple[str, ...]:
    notes = []
    if cr_only:
        notes.append("its lines end with a carriage return alone (an old Mac export)")
    if delimiter == WHITESPACE:
        notes.append("its columns are separated by spaces")
    if given is not None:
        notes.append(f"it has no header row: the columns were named {', '.join(given)}")
    return tuple(notes)


def _read_csv_arrow(
    path: Path, delimiter: str, names: list[str], fields: list[str] | None = None, skip: int = 0
) -> pd.DataFrame | None:
    """Fast path for large plain UTF-8 files: pyarrow's multithreaded reader, every column read as
    text, then columns whose every value is a plain number become numbers once, here.

    Text that a number would change stays text: ids with leading zeros ("007"), amounts with a
    currency sign, values with spaces. Returns None (use the pandas reader, which gives the
    one-line error messages) on anything unusual: a blank header, ragged rows, quoted newlines.
    `fields` are the header's names as written (' spend'); `skip` the lines above the header.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import csv as pacsv

    written = list(fields) if fields is not None else list(names)
    if not names or any(not n for n in names):
        return None
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=16 << 20, skip_rows=skip),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in written},
                null_values=NA_VALUES,
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
        # Names that are not UTF-8 ('\xa0' alone) fail only when asked for.
        if table.column_names != written or any(t != pa.string() for t in table.schema.types):
            return None  # the header read otherwise than here: let the pandas reader decide
    except (pa.ArrowException, OSError, ValueError):  # UnicodeDecodeError is a ValueError
        return None
    # Arrow's kernels run without the GIL: one column per core.
    typed = map_threads(
        lambda col: typed_column(col.combine_chunks(), pc, pa), table.columns, rows=table.num_rows
    )
    columns = dict(zip(names, typed, strict=True))
    if len(columns) != len(names):
        return None
    return pd.DataFrame(columns, copy=False)


INTEGER = r"^[+-]?\d{1,18}$"
TYPING_SAMPLE = 1_000  # values that decide a column is not integers before all are looked at


def typed_column(col: Any, pc: Any, pa: Any) -> pd.Series:
    """A text column as int64 or float64 when every value is a plain number, else trimmed text."""
    col = pc.utf8_ltrim_whitespace(col)
    present = pc.drop_null(col)
    if len(present) and not pc.any(pc.match_substring_regex(present, r"^[+-]?0\d")).as_py():
        # A regex decides integers: a failing cast costs far more than the check. A column of
        # decimals fails it on its first values, so those are asked first, and the whole column
        # only when they all pass: one regex pass over a number column instead of two.
        head = present.slice(0, TYPING_SAMPLE)
        if pc.all(pc.match_substring_regex(head, INTEGER)).as_py() and (
            len(present) <= TYPING_SAMPLE
            or pc.all(pc.match_substring_regex(present, INTEGER)).as_py()
        ):
            try:
                nums = pc.cast(col, pa.int64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # Arrow refuses "+5"
                nums = None
            if nums is not None:
                # Nullable integers print as "1", not "1.0", where a stage reads them as text.
                return pd.Series(nums.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get))
        try:
            nums = pc.cast(col, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            nums = None
        if nums is not None:
            return pd.Series(nums.to_pandas())
    return pd.Series(col.to_pandas())


def read_table(
    path: Path | str,
    names: tuple[str, ...] | None = None,
    *,
    skip_rows: int | None = None,
    sheet: str | int | None = None,
) -> LoadedTable:
    """Read a table. `names` names the columns of a CSV or text file that has no header row;
    `skip_rows` says how many lines (or sheet rows) stand above the header, counting every line
    from the top (default: title or note lines are recognised); `sheet` picks an Excel sheet by
    name or by number counting from 1 (default: the first sheet that holds a table).
    Raises InputError with a one-line message on any problem (ConfigError for an option that
    does not fit the file)."""
    path = Path(path)
    fmt, gz = _checked_file(path, names, skip_rows, sheet)
    encoding = delimiter = None
    decimal_comma: tuple[str, ...] = ()
    thousands_comma: tuple[str, ...] = ()
    units: dict[str, str] = {}
    notes: tuple[str, ...] = ()
    if fmt == "csv":
        frame, encoding, delimiter, notes = _read_csv(path, gz, names, skip_rows)
        frame, decimal_comma, thousands_comma, units = comma_numbers(frame, delimiter)
    elif fmt == "parquet":
        frame = _read_parquet(path)
    else:
        frame, notes = _read_excel(path, sheet, skip_rows)
    frame = clean_header(frame, path)
    frame, huge = checked_values(frame, path, text_file=fmt == "csv")
    return LoadedTable(
        frame=frame,
        path=path,
        file_format=fmt,
        sha256=file_sha256(path),
        encoding=encoding,
        delimiter=delimiter,
        decimal_comma=decimal_comma,
        thousands_comma=thousands_comma,
        units=units,
        notes=notes + huge,
    )


def _checked_file(
    path: Path, names: tuple[str, ...] | None, skip_rows: int | None, sheet: str | int | None
) -> tuple[str, bool]:
    """The file's format and whether it is gzipped, after the checks that need no reading.
    The checks run in this order so that each file gets the message about its first problem."""
    if not path.exists():
        raise InputError(f"data file not found: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a data file")
    fmt, gz = _format_of(path)
    if not fmt:
        raise InputError(
            f"unknown file format '{''.join(path.suffixes) or '(no extension)'}' for {path.name}: "
            "use .csv, .tsv, .txt, .parquet, .xlsx or .xls"
        )
    _check_options(path, fmt, skip_rows, sheet)
    if path.stat().st_size == 0:
        raise InputError(f"{path.name} is empty")
    if names is not None and fmt != "csv":
        raise InputError(f"column names can be given only for a CSV or text file, not {path.name}")
    return fmt, gz


def _read_parquet(path: Path) -> pd.DataFrame:
    _check_parquet_width(path)
    try:
        # Columns are converted one by one and each Arrow buffer freed once converted
        # (self_destruct), without merging columns into one block (split_blocks): the Arrow
        # table and the frame never both exist whole at the memory peak.
        return pd.read_parquet(
            path,
            engine="pyarrow",
            to_pandas_kwargs={"split_blocks": True, "self_destruct": True},
        )
    except Exception as exc:  # pyarrow raises many types for a damaged file
        raise InputError(f"cannot read {path.name} as Parquet: {_first_line(exc)}") from exc


def _check_options(path: Path, fmt: str, skip_rows: int | None, sheet: str | int | None) -> None:
    if skip_rows is not None:
        if (
            isinstance(skip_rows, bool)
            or not isinstance(skip_rows, int)
            or not 0 <= skip_rows <= MAX_SKIP_ROWS
        ):
            raise ConfigError(
                f"skip_rows must be a whole number from 0 to {MAX_SKIP_ROWS} (got {skip_rows!r})",
                "skip_rows",
            )
        if fmt == "parquet":
            raise ConfigError(
                f"skip_rows applies to CSV, text and Excel files, not to {path.name}", "skip_rows"
            )
    if sheet is not None:
        if isinstance(sheet, str) and not sheet.strip():
            raise ConfigError("sheet must be a sheet's name or its number counting from 1", "sheet")
        if not isinstance(sheet, str) and (
            isinstance(sheet, bool) or not isinstance(sheet, int) or sheet < 1
        ):
            raise ConfigError(
                f"sheet must be a sheet's name or its number counting from 1 (got {sheet!r})",
                "sheet",
            )
        if fmt != "excel":
            raise ConfigError(f"sheet applies to Excel workbooks, not to {path.name}", "sheet")


def _as_arrow_text(col: pd.Series) -> Any:
    """A text column as an Arrow string array (no copy for pandas' Arrow-backed strings), for
    Arrow's kernels: pandas' own string methods take several times longer on a million rows.
    None for a column of numbers, dates or flags."""
    import pyarrow as pa

    if pd.api.types.is_string_dtype(col) and col.dtype != object:
        array = pa.array(col.array)
    elif col.dtype == object:
        array = pa.array(col.astype(str).array)
    else:
        return None
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_large_string(array.type):
        array = array.cast(pa.string())
    return array if pa.types.is_string(array.type) else None


def _check_parquet_width(path: Path) -> None:
    try:
        import pyarrow.parquet as pq

        width = len(pq.read_schema(path).names)
    except Exception as exc:  # pyarrow raises many types for a damaged file
        raise InputError(f"cannot read {path.name} as Parquet: {_first_line(exc)}") from exc
    if width > MAX_COLUMNS:
        raise InputError(
            f"{path.name} has {width:,} columns: at most {MAX_COLUMNS:,} are read (MAX_COLUMNS)"
        )


# ----------------------------------------------------------------------------- Excel workbooks


def _read_excel(
    path: Path, sheet: str | int | None, skip_rows: int | None
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The chosen sheet (or the first that holds a table, when the first sheet is empty or a
    cover page) from its header row down, and notes on what was skipped."""
    try:
        book = pd.ExcelFile(path)
    except Exception as exc:  # openpyxl/xlrd raise many types for a damaged file
        raise InputError(f"cannot read {path.name} as Excel: {_first_line(exc)}") from exc
    with book:
        sheets = [str(s) for s in book.sheet_names]
        if not sheets:
            raise InputError(f"{path.name} has no sheets")
        notes: list[str] = []
        rows = PREVIEW_ROWS + (skip_rows or 0)
        if sheet is not None:
            chosen = _chosen_sheet(sheets, sheet, path)
            preview = _preview(book, chosen, rows, path)
            if len(sheets) > 1:
                notes.append(f"sheet '{chosen}' was read, as asked")
        else:
            chosen = sheets[0]
            preview = _preview(book, chosen, rows, path)
            if len(sheets) > 1 and not _holds_table(_filled(preview)):
                for later in sheets[1:]:
                    candidate = _preview(book, later, rows, path)
                    if _holds_table(_filled(candidate)):
                        cells = int(_filled(preview).sum())
                        what = "is empty" if not cells else f"holds {cells} cells and no table"
                        notes.append(f"its first sheet '{chosen}' {what}: sheet '{later}' was read")
                        chosen, preview = later, candidate
                        break
        if preview.shape[1] > MAX_COLUMNS:
            raise InputError(
                f"{path.name}: sheet '{chosen}' has {preview.shape[1]:,} columns: at most "
                f"{MAX_COLUMNS:,} are read (MAX_COLUMNS)"
            )
        filled = _filled(preview)
        header_at, note = _sheet_header(preview, filled, skip_rows)
        if note:
            notes.append(note)
        if header_at < len(preview):
            raw = [v for v, f in zip(preview.iloc[header_at], filled[header_at], strict=True) if f]
            same = same_names(raw)
            if same:
                raise InputError(f"{path.name} has {same}")
        try:
            frame = pd.read_excel(book, sheet_name=chosen, skiprows=header_at or None)
        except Exception as exc:  # openpyxl/xlrd raise many types for a damaged file
            raise InputError(f"cannot read {path.name} as Excel: {_first_line(exc)}") from exc
    return frame, tuple(notes)


def _chosen_sheet(sheets: list[str], sheet: str | int, path: Path) -> str:
    listing = ", ".join(f"'{s}'" for s in sheets[:12]) + (
        f", … ({len(sheets)} in all)" if len(sheets) > 12 else ""
    )
    if isinstance(sheet, str):
        wanted = sheet.strip()
        if wanted in sheets:
            return wanted
        alike = [s for s in sheets if s.strip().casefold() == wanted.casefold()]
        if len(alike) == 1:
            return alike[0]
        if not wanted.isdigit():
            raise InputError(f"{path.name} has no sheet '{wanted}': its sheets are {listing}")
        sheet = int(wanted)
    if not 1 <= sheet <= len(sheets):
        raise InputError(
            f"{path.name} has {_lines(len(sheets), 'sheet')} ({listing}): there is no sheet {sheet}"
        )
    return sheets[sheet - 1]


def _preview(book: pd.ExcelFile, sheet: str, rows: int, path: Path) -> pd.DataFrame:
    try:
        return pd.read_excel(book, sheet_name=sheet, header=None, nrows=rows)
    except Exception as exc:  # openpyxl/xlrd raise many types for a damaged file
        raise InputError(f"cannot read {path.name} as Excel: {_first_line(exc)}") from exc


def _filled(preview: pd.DataFrame) -> np.ndarray:
    """Which cells hold something: not empty, not blank text."""
    values = preview.to_numpy(dtype=object)
    filled = ~pd.isna(values)
    for i, j in zip(*np.nonzero(filled), strict=True):
        value = values[i, j]
        if isinstance(value, str) and not value.strip():
            filled[i, j] = False
    return np.asarray(filled, dtype=bool)


def _holds_table(filled: np.ndarray) -> bool:
    """At least three rows of two or more cells, a dozen cells in all: not a cover page with a
    title and a few 'Prepared by' lines."""
    counts = filled.sum(axis=1) if filled.size else np.zeros(0, dtype=int)
    return int((counts >= 2).sum()) >= 3 and int(counts.sum()) >= 12


def _sheet_header(
    preview: pd.DataFrame, filled: np.ndarray, skip_rows: int | None
) -> tuple[int, str | None]:
    """The row the header is on, and a note when rows above it were skipped: blank rows, or
    title rows with far fewer cells than the header, above a row of names with rows below."""
    counts = filled.sum(axis=1) if filled.size else np.zeros(0, dtype=int)
    used = [i for i in range(len(counts)) if counts[i] > 0]
    if skip_rows is not None:
        at = next((i for i in used if i >= skip_rows), skip_rows)
        return at, (f"its first {_lines(skip_rows, 'row')} were skipped as asked" if at else None)
    if not used:
        return 0, None
    first = used[0]
    blank_note = f"its first {_lines(first, 'row')} are blank and were skipped" if first else None
    width = _mode([int(counts[i]) for i in used[1:]])
    if width < 2 or counts[first] > max(1, width // 2):
        return first, blank_note
    for k in range(1, min(MAX_TITLE_LINES, len(used) - 2) + 1):
        at = used[k]
        m = int(counts[at])
        if any(counts[t] > max(1, m // 2) for t in used[:k]):
            break
        names = [v for v, f in zip(preview.iloc[at], filled[at], strict=True) if f]
        header = m >= 2 and all(
            isinstance(v, str) and not _NUMBER.fullmatch(v.strip()) for v in names
        )
        if header and any(counts[r] > m // 2 for r in used[k + 1 :]):
            title = " ".join(
                str(v) for v, f in zip(preview.iloc[first], filled[first], strict=True) if f
            )
            return at, (
                f"the {_lines(at, 'row')} above its header "
                + ("was" if at == 1 else "were")
                + f" skipped as a title or note: '{_shown(title)}'"
            )
    return 0, None


# ----------------------------------------------------------------------------- numbers too large

# A number beyond 1e100 as text: an exponent of 100 or more, or 101 digits, after the
# sign and the currency sign that the prepare stage would strip.
_HUGE_TEXT = r"^\s*[€$£]?\s*[+-]?(?:[\d.,]*[eE]\+?0*[1-9]\d\d|\d{101})"


@dataclass(frozen=True)
class _TextScan:
    longest: int  # characters in the column's longest value
    longest_row: int
    maybe_huge: np.ndarray  # positions of values that may be numbers beyond HUGE_NUMBER


def _scan_text(col: pd.Series) -> _TextScan | None:
    """One pass of Arrow's kernels (which run without the GIL) over a text column."""
    import pyarrow.compute as pc

    text = _as_arrow_text(col)
    if text is None:
        return None
    lengths = pc.utf8_length(text)
    longest = pc.max(lengths).as_py() or 0
    row = pc.index(lengths, longest).as_py() if longest > MAX_VALUE_CHARS else -1
    maybe = pc.fill_null(pc.match_substring_regex(text, _HUGE_TEXT), False)
    if pc.any(maybe).as_py():
        where = np.flatnonzero(maybe.to_numpy(zero_copy_only=False))
    else:
        where = np.zeros(0, dtype=np.intp)
    return _TextScan(longest, row, where)


def checked_values(
    frame: pd.DataFrame, path: Path, text_file: bool
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The frame with numbers beyond HUGE_NUMBER in magnitude (1e308, a corrupt export's
    9.9e307) read as missing, and a note per column: kept, they overflow the arithmetic of every
    later stage. Text columns are checked too: the prepare stage reads numbers written as text.
    In a text file, a value longer than MAX_VALUE_CHARS is refused: a customer table holds names,
    codes and numbers, and a megabyte in one cell is a wrong file or a quote left open."""
    names = list(frame.columns)
    scans = map_threads(lambda n: _scan_text(frame[n]), names, rows=len(frame))
    out = frame
    notes: list[str] = []
    for name, scan in zip(names, scans, strict=True):
        col = frame[name]
        if scan is None:
            if not pd.api.types.is_float_dtype(col):
                continue
            values = col.to_numpy(dtype=float, na_value=np.nan)
            with np.errstate(invalid="ignore"):
                bad = np.isfinite(values) & (np.abs(values) > HUGE_NUMBER)
            if not bad.any():
                continue
            example = f"{values[bad][0]:g}"
        else:
            if text_file and scan.longest > MAX_VALUE_CHARS:
                raise InputError(
                    f"{path.name}: the value of '{name}' in row {scan.longest_row + 1} is "
                    f"{scan.longest / (1 << 20):.1f} MB long: at most "
                    f"{MAX_VALUE_CHARS >> 20} MB of text per value is read (a quote left open?)"
                )
            if not len(scan.maybe_huge):
                continue
            written = col.iloc[scan.maybe_huge].astype(str)
            cleaned = written.str.strip().str.replace(_SIGN_AT_ENDS, "", regex=True)
            numbers = pd.to_numeric(cleaned, errors="coerce").astype(float).to_numpy()
            with np.errstate(invalid="ignore"):
                huge = np.abs(numbers) > HUGE_NUMBER
            if not huge.any():
                continue
            bad = np.zeros(len(col), dtype=bool)
            bad[scan.maybe_huge[huge]] = True
            example = _shown(str(written[huge].iloc[0]), 24)
        if out is frame:
            out = frame.copy(deep=False)  # new columns only; the others' data is shared
        out[name] = col.mask(pd.Series(bad, index=col.index))
        count = int(bad.sum())
        notes.append(
            f"{_lines(count, 'value')} of '{name}' beyond ±1e100 ({example}) "
            + ("is" if count == 1 else "are")
            + " too large to compute with and "
            + ("was" if count == 1 else "were")
            + " read as missing"
        )
    return out, tuple(notes)


# 206,29  1.234,5  0,750  -12  and French/Nordic "1 234,5" (space, no-break or thin space)
DECIMAL_COMMA = r"[+-]?(?:\d{1,3}(?:\.\d{3})+|\d{1,3}(?:[ \u00a0\u202f]\d{3})+|\d+)(?:,\d+)?"
THOUSANDS_COMMA = r"[+-]?(?:[1-9]\d{0,2}(?:,\d{3})+|\d+)(?:\.\d+)?"  # 1,234  1,234,567.5  950


def comma_numbers(
    frame: pd.DataFrame, delimiter: str | None
) -> tuple[pd.DataFrame, tuple[str, ...], tuple[str, ...], dict[str, str]]:
    """Text columns whose every value is a number written with commas become numbers.

    A column is read with decimal commas ("206,29", "1.234,5", "0,750") or with thousands
    separators ("1,234", "1,234,567.5") when only one reading fits all its values. When both fit
    (only "1,234"-like values and integers), the other columns of the file decide: a file that
    writes decimal commas elsewhere writes them here too, and the same for thousands separators.
    When no column decides, the separator does: ';' files come from European spreadsheets
    (decimal commas, no thousands separators); others are read with thousands separators. In ','
    files a quoted "1,3" is more often a list of answers than a number, so they are only read
    with thousands separators. Columns that fit neither reading stay text.
    Returns the frame and the names of the columns read with decimal commas and with thousands
    separators.
    """
    readings: dict[str, tuple[pd.Series, str]] = {}  # column -> (its text, reading)
    units: dict[str, str] = {}
    for name in frame.columns:
        found = _comma_reading(frame[name], delimiter)
        if found is not None:
            text, reading, sign = found
            readings[name] = (text, reading)
            if sign:
                units[name] = sign
    if not readings:
        return frame, (), (), {}
    ambiguous = _ambiguous_reading({reading for _, reading in readings.values()}, delimiter)
    out = frame.copy(deep=False)  # new columns only; the other columns' data is shared
    decimal: list[str] = []
    thousands: list[str] = []
    for name, (text, reading) in readings.items():
        if reading == "both":
            reading = ambiguous
        # A column whose values carry a sign but no comma is listed under neither reading:
        # nothing in it was written with a comma.
        listed = text.str.contains(",", regex=False).any() or name not in units
        if reading == "decimal":
            plain = text.str.replace(r"[.\s\u00a0\u202f]", "", regex=True)
            plain = plain.str.replace(",", ".", regex=False)
            if listed:
                decimal.append(name)
        else:
            plain = text.str.replace(",", "", regex=False)
            if listed:
                thousands.append(name)
        blank_as_na = plain.replace("", pd.NA)  # type: ignore[call-overload]  # stubs lack NA
        out[name] = pd.to_numeric(blank_as_na, errors="coerce").astype(float)
    return out, tuple(decimal), tuple(thousands), units


def _comma_reading(
    col: pd.Series, delimiter: str | None
) -> tuple[pd.Series, str, str | None] | None:
    """How one column's text reads as numbers: its trimmed text without the common sign, the
    reading ("decimal", "1000" or "both" when either fits) and the sign; None when the column is
    not text, is empty, or fits neither reading."""
    if not (col.dtype == object or pd.api.types.is_string_dtype(col)):
        return None
    text = col.astype("string").str.strip()
    present = _present(text)
    if present.empty:
        return None
    sign = _common_sign(present)
    if sign:
        text = text.str.replace(_SIGN_AT_ENDS, "", regex=True).str.strip()
        present = _present(text)
        if present.empty:
            return None
    elif not present.str.contains(",", regex=False).any():
        return None  # neither a comma nor a sign: nothing to read otherwise
    as_decimal = delimiter != "," and bool(present.str.fullmatch(DECIMAL_COMMA).all())
    as_thousands = bool(present.str.fullmatch(THOUSANDS_COMMA).all())
    if not (as_decimal or as_thousands):
        return None
    reading = "both" if as_decimal and as_thousands else "decimal" if as_decimal else "1000"
    return text, reading, sign


def _present(text: pd.Series) -> pd.Series:
    """The values that are written: neither missing nor blank."""
    present = text.dropna()
    return present[present != ""]


def _ambiguous_reading(seen: set[str], delimiter: str | None) -> str:
    """The reading for columns that fit both: the file's other columns decide, else the
    separator (';' files come from European spreadsheets)."""
    if seen == {"decimal", "both"} or (seen == {"both"} and delimiter == ";"):
        return "decimal"
    return "1000"  # also when the file has clear columns of both kinds


_SIGN_AT_ENDS = r"^[€$£][\s\u00a0\u202f]*|[\s\u00a0\u202f]*[€$£%]$"


def _common_sign(present: pd.Series) -> str | None:
    """The currency or percent sign every value carries at the same end ('12,50 €', '$7'), or
    None. Checked on the first 1,000 values, then confirmed on all."""
    head = present.iloc[:1000]
    for sign in "€$£%":
        for pattern in (rf"^{re.escape(sign)}", rf"{re.escape(sign)}$"):
            if sign == "%" and pattern.startswith("^"):
                continue
            if head.str.contains(pattern, regex=True).all() and (
                len(present) <= 1000 or present.str.contains(pattern, regex=True).all()
            ):
                return sign
    return None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def clean_header(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    if frame.shape[1] == 0:
        raise InputError(f"{path.name} has no columns")
    if frame.shape[1] > MAX_COLUMNS:
        raise InputError(
            f"{path.name} has {frame.shape[1]:,} columns: at most {MAX_COLUMNS:,} are read "
            "(MAX_COLUMNS)"
        )
    names = [str(c).strip() for c in frame.columns]
    same = same_names(list(frame.columns))
    if same:
        raise InputError(f"{path.name} has {same}")
    if len(frame) == 0:
        raise InputError(f"{path.name} has a header but no data rows")
    # New labels on the same column data (copy-on-write: no copy of 1M rows x every column).
    return frame.set_axis(names, axis=1).reset_index(drop=True)
