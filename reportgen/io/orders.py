"""Order logs: recognise a log of purchases and turn it into one row per customer.

A customer table has one row per customer. An order log has one line per purchase (or per item
of a purchase): a customer id that repeats, a date, and an amount or a quantity and a unit price.
`looks_like_order_log` and `infer_roles` recognise such a log from its column names and content,
`parse_dates` reads its dates, and `customer_features` reduces it to one row of features per
customer, with a ledger of every line it set aside and why.

Pure computation on an already-read DataFrame: no files, no other reportgen module. The output
depends only on the set of lines, never on their order: ids are sorted, amounts are summed as
exact integers, and every choice (date order, sample values) is made on sorted distinct values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from reportgen.errors import InputError

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
DateArray = npt.NDArray[np.datetime64]

ROLES: tuple[str, ...] = (
    "customer",
    "date",
    "order",
    "amount",
    "quantity",
    "unit_price",
    "product",
    "currency",
)
MAX_BAD_SHARE = 0.01  # up to 1 % unreadable dates or amounts are set aside; more is an error
REPEAT_RATIO = 0.9  # an order log's customer column has at most 0.9 distinct values per line
SAMPLE = 500  # distinct values looked at when judging what a column holds
NAT = np.datetime64("NaT", "ns")

# The customer features a marketer reads (brief appendix, assignments.csv), in that order.
REPORTED_FEATURES = (
    "recency_days",
    "orders",
    "net_spend",
    "avg_order_value",
    "tenure_days",
    "return_share",
    "distinct_products",
    "mean_days_between_orders",
)

FEATURE_DEFINITIONS: dict[str, str] = {
    "recency_days": "Days from the customer's last purchase day to the as-of day (0 = bought "
    "on the as-of day).",
    "orders": "Orders with a positive net amount: distinct order ids, or distinct purchase days "
    "when the log has no order column. Cancellation invoices and refunds are not orders; they "
    "are netted in net_spend and counted in return_orders.",
    "net_spend": "Sum of the customer's line amounts (quantity x unit price when there is no "
    "amount column), net of cancellations and returns.",
    "avg_order_value": "Net amount of the customer's orders with a positive net amount, divided "
    "by their number (orders). Empty when the customer has no such order.",
    "tenure_days": "Days from the customer's first purchase day to the as-of day.",
    "return_share": "Money returned or cancelled divided by gross spend (the sum of the "
    "customer's positive purchase lines). Can exceed 1 when goods bought before the log starts "
    "are returned; empty when gross spend is 0.",
    "distinct_products": "Distinct products on the customer's purchase lines (only when the log "
    "has a product column).",
    "mean_days_between_orders": "Mean gap between successive purchase days: (last - first "
    "purchase day) / (purchase days - 1). Empty for customers with one purchase day; the brief "
    "should show them as one-time buyers and leave them out of averages of this column.",
    "first_purchase": "First purchase day (a day with a positive net amount). For customers "
    "with no such day, their first day with any line.",
    "last_purchase": "Last purchase day, with the same fallback as first_purchase.",
    "repeat_days_frequency": "BG/NBD frequency: distinct purchase days minus 1.",
    "recency_weeks": "BG/NBD recency: weeks from the first to the last purchase day.",
    "T_weeks": "BG/NBD T: weeks from the first purchase day to the as-of day.",
    "repeat_mean_spend": "Gamma-Gamma monetary value: mean net spend per purchase day over the "
    "repeat days (the first purchase day excluded, as lifetimes does); 0 when there is no "
    "repeat day.",
    "gross_spend": "Sum of the customer's positive purchase lines, before returns.",
    "return_orders": "Orders (or days, without an order column) that hold a cancellation or "
    "return line.",
    "returns_only": "True when net_spend is 0 or less: returns cancel or exceed purchases, or "
    "the customer has no priced purchase. Kept in the table, flagged.",
}


# --------------------------------------------------------------------------- public types


@dataclass(frozen=True)
class OrderRoles:
    """Which column plays which part in an order log (column names; None when absent)."""

    customer: str
    date: str
    order: str | None = None
    amount: str | None = None
    quantity: str | None = None
    unit_price: str | None = None
    product: str | None = None
    currency: str | None = None


@dataclass(frozen=True)
class RoleInference:
    """The roles found in a log and, per role, a short sentence saying why."""

    roles: OrderRoles
    reasons: Mapping[str, str]


@dataclass(frozen=True)
class DateParse:
    """A column of dates as read: datetime64[ns] values (NaT where missing or unreadable)."""

    dates: pd.Series
    formats: tuple[str, ...]  # strptime-style formats found, most lines first
    unreadable: int  # non-blank values that are not dates (set aside)
    missing: int  # blank values
    example: str | None  # the first unreadable value, in sorted order
    note: str | None  # ambiguity, mixed formats, two-digit years


@dataclass(frozen=True)
class SetAside:
    """One line of the set-aside ledger: which lines (or customers) were handled how, and why."""

    reason: str
    lines: int
    action: str  # "dropped", "netted" or "kept, flagged"
    note: str
    customers: int = 0


@dataclass(frozen=True)
class OrderSummary:
    """One row per customer, the ledger of set-aside lines, and the log's totals."""

    features: pd.DataFrame  # indexed by customer id, sorted; columns as in FEATURE_DEFINITIONS
    roles: OrderRoles
    set_aside: tuple[SetAside, ...]
    lines_read: int
    lines_used: int  # lines in the money: purchases plus netted cancellations and returns
    customers: int
    orders: int
    gross_revenue: float
    returned_revenue: float
    net_revenue: float  # sum of the used lines' amounts, computed from the lines
    first_date: pd.Timestamp
    last_date: pd.Timestamp
    as_of: pd.Timestamp
    as_of_source: str
    orders_source: str
    currency: str | None
    date_formats: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def reconciliation_gap(self) -> float:
        """|sum of net_spend over customers - net revenue of the used lines| (0 up to rounding)."""
        return abs(float(self.features["net_spend"].sum()) - self.net_revenue)

    @property
    def reconciles(self) -> bool:
        """True when the customers' net spend adds up to the lines' net revenue to the cent."""
        return self.reconciliation_gap < 0.005


# --------------------------------------------------------------------------- column names

_ID = frozenset({"id", "no", "nr", "num", "number", "code", "key", "ref", "uid", "identifier"})
_CUSTOMER = frozenset(
    {"customer", "customers", "cust", "client", "member", "user", "buyer", "shopper", "account"}
    | {"acct", "patron", "subscriber", "consumer", "household", "contact"}
)
_PERSON = frozenset({"name", "email", "mail"})
_ORDER = frozenset(
    {"order", "invoice", "inv", "transaction", "txn", "trans", "receipt", "basket", "ticket"}
    | {"purchase", "bill", "checkout"}
)
_DATE_STRONG = frozenset({"date", "datetime", "timestamp"})
_DATE_WEAK = frozenset({"time", "ts", "dt", "day", "created", "placed", "when"})
_DATE_OTHER = frozenset(
    {"birth", "dob", "signup", "registration", "registered", "ship", "shipped", "delivery"}
    | {"due", "updated", "modified", "first", "last"}
)
_QTY = frozenset({"qty", "quantity", "quant"})
_QTY_WEAK = frozenset({"units", "count", "cnt", "pieces", "pcs", "items"})
_UNIT_PRICE = frozenset(
    {"unitprice", "priceeach", "itemprice", "unitcost", "priceperunit", "unitamount"}
    | {"unitvalue", "listprice", "saleprice", "sellingprice", "unitrate"}
)
_AMOUNT = frozenset(
    {"amount", "amt", "revenue", "sales", "total", "value", "spend", "spent", "turnover"}
    | {"subtotal", "net", "gross", "gmv", "monetary"}
)
_AMOUNT_WEAK = frozenset({"paid", "payment", "sum", "charge", "cost"})
_PRODUCT = frozenset({"product", "prod", "stock", "item", "article", "goods", "material", "sku"})
_PRODUCT_CODE = frozenset({"sku", "stockcode", "ean", "upc", "gtin", "asin", "isbn"})
_PRODUCT_TEXT = frozenset({"description", "desc", "name", "title"})
_CURRENCY = frozenset({"currency", "ccy", "cur", "curr"})
_TOKEN = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def _words(name: str) -> tuple[frozenset[str], str]:
    """A column name as lower-case words and as one joined word ("CustomerID" -> customer, id)."""
    tokens = [t.lower() for t in _TOKEN.findall(name)]
    return frozenset(tokens), "".join(tokens)


def _score_customer(words: frozenset[str], joined: str) -> int | None:
    if joined in {"email", "emailaddress", "mail"}:
        return 2  # shop exports often know customers only by e-mail address
    if not words & _CUSTOMER or not words <= _CUSTOMER | _ID | _PERSON:
        return None
    return 1 if words & _PERSON else 0


