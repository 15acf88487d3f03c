"""The data dictionary: which columns segment, which describe, and the words for them.

`read_dictionary` is the edge (reads YAML); `resolve_dictionary` is pure: given the table and an
optional dictionary it returns a complete `DataDictionary` with one `ColumnSpec` per column of the
table, saying for each what was declared and what was inferred, and why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from reportgen.errors import InputError
from reportgen.io.load import windows_code_page

ROLES = ("segment", "describe", "id", "ignore")
TYPES = ("numeric", "ordinal", "binary", "categorical", "date", "id", "text")
# Named like an id: "customer_id", "ID", "key", "CustomerID", "userId", "customerid". Case
# matters for a bare "...Id" ending, so that "AmountPaid", "Valid" and "Covid" are not ids.
ID_NAME = re.compile(
    r"(?i:(^|[_\s-])(id|key|uuid|guid)$|^(id|key)[_\s-]|^respondent$"
    r"|(customer|cust|client|user|member|account|person|contact|subscriber|household|visitor"
    r"|guest|patient|student|employee|record|order)id$)"
    r"|[a-z0-9](Id|ID)$"
)
# Numbered like a customer or row: "cust_no", "Account Nr", "customer number", "CustNo",
# "RowNumber", "Kundennummer", pandas' written index "Unnamed: 0", "index", "#". Case matters for
# a bare "...No" ending, so that "Casino" or "Platinum" are not numbers.
NUMBER_NAME = re.compile(
    r"(?i:(^|[_\s-])(no|nr|num)\.?$"
    r"|(customer|client|member|account|row|kunden)[_\s-]?(number|nummer)$"
    r"|^(unnamed: ?\d+|index|idx|row|#|serial)$)"
    r"|[a-z](No|Nr|Num)$"
)
MAX_CATEGORIES = 30
ID_UNIQUE_SHARE = 0.95
ROW_NUMBER_REASON = "whole numbers counting up (or down) row by row: a row number"
ROW_NUMBER_MIN_ROWS = 30  # a rising run of 5 small numbers in a test table is not a row number
# A quantity a table can be sorted by ("year", "Tenure", "age") is not a row number even when
# every value is new: 31 yearly rows 1990..2020 are years. Only measures: "order_number",
# "rank", "sort_order" or "Purchase #" counting 1..N are positions, and stay row numbers.
MEASURE_NAME = re.compile(
    r"(?i:(^|[^a-z])(year|yr|age|tenure|month|week|day|hour|score|rating|visit|amount|spend"
    r"|income|balance|price)s?($|[^a-z]))"
)


@dataclass(frozen=True)
class Words:
    """Business words for one end of a column: the segment name, a phrase and a marketing angle."""

    name: str | None = None
    words: str | None = None
    angle: str | None = None


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    role: str
    type: str
    label: str
    unit: str | None = None
    scale_min: float | None = None
    scale_max: float | None = None
    question: str | None = None
    high: Words = Words()
    low: Words = Words()
    missing: str | None = None  # "drop" | "impute"; None = the stated automatic policy
    transform: str | None = None  # "log" | "none"; None = the stated automatic skew rule
    declared: bool = False  # True when the data dictionary listed this column
    reason: str = ""  # why this role/type (shown in the brief's appendix)

    @property
    def is_scale(self) -> bool:
        return self.scale_min is not None and self.scale_max is not None


@dataclass(frozen=True)
class DataDictionary:
    title: str | None
    source: str | None
    synthetic: bool
    unit: str  # what one row is, singular ("customer")
    units: str  # plural ("customers")
    id_column: str | None
    columns: tuple[ColumnSpec, ...]
    from_file: bool
    notes: tuple[str, ...] = ()  # what was inferred or overridden, in words
    # How to read the input: "customers" or "transactions" (an order log), and for a log the
    # column of each role (customer, date, order, amount, quantity, unit_price, product, currency)
    input_kind: str | None = None
    order_roles: tuple[tuple[str, str], ...] | None = None

    def column(self, name: str) -> ColumnSpec:
        for spec in self.columns:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def by_role(self, role: str) -> tuple[ColumnSpec, ...]:
        return tuple(c for c in self.columns if c.role == role)

    @property
    def segment_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.by_role("segment"))

    @property
    def describe_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.by_role("describe"))


# Abbreviations common in CRM exports, spelled out in labels when no dictionary gives one.
# "Lead" ones only when another word follows ("NumStorePurchases", not a column called "Num").
_LEAD_ABBREVIATIONS = {"num": "number of", "nb": "number of", "nbr": "number of", "mnt": "spend on"}
_ABBREVIATIONS = {
    "qty": "quantity",
    "avg": "average",
    "pct": "percent",
    "cnt": "count",
    "amt": "amount",
    "prods": "products",
    "prod": "product",
    "cust": "customer",
    "acct": "account",
    "yrs": "years",
    "yr": "year",
    "trx": "transactions",
    "txn": "transactions",
    "txns": "transactions",
    "prc": "percent",
    "perc": "percent",
    "freq": "frequency",
    "oneoff": "one-off",
    "dt": "date",
    "cmp": "campaign",
    "tot": "total",
    "bal": "balance",
    "no": "number",
}
# Acronyms that stay in capitals in a label made from a name in capitals (CASH_ADVANCE_TRX).
_ACRONYMS = frozenset({"ID", "VIP", "SMS", "URL", "CRM", "GDP", "ATM", "POS", "USD", "EUR", "GBP"})


_PERIODS = {"day", "week", "month", "quarter", "year"}
# A unit spelled as the name's last word becomes the label's unit: basket_value_eur ->
# "Basket value (EUR)", share_pct -> "Share (%)"; a trailing "count" says nothing a number doesn't.
_UNIT_SUFFIXES = {
    "eur": "EUR", "usd": "USD", "gbp": "GBP", "chf": "CHF", "jpy": "JPY", "inr": "INR",
    "aud": "AUD", "cad": "CAD", "percent": "%", "pct": "%", "kg": "kg", "km": "km",
    "days": "days", "hours": "hours", "mins": "minutes", "minutes": "minutes",
}  # fmt: skip


def humanize(name: str) -> str:
    """'MntWines' -> 'Spend on wines', 'NumWebPurchases' -> 'Number of web purchases',
    'Detergents_Paper' -> 'Detergents paper'."""
    raw = re.sub(r"(?<=\d)-(?=\d)", "\u2013", str(name))  # a range keeps its dash: (1–100)
    text = re.sub(r"[_\-.]+", " ", raw).strip()
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", text)
    text = re.sub(r"(?<=[A-Za-z]{2})(?=\d)", " ", text)  # "Cmp3": campaign 3
    text = re.sub(r"\s+", " ", text)
    if not text:
        return str(name)
    words = text.split(" ")
    shouting = not any(c.islower() for c in text)  # PURCHASES_FREQUENCY: no word is an acronym
    words = [
        w if w.isupper() and len(w) > 1 and (not shouting or w in _ACRONYMS) else w.lower()
        for w in words
    ]
    if len(words) > 1 and words[0] in _LEAD_ABBREVIATIONS:
        words[0] = _LEAD_ABBREVIATIONS[words[0]]
    unit = ""
    if (
        len(words) > 1
        and words[-1].lower() in _UNIT_SUFFIXES
        and words[-2] not in ("per", "in", "of")
    ):
        unit = f" ({_UNIT_SUFFIXES[words.pop().lower()]})"
    elif len(words) > 2 and words[-1] == "count":
        words.pop()
    words = [_ABBREVIATIONS.get(w, w) for w in words]
    if words[0] == "number of" and len(words) > 2 and words[-1] in _PERIODS and words[-2] != "per":
        words.insert(len(words) - 1, "per")  # "NumWebVisitsMonth": visits per month
    text = " ".join(words) + unit
    return text[:1].upper() + text[1:]


# --------------------------------------------------------------------------- reading YAML


def _text(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value).strip()
    raise InputError(f"data dictionary: {where} must be text")


def _words(raw: Any, where: str) -> Words:
    if raw is None:
        return Words()
    if isinstance(raw, str):
        return Words(words=raw.strip())
    if not isinstance(raw, dict):
        raise InputError(f"data dictionary: {where} must be a mapping with name/words/angle")
    unknown = set(raw) - {"name", "words", "angle"}
    if unknown:
        raise InputError(
            f"data dictionary: unknown key(s) in {where}: {', '.join(sorted(unknown))}"
        )
    return Words(
        name=_text(raw.get("name"), f"{where}.name"),
        words=_text(raw.get("words"), f"{where}.words"),
        angle=_text(raw.get("angle"), f"{where}.angle"),
    )


_COLUMN_KEYS = frozenset(
    {
        "role",
        "type",
        "label",
        "unit",
        "scale",
        "question",
        "high",
        "low",
        "description",
        "missing",
        "transform",
        "why",  # why the column has this role and type: shown in the appendix
    }
)


def _column_from_yaml(name: str, raw: Any) -> ColumnSpec:
    where = f"columns.{name}"
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InputError(f"data dictionary: {where} must be a mapping")
    unknown = set(raw) - _COLUMN_KEYS
    if unknown:
        raise InputError(
            f"data dictionary: unknown key(s) in {where}: {', '.join(sorted(unknown))}"
        )
    role, ctype = _role_and_type(raw, where)
    scale_min, scale_max = _scale(raw.get("scale"), where)
    missing, transform = _policies(raw, where)
    return ColumnSpec(
        name=name,
        role=role,
        type=ctype,
        missing=missing,
        transform=transform,
        label=_text(raw.get("label"), f"{where}.label") or humanize(name),
        unit=_text(raw.get("unit"), f"{where}.unit"),
        scale_min=scale_min,
        scale_max=scale_max,
        question=_text(raw.get("question"), f"{where}.question"),
        high=_words(raw.get("high"), f"{where}.high"),
        low=_words(raw.get("low"), f"{where}.low"),
        declared=True,
        reason=_text(raw.get("why"), f"{where}.why") or "declared in the data dictionary",
    )


def _role_and_type(raw: dict[str, Any], where: str) -> tuple[str, str]:
    """The declared role (a listed column segments unless told otherwise) and type ('' when the
    data should decide)."""
    role = raw.get("role", "segment")
    if role not in ROLES:
        raise InputError(f"data dictionary: {where}.role must be one of {', '.join(ROLES)}")
    ctype = raw.get("type", "")
    if ctype and ctype not in TYPES:
        raise InputError(f"data dictionary: {where}.type must be one of {', '.join(TYPES)}")
    return role, ctype


def _scale(scale: Any, where: str) -> tuple[float | None, float | None]:
    if scale is None:
        return None, None
    if not isinstance(scale, dict) or "min" not in scale or "max" not in scale:
        raise InputError(f"data dictionary: {where}.scale needs min and max")
    try:
        scale_min, scale_max = float(scale["min"]), float(scale["max"])
    except (TypeError, ValueError) as exc:
        raise InputError(f"data dictionary: {where}.scale min/max must be numbers") from exc
    if scale_min >= scale_max:
        raise InputError(f"data dictionary: {where}.scale min must be below max")
    return scale_min, scale_max


def _policies(raw: dict[str, Any], where: str) -> tuple[str | None, str | None]:
    """The declared missing-value and transform policies; None leaves the automatic rule."""
    missing = raw.get("missing")
    if missing not in (None, "drop", "impute"):
        raise InputError(f"data dictionary: {where}.missing must be drop or impute")
    transform = raw.get("transform")
    if transform not in (None, "log", "none"):
        raise InputError(f"data dictionary: {where}.transform must be log or none")
    return missing, transform


MAX_DICTIONARY_BYTES = 5 << 20  # a dictionary of a thousand columns is well under 1 MB
MAX_DICTIONARY_DEPTH = 50  # mappings and lists inside each other; a dictionary needs four


def read_dictionary(path: Path | str) -> DataDictionary:
    """Read a YAML data dictionary (safe loader only). Columns not yet checked against data.
    UTF-8 (with or without a BOM), UTF-16 or UTF-32 with a BOM, or a Windows code page."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"data dictionary not found: {path}")
    if path.is_dir():
        raise InputError(f"data dictionary {path} is a folder, not a YAML file")
    try:
        size = path.stat().st_size
        if size > MAX_DICTIONARY_BYTES:
            raise InputError(
                f"data dictionary {path.name} is {size / (1 << 20):.1f} MB: at most "
                f"{MAX_DICTIONARY_BYTES >> 20} MB is read (is it really a data dictionary?)"
            )
        with path.open("rb") as fh:
            data = fh.read(MAX_DICTIONARY_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read data dictionary {path.name}: {exc.strerror or exc}") from exc
    if len(data) > MAX_DICTIONARY_BYTES:  # grew, or a device that reports no size
        raise InputError(
            f"data dictionary {path.name} is larger than {MAX_DICTIONARY_BYTES >> 20} MB"
        )
    text = _dictionary_text(data, path)
    _check_depth(text, path)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise InputError(f"data dictionary {path.name} is not valid YAML{where}") from exc
    except RecursionError as exc:
        raise InputError(f"data dictionary {path.name} is nested too deeply") from exc
    except (ValueError, TypeError, OverflowError) as exc:  # a value YAML cannot construct
        raise InputError(
            f"data dictionary {path.name} holds a value that cannot be read: {exc}"
        ) from exc
    return dictionary_from_mapping(raw, path.name)


_BOMS = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xfe\xff", "utf-16"),
    (b"\xff\xfe", "utf-16"),
)


