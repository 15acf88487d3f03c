"""What the brief shows about an order log and what its customers are worth: revenue beside
customers per segment, the RFM view with every threshold, the value models and their
assumptions, and how the log became one row per customer (every line set aside counted)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reportgen import fmt
from reportgen.analysis import rfm
from reportgen.analysis.naming import SegmentStory
from reportgen.analysis.results import Analysis
from reportgen.analysis.value import (
    DISCOUNT_RATE,
    MODEL_ASSUMPTIONS,
    PURCHASE_HORIZON_DAYS,
    SegmentValue,
    ValueAnalysis,
    ValueModel,
)
from reportgen.io.customers import CustomerRows
from reportgen.io.orders import (
    FEATURE_DEFINITIONS,
    REPORTED_FEATURES,
    OrderSummary,
    SetAside,
)
from reportgen.report.images import data_uri

RFM_LABELS = {"recency": "Recency (days since last purchase)", "frequency": "Frequency (orders)"}


@dataclass(frozen=True)
class WorthRow:
    id: int
    name: str
    color: str
    customers: str
    customer_share: str
    revenue: str
    revenue_share: str
    median_recency: str
    median_orders: str
    median_spend: str
    value_12m: str
    value_per_customer: str
    purchases_90d: str
    prob_active: str
    rfm_mix: str
    page1: str  # "12 % of customers, 48 % of revenue"


@dataclass(frozen=True)
class GroupRow:
    name: str
    description: str
    action: str
    customers: str
    customer_share: str
    revenue_share: str
    median_recency: str
    median_orders: str
    median_spend: str


@dataclass(frozen=True)
class ThresholdView:
    label: str
    lines: tuple[str, ...]
    note: str


@dataclass(frozen=True)
class CrossTab:
    groups: tuple[str, ...]
    rows: tuple[tuple[str, tuple[str, ...]], ...]  # (segment name, customers per group)


@dataclass(frozen=True)
class LedgerRow:
    reason: str
    lines: str
    customers: str
    action: str
    note: str


@dataclass(frozen=True)
class ModelView:
    fitted: bool
    problem: str | None
    bgnbd: str
    gamma_gamma: str
    assumptions: tuple[str, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class ValueView:
    """The order-log and customer-value part of the brief."""

    kind_line: str  # why the input was read as an order log
    roles: tuple[tuple[str, str, str], ...]  # (role, column, reason)
    totals: tuple[tuple[str, str], ...]  # (what, number)
    ledger: tuple[LedgerRow, ...]
    definitions: tuple[tuple[str, str], ...]  # (feature, definition)
    worth: tuple[WorthRow, ...]
    top_fifth_line: str
    rfm_groups: tuple[GroupRow, ...]
    grid: tuple[tuple[str, ...], ...]  # rows R = 5..1, columns 1..5
    grid_columns: str
    score_rule: str
    thresholds: tuple[ThresholdView, ...]
    crosstab: CrossTab
    model: ModelView
    currency: str
    pareto_chart: str
    shares_chart: str
    excluded: int
    moves: tuple[str, ...] = ()  # re-reports: "312 customers moved from Loyal to At risk"
    moves_line: str = ""


def value_context(a: Analysis, colors: Sequence[str]) -> ValueView | None:
    """The value part of the brief, with its two charts, for a run on an order log (None
    otherwise)."""
    intake, value = a.intake, a.value
    if intake is None or intake.log is None or value is None:
        return None
    from reportgen.report import value_charts  # matplotlib: only for briefs that draw these

    log, money = intake.log, intake.log.currency or ""
    units = a.dictionary.units
    excluded = 0 if intake.excluded is None else len(intake.excluded)
    return ValueView(
        kind_line=f"This file is an order log, not a customer table: {intake.reason}.",
        roles=_roles(intake),
        totals=_totals(log, money),
        ledger=tuple(_ledger_row(s) for s in log.set_aside if s.lines or s.customers),
        definitions=tuple((k, FEATURE_DEFINITIONS[k]) for k in REPORTED_FEATURES),
        worth=tuple(
            _worth(sv, story, color, value, money)
            for sv, story, color in zip(value.segments, a.stories, colors, strict=True)
        ),
        top_fifth_line=_top_fifth(value, a.dictionary.units),
        rfm_groups=_groups(value, money),
        grid=value.grid.table(),
        grid_columns="frequency–monetary score (FM)"
        if value.grid.columns == "frequency_monetary"
        else "frequency score (F)",
        score_rule=rfm.SCORE_RULE,
        thresholds=_thresholds(value.scores, money),
        crosstab=_crosstab(value, a.stories),
        model=_model(value.model, money),
        currency=money,
        pareto_chart=data_uri(value_charts.pareto(value.pareto, units=units))
        if value.pareto
        else "",
        shares_chart=data_uri(
            value_charts.customer_and_revenue_shares(
                [s.name for s in a.stories],
                [sv.customer_share for sv in value.segments],
                [sv.revenue_share or 0.0 for sv in value.segments],
                colors,
                units=units,
            )
        ),
        excluded=excluded,
        moves=_moves(a),
        moves_line=_moves_line(a),
    )


def _money(x: float | None, currency: str, digits: int = 0) -> str:
    if x is None or not np.isfinite(x):
        return "–"
    text = f"{x:,.{digits}f}"
    return f"{text} {currency}" if currency else text


def _roles(intake: CustomerRows) -> tuple[tuple[str, str, str], ...]:
    assert intake.log is not None
    roles = intake.log.roles
    reasons = intake.role_reasons or {}
    return tuple(
        (role, column, reasons.get(role, ""))
        for role, column in vars(roles).items()
        if column is not None
    )


def _totals(log: OrderSummary, money: str) -> tuple[tuple[str, str], ...]:
    return (
        ("Lines read", f"{log.lines_read:,}"),
        ("Lines used (purchases, cancellations and returns)", f"{log.lines_used:,}"),
        ("Customers", f"{log.customers:,}"),
        ("Orders", f"{log.orders:,} ({log.orders_source})"),
        ("Gross revenue", _money(log.gross_revenue, money, 2)),
        ("Cancelled or returned", _money(log.returned_revenue, money, 2)),
        ("Net revenue (= the customers' net spend added up)", _money(log.net_revenue, money, 2)),
        ("First and last order", f"{log.first_date:%d %b %Y} – {log.last_date:%d %b %Y}"),
        (
            "Analysis date (recency and tenure are measured to it)",
            f"{log.as_of:%d %b %Y}: {log.as_of_source}",
        ),
    )


def _ledger_row(s: SetAside) -> LedgerRow:
    customers = f"{s.customers:,}" if s.customers else ""
    return LedgerRow(s.reason, f"{s.lines:,}", customers, s.action, s.note)


def _worth(
    sv: SegmentValue, story: SegmentStory, color: str, value: ValueAnalysis, money: str
) -> WorthRow:
    top = sorted(sv.groups.items(), key=lambda kv: (-kv[1], kv[0]))[:2]
    mix = ", ".join(f"{g} {fmt.percent(n / max(sv.customers, 1))}" for g, n in top)
    revenue_share = fmt.percent(sv.revenue_share) if sv.revenue_share is not None else "–"
    return WorthRow(
        id=sv.segment_id,
        name=story.name,
        color=color,
        customers=f"{sv.customers:,}",
        customer_share=fmt.percent(sv.customer_share),
        revenue=_money(sv.revenue, money),
        revenue_share=revenue_share,
        median_recency=f"{sv.median_recency_days:,.0f} days",
        median_orders=f"{sv.median_orders:,.0f}",
        median_spend=_money(sv.median_net_spend, money),
        value_12m=_money(sv.value_12m, money),
        value_per_customer=_money(sv.mean_value_12m, money),
        purchases_90d=f"{sv.expected_purchases_90d:,.0f}" if sv.expected_purchases_90d else "–",
        prob_active=fmt.percent(sv.mean_prob_active) if sv.mean_prob_active is not None else "–",
        rfm_mix=mix,
        page1=f"{fmt.percent(sv.customer_share)} of customers, {revenue_share} of revenue",
    )


def _top_fifth(value: ValueAnalysis, units: str) -> str:
    if value.top_fifth_revenue_share is None:
        return "Net revenue is not positive: no revenue concentration to show."
    share = fmt.percent(value.top_fifth_revenue_share)
    return f"The fifth of {units} who spend the most bring in {share} of net revenue."


def _groups(value: ValueAnalysis, money: str) -> tuple[GroupRow, ...]:
    table = value.groups.to_dict(orient="index")
    rows = []
    for group in value.grid.groups:
        r = table[group.name]
        rows.append(
            GroupRow(
                name=group.name,
                description=group.description,
                action=group.action,
                customers=f"{int(r['customers']):,}",
                customer_share=fmt.percent(float(r["customer_share"])),
                revenue_share=_share(float(r["revenue_share"])),
                median_recency=_whole(float(r["median_recency"])),
                median_orders=_whole(float(r["median_frequency"])),
                median_spend=_money(float(r["median_monetary"]), money),
            )
        )
    return tuple(rows)


def _share(x: float) -> str:
    return fmt.percent(x) if np.isfinite(x) else "–"


def _whole(x: float) -> str:
    return f"{x:,.0f}" if np.isfinite(x) else "–"


def _thresholds(scores: rfm.RFMScores, money: str) -> tuple[ThresholdView, ...]:
    out = []
    for t in scores.thresholds:
        label = RFM_LABELS.get(t.feature, "Monetary (net spend)")
        unit = "days" if t.feature == "recency" else "orders" if t.feature == "frequency" else money
        out.append(ThresholdView(label, tuple(t.describe(unit)), t.note))
    return tuple(out)


def _crosstab(value: ValueAnalysis, stories: Sequence[SegmentStory]) -> CrossTab:
    used = [g for g in value.grid.names if any(g in s.groups for s in value.segments)]
    rows = tuple(
        (story.name, tuple(f"{sv.groups.get(g, 0):,}" for g in used))
        for sv, story in zip(value.segments, stories, strict=True)
    )
    return CrossTab(tuple(used), rows)


def _model(model: ValueModel, money: str) -> ModelView:
    if model.bgnbd is None or model.gamma_gamma is None:
        return ModelView(False, model.problem, "", "", MODEL_ASSUMPTIONS, model.warnings)
    bg, gg = model.bgnbd, model.gamma_gamma
    mean_spend = gg.p * gg.v / (gg.q - 1) if gg.q > 1 else float("nan")
    return ModelView(
        fitted=True,
        problem=None,
        bgnbd=(
            f"BG/NBD (purchases and drop-out), fitted on {bg.n_customers:,} customers, time in "
            f"weeks: r = {bg.r:.3f}, α = {bg.alpha:.3f}, a = {bg.a:.3f}, b = {bg.b:.3f} "
            f"(log-likelihood {bg.log_likelihood:,.1f})."
        ),
        gamma_gamma=(
            f"Gamma-Gamma (spend per purchase day), fitted on the {gg.n_customers:,} repeat "
            f"buyers: p = {gg.p:.2f}, q = {gg.q:.2f}, γ = {gg.v:.2f}; an average customer "
            f"spends about {_money(mean_spend, money, 2)} per purchase day. Expected purchases "
            f"are for the next {PURCHASE_HORIZON_DAYS} days; the 12-month value is expected "
            f"purchases × expected spend, month by month, discounted at "
            f"{DISCOUNT_RATE:.0%} a year."
        ),
        assumptions=MODEL_ASSUMPTIONS,
        warnings=model.warnings,
    )


def _moves(a: Analysis) -> tuple[str, ...]:
    m = a.rfm_moves
    if m is None:
        return ()
    units = a.dictionary.units
    return tuple(f"{n:,} {units} moved from {src} to {dst}" for n, src, dst in m.moves())


def _moves_line(a: Analysis) -> str:
    m = a.rfm_moves
    if m is None:
        return ""
    stayed = int(np.trace(m.counts))
    return (
        f"Since the previous brief: {m.followed:,} {a.dictionary.units} are in both logs; "
        f"{stayed:,} stayed in their RFM group and {m.followed - stayed:,} moved."
    )