def _score_order(words: frozenset[str], joined: str) -> int | None:
    named = words & _ORDER or ("sale" in words and words & _ID)
    if not named or not words <= _ORDER | _ID | {"sale"}:
        return None
    return 0 if words & _ID else 1


def _score_date(words: frozenset[str], joined: str) -> int | None:
    if joined in {"createdat", "orderedat", "purchasedat", "placedat"}:
        return 1
    if not words & (_DATE_STRONG | _DATE_WEAK) or words & _ID:
        return None
    # A delivery or sign-up date is a date, but not the purchase date: the last choice.
    if words & _DATE_OTHER:
        return 2
    return 0 if words & _DATE_STRONG else 1


def _score_quantity(words: frozenset[str], joined: str) -> int | None:
    if words & (_AMOUNT | {"price"} | _ID) or joined in _UNIT_PRICE:
        return None
    if words & _QTY:
        return 0
    return 1 if words & _QTY_WEAK else None


def _score_unit_price(words: frozenset[str], joined: str) -> int | None:
    if joined in _UNIT_PRICE:
        return 0
    if "price" in words and not words & (_AMOUNT | _ID | {"line", "order"}):
        return 1
    return None


def _score_amount(words: frozenset[str], joined: str) -> int | None:
    if words & (_ID | _QTY | _QTY_WEAK) or joined in _UNIT_PRICE:
        return None
    if words & _AMOUNT:
        return 0
    return 1 if words & _AMOUNT_WEAK else None


def _score_product(words: frozenset[str], joined: str) -> int | None:
    if joined in _PRODUCT_CODE:
        return 0
    allowed = _PRODUCT | _ID | _PRODUCT_TEXT
    if words & _PRODUCT and words <= allowed:
        return 0 if words & _ID or "sku" in words else (2 if words & _PRODUCT_TEXT else 1)
    # A bare "Description" names the product only when there is no product code.
    return 3 if words and words <= {"description", "desc"} else None


def _score_currency(words: frozenset[str], joined: str) -> int | None:
    if words & _CURRENCY and words <= _CURRENCY | _ID | {"iso"}:
        return 0
    return None


_SCORERS: dict[str, Callable[[frozenset[str], str], int | None]] = {
    "customer": _score_customer,
    "date": _score_date,
    "order": _score_order,
    "quantity": _score_quantity,
    "unit_price": _score_unit_price,
    "amount": _score_amount,
    "product": _score_product,
    "currency": _score_currency,
}
_NAMED_LIKE = {
    "customer": "a customer id",
    "date": "a date",
    "order": "an order id",
    "quantity": "a quantity",
    "unit_price": "a unit price",
    "amount": "a line amount",
    "product": "a product",
    "currency": "a currency",
}


# --------------------------------------------------------------------------- role inference


@dataclass(frozen=True)
class _Inferred:
    """Roles as found (None where absent), with reasons and the customer column's counts."""

    columns: Mapping[str, str | None]
    reasons: Mapping[str, str]
    distinct: int
    filled: int


def _check_overrides(frame: pd.DataFrame, overrides: Mapping[str, str] | None) -> dict[str, str]:
    """Validate user-forced roles: known roles, existing columns, one role per column."""
    if not overrides:
        return {}
    forced: dict[str, str] = {}
    for role, column in overrides.items():
        if role not in ROLES:
            raise InputError(f"unknown role {role!r} in overrides; roles are {', '.join(ROLES)}")
        if column and column not in frame.columns:
            shown = ", ".join(map(str, list(frame.columns)[:8]))
            raise InputError(f"override {role}={column!r}: no such column (columns: {shown})")
        if column and column in forced.values():
            raise InputError(f"override {role}={column!r}: that column already has another role")
        forced[role] = column
    return forced


def _candidates(frame: pd.DataFrame, role: str, taken: set[str]) -> list[str]:
    """Columns named like the role, best name first (ties: leftmost column)."""
    scored = []
    for position, column in enumerate(frame.columns):
        if not isinstance(column, str) or column in taken:
            continue
        score = _SCORERS[role](*_words(column))
        if score is not None:
            scored.append((score, position, column))
    return [column for _, _, column in sorted(scored)]


def _pick(frame: pd.DataFrame, role: str, taken: set[str]) -> tuple[str | None, str]:
    """The best column for a role whose content fits, and why."""
    named = _candidates(frame, role, taken)
    if role == "date":
        return _pick_date(frame, named, taken)
    for column in named:
        if role in {"customer", "order", "product", "currency"}:
            if frame[column].notna().any():
                return column, f"named like {_NAMED_LIKE[role]}"
        # Half the distinct values suffice: the name is the evidence, the content check only
        # rejects text columns; a few bad values are then counted (or refused) when read.
        elif _numeric_share(frame[column]) >= 0.5:
            return column, f"named like {_NAMED_LIKE[role]} and numeric"
    return None, f"no column named like {_NAMED_LIKE[role]}"


def _pick_date(frame: pd.DataFrame, named: list[str], taken: set[str]) -> tuple[str | None, str]:
    """A date-named column that reads as dates; else any column that does; else the first name.

    A named column that mostly fails to read is still the date column when nothing else is:
    reading it then reports which values fail, which helps more than "no date column".
    """
    for column in named:
        share, formats = _date_share(frame[column])
        if share >= 0.5:
            return column, f"named like a date and reads as dates ({', '.join(formats)})"
    for column in frame.columns:
        if not isinstance(column, str) or column in taken or column in named:
            continue
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values) and not _is_datetime(values):
            continue  # numbers only count as dates (YYYYMMDD) when the column says so
        share, formats = _date_share(values)
        if share >= 0.99 and values.nunique() > 1:
            return column, f"holds dates ({', '.join(formats)}) though not named like one"
    if named:
        share, _ = _date_share(frame[named[0]])
        return named[0], f"named like a date, but only {share:.0%} of sampled values read as dates"
    return None, "no column holds dates"


def _fill(
    frame: pd.DataFrame,
    roles: Sequence[str],
    found: dict[str, str | None],
    reasons: dict[str, str],
    taken: set[str],
) -> None:
    """Pick each role not forced yet, in order; a picked column is taken for later roles."""
    for role in roles:
        if role not in found:
            column, reasons[role] = _pick(frame, role, taken)
            found[role] = column
            if column is not None:
                taken.add(column)


def _pick_money(
    frame: pd.DataFrame, found: dict[str, str | None], reasons: dict[str, str], taken: set[str]
) -> None:
    """Quantity, unit price and amount, where "price" means a unit price only beside a quantity."""
    _fill(frame, ("quantity", "unit_price", "amount"), found, reasons, taken)
    if found["amount"] is None and found["quantity"] is None and found["unit_price"]:
        price = found["unit_price"]
        found["amount"], found["unit_price"] = price, None
        reasons["amount"] = f"named like a price and no quantity column, so {price} is the amount"
        reasons["unit_price"] = "no unit price column"
    elif found["amount"] is None and found["quantity"] and found["unit_price"]:
        reasons["amount"] = (
            f"no amount column: amount = {found['quantity']} x {found['unit_price']}"
        )


def _customer_counts(frame: pd.DataFrame, column: str | None) -> tuple[int, int]:
    """(distinct ids, lines with an id) of the customer column."""
    if column is None:
        return 0, 0
    values = frame[column]
    return int(values.nunique(dropna=True)), int(values.notna().sum())


def _infer(frame: pd.DataFrame, overrides: Mapping[str, str] | None) -> _Inferred:
    """Find each role by name, then content; forced roles first. Never raises for a missing role."""
    forced = _check_overrides(frame, overrides)
    found: dict[str, str | None] = {role: column or None for role, column in forced.items()}
    reasons = {role: "set by override" for role in forced}
    taken = {column for column in forced.values() if column}
    _fill(frame, ("date", "customer", "order"), found, reasons, taken)
    _pick_money(frame, found, reasons, taken)
    _fill(frame, ("product", "currency"), found, reasons, taken)
    distinct, filled = _customer_counts(frame, found["customer"])
    if found["customer"] is not None:
        repeats = "repeats" if distinct <= REPEAT_RATIO * filled else "does not repeat"
        reasons["customer"] += f" and {repeats}: {distinct:,} distinct values in {filled:,} lines"
    if found["order"] is None:
        reasons["order"] += ": orders are counted as distinct purchase days"
    if found["product"] is None:
        reasons["product"] += ": distinct_products is left out"
    return _Inferred(found, reasons, distinct, filled)