def _dictionary_text(data: bytes, path: Path) -> str:
    """The file's text: by its byte-order mark, else UTF-8, else the Windows code page its
    letters fit (an editor on Windows saves 'Müller' or '€' as cp1252)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding).lstrip("\ufeff")
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"data dictionary {path.name} is not valid {encoding.upper()} text"
                ) from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if b"\x00" in data:
        raise InputError(
            f"data dictionary {path.name} is not text (it holds NUL bytes): save it as UTF-8"
        )
    encoding = windows_code_page(data) or "cp1252"
    return data.decode(encoding, errors="replace")


def _check_depth(text: str, path: Path) -> None:
    """Refuse YAML nested deeper than MAX_DICTIONARY_DEPTH before building it: the loader
    recurses once per level and would run out of stack."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DICTIONARY_DEPTH:
                    raise InputError(
                        f"data dictionary {path.name} is nested more than "
                        f"{MAX_DICTIONARY_DEPTH} levels deep: is it really a data dictionary?"
                    )
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.YAMLError:
        return  # safe_load reports it, with its line


def dictionary_from_mapping(raw: Any, name: str = "dictionary") -> DataDictionary:
    if not isinstance(raw, dict):
        raise InputError(f"data dictionary {name} must be a YAML mapping with a 'columns' key")
    cols = raw.get("columns")
    if not isinstance(cols, dict) or not cols:
        raise InputError(f"data dictionary {name} needs a 'columns' mapping")
    specs = tuple(_column_from_yaml(str(k), v) for k, v in cols.items())
    id_column = _text(raw.get("id_column"), "id_column")
    if id_column is None:
        ids = [s.name for s in specs if s.role == "id"]
        id_column = ids[0] if ids else None
    unit = _text(raw.get("unit"), "unit") or "customer"
    return DataDictionary(
        title=_text(raw.get("title"), "title"),
        source=_text(raw.get("source"), "source"),
        synthetic=bool(raw.get("synthetic", False)),
        unit=unit,
        units=_text(raw.get("units"), "units") or unit + "s",
        id_column=id_column,
        columns=specs,
        from_file=True,
        input_kind=_input_kind(raw.get("input_kind"), name),
        order_roles=_order_roles(raw.get("order_log"), name),
    )


