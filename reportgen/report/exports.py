"""The per-customer and per-segment tables the run exports (assignments.csv, profiles.csv)."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from reportgen.analysis.assign import LeftOutAssignment, assignment_table
from reportgen.analysis.cluster import Segmentation
from reportgen.analysis.naming import SegmentStory
from reportgen.analysis.prepare import PreparedData
from reportgen.analysis.profile import Profiles
from reportgen.analysis.results import Analysis
from reportgen.io.orders import REPORTED_FEATURES


def assignments_frame(
    prepared: PreparedData,
    seg: Segmentation,
    stories: tuple[SegmentStory, ...],
    rest: LeftOutAssignment | None = None,
) -> pd.DataFrame:
    """assignments.csv of a brief: every input row (see analysis.assign.assignment_table)."""
    return assignment_table(
        prepared.ids,
        prepared.id_name,
        seg.labels,
        {s.segment_id: s.name for s in stories},
        seg.distances,
        len(prepared.features),
        prepared.row_numbers - 1,
        rest,
    )


def profiles_frame(profiles: Profiles, stories: tuple[SegmentStory, ...]) -> pd.DataFrame:
    table = profiles.table()
    names = [s.name for s in stories] + ["All"]
    table.insert(1, "segment_name", names)
    return table


LOG_FEATURES = (*REPORTED_FEATURES, "first_purchase", "last_purchase")


def customer_value_frame(a: Analysis) -> pd.DataFrame:
    """assignments.csv for an order log: every customer of the log (sorted by id) with their
    segment (empty, with the reason, for those not segmented), features, RFM scores and group,
    and predicted purchases and value."""
    intake, value = a.intake, a.value
    assert intake is not None and intake.all_customers is not None and value is not None
    everyone = intake.all_customers
    id_name = a.prepared.id_name
    segmented = assignments_frame(a.prepared, a.segmentation, a.stories).set_index(id_name)
    keys = everyone[id_name].astype(str)
    segmented.index = segmented.index.astype(str)
    joined = segmented.reindex(keys)
    excluded = intake.excluded if intake.excluded is not None else pd.DataFrame()
    reasons = {
        str(k): str(r)
        for k, r in zip(excluded.get(id_name, []), excluded.get("reason", []), strict=True)
    }
    out = pd.DataFrame({id_name: everyone[id_name].to_numpy()})
    out["segment_id"] = pd.array(joined["segment_id"].to_numpy(), dtype="Int64")
    out["segment_name"] = joined["segment_name"].to_numpy()
    out["distance_to_center"] = joined["distance_to_center"].to_numpy()
    out["not_segmented_because"] = [reasons.get(k, "") for k in keys]
    for name in LOG_FEATURES:
        if name in everyone:
            column = everyone[name]
            is_date = pd.api.types.is_datetime64_any_dtype(column)
            out[name] = column.dt.strftime("%Y-%m-%d") if is_date else column.to_numpy()
    for name in MONEY & set(out.columns):
        out[name] = _cents(out[name])
    per = value.customers
    out["R"], out["F"], out["M"] = per.recency_score, per.frequency_score, per.monetary_score
    out["rfm_group"] = per.group
    for name, values in (
        ("expected_purchases_90d", per.expected_purchases_90d),
        ("prob_active", per.prob_active),
        ("value_12m", per.value_12m),
    ):
        out[name] = values.round(6) if values is not None else float("nan")
    out["value_12m"] = _cents(out["value_12m"])
    return out


MONEY = {"net_spend", "avg_order_value"}


def _cents(values: pd.Series) -> pd.Series:
    """Money to the cent, written as 1234567.89 (never 1.23457e+06, the float format's way)."""

    rounded = pd.to_numeric(values, errors="coerce").round(2)
    cents = pa.array(rounded.to_numpy(), from_pandas=True).cast(pa.decimal128(18, 2))
    return pd.Series(cents, index=values.index, dtype=pd.ArrowDtype(pa.decimal128(18, 2)))