def infer_roles(frame: pd.DataFrame, overrides: Mapping[str, str] | None = None) -> RoleInference:
    """Which column is the customer, date, order, amount, ... of an order log, and why.

    Roles are found from column names (case, underscores and spaces ignored: CustomerID,
    customer_id, cust, client, user_id; InvoiceNo, order_id; InvoiceDate, order_date; amount,
    revenue, total; qty; UnitPrice; StockCode, sku; currency, ccy) and checked on content (a date
    column reads as dates, amounts are numbers). ``overrides`` maps a role to a column and wins;
    an empty string forces a role absent. InputError when an override names no column, or when
    the log has no customer column, no date column, or neither an amount nor a quantity and a
    unit price.
    """
    found = _infer(frame, overrides)
    cols, why = found.columns, found.reasons
    if cols["customer"] is None:
        raise InputError(
            "no customer column: none is named like a customer id (customer_id, CustomerID, "
            "client, user_id...); name it with the roles setting (--roles customer=COLUMN)"
        )
    if cols["date"] is None:
        raise InputError(
            f"no date column: {why['date']}; name it with the roles setting (--roles date=COLUMN)"
        )
    if cols["amount"] is None and not (cols["quantity"] and cols["unit_price"]):
        raise InputError(
            "no amount column, nor a quantity and a unit price: nothing says what was spent"
        )
    roles = OrderRoles(
        customer=cols["customer"],
        date=cols["date"],
        order=cols["order"],
        amount=cols["amount"],
        quantity=cols["quantity"],
        unit_price=cols["unit_price"],
        product=cols["product"],
        currency=cols["currency"],
    )
    return RoleInference(roles, {role: why[role] for role in ROLES})


def looks_like_order_log(
    frame: pd.DataFrame, overrides: Mapping[str, str] | None = None
) -> tuple[bool, str]:
    """Whether the table is an order log (many lines per customer) rather than a customer table.

    True needs a customer-like column that repeats (at most 0.9 distinct values per line), a date
    column and an amount (or a quantity and a unit price). The reason says what was found or
    what is missing.
    """
    if frame.empty:
        return False, "not an order log: the table has no rows"
    found = _infer(frame, overrides)
    cols = found.columns
    customer, day = cols["customer"], cols["date"]
    if customer is None:
        return False, "not an order log: no column is named like a customer id"
    counts = f"{found.distinct:,} distinct values in {found.filled:,} rows"
    if found.distinct > REPEAT_RATIO * found.filled:
        return False, f"not an order log: {customer} does not repeat ({counts}): one row per id"
    if day is None:
        return False, f"not an order log: {customer} repeats ({counts}) but no column holds dates"
    if cols["amount"]:
        money = f"{cols['amount']} is the amount"
    elif cols["quantity"] and cols["unit_price"]:
        money = f"amount = {cols['quantity']} x {cols['unit_price']}"
    else:
        return False, "not an order log: no amount column, nor a quantity and a unit price"
    return True, f"an order log: {customer} repeats ({counts}), {day} holds dates, {money}"


# --------------------------------------------------------------------------- content probes


def _is_datetime(values: pd.Series) -> bool:
    return bool(pd.api.types.is_datetime64_any_dtype(values))


def _sample(values: pd.Series) -> pd.Series:
    """Up to SAMPLE distinct non-blank values as text, evenly spread over their sorted order.

    Sorted distinct values rather than the first rows, so a shuffled log is judged the same.
    """
    distinct = pd.Series(values.dropna().unique()).astype(str).str.strip()
    distinct = distinct[distinct != ""].sort_values(ignore_index=True)
    if len(distinct) > SAMPLE:
        distinct = distinct.iloc[np.linspace(0, len(distinct) - 1, SAMPLE).astype(np.int64)]
    return distinct.astype(object).reset_index(drop=True)


