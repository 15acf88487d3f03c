"""Customer value (reportgen.analysis.value): RFM groups, revenue shares and predicted value per
segment, on a synthetic population drawn from known buying behaviour."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reportgen.analysis import value


def population(n: int = 3000, seed: int = 7) -> tuple[pd.DataFrame, np.ndarray]:
    """Customers in two planted groups: frequent big spenders and lapsed one-time buyers."""
    rng = np.random.default_rng(seed)
    loyal = rng.random(n) < 0.3
    T = rng.uniform(20, 52, n)
    freq = np.where(loyal, rng.poisson(8, n), rng.poisson(0.3, n)).astype(float)
    rec = np.where(freq > 0, T * rng.uniform(0.6, 1.0, n), 0.0)
    rec = np.where(loyal, rec, rec * rng.uniform(0, 0.5, n))
    spend_per_day = np.where(loyal, rng.gamma(6, 12, n), rng.gamma(6, 4, n))
    orders = freq + 1
    net = orders * spend_per_day
    frame = pd.DataFrame(
        {
            "recency_days": np.round((T - rec) * 7),
            "orders": orders,
            "net_spend": net,
            "repeat_days_frequency": freq,
            "recency_weeks": rec,
            "T_weeks": T,
            "repeat_mean_spend": np.where(freq > 0, spend_per_day, 0.0),
        }
    )
    return frame, np.where(loyal, 1, 2).astype(np.int64)


def test_revenue_shares_reconcile_and_the_valuable_segment_is_worth_more():
    customers, labels = population()
    result = value.analyse_value(customers, labels, (1, 2))
    shares = [s.revenue_share for s in result.segments]
    assert sum(shares) == pytest.approx(1.0)
    assert sum(s.customers for s in result.segments) == len(customers)
    assert result.total_revenue == pytest.approx(customers["net_spend"].sum())
    loyal, lapsed = result.segments
    assert loyal.revenue_share > loyal.customer_share  # worth more than its headcount
    assert loyal.mean_value_12m > 3 * lapsed.mean_value_12m
    assert loyal.mean_prob_active > lapsed.mean_prob_active
    assert result.model.problem is None and result.model.bgnbd is not None


def test_every_customer_gets_scores_a_group_and_a_value():
    customers, labels = population(500)
    result = value.analyse_value(customers, labels, (1, 2))
    per = result.customers
    assert len(per.group) == len(per.recency_score) == len(customers)
    assert set(np.unique(per.recency_score)) <= {1, 2, 3, 4, 5}
    assert per.value_12m is not None and np.isfinite(per.value_12m).all()
    assert (per.prob_active >= 0).all() and (per.prob_active <= 1).all()
    assert set(per.group) <= set(result.grid.names)


def test_a_segment_mostly_in_one_rfm_group_is_dominated_by_it():
    customers, labels = population()
    result = value.analyse_value(customers, labels, (1, 2))
    for seg in result.segments:
        top = max(seg.groups.values())
        assert (seg.dominant_group is not None) == (top / seg.customers >= value.DOMINANT_SHARE)


def test_the_pareto_curve_rises_from_nothing_to_everything():
    spend = np.array([100.0, 50.0, 25.0, 25.0])
    curve = value.pareto_curve(spend)
    assert curve[0] == (0.0, 0.0) and curve[-1] == (1.0, 1.0)
    assert all(b[1] >= a[1] for a, b in zip(curve, curve[1:], strict=False))
    assert dict(curve)[0.25] == pytest.approx(0.5)  # the top quarter holds half the revenue
    assert value.pareto_curve(np.array([0.0, 0.0])) == ()


def test_a_log_without_repeat_buyers_gets_no_predictions_and_says_why():
    customers, labels = population(200)
    customers["repeat_days_frequency"] = 0.0
    customers["recency_weeks"] = 0.0
    customers["repeat_mean_spend"] = 0.0
    result = value.analyse_value(customers, labels, (1, 2))
    assert result.model.problem and result.customers.value_12m is None
    assert result.segments[0].value_12m is None


def test_the_same_customers_in_another_order_give_the_same_numbers():
    customers, labels = population(800)
    order = np.random.default_rng(1).permutation(len(customers))
    a = value.analyse_value(customers, labels, (1, 2))
    b = value.analyse_value(customers.iloc[order].reset_index(drop=True), labels[order], (1, 2))
    assert a.model.bgnbd == b.model.bgnbd
    assert [s.value_12m for s in a.segments] == pytest.approx([s.value_12m for s in b.segments])
    assert np.array_equal(a.customers.group[order], b.customers.group)


def test_moves_between_rfm_groups_are_counted_by_customer():
    from reportgen.analysis import rfm

    grid = rfm.load_grid()
    before = pd.Series(["Loyal", "Loyal", "Champions", "Lost"], index=["a", "b", "c", "d"])
    now_ids = pd.Series(["a", "b", "c", "e"])
    now = np.array(["At risk", "Loyal", "Champions", "New"], dtype=np.str_)
    m = value.rfm_migration(before, now_ids, now, grid)
    assert m.followed == 3  # d left, e is new
    assert m.moves() == ((1, "Loyal", "At risk"),)
    assert int(np.trace(m.counts)) == 2
