"""One row per customer, whatever arrived: a customer table as it is, or an order log reduced to
customer features (io.orders) with the dictionary that says what each feature means.

The classic mistake with an order log is to segment its lines; this step is where reportgen
decides, says why, and lets the user force either reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any, Literal

import pandas as pd
import yaml

from reportgen.errors import ConfigError
from reportgen.io import orders
from reportgen.io.dictionary import DataDictionary, dictionary_from_mapping
from reportgen.io.load import LoadedTable

InputKind = Literal["auto", "customers", "transactions"]
INPUT_KINDS = ("auto", "customers", "transactions")
FEATURES_DICTIONARY = "order_features.yaml"
RETURNS_ONLY_REASON = "returns only: net spend 0 or less, so no spending to segment on"


@dataclass(frozen=True)
class OrderLogSettings:
    """How to read an order log; every field has a stated default."""

    kind: InputKind = "auto"
    as_of: str | None = None  # YYYY-MM-DD; default the day after the log's last date
    date_format: str | None = None  # strptime codes; default detected from the values
    currency: str | None = None  # the one currency to keep from a log that mixes several
    roles: Mapping[str, str] | None = None  # role -> column, overriding the inferred ones

    def __post_init__(self) -> None:
        if self.kind not in INPUT_KINDS:
            raise ConfigError(
                f"input_kind must be one of {', '.join(INPUT_KINDS)} (got {self.kind!r})",
                "input_kind",
            )


@dataclass(frozen=True)
class CustomerRows:
    """The customer table the analysis runs on, and where it came from."""

    table: LoadedTable  # one row per customer
    kind: Literal["customers", "transactions"]
    reason: str  # why the input was read this way, for the brief
    log: orders.OrderSummary | None = None
    role_reasons: Mapping[str, str] | None = None
    dictionary: DataDictionary | None = None  # the derived features' dictionary (logs only)
    # Customers listed in the export but not segmented, with the reason (id column + "reason").
    excluded: pd.DataFrame | None = None
    all_customers: pd.DataFrame | None = None  # every customer's features (logs only)


def customer_rows(table: LoadedTable, settings: OrderLogSettings | None = None) -> CustomerRows:
    """The table as customers, or the order log reduced to one row per customer."""
    settings = settings or OrderLogSettings()
    if settings.kind == "customers":
        return CustomerRows(table, "customers", "read as a customer table, as asked")
    is_log, reason = orders.looks_like_order_log(table.frame, settings.roles)
    if settings.kind == "auto" and not is_log:
        return CustomerRows(table, "customers", f"one row per customer ({reason})")
    if settings.kind == "transactions":
        reason = f"read as an order log, as asked ({reason})"
    return _from_log(table, settings, reason)


def _from_log(table: LoadedTable, settings: OrderLogSettings, reason: str) -> CustomerRows:
    inferred = orders.infer_roles(table.frame, settings.roles)
    summary = orders.customer_features(
        table.frame,
        inferred.roles,
        as_of=settings.as_of,
        currency=settings.currency,
        date_format=settings.date_format,
    )
    id_name = inferred.roles.customer
    features = summary.features.reset_index(names=id_name)
    spending = ~features["returns_only"].to_numpy(dtype=bool)
    excluded = pd.DataFrame(
        {id_name: features.loc[~spending, id_name].to_numpy(), "reason": RETURNS_ONLY_REASON}
    )
    customers = features.loc[spending].reset_index(drop=True)
    derived = replace(table, frame=customers, units={}, decimal_comma=(), thousands_comma=())
    return CustomerRows(
        table=derived,
        kind="transactions",
        reason=reason,
        log=summary,
        role_reasons=inferred.reasons,
        dictionary=features_dictionary(id_name, summary.currency, tuple(features.columns)),
        excluded=excluded,
        all_customers=features,
    )


def features_dictionary(
    id_name: str, currency: str | None, present: tuple[str, ...]
) -> DataDictionary:
    """The packaged dictionary of the derived features that are `present` (a log without a
    product column has no distinct_products), with the log's own id column name and its
    currency as the unit of the money columns."""
    return dictionary_from_mapping(
        features_mapping(id_name, currency, present), FEATURES_DICTIONARY
    )


def features_mapping(
    id_name: str, currency: str | None, present: tuple[str, ...]
) -> dict[str, Any]:
    """The packaged features dictionary as plain data (see features_dictionary)."""
    text = resources.files("reportgen.io").joinpath(FEATURES_DICTIONARY).read_text("utf-8")
    raw: dict[str, Any] = yaml.safe_load(text)
    columns = {k: v for k, v in raw["columns"].items() if k in present or k == "customer_id"}
    columns[id_name] = columns.pop("customer_id")
    raw["columns"] = columns
    if currency:
        for name in ("net_spend", "avg_order_value", "gross_spend"):
            if name in columns:
                columns[name]["unit"] = currency
    raw["id_column"] = id_name
    return raw