def _date_share(values: pd.Series) -> tuple[float, tuple[str, ...]]:
    """Share of sampled distinct values that read as dates, and the formats seen."""
    if _is_datetime(values):
        return 1.0, ("datetime",)
    if pd.api.types.is_bool_dtype(values):
        return 0.0, ()
    if pd.api.types.is_numeric_dtype(values):
        numbers = pd.Series(values.dropna().unique()).sort_values().to_numpy(np.float64)
        read = _read_numbers(numbers[:: max(1, len(numbers) // SAMPLE)])
    else:
        sample = _sample(values)
        try:
            read = _read_texts(sample, np.ones(len(sample), np.int64), "sample", None)
        except InputError:  # dates whose order cannot be told apart are still dates
            return 1.0, ("ambiguous day and month order",)
    if len(read.values) == 0:
        return 0.0, ()
    return float(np.mean(~np.isnat(read.values))), read.formats


def _numeric_share(values: pd.Series) -> float:
    """Share of sampled distinct values that are numbers."""
    if pd.api.types.is_bool_dtype(values) or _is_datetime(values):
        return 0.0
    if pd.api.types.is_numeric_dtype(values):
        return 1.0
    sample = _sample(values)
    if sample.empty:
        return 0.0
    return float(np.mean(~np.isnan(_text_numbers(sample))))


# --------------------------------------------------------------------------- dates

_TIME = (
    r"(?:[T ]+(?P<H>\d{1,2}):(?P<N>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<F>\d{1,9}))?)?"
    r"\s*(?P<P>[AaPp]\.?[Mm]\.?)?)?\s*(?P<Z>Z|[+-]\d{2}:?\d{2}|UTC|GMT)?$"
)
_FAMILIES: tuple[tuple[str, str], ...] = (
    ("ymd", r"^(?P<Y>\d{4})(?P<sep>[-/.])(?P<M>\d{1,2})(?P=sep)(?P<D>\d{1,2})" + _TIME),
    ("compact", r"^(?P<Y>\d{4})(?P<M>\d{2})(?P<D>\d{2})(?:\.0+)?$"),
    ("ab", r"^(?P<A>\d{1,2})(?P<sep>[-/.])(?P<B>\d{1,2})(?P=sep)(?P<Y>\d{4}|\d{2})" + _TIME),
    (
        "d_mon",
        r"^(?P<D>\d{1,2})(?:st|nd|rd|th)?[ -](?P<Mon>[A-Za-z]{3,9})\.?[ ,-]+(?P<Y>\d{4}|\d{2})"
        + _TIME,
    ),
    (
        "mon_d",
        r"^(?P<Mon>[A-Za-z]{3,9})\.?[ -](?P<D>\d{1,2})(?:st|nd|rd|th)?,?[ ,-]+(?P<Y>\d{4})" + _TIME,
    ),
    ("epoch", r"^(?P<E>\d{10}|\d{13})(?:\.0+)?$"),
)
_MONTHS = {
    name: number
    for number, full in enumerate(
        ["january", "february", "march", "april", "may", "june", "july", "august"]
        + ["september", "october", "november", "december"],
        start=1,
    )
    for name in {full, full[:3], full[:4]}
}
_PIVOT_NOTE = "two-digit years read as 1969-2068 (00-68 as 20xx, 69-99 as 19xx, as Python's %y)"


@dataclass(frozen=True)
class _Read:
    """Dates read from distinct values: one datetime64[ns] per value, NaT when unreadable."""

    values: DateArray
    formats: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Group:
    """Distinct values of one date shape: their positions, texts and regex parts."""

    family: str
    rows: IntArray
    texts: npt.NDArray[np.object_]
    parts: pd.DataFrame


@dataclass(frozen=True)
class _GroupRead:
    """One group read: values, strptime-style date and time formats, and a note."""

    values: DateArray
    date_formats: npt.NDArray[np.object_]
    time_formats: npt.NDArray[np.object_]
    note: str | None = None


def _ints(parts: pd.DataFrame, name: str) -> IntArray:
    """A regex group as integers (0 where the optional group is absent)."""
    if name not in parts:
        return np.zeros(len(parts), np.int64)
    return pd.to_numeric(parts[name], errors="coerce").fillna(0).to_numpy(np.int64)


def _has(parts: pd.DataFrame, name: str) -> BoolArray:
    """Where an optional regex group matched."""
    if name not in parts:
        return np.zeros(len(parts), np.bool_)
    return parts[name].notna().to_numpy(np.bool_)


def _full_year(year: IntArray) -> IntArray:
    """Two-digit years pivot like Python's %y: 00-68 -> 2000s, 69-99 -> 1900s."""
    return np.where(year < 69, year + 2000, np.where(year < 100, year + 1900, year))


def _clock(parts: pd.DataFrame) -> tuple[npt.NDArray[np.timedelta64], BoolArray]:
    """Time of day from the H/N/S/F/P groups, and which values hold a possible time."""
    hour, minute, second = _ints(parts, "H"), _ints(parts, "N"), _ints(parts, "S")
    nanos = np.zeros(len(parts), np.int64)
    if "F" in parts:
        digits = parts["F"].fillna("0").astype(str).str.ljust(9, "0").str[:9]
        nanos = pd.to_numeric(digits).to_numpy(np.int64)
    valid = (minute < 60) & (second < 60)
    if "P" in parts:
        pm = parts["P"].fillna("").astype(str).str.lower().str.startswith("p").to_numpy(np.bool_)
        twelve = _has(parts, "P")
        valid &= ~twelve | ((hour >= 1) & (hour <= 12))
        hour = np.where(twelve, hour % 12 + np.where(pm, 12, 0), hour)
    valid &= hour < 24
    total = ((hour * 60 + minute) * 60 + second) * 1_000_000_000 + nanos
    return total.astype("timedelta64[ns]"), valid


def _assemble(year: IntArray, month: IntArray, day: IntArray, parts: pd.DataFrame) -> DateArray:
    """datetime64[ns] from parts; NaT for impossible dates (31/02) or clock times (25:00)."""
    calendar = pd.DataFrame({"year": _full_year(year), "month": month, "day": day})
    possible = calendar["month"].between(1, 12) & calendar["day"].between(1, 31)
    days = pd.to_datetime(calendar.where(possible), errors="coerce")
    clock, valid = _clock(parts)
    stamps = days.to_numpy().astype("datetime64[ns]") + clock
    return np.where(valid, stamps, NAT)


def _time_formats(parts: pd.DataFrame) -> npt.NDArray[np.object_]:
    """The strptime-style time part of each value: "", " %H:%M:%S", " %I:%M %p", ..."""
    twelve = _has(parts, "P")
    out = np.where(_has(parts, "H"), np.where(twelve, " %I:%M", " %H:%M"), "").astype(object)
    for group, code in (("S", ":%S"), ("F", ".%f"), ("P", " %p"), ("Z", "%z")):
        out = out + np.where(_has(parts, group), code, "").astype(object)
    return out


def _year_formats(parts: pd.DataFrame) -> npt.NDArray[np.object_]:
    """%y for two-digit years, %Y for four."""
    short = parts["Y"].astype(str).str.len().to_numpy() == 2
    return np.where(short, "%y", "%Y").astype(object)


def _classify(texts: pd.Series) -> list[_Group]:
    """Split distinct non-blank values by date shape (ISO, YYYYMMDD, D/M or M/D, month names)."""
    left = (texts != "").to_numpy(np.bool_, copy=True)  # written to below
    groups: list[_Group] = []
    for family, pattern in _FAMILIES:
        if not left.any():
            break
        rows = np.flatnonzero(left)
        parts = texts.iloc[rows].str.extract(pattern).reset_index(drop=True)
        hit = parts.iloc[:, 0].notna().to_numpy(np.bool_)
        # Day-month order is decided per separator: 01/02/2011 and 01.02.2011 may differ.
        keys = parts["sep"].fillna("") if family == "ab" else pd.Series([""] * len(parts))
        for key in sorted(set(keys[hit])):
            chosen = hit & (keys == key).to_numpy(np.bool_)
            texts_of = texts.iloc[rows[chosen]].to_numpy(dtype=object)
            parts_of = parts[chosen].reset_index(drop=True)
            groups.append(_Group(family + key, rows[chosen], texts_of, parts_of))
        left[rows[hit]] = False
    return groups


def _read_epoch(parts: pd.DataFrame, times: npt.NDArray[np.object_]) -> _GroupRead:
    """Unix times written as 10 digits (seconds) or 13 (milliseconds)."""
    numbers = pd.to_numeric(parts["E"]).to_numpy(np.int64)
    millis = np.where(numbers >= 10**12, numbers, numbers * 1000)
    values = millis.astype("datetime64[ms]").astype("datetime64[ns]")
    labels = np.where(numbers >= 10**12, "unix milliseconds", "unix seconds").astype(object)
    return _GroupRead(values, labels, times, "numbers read as Unix times (UTC)")


def _read_simple(group: _Group) -> _GroupRead:
    """An unambiguous shape: year first, YYYYMMDD, month names, Unix times."""
    parts, family = group.parts, group.family
    times = _time_formats(parts)
    if family == "epoch":
        return _read_epoch(parts, times)
    labels: npt.NDArray[np.object_]
    if family in {"d_mon", "mon_d"}:
        words = parts["Mon"].astype(str).str.lower().str.rstrip(".")
        month: IntArray = np.asarray(words.map(_MONTHS).fillna(0), dtype=np.int64)
        prefix = "%d %b " if family == "d_mon" else "%b %d, "
        labels = prefix + _year_formats(parts)
    else:
        month = _ints(parts, "M")
        sep = parts["sep"] if "sep" in parts else pd.Series([""] * len(parts))  # YYYYMMDD: none
        labels = ("%Y" + sep.fillna("") + "%m" + sep.fillna("") + "%d").to_numpy(dtype=object)
    values = _assemble(_ints(parts, "Y"), month, _ints(parts, "D"), parts)
    return _GroupRead(values, np.asarray(labels, dtype=object), times)


def _first(group: _Group, mask: BoolArray) -> str:
    """The first value (in sorted order) where mask holds, for messages."""
    return str(min(group.texts[mask]))


def _day_first(group: _Group, name: str, mixed: bool) -> tuple[BoolArray, str | None]:
    """Whether each D/M-or-M/D value is day first, and a note (InputError if it cannot tell).

    A first field above 12 can only be a day, and so can a second one: the values decide. If
    none decides, '/' is read month first (the US habit, pandas' default) and '.' or '-' day
    first (the European habit), with a note. A column mixing both orders, or mixing this shape
    with another, is read value by value only when no value could be either.
    """
    a, b, sep = _ints(group.parts, "A"), _ints(group.parts, "B"), group.family[2:]
    a_day, b_day = bool((a > 12).any()), bool((b > 12).any())
    either = (a <= 12) & (b <= 12) & (a != b)
    if a_day and b_day and either.any():
        raise InputError(
            f"column {name} mixes day-first and month-first dates, and values such as "
            f"{_first(group, either)!r} could be either; "
            "give the date_format setting (--date-format)"
        )
    if a_day and b_day:
        orders = f"D{sep}M{sep}Y and M{sep}D{sep}Y"
        return a > 12, f"{name} mixes {orders} dates; each is read by the order its fields allow"
    if a_day or b_day or not either.any():
        return np.full(len(a), a_day or (not b_day and sep != "/")), None
    if mixed:
        raise InputError(
            f"column {name} mixes date formats and its ..{sep}..{sep}Y dates never show a day "
            f"above 12 (e.g. {_first(group, either)!r}); "
            "give the date_format setting (--date-format)"
        )
    reading = "M/D/Y, month first" if sep == "/" else f"D{sep}M{sep}Y, day first"
    other = "%d/%m/%Y" if sep == "/" else f"%m{sep}%d{sep}%Y"
    note = f"ambiguous: no day above 12 in {name}; read as {reading}; use --date-format {other}"
    return np.full(len(a), sep != "/"), note + " to override"


def _read_ab(group: _Group, name: str, mixed: bool) -> _GroupRead:
    """A D/M/Y-or-M/D/Y shape, in the order the values allow."""
    first, note = _day_first(group, name, mixed)
    parts, sep = group.parts, group.family[2:]
    a, b = _ints(parts, "A"), _ints(parts, "B")
    values = _assemble(_ints(parts, "Y"), np.where(first, b, a), np.where(first, a, b), parts)
    order = np.where(first, f"%d{sep}%m{sep}", f"%m{sep}%d{sep}").astype(object)
    return _GroupRead(values, order + _year_formats(parts), _time_formats(parts), note)


def _read_texts(texts: pd.Series, lines: IntArray, name: str, date_format: str | None) -> _Read:
    """Dates from distinct stripped texts ("" = blank); `lines` weighs each value for notes."""
    if date_format is not None:
        return _read_with_format(texts, date_format)
    values = np.full(len(texts), NAT)
    date_formats = np.full(len(texts), "", dtype=object)
    time_formats = np.full(len(texts), "", dtype=object)
    groups = _classify(texts)
    mixed = len(groups) > 1
    notes: list[str] = []
    for group in groups:
        read = (
            _read_ab(group, name, mixed) if group.family.startswith("ab") else _read_simple(group)
        )
        values[group.rows] = read.values
        date_formats[group.rows], time_formats[group.rows] = read.date_formats, read.time_formats
        if read.note and read.note not in notes:
            notes.append(read.note)
    ok = ~np.isnat(values)
    weights = pd.Series(lines[ok]).groupby(date_formats[ok]).sum().sort_index()
    weights = weights.sort_values(ascending=False, kind="stable")
    if len(weights) > 1:
        shown = ", ".join(f"{fmt} ({count:,} lines)" for fmt, count in weights.items())
        notes.append(f"{name} mixes date formats: {shown}; each value is read by its own format")
    if any("%y" in str(fmt) for fmt in weights.index):
        notes.append(_PIVOT_NOTE)
    if any(_has(group.parts, "Z").any() for group in groups):
        notes.append("time-zone offsets ignored: the local clock times are kept")
    full = pd.Series(lines[ok]).groupby(date_formats[ok] + time_formats[ok]).sum()
    formats = tuple(
        str(f) for f in full.sort_index().sort_values(ascending=False, kind="stable").index
    )
    return _Read(values, formats, tuple(notes))


def _read_with_format(texts: pd.Series, date_format: str) -> _Read:
    """Dates in one given strptime format; values in any other shape are unreadable."""
    read = pd.to_datetime(texts.where(texts != ""), format=date_format, errors="coerce")
    values = read.to_numpy().astype("datetime64[ns]")
    return _Read(values, (date_format,), (_PIVOT_NOTE,) if "%y" in date_format else ())


def _read_numbers(numbers: FloatArray) -> _Read:
    """Dates from numbers: YYYYMMDD (19000101-21001231), or Unix seconds or milliseconds."""
    whole = np.isfinite(numbers) & (numbers == np.floor(numbers))
    value = np.where(whole, numbers, 0).astype(np.int64)
    compact = whole & (value >= 19000101) & (value <= 21001231)
    seconds = whole & (value >= 10**9) & (value < 10**10)
    millis = whole & (value >= 10**12) & (value < 10**13)
    empty = pd.DataFrame(index=range(len(numbers)))
    out = _assemble(value // 10000, value // 100 % 100, value % 100, empty)
    out = np.where(compact, out, NAT)
    epoch = np.where(seconds, value * 1000, value).astype("datetime64[ms]").astype("datetime64[ns]")
    out = np.where(seconds | millis, epoch, out)
    found = [("%Y%m%d", compact), ("unix seconds", seconds), ("unix milliseconds", millis)]
    formats = tuple(label for label, mask in found if mask.any())
    notes = ("numbers read as Unix times (UTC)",) if (seconds | millis).any() else ()
    return _Read(out, formats, notes)


def _number_texts(values: pd.Index) -> pd.Series:
    """Numbers as texts: whole numbers without ".0" (20101201, not 20101201.0)."""
    numbers = np.asarray(values, dtype=np.float64)
    whole = np.isfinite(numbers) & (numbers == np.floor(numbers))
    texts = [str(int(x)) if w else str(x) for x, w in zip(numbers, whole, strict=True)]
    return pd.Series(texts, dtype=object)


def parse_dates(
    values: pd.Series | Sequence[Any], date_format: str | None = None, *, strict: bool = True
) -> DateParse:
    """Read a column of dates, working out the format from the values.

    Reads ISO (2011-12-09, with or without a time, 'T', fractions, offsets: offsets are ignored
    and local clock times kept), YYYY/MM/DD, YYYYMMDD as numbers or text, D/M/Y or M/D/Y with
    '/', '.' or '-' and two- or four-digit years, '9 Dec 2011', 'Dec 9, 2011', 12-hour clocks,
    Unix seconds or milliseconds, and datetime columns as they are. D/M versus M/D is decided by
    the values (a field above 12 is a day); when nothing decides, '/' is read month first and
    '.' or '-' day first, and `note` says so. A column mixing formats is read value by value,
    with a note, when each value is unambiguous; otherwise InputError. Two-digit years: 00-68
    are 20xx, 69-99 are 19xx. ``date_format`` (strptime codes) forces one format.

    Up to 1 % of the values may be blank or unreadable: they come back as NaT and are counted.
    More is an InputError naming the column and an example value, unless not `strict` (a
    customer table's date column, whose blanks the preparation's policy handles).
    """
    series = values if isinstance(values, pd.Series) else pd.Series(list(values))
    name = str(series.name) if series.name is not None else "dates"
    if _is_datetime(series):
        return _datetime_parse(series, name)
    codes, uniques = pd.factorize(series)
    lines = np.bincount(codes[codes >= 0], minlength=len(uniques)).astype(np.int64)
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if numeric and date_format is None:
        texts = _number_texts(pd.Index(uniques))
        read = _read_numbers(np.asarray(uniques, dtype=np.float64))
    else:
        texts = _number_texts(pd.Index(uniques)) if numeric else _strip(pd.Index(uniques))
        read = _read_texts(texts, lines, name, date_format)
    table = np.append(read.values, NAT)  # code -1 (missing) picks the NaT at the end
    dates = pd.Series(table[codes], index=series.index, name=series.name)
    blank = (texts == "").to_numpy(np.bool_)
    bad = np.isnat(read.values) & ~blank
    missing = int((codes < 0).sum() + lines[blank].sum())
    unreadable = int(lines[bad].sum())
    example = str(min(texts[bad])) if bad.any() else None
    what = "dates" if date_format is None else f"dates in {date_format}"
    if strict:
        _check_readable(name, len(series), missing, unreadable, example, what)
    return DateParse(
        dates, read.formats, unreadable, missing, example, "; ".join(read.notes) or None
    )


def _datetime_parse(series: pd.Series, name: str) -> DateParse:
    """A datetime column as it is; time zones dropped, keeping local clock times."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_localize(None)
    dates = series.astype("datetime64[ns]")
    missing = int(dates.isna().sum())
    _check_readable(name, len(series), missing, 0, None, "dates")
    return DateParse(dates, ("datetime",), 0, missing, None, None)


def _strip(values: pd.Index) -> pd.Series:
    """Distinct values as stripped texts (object dtype, so any regex feature works)."""
    return pd.Series(np.asarray(values, dtype=object)).astype(str).str.strip().astype(object)


def _check_readable(
    name: str, total: int, missing: int, unreadable: int, example: str | None, what: str
) -> None:
    """Up to MAX_BAD_SHARE blank or unreadable values are set aside; more is an InputError.

    `what` ends with the advice: "dates", "dates in %d/%m/%Y", "amounts".
    """
    bad = missing + unreadable
    if total and bad <= MAX_BAD_SHARE * total:
        return
    shown = f", e.g. {example!r}" if example is not None else ""
    if what == "dates":
        advice = "fix them or give the date_format setting (--date-format)"
    elif what.startswith("dates in "):
        advice, what = f"they do not match the date format {what[9:]!r}", "dates"
    else:
        advice = "fix them"
    if total == 0 or bad == total:
        raise InputError(f"column {name} holds no {what}{shown}; {advice}")
    share = f"{bad:,} of {total:,} {what} ({bad / total:.1%})"
    raise InputError(f"column {name}: {share} are blank or cannot be read{shown}; {advice}")


# --------------------------------------------------------------------------- numbers and ids

# Currency signs and spaces, and thousands separators (a comma before exactly three digits).
_NUMBER_JUNK = re.compile(r"[\s$€£¥]|(?<=\d),(?=\d{3}(?:\D|$))")
_WHOLE = re.compile(r"[+-]?(?:0|[1-9]\d{0,17})(?:\.0*)?")


def _text_numbers(texts: pd.Series) -> FloatArray:
    """Numbers from texts ("1,234.50", "£12", " 3 "); NaN where a value is not a number."""
    cleaned = texts.astype(str).str.replace(_NUMBER_JUNK, "", regex=True)
    return pd.to_numeric(cleaned, errors="coerce").to_numpy(np.float64)


@dataclass(frozen=True)
class _Numbers:
    """A numeric column: one float per line (NaN when blank or not a number)."""

    values: FloatArray
    example: str | None  # the first value that is not a number, in sorted order


def _numbers(series: pd.Series) -> _Numbers:
    """A column as numbers; text columns are converted once per distinct value."""
    if pd.api.types.is_bool_dtype(series) or _is_datetime(series):
        raise InputError(f"column {series.name} holds no numbers")
    if pd.api.types.is_numeric_dtype(series):
        return _Numbers(series.to_numpy(dtype=np.float64, na_value=np.nan), None)
    codes, uniques = pd.factorize(series)
    texts = _strip(pd.Index(uniques))
    numbers = _text_numbers(texts)
    bad = np.isnan(numbers) & (texts != "").to_numpy(np.bool_)
    example = str(min(texts[bad])) if bad.any() else None
    return _Numbers(np.append(numbers, np.nan)[codes], example)


def _dense_codes(values: IntArray) -> tuple[IntArray, IntArray]:
    """Codes of integers in sorted order of value, and the sorted distinct values.

    Ids in a narrow range (customer numbers, invoice numbers) are ranked by direct addressing,
    which is several times faster than hashing; wide ranges are hashed, then sorted.
    """
    if len(values) == 0:
        return values.copy(), values.copy()
    low, high = int(values.min()), int(values.max())
    if high - low <= max(2 * len(values), 1 << 20):
        shifted = values - low
        seen = np.zeros(high - low + 1, np.bool_)
        seen[shifted] = True
        rank = np.cumsum(seen, dtype=np.int64) - 1
        return rank[shifted], np.flatnonzero(seen).astype(np.int64) + low
    codes, uniques = pd.factorize(values)
    order = np.argsort(uniques, kind="stable")
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return rank[codes], np.asarray(uniques, dtype=np.int64)[order]


def _normal_ids(uniques: pd.Index) -> tuple[npt.NDArray[Any], BoolArray]:
    """Distinct raw ids as int64 when every one is a whole number, else as texts; and which
    are usable (not blank). 17850.0 becomes 17850; '00123' stays text, keeping its zeros."""
    if pd.api.types.is_numeric_dtype(uniques) and not pd.api.types.is_bool_dtype(uniques):
        numbers = np.asarray(uniques, dtype=np.float64)
        usable = np.isfinite(numbers)
        whole = usable & (numbers == np.floor(numbers)) & (np.abs(numbers) < 2**53)
        if whole[usable].all():
            return np.where(usable, numbers, 0).astype(np.int64), usable
        return _number_texts(uniques).to_numpy(dtype=object), usable
    texts = _strip(uniques)
    usable = (texts != "").to_numpy(np.bool_)
    if texts[usable].map(lambda t: _WHOLE.fullmatch(t) is not None).all():
        numbers = pd.to_numeric(texts.where(usable, "0")).to_numpy(np.float64)
        return numbers.astype(np.int64), usable
    return texts.to_numpy(dtype=object), usable


def _customer_codes(series: pd.Series) -> tuple[IntArray, npt.NDArray[Any]]:
    """Per line, the rank of its customer id among the sorted distinct ids (-1: no id)."""
    if pd.api.types.is_integer_dtype(series) and not series.hasnans:
        return _dense_codes(series.to_numpy(np.int64))
    codes, uniques = pd.factorize(series)
    ids, usable = _normal_ids(pd.Index(uniques))
    # Two raw values can be one id (" 17850" and "17850"; 17850.0 and 17850), so re-factorize.
    ranks, distinct = pd.factorize(ids[usable], sort=True)
    remap = np.full(len(uniques) + 1, -1, np.int64)
    remap[np.flatnonzero(usable)] = ranks
    return remap[codes], np.asarray(distinct)


def _group_codes(series: pd.Series) -> tuple[IntArray, int, BoolArray | None]:
    """Arbitrary group codes (-1: blank), their number, and per line whether the value starts
    with 'C' (cancellation invoices; None for numeric columns, which cannot)."""
    if pd.api.types.is_integer_dtype(series) and not series.hasnans:
        dense, distinct_ints = _dense_codes(series.to_numpy(np.int64))
        return dense, len(distinct_ints), None
    raw, uniques = pd.factorize(series)
    codes: IntArray = raw.astype(np.int64)
    texts = _strip(pd.Index(uniques))
    usable = (texts != "").to_numpy(np.bool_)
    ranks, distinct = pd.factorize(texts[usable])
    remap = np.full(len(uniques) + 1, -1, np.int64)
    remap[np.flatnonzero(usable)] = ranks
    if pd.api.types.is_numeric_dtype(series):
        return remap[codes], len(distinct), None
    cancel = np.append(texts.str.upper().str.startswith("C").to_numpy(np.bool_), False)
    return remap[codes], len(distinct), cancel[codes]


# --------------------------------------------------------------------------- lines


@dataclass(frozen=True)
class _Selected:
    """Lines with a customer id, in the chosen currency."""

    positions: IntArray | None  # row positions in the frame; None: every line
    customer: IntArray  # codes into ids
    ids: npt.NDArray[Any]  # sorted distinct customer ids (int64 or text)
    currency: str | None
    ledger: tuple[SetAside, ...]
    n_lines: int  # lines in the log


@dataclass(frozen=True)
class _Lines:
    """Dated lines with readable amounts; money is int64 in 1/scale currency units."""

    customer: IntArray
    day: IntArray  # days since 1970-01-01
    order: IntArray | None  # order codes (None: no order column, orders are purchase days)
    n_orders: int
    product: IntArray | None
    n_products: int
    amount: IntArray  # signed: cancellations and returns negative; 0 on set-aside lines
    money: BoolArray  # the line counts in spend (False: zero or negative price)
    returned: BoolArray  # a cancellation or return (netted)
    scale: int
    last_day: int  # the log's last date, over every line
    ledger: tuple[SetAside, ...]
    date_formats: tuple[str, ...]
    notes: tuple[str, ...]


def _take(lines: _Lines, keep: BoolArray) -> _Lines:
    """The lines where keep holds."""
    if keep.all():
        return lines
    return replace(
        lines,
        customer=lines.customer[keep],
        day=lines.day[keep],
        order=None if lines.order is None else lines.order[keep],
        product=None if lines.product is None else lines.product[keep],
        amount=lines.amount[keep],
        money=lines.money[keep],
        returned=lines.returned[keep],
    )


def _currency_mask(
    frame: pd.DataFrame, column: str | None, keep: BoolArray, currency: str | None
) -> tuple[BoolArray, str | None, int, str]:
    """Lines in one currency: (mask, currency, lines of other currencies, ledger note)."""
    wanted = currency.strip().upper() if currency else None
    if column is None:
        note = f"no currency column: amounts taken as {wanted}" if wanted else "no currency column"
        return keep, wanted, 0, note
    codes, uniques = pd.factorize(frame[column])
    names = _strip(pd.Index(uniques)).str.upper().to_numpy(dtype=object)
    # Which currencies the kept lines use: a count per distinct value, not a sort of the lines.
    used = np.bincount(codes[keep & (codes >= 0)], minlength=len(names)) > 0
    seen = sorted({str(name) for name in names[used] if name})
    if wanted is None:
        if len(seen) > 1:
            raise InputError(
                f"the log mixes currencies ({', '.join(seen)}): choose one with the currency "
                "setting (--currency)"
            )
        return keep, seen[0] if seen else None, 0, f"one currency ({', '.join(seen) or 'none'})"
    if wanted not in seen:
        raise InputError(f"currency {currency!r} is not in the log ({', '.join(seen) or 'none'})")
    same = np.append(names == wanted, False)[codes]
    others = ", ".join(name for name in seen if name != wanted) or "blank"
    return keep & same, wanted, int((keep & ~same).sum()), f"{wanted} kept; {others} set aside"


def _select(frame: pd.DataFrame, roles: OrderRoles, currency: str | None) -> _Selected:
    """Lines with a customer id and in the chosen currency; customer ids ranked in sort order."""
    codes, ids = _customer_codes(frame[roles.customer])
    has_id = codes >= 0
    if not has_id.any():
        raise InputError(f"column {roles.customer} is empty: no line has a customer id")
    keep, label, others, note = _currency_mask(frame, roles.currency, has_id, currency)
    positions = None if keep.all() else np.flatnonzero(keep)  # 8 bytes a line saved when all
    ledger = (
        SetAside("no customer id", int((~has_id).sum()), "dropped", f"{roles.customer} blank"),
        SetAside("other currency", others, "dropped", note),
    )
    customer = codes if positions is None else codes[positions]
    return _Selected(positions, customer, ids, label, ledger, len(frame))


def _line_amounts(
    sub: pd.DataFrame, roles: OrderRoles, cancel: BoolArray | None
) -> tuple[FloatArray, BoolArray, BoolArray]:
    """Per line: the amount (NaN: unreadable), whether it is a cancellation or return, and
    whether it is a zero or negative price that is not a return (free items, adjustments)."""
    quantity = _numbers(sub[roles.quantity]) if roles.quantity else None
    price = _numbers(sub[roles.unit_price]) if roles.unit_price else None
    if roles.amount:
        given = _numbers(sub[roles.amount])
        amount, examples = given.values, [given.example]
    else:
        assert quantity is not None and price is not None
        amount, examples = quantity.values * price.values, [quantity.example, price.example]
    name = roles.amount or f"{roles.quantity} x {roles.unit_price}"
    example = next((e for e in examples if e is not None), None)
    _check_readable(name, len(amount), int(np.isnan(amount).sum()), 0, example, "amounts")
    returned = amount < 0 if roles.amount else np.zeros(len(amount), np.bool_)
    if quantity is not None:
        returned |= quantity.values < 0
    if cancel is not None:
        returned |= cancel
    bad = ~returned & (amount == 0)
    if price is not None:
        bad |= price.values < 0  # a negative price is an adjustment, whatever the quantity
    return amount, returned, bad


def _money_units(
    amount: FloatArray, returned: BoolArray, counted: BoolArray
) -> tuple[IntArray, int]:
    """Signed amounts as int64 in 1/scale units (returns negative, uncounted lines 0), scale.

    Counted lines that are not returns are never negative (a negative amount is a return, a
    negative price is not counted), so |amount| with the sign of "returned" is the net amount.
    Done in place on one buffer: on large logs fresh memory costs more than the arithmetic.
    """
    units = np.abs(amount)
    units[~counted] = 0.0
    scale = _scale_for(float(units.sum()))
    units *= scale
    np.negative(units, out=units, where=returned)
    return np.rint(units, out=units).astype(np.int64), scale


def _scale_for(total: float) -> int:
    """Money is summed as int64 in 1/scale units: exact, so the order of lines cannot change a
    total. 10**6 units per currency unit unless the log's total (of |amounts|) would overflow
    2**62; amounts with more decimals than that are rounded to 1/scale."""
    for scale in (10**6, 10**4, 10**2, 1):
        if total * scale < 2**62:
            return scale
    raise InputError("the amounts are too large to add up exactly")


def _read_lines(
    frame: pd.DataFrame, roles: OrderRoles, sel: _Selected, date_format: str | None
) -> _Lines:
    """Dates, amounts, orders and products of the selected lines; unusable lines counted."""
    used = [c for c in (roles.date, roles.order, roles.amount, roles.quantity) if c]
    used += [c for c in (roles.unit_price, roles.product) if c]
    sub = frame[used] if sel.positions is None else frame[used].iloc[sel.positions]
    # The whole column is read: the log's last date (the default as_of) counts every line, and
    # a date column is judged as a whole; only the selected lines enter the ledger.
    parsed = parse_dates(frame[roles.date], date_format)
    every = parsed.dates.to_numpy(dtype="datetime64[ns]")
    dates = every if sel.positions is None else every[sel.positions]
    dated = ~np.isnat(dates)
    last_day = int(np.nanmax(every).astype("datetime64[D]").view(np.int64))  # nanmax skips NaT
    order, n_orders, cancel = _group_codes(sub[roles.order]) if roles.order else (None, 0, None)
    product, n_products, _ = _group_codes(sub[roles.product]) if roles.product else (None, 0, None)
    amount, returned, bad = _line_amounts(sub, roles, cancel)
    readable = dated & ~np.isnan(amount)
    units, scale = _money_units(amount, returned, readable & ~bad)
    date_note = "blank or not a date" + (f" (e.g. {parsed.example!r})" if parsed.example else "")
    unpriced = int((dated & np.isnan(amount)).sum())
    ledger = sel.ledger + (
        SetAside("date missing or unreadable", int((~dated).sum()), "dropped", date_note),
        SetAside("amount missing or not a number", unpriced, "dropped", "blank or not a number"),
    )
    day = dates.astype("datetime64[D]").view(np.int64)
    notes = (parsed.note,) if parsed.note else ()
    lines = _Lines(
        sel.customer, day, order, n_orders, product, n_products, units, ~bad,
        returned & ~bad, scale, last_day, ledger, parsed.formats, notes,
    )  # fmt: skip
    return _take(lines, readable)


def _as_of_day(as_of: str | date | datetime | pd.Timestamp | None, lines: _Lines) -> int:
    """The as-of day in days since 1970-01-01: given, or the day after the log's last date."""
    if as_of is None:
        return lines.last_day + 1
    try:
        stamp = pd.Timestamp(as_of)
    except (TypeError, ValueError):
        raise InputError(f"as_of {as_of!r} is not a date") from None
    if pd.isna(stamp):
        raise InputError(f"as_of {as_of!r} is not a date")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_localize(None)
    return int(np.datetime64(stamp.date(), "D").astype(np.int64))


def _window(lines: _Lines, as_of_day: int) -> _Lines:
    """Drop lines dated after the as-of day; set aside zero or negative prices."""
    later = lines.day > as_of_day
    if later.all():
        raise InputError(f"no line is dated on or before as_of {_day_text(as_of_day)}")
    after = SetAside(
        "dated after as_of", int(later.sum()), "dropped", f"after {_day_text(as_of_day)}"
    )
    kept = _take(lines, ~later)
    priced = SetAside(
        "zero or negative price, not a return",
        int((~kept.money).sum()),
        "dropped",
        "free items and adjustments: not in spend, orders or products; a customer with only "
        "such lines stays in the table with zero spend",
    )
    return replace(kept, ledger=kept.ledger + (after, priced))


def _day_text(day: int) -> str:
    return str(np.datetime64(day, "D"))


# --------------------------------------------------------------------------- aggregation


@dataclass(frozen=True)
class _Units:
    """One row per order (or per customer-day without an order column)."""

    customer: IntArray
    day: IntArray  # the day of the order's first line
    value: IntArray  # net amount
    returned: IntArray  # amount of its cancellation and return lines (<= 0)
    has_return: BoolArray


def _sum_at(index: IntArray, values: IntArray, size: int) -> IntArray:
    """Exact int64 sums of values by index (np.add.at, faster here than weighted bincount)."""
    out = np.zeros(size, np.int64)
    np.add.at(out, index, values)
    return out


def _pair_codes(first: IntArray, second: IntArray, n_second: int) -> tuple[IntArray, int]:
    """Codes for distinct (first, second) pairs: direct addressing when the grid is small."""
    key = first * n_second + second
    size = (int(first.max()) + 1) * n_second if len(first) else 0
    if size <= max(2 * len(key), 1 << 22):
        seen = np.zeros(size, np.bool_)
        seen[key] = True
        return (np.cumsum(seen, dtype=np.int64) - 1)[key], int(seen.sum())
    codes, uniques = pd.factorize(key)
    return codes.astype(np.int64), len(uniques)


def _unit_codes(lines: _Lines) -> tuple[IntArray, int]:
    """Per line, its order unit: the order when every order belongs to one customer (the usual
    case: cheap), else the (customer, order) pair; (customer, day) without an order column."""
    low = int(lines.day.min())
    span = int(lines.day.max()) - low + 1
    if lines.order is None:
        return _pair_codes(lines.customer, lines.day - low, span)
    order, size = lines.order, lines.n_orders
    blank = order < 0
    if blank.any():  # a line without an order id is its customer's order of that day
        pairs, n_pairs = _pair_codes(lines.customer[blank], lines.day[blank] - low, span)
        order = order.copy()
        order[blank] = size + pairs
        size += n_pairs
    owner = np.full(size, -1, np.int64)
    owner[order] = lines.customer
    if np.array_equal(owner[order], lines.customer):
        return order, size
    return _pair_codes(lines.customer, order, size)


def _units(lines: _Lines) -> _Units:
    """Reduce lines to order units: net value, returns, first day, owner."""
    unit, size = _unit_codes(lines)
    owner = np.full(size, -1, np.int64)
    owner[unit] = lines.customer
    day = np.full(size, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(day, unit, lines.day)
    back = lines.returned
    has_return = np.zeros(size, np.bool_)
    has_return[unit[back]] = True
    present = owner >= 0  # codes of orders whose lines were all dropped
    return _Units(
        owner[present],
        day[present],
        _sum_at(unit, lines.amount, size)[present],
        _sum_at(unit[back], lines.amount[back], size)[present],
        has_return[present],
    )


@dataclass(frozen=True)
class _Days:
    """One row per (customer, day) with any line, sorted by customer then day."""

    customer: IntArray
    day: IntArray
    value: IntArray


def _days(units: _Units) -> _Days:
    """Group order units by (customer, day) with one sort of the (smaller) unit table."""
    low = int(units.day.min())
    span = int(units.day.max()) - low + 1
    key = units.customer * span + (units.day - low)
    order = np.argsort(key)  # unstable is fine: only integer sums follow
    key = key[order]
    start = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    value = np.add.reduceat(units.value[order], start) if len(start) else units.value[:0]
    return _Days(key[start] // span, key[start] % span + low, value)


def _segment_ends(sorted_keys: IntArray, size: int) -> tuple[IntArray, IntArray]:
    """First and last index of each key 0..size-1 in a sorted array (first > last: absent)."""
    counts = np.bincount(sorted_keys, minlength=size)
    ends = np.cumsum(counts)
    return ends - counts, ends - 1


def _purchase_days(days: _Days, size: int) -> dict[str, IntArray]:
    """Per customer: purchase days (days with a positive net amount), first, last, repeat spend.

    Customers with no purchase day fall back to their first and last day with any line.
    """
    pos = days.value > 0
    cust, day, value = days.customer[pos], days.day[pos], days.value[pos]
    count = np.bincount(cust, minlength=size).astype(np.int64)
    has = count > 0
    first_i, last_i = _segment_ends(cust, size)
    any_first, any_last = _segment_ends(days.customer, size)
    # Absent customers' indexes are clipped into range; np.where then ignores what they read.
    first = np.where(has, day.take(first_i, mode="clip"), days.day[any_first])
    last = np.where(has, day.take(last_i, mode="clip"), days.day[any_last])
    first_spend = np.where(has, value.take(first_i, mode="clip"), 0)
    repeat_total = _sum_at(cust, value, size) - first_spend
    return {"count": count, "first": first, "last": last, "repeat_total": repeat_total}


def _distinct_products(lines: _Lines, size: int) -> IntArray:
    """Distinct products on each customer's purchase lines.

    One in-place sort of packed (customer, product) keys, then a running count of new keys read
    at each customer's end: no hashing, and no large temporaries (fresh memory is what costs).
    """
    assert lines.product is not None
    width = max(lines.n_products, 1)
    key = lines.customer * width
    key += lines.product
    # Lines that are not purchases get a key above every customer's range: sorted last, unread.
    key[~lines.money | lines.returned | (lines.product < 0)] = size * width
    key.sort()
    if len(key) == 0:
        return np.zeros(size, np.int64)
    new = np.empty(len(key), np.bool_)
    new[0] = True
    np.not_equal(key[1:], key[:-1], out=new[1:])
    running = np.cumsum(new, dtype=np.int32 if len(key) < 2**31 else np.int64)
    ends = np.searchsorted(key, np.arange(1, size + 1, dtype=np.int64) * width)
    upto = np.where(ends > 0, running[np.maximum(ends - 1, 0)], 0).astype(np.int64)
    return np.diff(upto, prepend=0)


def _compact(lines: _Lines, n_ids: int) -> tuple[_Lines, IntArray]:
    """Renumber customers 0..K-1 over the customers still present; their old codes."""
    present = np.bincount(lines.customer, minlength=n_ids) > 0
    if present.all():
        return lines, np.arange(n_ids)
    rank = np.cumsum(present, dtype=np.int64) - 1
    return replace(lines, customer=rank[lines.customer]), np.flatnonzero(present)


def _features(lines: _Lines, as_of_day: int, size: int) -> dict[str, Any]:
    """The per-customer columns (see FEATURE_DEFINITIONS), as arrays in customer order."""
    units = _units(lines)
    purchase = _purchase_days(_days(units), size)
    scale = float(lines.scale)
    net = _sum_at(units.customer, units.value, size)
    returned = -_sum_at(units.customer, units.returned, size)
    gross = net + returned
    positive = units.value > 0
    orders = np.bincount(units.customer[positive], minlength=size).astype(np.int64)
    order_total = _sum_at(units.customer[positive], units.value[positive], size)
    count, first, last = purchase["count"], purchase["first"], purchase["last"]
    with np.errstate(divide="ignore", invalid="ignore"):
        columns: dict[str, Any] = {
            "recency_days": as_of_day - last,
            "orders": orders,
            "net_spend": net / scale,
            "avg_order_value": np.where(orders > 0, order_total / scale / orders, np.nan),
            "tenure_days": as_of_day - first,
            "return_share": np.where(gross > 0, returned / np.where(gross > 0, gross, 1), np.nan),
            "distinct_products": _distinct_products(lines, size)
            if lines.product is not None
            else None,
            "mean_days_between_orders": np.where(count > 1, (last - first) / (count - 1), np.nan),
            "first_purchase": first.astype("datetime64[D]").astype("datetime64[ns]"),
            "last_purchase": last.astype("datetime64[D]").astype("datetime64[ns]"),
            "repeat_days_frequency": np.maximum(count - 1, 0),
            "recency_weeks": (last - first) / 7.0,
            "T_weeks": (as_of_day - first) / 7.0,
            "repeat_mean_spend": np.where(
                count > 1, purchase["repeat_total"] / scale / (count - 1), 0.0
            ),
            "gross_spend": gross / scale,
            "return_orders": np.bincount(units.customer[units.has_return], minlength=size),
            "returns_only": net <= 0,
        }
    return {name: values for name, values in columns.items() if values is not None}


# --------------------------------------------------------------------------- public entry


def _check_roles(frame: pd.DataFrame, roles: OrderRoles) -> None:
    """Every role names a column; the log says who, when and how much."""
    for role in ROLES:
        column = getattr(roles, role)
        if column is not None and column not in frame.columns:
            raise InputError(f"the {role} column {column!r} is not in the table")
    if not roles.amount and not (roles.quantity and roles.unit_price):
        raise InputError("no amount column, nor a quantity and a unit price")
    if len(frame) == 0:
        raise InputError("the order log has no lines")


def customer_features(
    frame: pd.DataFrame,
    roles: OrderRoles | None = None,
    *,
    as_of: str | date | datetime | pd.Timestamp | None = None,
    currency: str | None = None,
    date_format: str | None = None,
) -> OrderSummary:
    """Reduce an order log to one row of features per customer, with a set-aside ledger.

    ``roles`` defaults to `infer_roles(frame).roles`. ``as_of`` is a calendar day: lines dated
    after it are dropped and recency and tenure are measured to it (default: the day after the
    last date in the log, over every line). ``currency`` picks one currency of a log that mixes
    several (other lines set aside); a mixed log without it is an InputError. ``date_format``
    forces the date format (strptime codes). Each line is set aside under the first ledger
    reason that applies; cancellations and returns (order id starting with 'C', negative
    quantity or amount) are netted, not dropped. Every customer with a dated line on or before
    as_of appears once, sorted by id; net spend 0 or less is flagged in `returns_only`.
    """
    roles = infer_roles(frame).roles if roles is None else roles
    _check_roles(frame, roles)
    selected = _select(frame, roles, currency)
    lines = _read_lines(frame, roles, selected, date_format)
    if len(lines.day) == 0:
        raise InputError("no line has a customer id, a readable date and an amount")
    as_of_day = _as_of_day(as_of, lines)
    lines = _window(lines, as_of_day)
    if not (lines.money & (lines.amount != 0)).any():
        raise InputError("every line's amount is zero: there is no spend to describe")
    lines, present = _compact(lines, len(selected.ids))
    ids = selected.ids[present]
    if len(ids) < 2:
        raise InputError(f"the log has one customer only ({ids[0]}): a brief needs many")
    columns = _features(lines, as_of_day, len(ids))
    index = pd.Index(ids, name=roles.customer)
    features = pd.DataFrame(columns, index=index)
    return _summary(features, roles, selected, lines, as_of_day, as_of is None, len(present))


def _last_entries(
    features: pd.DataFrame, selected: _Selected, lines: _Lines, n_present: int
) -> tuple[SetAside, ...]:
    """The ledger with its last entries: netted lines, flagged and lost customers."""
    money = lines.money
    flagged = features["returns_only"].to_numpy(np.bool_)
    flagged_lines = int(np.count_nonzero(flagged[lines.customer] & money))
    lost = 0
    if len(lines.customer) < len(selected.customer):  # else no line, so no customer, was lost
        had_lines = np.bincount(selected.customer, minlength=len(selected.ids)) > 0
        lost = int(had_lines.sum()) - n_present
    return lines.ledger + (
        SetAside(
            "cancellations and returns",
            int((lines.returned & money).sum()),
            "netted",
            "order id starting with C, or a negative quantity or amount: subtracted from "
            "the customer's spend",
        ),
        SetAside(
            "customers with returns only or net spend <= 0",
            flagged_lines,
            "kept, flagged",
            "in the table with returns_only = True",
            int(flagged.sum()),
        ),
        SetAside(
            "customers with no usable line",
            0,
            "dropped",
            "all their lines were set aside above; not in the table",
            int(lost),
        ),
    )


def _summary(
    features: pd.DataFrame,
    roles: OrderRoles,
    selected: _Selected,
    lines: _Lines,
    as_of_day: int,
    default_as_of: bool,
    n_present: int,
) -> OrderSummary:
    """Totals and the finished ledger around the feature table."""
    money = lines.money
    scale = float(lines.scale)
    ledger = _last_entries(features, selected, lines, n_present)
    sale = money & ~lines.returned
    first = int(lines.day.min(where=money, initial=np.iinfo(np.int64).max))
    last = int(lines.day.max(where=money, initial=np.iinfo(np.int64).min))
    as_of_text = _day_text(as_of_day)
    return OrderSummary(
        features=features,
        roles=roles,
        set_aside=ledger,
        lines_read=selected.n_lines,
        lines_used=int(money.sum()),
        customers=len(features),
        orders=int(features["orders"].sum()),
        gross_revenue=int(lines.amount.sum(where=sale)) / scale,
        returned_revenue=-int(lines.amount.sum(where=money & lines.returned)) / scale,
        net_revenue=int(lines.amount.sum(where=money)) / scale,
        first_date=pd.Timestamp(_day_text(first)),
        last_date=pd.Timestamp(_day_text(last)),
        as_of=pd.Timestamp(as_of_text),
        as_of_source=(
            f"the day after the log's last date ({_day_text(lines.last_day)})"
            if default_as_of
            else f"given ({as_of_text})"
        ),
        orders_source=(
            f"distinct {roles.order} values with a positive net amount"
            if roles.order
            else "distinct purchase days (the log has no order column)"
        ),
        currency=selected.currency,
        date_formats=lines.date_formats,
        notes=lines.notes,
    )
