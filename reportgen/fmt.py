"""Number and text formatting shared by the naming and rendering stages (no pipeline logic)."""

from __future__ import annotations

import math
import re
import unicodedata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: the chart worker formats without pandas
    from reportgen.io.dictionary import ColumnSpec

PREFIX_UNITS = {"$", "€", "£", "EUR€"}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "|", "%")


def neutralise(value: Any) -> Any:
    """Prefix text that a spreadsheet would run as a formula with a single quote (OWASP)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def number(x: float | None, *, digits: int | None = None) -> str:
    """Readable number: thousands separators, fewer decimals for bigger numbers."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if digits is None:
        ax = abs(x)
        digits = 0 if ax >= 100 else 1 if ax >= 1 else 2
    text = f"{x:,.{digits}f}"
    return "0" if text in ("-0", "-0.0", "-0.00") and digits == 0 else text.replace("-", "−", 1)


def value(spec: ColumnSpec, x: float | None) -> str:
    """A value in the column's own terms: '6.1 / 7', '12,345 EUR', '$1,200'."""
    if spec.is_scale and spec.type == "ordinal":
        return f"{number(x, digits=1)} / {spec.scale_max:g}"
    if _is_year(spec, x):
        return f"{x:.0f}"  # "born 1967", not "1,967"
    if spec.unit in PREFIX_UNITS:
        return f"{spec.unit}{number(x)}"
    if spec.unit == "%":
        return f"{number(x)} %"
    if spec.unit:
        return f"{number(x)} {spec.unit}"
    return number(x)


# A column is a calendar year when its name says which year of what: "Year_Birth",
# "cohort_year", "DOB_year", "year_of_last_order", "YearJoined", or just "year". A name that only
# pairs "year" with a thing counted or paid ("donations_year", "kWh_year", "Points_year",
# "income_year") is an amount per year. Decided per column from the name, so every value of a
# column prints the same way.
_YEAR_EVENTS = re.compile(
    r"\b(?:birth|born|dob|yob|cohort|join|joined|joining|signup|sign|since|first|last|start|"
    r"started|end|ended|built|build|model|fiscal|fy|enrol|enroll|enrolled|enrolment|enrollment|"
    r"registration|registered|acquired|acquisition|graduation|graduated|order|purchase|of|"
    r"customer|client|member|membership|account|opened|open|created|creation|calendar|tax|"
    r"release|issue|issued|policy|contract|move|moved|dt|date|entry|hire|hired|founded|"
    r"established|onboarded|onboarding|churn|churned|cancel|cancelled)\b"
)
# ... unless an amount or rate word says otherwise: "Spend_per_year", "Spend_last_year",
# "Orders / year". Plural counts ("orders", "visits") are amounts; the singular names an event.
_AMOUNT_WORDS = re.compile(
    r"\b(?:per|each|every|spend|spent|spending|income|revenue|sales|amount|amounts|cost|costs|"
    r"price|value|paid|payment|payments|total|avg|average|mean|sum|count|number|num|no|visits|"
    r"orders|purchases|transactions|claims|calls|balance|premium|premiums|fee|fees|salary|"
    r"earnings|profit|budget|usd|eur|gbp|dollars|euros|ltv|clv|mnt|gross|net|margin|turnover|"
    r"volume|units|qty|quantity|times|days|hours|minutes|months|nights|trips|rate|km|miles)\b"
)


def is_year_column(spec: ColumnSpec) -> bool:
    """A calendar year ("Year_Birth", "cohort_year", "yob", "year_of_last_order"), not an
    amount that mentions years ("Spend_per_year", "donations_year", "spend_1yr")."""
    if spec.unit:
        return False
    for text in (spec.name, spec.label):
        words = re.sub(r"([a-z])([A-Z])", r"\1 \2", str(text))  # YearBirth -> Year Birth
        words = re.sub(r"[^a-z]+", " ", words.lower()).strip()
        if words in ("yob", "year", "yr") or (
            re.search(r"\b(?:year|yr)\b", words)
            and _YEAR_EVENTS.search(words)
            and not _AMOUNT_WORDS.search(words)
        ):
            return True
    return False


def _is_year(spec: ColumnSpec, x: float | None) -> bool:
    """Four-digit values of a year column print without a separator; a difference of 3.4 years
    keeps its decimal."""
    if x is None or math.isnan(x) or not 1000 <= abs(x) < 10_000:
        return False
    return is_year_column(spec)


def count(n: int, noun: str) -> str:
    """'1 feature', '12 features', '1,204 rows'."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def percent(share: float, digits: int = 0) -> str:
    return f"{100 * share:.{digits}f} %"


def signed_sd(z: float) -> str:
    return f"{'+' if z >= 0 else '−'}{abs(z):.1f} SD"


def lower_first(text: str) -> str:
    if len(text) > 1 and text[1].isupper():  # keep acronyms: "CLV" stays "CLV"
        return text
    return text[:1].lower() + text[1:]


def slug(text: str) -> str:
    """File-name-safe slug: 'Premium-savers' -> 'premium-savers'."""
    norm = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    out = re.sub(r"[^a-zA-Z0-9]+", "-", norm).strip("-").lower()
    return out[:60] or "segment"