_ORDER_ROLES = ("customer", "date", "order", "amount", "quantity", "unit_price", "product")


def _input_kind(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if value not in ("auto", "customers", "transactions"):
        raise InputError(
            f"data dictionary {name}: input_kind must be auto, customers or transactions"
        )
    return str(value)


def _order_roles(value: Any, name: str) -> tuple[tuple[str, str], ...] | None:
    """order_log: {roles: {customer: CustomerID, date: InvoiceDate, ...}}, checked."""
    if value is None:
        return None
    roles = value.get("roles") if isinstance(value, dict) else None
    if not isinstance(roles, dict) or set(value) - {"roles"}:
        raise InputError(f"data dictionary {name}: order_log takes one key, roles (role: column)")
    unknown = sorted(str(k) for k in roles if k not in (*_ORDER_ROLES, "currency"))
    if unknown:
        raise InputError(
            f"data dictionary {name}: unknown order_log role(s) {', '.join(unknown)}; roles are "
            f"{', '.join(_ORDER_ROLES)}, currency"
        )
    return tuple((str(k), "" if v is None else str(v)) for k, v in roles.items())


# --------------------------------------------------------------------------- inference


def _numeric(series: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.astype(float)
    if pd.api.types.is_bool_dtype(series):
        return series.astype(float)
    cleaned = series.astype("string").str.strip().str.replace(r"^[€$£]|%$", "", regex=True)
    return pd.to_numeric(cleaned, errors="coerce")


def numeric_values(series: pd.Series) -> pd.Series:
    """The column as floats; anything that is not a number becomes NaN."""
    return _numeric(series)


def _looks_like_dates(series: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(series):
        return True
    sample = series.dropna().astype(str).head(200)
    if sample.empty or not sample.str.contains(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}").mean() > 0.9:
        return False
    parsed = pd.to_datetime(sample, errors="coerce", format="mixed", dayfirst=True)
    return parsed.notna().mean() > 0.9


def _many_values(numbers: pd.Series, head: int = 10_000) -> bool:
    """More than 11 distinct finite values among the first `head` values (so in the column)."""
    first = numbers.iloc[:head].to_numpy(dtype=float, na_value=np.nan)
    return len(np.unique(first[np.isfinite(first)])) > 11


def _id_like_name(name: object) -> bool:
    return bool(ID_NAME.search(str(name)) or NUMBER_NAME.search(str(name)))


def _row_numbers(numbers: pd.Series) -> bool:
    """Whole numbers that rise (or fall) in every row and span about the row count: 1, 2, 3, ...
    or an export's running customer number (1001, 1002, 1004, ...). No amount looks like this."""
    n = len(numbers)
    if n < ROW_NUMBER_MIN_ROWS:
        return False
    values = numbers.to_numpy(dtype=float, na_value=np.nan)
    if not abs(values[-1] - values[0]) <= 2 * n:
        return False  # a missing value at either end fails the comparison too
    steps = np.diff(values)
    if not (np.all(steps > 0) or np.all(steps < 0)):
        return False
    return not np.any(np.mod(values, 1) != 0)


def infer_column(name: str, series: pd.Series, n_rows: int) -> ColumnSpec:
    """Guess type and role of one column from its values, with the reason in words."""
    label = humanize(name)
    non_null = _written(series)
    n_valid = len(non_null)
    if n_valid == 0:
        return ColumnSpec(name, "ignore", "text", label, reason="empty: no values at all")
    # Numbers are counted as numbers: turning a million floats into text took seconds.
    is_number = pd.api.types.is_numeric_dtype(non_null) and not pd.api.types.is_bool_dtype(non_null)
    measure = bool(MEASURE_NAME.search(re.sub(r"([a-z])([A-Z])", r"\1 \2", str(name))))
    if is_number and n_valid == n_rows and not measure and _row_numbers(non_null):
        return ColumnSpec(name, "id", "id", label, reason=ROW_NUMBER_REASON)
    if is_number and not _id_like_name(name) and _many_values(non_null):
        # What the full passes below would conclude for numbers with more than 11 distinct
        # values (not constant, not an id, not a flag, code or rating): plain numbers.
        return ColumnSpec(name, "segment", "numeric", label, reason="numbers")
    n_unique = non_null.nunique() if is_number else non_null.astype(str).nunique()
    if n_unique == 1:
        return ColumnSpec(name, "ignore", "text", label, reason="constant: one value in every row")
    named_id = _named_id(name, label, n_unique, n_rows)
    if named_id is not None:
        return named_id
    nums = _numeric(non_null)
    share_numeric = nums.notna().mean()
    # Row numbers read as text.
    if share_numeric == 1 and n_valid == n_rows and not measure and _row_numbers(nums):
        return ColumnSpec(name, "id", "id", label, reason=ROW_NUMBER_REASON)
    if share_numeric >= 0.95:
        return _infer_numbers(name, label, nums)
    return _infer_text(name, label, non_null, n_unique, n_valid)


def _written(series: pd.Series) -> pd.Series:
    """The values that are there: not missing and, in a text column, not blank."""
    non_null = series.dropna()
    if not (
        pd.api.types.is_numeric_dtype(non_null) or pd.api.types.is_datetime64_any_dtype(non_null)
    ):
        non_null = non_null[non_null.astype(str).str.strip() != ""]
    return non_null


def _named_id(name: str, label: str, n_unique: int, n_rows: int) -> ColumnSpec | None:
    """An id column by its name and (nearly) unique values, or None."""
    # An id column with a few repeats or blanks is still the id (the duplicate policy and the
    # assignments handle those rows); it must never become a feature by accident.
    if ID_NAME.search(str(name)) and n_unique >= ID_UNIQUE_SHARE * n_rows:
        return ColumnSpec(
            name, "id", "id", label, reason="named like an id and unique in every row"
        )
    if NUMBER_NAME.search(str(name)) and n_unique >= ID_UNIQUE_SHARE * n_rows:
        return ColumnSpec(
            name, "id", "id", label, reason="named like a customer or row number, unique"
        )
    return None


def _infer_numbers(name: str, label: str, nums: pd.Series) -> ColumnSpec:
    """A column of numbers: a flag, a few codes, a rating scale or plain numbers."""
    values = nums[np.isfinite(nums)]
    distinct = np.unique(values.to_numpy())
    if len(distinct) == 2:
        return ColumnSpec(
            name,
            "describe",
            "binary",
            label,
            reason="two values only: treated as a yes/no flag that describes",
        )
    integral = bool(np.all(np.mod(distinct, 1) == 0))
    if integral and len(distinct) <= 3 and distinct.min() >= 0 and distinct.max() <= 9:
        return ColumnSpec(
            name,
            "describe",
            "categorical",
            label,
            reason=f"{len(distinct)} whole-number codes: treated as categories that describe",
        )
    if integral and len(distinct) <= 11 and distinct.min() >= 0 and distinct.max() <= 10:
        lo, hi = float(distinct.min()), float(distinct.max())
        return ColumnSpec(
            name,
            "segment",
            "ordinal",
            label,
            # The answers seen are not the scale: declare `scale` in the dictionary to
            # print "x / max" and to leave out answers outside it.
            reason=f"whole numbers from {lo:g} to {hi:g}: treated as a rating scale",
        )
    return ColumnSpec(name, "segment", "numeric", label, reason="numbers")


def _infer_text(
    name: str, label: str, non_null: pd.Series, n_unique: int, n_valid: int
) -> ColumnSpec:
    """A column that is not numbers: dates, categories or free text."""
    if _looks_like_dates(non_null):
        return ColumnSpec(
            name,
            "describe",
            "date",
            label,
            reason="dates: turned into days before the latest date (tenure); describes",
        )
    if n_unique <= MAX_CATEGORIES and n_unique <= max(2, 0.5 * n_valid):
        return ColumnSpec(
            name,
            "describe",
            "categorical",
            label,
            reason=f"text with {n_unique} distinct values: describes segments",
        )
    return ColumnSpec(
        name,
        "ignore",
        "text",
        label,
        reason=f"free text ({n_unique} distinct values): too many to profile",
    )


def resolve_dictionary(
    frame: pd.DataFrame,
    dictionary: DataDictionary | None = None,
    *,
    columns: tuple[str, ...] | None = None,
    id_column: str | None = None,
    units: dict[str, str] | None = None,
) -> DataDictionary:
    """Complete the dictionary against the table: one spec per column, overrides applied.
    `units` are signs the file wrote on every value of a column ('12,50 €'); a unit the
    dictionary declares wins."""
    present = list(frame.columns)
    notes: list[str] = []
    _check_requested(present, columns, id_column)
    specs = _declared_specs(frame, dictionary, units)
    specs, chosen_id = _choose_id(specs, present, dictionary, id_column, notes)
    if columns:
        specs = _apply_columns_option(specs, columns, chosen_id, notes)
    if dictionary is None and not columns and not any(s.role == "segment" for s in specs):
        specs = _categories_segment_when_no_numbers(specs)
    if dictionary is None:
        notes.extend(_inference_notes(specs, columns))
    base = dictionary or DataDictionary(
        title=None,
        source=None,
        synthetic=False,
        unit="customer",
        units="customers",
        id_column=None,
        columns=(),
        from_file=False,
    )
    return replace(
        base,
        id_column=chosen_id,
        columns=tuple(specs),
        notes=tuple(base.notes) + tuple(notes),
    )


def _check_requested(
    present: list[str], columns: tuple[str, ...] | None, id_column: str | None
) -> None:
    """Refuse a column named on the command line that the table does not have."""
    for requested, what in [
        ((id_column,) if id_column else (), "--id-column"),
        (columns or (), "--columns"),
    ]:
        missing = [c for c in requested if c not in present]
        if missing:
            raise InputError(
                f"{what}: column(s) not in the data: {', '.join(missing)} "
                f"(columns are: {_short_list(present)})"
            )


def _declared_specs(
    frame: pd.DataFrame, dictionary: DataDictionary | None, units: dict[str, str] | None
) -> list[ColumnSpec]:
    """One spec per column of the table, in its order: as declared (the data fills in a type
    left open), else as inferred; with a dictionary, a column it does not list is left out."""
    present = list(frame.columns)
    declared: dict[str, ColumnSpec] = {}
    if dictionary is not None:
        missing = [
            c.name for c in dictionary.columns if c.name not in present and c.role != "ignore"
        ]
        if missing:
            raise InputError(
                f"data dictionary names column(s) not in the data: {', '.join(missing)}"
            )
        declared = {c.name: c for c in dictionary.columns}
    specs: list[ColumnSpec] = []
    for name in present:
        inferred = infer_column(name, frame[name], len(frame))
        spec = declared.get(name)
        if spec is None:
            if dictionary is not None:
                spec = replace(inferred, role="ignore", reason="not listed in the data dictionary")
            else:
                spec = inferred
        elif not spec.type:
            spec = replace(spec, type=inferred.type if inferred.type != "id" else "numeric")
        if units and name in units and not spec.unit:
            spec = replace(spec, unit=units[name])
        specs.append(spec)
    return specs


def _choose_id(
    specs: list[ColumnSpec],
    present: list[str],
    dictionary: DataDictionary | None,
    id_column: str | None,
    notes: list[str],
) -> tuple[list[ColumnSpec], str | None]:
    """The specs with one id column, and its name (None when there is none); other id-like
    columns are left out. The option beats the dictionary beats inference."""
    chosen_id = id_column or (dictionary.id_column if dictionary else None)
    if chosen_id is None:
        # A column named like an id beats a customer number, which beats a bare row number.
        ids = sorted(
            (s for s in specs if s.role == "id"),
            key=lambda s: 0 if ID_NAME.search(s.name) else 1 if NUMBER_NAME.search(s.name) else 2,
        )
        chosen_id = ids[0].name if ids else None
        if ids:
            notes.append(f"'{chosen_id}' was recognised as the id column ({ids[0].reason}).")
    if chosen_id is None:
        return specs, None
    if chosen_id not in present:
        raise InputError(f"id column '{chosen_id}' is not in the data")
    specs = [
        replace(s, role="id", type="id", reason="the id column")
        if s.name == chosen_id
        else (
            replace(s, role="ignore", reason="another unique id-like column")
            if s.role == "id"
            else s
        )
        for s in specs
    ]
    return specs, chosen_id


def _apply_columns_option(
    specs: list[ColumnSpec], columns: tuple[str, ...], chosen_id: str | None, notes: list[str]
) -> list[ColumnSpec]:
    """--columns segments on exactly the columns it names; other numbers only describe."""
    specs = [
        replace(s, role="segment", reason="chosen with --columns")
        if s.name in columns
        else (
            replace(s, role="describe", reason="numbers; not chosen with --columns")
            if s.role == "segment"
            else s
        )
        for s in specs
    ]
    notes.append(f"Segmenting on the columns chosen with --columns: {', '.join(columns)}.")
    bad = [s.name for s in specs if s.name in columns and s.name == chosen_id]
    if bad:
        raise InputError(f"--columns: '{bad[0]}' is the id column and cannot segment")
    return specs


def _categories_segment_when_no_numbers(specs: list[ColumnSpec]) -> list[ColumnSpec]:
    """A table of categories only (e.g. service subscriptions): segment on the categories."""
    return [
        replace(
            s,
            role="segment",
            reason=s.reason.replace("describes", "segments")
            + " (no numeric columns, so categories segment)",
        )
        if s.role == "describe" and s.type in ("categorical", "binary")
        else s
        for s in specs
    ]


def _inference_notes(specs: list[ColumnSpec], columns: tuple[str, ...] | None) -> list[str]:
    """What inference chose, in words, for a run without a data dictionary."""
    notes: list[str] = []
    seg = [s.name for s in specs if s.role == "segment"]
    desc = [s.name for s in specs if s.role == "describe"]
    ign = [s.name for s in specs if s.role == "ignore"]
    if not columns:
        notes.append(
            "No data dictionary: numeric columns segment (" + (", ".join(seg) or "none") + ")."
        )
    if desc:
        notes.append("Describing segments by: " + ", ".join(desc) + ".")
    if ign:
        notes.append("Left out: " + ", ".join(ign) + " (see the column table for why).")
    return notes


def _short_list(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(str(n) for n in names[:limit])
    return shown + (f", … ({len(names)} in all)" if len(names) > limit else "")


def with_roles(
    dictionary: DataDictionary, changes: dict[str, tuple[str, str]], note: str | None = None
) -> DataDictionary:
    """The same dictionary with some columns given a new role and reason ({name: (role, why)})."""
    columns = tuple(
        replace(c, role=changes[c.name][0], reason=changes[c.name][1]) if c.name in changes else c
        for c in dictionary.columns
    )
    notes = dictionary.notes + ((note,) if note else ())
    return replace(dictionary, columns=columns, notes=notes)
