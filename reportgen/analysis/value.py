"""What each customer and each segment is worth: RFM scores and groups, revenue shares, and the
predicted value from the BG/NBD and Gamma-Gamma models. Pure: customer rows in, plain data out.

Works on the one-row-per-customer table that `io.orders` makes from an order log (its column
names are the contract: recency_days, orders, net_spend, repeat_days_frequency, recency_weeks,
T_weeks, repeat_mean_spend).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from reportgen.analysis import rfm
from reportgen.errors import InputError

if TYPE_CHECKING:
    from reportgen.analysis import clv

WEEKS_PER_YEAR = 52.18
PURCHASE_HORIZON_DAYS = 90  # "expected purchases in the next 90 days"
VALUE_HORIZON_WEEKS = WEEKS_PER_YEAR  # "12-month customer value"
DISCOUNT_RATE = 0.10  # a year, for the 12-month value
DOMINANT_SHARE = 0.5  # an RFM group names a segment when at least this share of it is in it
PARETO_POINTS = 101
MODEL_ASSUMPTIONS = (
    "While active, each customer buys at a steady rate of their own (Poisson); rates differ "
    "between customers (gamma).",
    "After any purchase a customer may become inactive for good, with a probability of their "
    "own (beta); nobody comes back.",
    "How much a customer spends per purchase varies around an average of their own, and that "
    "average does not depend on how often they buy (Gamma-Gamma).",
)


@dataclass(frozen=True)
class ValueModel:
    """The fitted models, or why there are none."""

    bgnbd: clv.BGNBDParams | None
    gamma_gamma: clv.GammaGammaParams | None
    spend_frequency_r: float | None
    problem: str | None  # why the models could not be fitted (the brief says so)
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class CustomerValue:
    """Per customer, in the order of the customer table."""

    recency_score: NDArray[np.int64]
    frequency_score: NDArray[np.int64]
    monetary_score: NDArray[np.int64]
    group: NDArray[np.str_]
    expected_purchases_90d: NDArray[np.float64] | None
    prob_active: NDArray[np.float64] | None
    value_12m: NDArray[np.float64] | None


@dataclass(frozen=True)
class SegmentValue:
    segment_id: int
    customers: int
    customer_share: float
    revenue: float
    revenue_share: float | None
    median_recency_days: float
    median_orders: float
    median_net_spend: float
    value_12m: float | None  # sum over the segment's customers
    mean_value_12m: float | None
    expected_purchases_90d: float | None  # sum
    mean_prob_active: float | None
    groups: dict[str, int]  # RFM group -> customers of the segment in it
    dominant_group: str | None  # the RFM group holding >= DOMINANT_SHARE of the segment


@dataclass(frozen=True)
class ValueAnalysis:
    scores: rfm.RFMScores
    grid: rfm.RFMGrid
    customers: CustomerValue
    model: ValueModel
    groups: pd.DataFrame  # rfm.group_table: one row per RFM group
    segments: tuple[SegmentValue, ...]
    total_revenue: float
    pareto: tuple[tuple[float, float], ...]  # (share of customers, share of revenue), top first
    top_fifth_revenue_share: float | None


def analyse_value(
    customers: pd.DataFrame,
    labels: NDArray[np.int64],
    segment_ids: tuple[int, ...],
    grid: rfm.RFMGrid | None = None,
) -> ValueAnalysis:
    """RFM, value models and per-segment worth for the customers of an order log.

    `labels` holds each customer's segment id (customer-table order); -1 for a customer without
    a segment, who still gets scores and a predicted value."""
    grid = grid or rfm.load_grid()
    recency = customers["recency_days"].to_numpy(dtype=float)
    orders = customers["orders"].to_numpy(dtype=float)
    spend = customers["net_spend"].to_numpy(dtype=float)
    scores = rfm.score_rfm(recency, orders, spend)
    group = rfm.assign_groups(scores, grid)
    model, predicted = fit_value_model(customers)
    per_customer = CustomerValue(
        scores.recency, scores.frequency, scores.monetary, group, *predicted
    )
    total = float(spend.sum())
    return ValueAnalysis(
        scores=scores,
        grid=grid,
        customers=per_customer,
        model=model,
        groups=rfm.group_table(group, spend, recency, orders, grid),
        # Shares are of the segmented customers and their revenue, as every other share in the
        # brief is; customers without a segment are in the RFM view and the totals.
        segments=tuple(
            _segment_value(sid, labels == sid, customers, per_customer, labels >= 0)
            for sid in segment_ids
        ),
        total_revenue=total,
        pareto=pareto_curve(spend),
        top_fifth_revenue_share=_top_share(spend, 0.2),
    )


Predictions = tuple[
    NDArray[np.float64] | None, NDArray[np.float64] | None, NDArray[np.float64] | None
]


def fit_value_model(customers: pd.DataFrame) -> tuple[ValueModel, Predictions]:
    """BG/NBD on every customer, Gamma-Gamma on the repeat buyers; predictions per customer.
    A log the models cannot be fitted to gives no predictions and the reason, not an error."""
    from reportgen.analysis import clv  # SciPy: imported only when an order log is analysed

    freq = customers["repeat_days_frequency"].to_numpy(dtype=float)
    age = customers["T_weeks"].to_numpy(dtype=float)
    # The models' recency is the time of the last *repeat* purchase: 0 without one (a customer
    # whose other days held only returns), and never past the end of the log.
    rec = np.where(freq > 0, np.minimum(customers["recency_weeks"].to_numpy(dtype=float), age), 0)
    money = customers["repeat_mean_spend"].to_numpy(dtype=float)
    # Gamma-Gamma needs a positive spend per repeat purchase day.
    repeat = (freq > 0) & (money > 0)
    try:
        bg = clv.fit_bgnbd(freq, rec, age)
        gg = clv.fit_gamma_gamma(freq[repeat], money[repeat])
        spend_now = np.where(repeat, money, 0.0)
        buys = clv.expected_purchases(bg, PURCHASE_HORIZON_DAYS / 7, freq, rec, age)
        alive = clv.prob_alive(bg, freq, rec, age)
        value = clv.customer_value(
            bg,
            gg,
            np.where(repeat, freq, 0),
            np.where(repeat, rec, 0),
            age,
            spend_now,
            horizon=VALUE_HORIZON_WEEKS,
            periods_per_year=WEEKS_PER_YEAR,
            annual_discount_rate=DISCOUNT_RATE,
        )
    except InputError as exc:
        return ValueModel(None, None, None, str(exc), ()), (None, None, None)
    r = clv.spend_frequency_correlation(freq[repeat], money[repeat])
    warnings: tuple[str, ...] = ()
    if np.isfinite(r) and abs(r) > clv.SPEND_CORRELATION_WARNING:
        warnings = (
            f"Spend per purchase and number of purchases are correlated (r = {r:.2f}) among "
            "repeat buyers, against the spend model's assumption: treat the predicted values "
            "as rough.",
        )
    if not bg.dropout_identified:
        warnings += (
            "The log shows almost no customer dropping out, so the model treats every customer "
            "as still active: the probability of being active is near 100 % for all and does "
            "not rank them; expected purchases and value still do.",
        )
    model = ValueModel(bg, gg, float(r) if np.isfinite(r) else None, None, warnings)
    return model, (buys, alive, value)


def _segment_value(
    segment_id: int,
    member: NDArray[np.bool_],
    customers: pd.DataFrame,
    value: CustomerValue,
    segmented: NDArray[np.bool_],
) -> SegmentValue:
    n = int(member.sum())
    all_spend = customers["net_spend"].to_numpy(dtype=float)
    spend = all_spend[member]
    revenue = float(spend.sum())
    total_revenue = float(all_spend[segmented].sum())
    names, counts = np.unique(value.group[member], return_counts=True)
    groups = {str(g): int(c) for g, c in zip(names, counts, strict=True)}
    top = max(groups, key=lambda g: (groups[g], g)) if groups else None
    dominant = top if top is not None and n and groups[top] / n >= DOMINANT_SHARE else None
    return SegmentValue(
        segment_id=segment_id,
        customers=n,
        customer_share=n / max(int(segmented.sum()), 1),
        revenue=revenue,
        revenue_share=revenue / total_revenue if total_revenue > 0 else None,
        median_recency_days=_median(customers["recency_days"], member),
        median_orders=_median(customers["orders"], member),
        median_net_spend=float(np.median(spend)) if n else float("nan"),
        value_12m=_total(value.value_12m, member),
        mean_value_12m=_mean(value.value_12m, member),
        expected_purchases_90d=_total(value.expected_purchases_90d, member),
        mean_prob_active=_mean(value.prob_active, member),
        groups=groups,
        dominant_group=dominant,
    )


def _median(column: pd.Series, member: NDArray[np.bool_]) -> float:
    values = column.to_numpy(dtype=float)[member]
    return float(np.median(values)) if len(values) else float("nan")


def _total(values: NDArray[np.float64] | None, member: NDArray[np.bool_]) -> float | None:
    return None if values is None else float(values[member].sum())


def _mean(values: NDArray[np.float64] | None, member: NDArray[np.bool_]) -> float | None:
    if values is None or not member.any():
        return None
    return float(values[member].mean())


def rfm_names(result: ValueAnalysis) -> dict[int, str]:
    """Segment id -> the RFM group that dominates it. When one group dominates several segments,
    the segment with most of its customers in it takes the name; the others keep their traits."""
    best: dict[str, tuple[float, int]] = {}
    for s in result.segments:
        if s.dominant_group is not None:
            share = s.groups[s.dominant_group] / s.customers
            if share > best.get(s.dominant_group, (-1.0, 0))[0]:
                best[s.dominant_group] = (share, s.segment_id)
    return {segment: group for group, (_, segment) in best.items()}


def pareto_curve(spend: NDArray[np.float64]) -> tuple[tuple[float, float], ...]:
    """Cumulative share of revenue held by the top x % of customers (best first), at
    PARETO_POINTS evenly spaced customer shares; empty when total revenue is not positive."""
    total = float(spend.sum())
    if total <= 0 or not len(spend):
        return ()
    ordered = np.sort(spend)[::-1]
    cumulative = np.concatenate([[0.0], np.cumsum(ordered)]) / total
    shares = np.linspace(0.0, 1.0, PARETO_POINTS)
    positions = np.rint(shares * len(ordered)).astype(int)
    return tuple((float(s), float(cumulative[p])) for s, p in zip(shares, positions, strict=True))


def _top_share(spend: NDArray[np.float64], customer_share: float) -> float | None:
    total = float(spend.sum())
    if total <= 0 or not len(spend):
        return None
    top = max(int(round(customer_share * len(spend))), 1)
    return float(np.sort(spend)[::-1][:top].sum() / total)


@dataclass(frozen=True)
class RFMMigration:
    """Customers in both runs, by their RFM group then and now."""

    groups: tuple[str, ...]  # the grid's groups, in its order
    counts: NDArray[np.int64]  # previous group (rows) x current group (columns)
    followed: int  # customers found in both runs

    def moves(self, top: int = 5) -> tuple[tuple[int, str, str], ...]:
        """The largest flows between different groups: (customers, from, to)."""
        flows = [
            (int(self.counts[i, j]), a, b)
            for i, a in enumerate(self.groups)
            for j, b in enumerate(self.groups)
            if i != j and self.counts[i, j] > 0
        ]
        return tuple(sorted(flows, key=lambda f: (-f[0], f[1], f[2]))[:top])


def rfm_migration(
    previous: pd.Series, current_ids: pd.Series, current_groups: NDArray[np.str_], grid: rfm.RFMGrid
) -> RFMMigration:
    """How customers moved between RFM groups since a previous run (matched by id; groups a
    grid does not know are left out)."""
    now = pd.Series(np.asarray(current_groups), index=current_ids.astype(str).to_numpy())
    both = now.index.intersection(previous.index)
    before = previous[~previous.index.duplicated()].reindex(both)
    after = now[~now.index.duplicated()].reindex(both)
    position = {g: i for i, g in enumerate(grid.names)}
    i = before.map(position).to_numpy(dtype=float)
    j = after.map(position).to_numpy(dtype=float)
    ok = ~(np.isnan(i) | np.isnan(j))
    k = len(grid.names)
    flat = np.bincount((i[ok] * k + j[ok]).astype(np.int64), minlength=k * k)
    return RFMMigration(grid.names, flat.reshape(k, k).astype(np.int64), int(ok.sum()))
