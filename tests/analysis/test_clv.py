"""BG/NBD and Gamma-Gamma (reportgen.analysis.clv) against Fader & Hardie's CDNOW numbers.

Published values: Fader, Hardie & Lee (2005), "Counting your customers the easy way" (BG/NBD on
the 2,357-customer CDNOW sample, 39-week calibration), and Fader & Hardie's note "The Gamma-Gamma
model of monetary value" (946 repeat buyers).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import gammaln

from reportgen.analysis import clv
from reportgen.errors import InputError

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "cdnow_sample.txt"

# Calibration ends on 1997-09-30: purchases on that day count, and T runs from the first purchase
# day to 1997-09-30 in weeks. That is what reproduces the published fit (customer 1 gets
# T = 272 / 7 = 38.86, as in Fader & Hardie's spreadsheet). Measuring T to the end of week 39
# (1997-10-01) instead shifts every T by 1/7 and gives a = 0.814, LL = -9589.9, outside the
# published values.
AS_OF = "1997-09-30"
PUBLISHED = clv.BGNBDParams(
    r=0.243, alpha=4.414, a=0.793, b=2.426, log_likelihood=-9582.4, n_customers=2357
)


def read_cdnow() -> pd.DataFrame:
    """The fixture: sample id, purchase date, number of CDs, dollar amount per transaction."""
    names = ["cohort_id", "customer", "date", "cds", "amount"]
    frame = pd.read_csv(FIXTURE, sep=r"\s+", header=None, names=names, dtype={"date": str})
    frame["date"] = pd.to_datetime(frame["date"], format="%Y%m%d")
    return frame


@pytest.fixture(scope="module")
def cdnow() -> clv.CustomerSummary:
    frame = read_cdnow()
    return clv.summary_from_transactions(
        frame["customer"], frame["date"], frame["amount"], as_of=AS_OF, period_days=7.0
    )


@pytest.fixture(scope="module")
def cdnow_bg(cdnow: clv.CustomerSummary) -> clv.BGNBDParams:
    return clv.fit_bgnbd(cdnow.frequency, cdnow.recency, cdnow.T)


@pytest.fixture(scope="module")
def cdnow_gg(cdnow: clv.CustomerSummary) -> clv.GammaGammaParams:
    return clv.fit_gamma_gamma(cdnow.frequency, cdnow.monetary)


def simulate_bgnbd(rng, n, *, r, alpha, a, b, T, t_hold=0.0):
    """Draw customers from BG/NBD: (frequency, recency) in [0, T] and purchases in (T, T+t_hold].

    Each customer buys at a Poisson rate lambda ~ Gamma(r, rate alpha) from time 0 and, after
    every repeat purchase, drops out with probability p ~ Beta(a, b).
    """
    lam, p = rng.gamma(r, 1.0 / alpha, n), rng.beta(a, b, n)
    x, tx, hold, t = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    active = np.ones(n, dtype=bool)
    while active.any():
        t = np.where(active, t + rng.exponential(1.0, n) / lam, t)
        active &= t <= T + t_hold
        cal = active & (t <= T)
        x[cal] += 1
        tx[cal] = t[cal]
        hold[active & (t > T)] += 1
        active &= rng.random(n) >= p
    return x, tx, hold


def simulate_gamma_gamma(rng, n, *, p, q, v):
    """Repeat buyers with 1-10 transactions; each one's mean spend under Gamma-Gamma."""
    x = rng.integers(1, 11, n).astype(float)
    nu = rng.gamma(q, 1.0 / v, n)
    return x, rng.gamma(p * x, 1.0 / (nu * x))  # the mean of x Gamma(p, rate nu) values


# --- the fixture and the summary ------------------------------------------------------------


def test_fixture_is_the_cdnow_sample():
    frame = read_cdnow()
    assert len(frame) == 6919
    assert frame["customer"].nunique() == 2357
    assert FIXTURE.read_bytes().count(b"\r\n") == 6919


def test_cdnow_summary_matches_fader_hardie(cdnow):
    assert len(cdnow.frequency) == 2357
    assert (cdnow.frequency > 0).sum() == 946
    assert cdnow.frequency.sum() == 2457  # repeat transactions in weeks 1-39
    # Customer 1, the first row of Fader & Hardie's spreadsheet: x = 2, t_x = 30.43, T = 38.86.
    assert cdnow.customer_ids[0] == 1
    row = (cdnow.frequency[0], cdnow.recency[0], cdnow.T[0])
    assert row == pytest.approx((2, 30.43, 38.86), abs=0.005)


def test_summary_from_a_small_log():
    days = np.array(["2024-01-01", "2024-01-01", "2024-01-08", "2024-01-15", "2024-02-01"])
    ids = np.array(["a", "a", "a", "a", "a"])
    amounts = np.array([10.0, 5.0, 20.0, 30.0, 100.0])
    more_ids = np.append(ids, ["b", "c", "c"])
    more_days = np.append(days, ["2024-03-01", "2024-01-29", "2024-01-29"])
    more_amounts = np.append(amounts, [1.0, 4.0, 6.0])
    summary = clv.summary_from_transactions(
        more_ids, more_days.astype("datetime64[D]"), more_amounts, as_of="2024-01-29"
    )
    # a: two same-day purchases count once; the purchase after as_of is left out.
    # b: only buys after as_of, so is dropped. c: one purchase day, on as_of itself.
    assert list(summary.customer_ids) == ["a", "c"]
    assert list(summary.frequency) == [2.0, 0.0]
    assert list(summary.recency) == [2.0, 0.0]
    assert list(summary.T) == [4.0, 0.0]
    assert list(summary.monetary) == [25.0, 0.0]


def test_summary_rejects_bad_logs():
    days = np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[D]")
    with pytest.raises(InputError, match="equal length"):
        clv.summary_from_transactions(["a"], days, [1.0, 2.0], as_of="2024-02-01")
    with pytest.raises(InputError, match="no purchases"):
        clv.summary_from_transactions(["a", "a"], days, [1.0, 2.0], as_of="2023-12-31")
    with pytest.raises(InputError, match="period_days"):
        clv.summary_from_transactions(["a", "a"], days, [1, 2], as_of="2024-02-01", period_days=0)


# --- BG/NBD -----------------------------------------------------------------------------------


def test_bgnbd_reproduces_the_published_cdnow_fit(cdnow_bg):
    assert cdnow_bg.r == pytest.approx(PUBLISHED.r, abs=0.005)
    assert cdnow_bg.alpha == pytest.approx(PUBLISHED.alpha, abs=0.005)
    assert cdnow_bg.a == pytest.approx(PUBLISHED.a, abs=0.005)
    assert cdnow_bg.b == pytest.approx(PUBLISHED.b, abs=0.005)
    assert cdnow_bg.log_likelihood == pytest.approx(PUBLISHED.log_likelihood, abs=0.5)
    assert cdnow_bg.n_customers == 2357


def test_bgnbd_log_likelihood_is_the_per_customer_sum(cdnow, cdnow_bg):
    # Written out directly, customer by customer, to check the grouped and weighted objective.
    r, alpha, a, b = cdnow_bg.r, cdnow_bg.alpha, cdnow_bg.a, cdnow_bg.b
    x, tx, T = cdnow.frequency, cdnow.recency, cdnow.T
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    lik = np.exp(-(r + x) * np.log(alpha + T))
    drop = a / np.maximum(b + x - 1, 1e-12) * np.exp(-(r + x) * np.log(alpha + tx))
    total = np.sum(a1 + a2 + np.log(lik + np.where(x > 0, drop, 0.0)))
    assert cdnow_bg.log_likelihood == pytest.approx(total, abs=1e-6)


def test_bgnbd_is_independent_of_input_order(cdnow, cdnow_bg):
    order = np.random.default_rng(7).permutation(len(cdnow.frequency))
    shuffled = clv.fit_bgnbd(cdnow.frequency[order], cdnow.recency[order], cdnow.T[order])
    assert shuffled == cdnow_bg


def test_bgnbd_time_unit_only_rescales_alpha(cdnow, cdnow_bg):
    days = clv.fit_bgnbd(cdnow.frequency, cdnow.recency * 7, cdnow.T * 7)
    assert (days.r, days.a, days.b) == pytest.approx((cdnow_bg.r, cdnow_bg.a, cdnow_bg.b), 1e-4)
    assert days.alpha == pytest.approx(cdnow_bg.alpha * 7, rel=1e-4)


def test_bgnbd_recovers_simulated_parameters():
    rng = np.random.default_rng(20240601)
    truth = {"r": 0.8, "alpha": 8.0, "a": 0.6, "b": 2.5}
    T = rng.uniform(30, 78, 5000)
    x, tx, hold = simulate_bgnbd(rng, 5000, T=T, t_hold=26.0, **truth)
    fit = clv.fit_bgnbd(x, tx, T)
    # About three sampling SDs at n = 5,000 (from 20 seeds): a and b are the least determined.
    assert fit.r == pytest.approx(truth["r"], rel=0.10)
    assert fit.alpha == pytest.approx(truth["alpha"], rel=0.15)
    assert fit.a == pytest.approx(truth["a"], rel=0.25)
    assert fit.b == pytest.approx(truth["b"], rel=0.30)
    # The conditional expectation predicts the simulated next 26 weeks in total.
    predicted = clv.expected_purchases(fit, 26.0, x, tx, T).sum()
    assert predicted == pytest.approx(hold.sum(), rel=0.06)


def test_expected_purchases_matches_hardies_spreadsheet():
    # With the published parameters, customer 1 (x = 2, t_x = 30.43, T = 38.86) is expected to
    # make 1.226 purchases in the next 39 weeks (Hardie's BG/NBD Excel sheet; lifetimes' test).
    value = clv.expected_purchases(PUBLISHED, 39, [2], [30.43], [38.86])
    assert value[0] == pytest.approx(1.226, abs=5e-4)


def test_expected_purchases_grow_with_t(cdnow, cdnow_bg):
    ts = [0.0, 1.0, 4.0, 13.0, 52.0, 520.0]
    curves = np.array(
        [clv.expected_purchases(cdnow_bg, t, cdnow.frequency, cdnow.recency, cdnow.T) for t in ts]
    )
    assert np.all(np.isfinite(curves))
    assert np.all(curves[0] == 0)
    assert np.all(np.diff(curves, axis=0) > 0)


def test_expected_purchases_start_at_the_alive_rate(cdnow_bg):
    # For small t, E[Y(t)] / t tends to P(alive) E[lambda | history] = P(alive) (r+x) / (alpha+T).
    x, tx, T = np.array([0.0, 2, 7]), np.array([0.0, 30.43, 35]), np.array([30.0, 38.86, 38.86])
    slope = clv.expected_purchases(cdnow_bg, 1e-6, x, tx, T) / 1e-6
    rate = (cdnow_bg.r + x) / (cdnow_bg.alpha + T)
    assert slope == pytest.approx(clv.prob_alive(cdnow_bg, x, tx, T) * rate, rel=1e-4)


def test_prob_alive(cdnow, cdnow_bg):
    alive = clv.prob_alive(cdnow_bg, cdnow.frequency, cdnow.recency, cdnow.T)
    # Drop-out happens only right after a repeat purchase, so no repeat purchase means alive.
    assert np.all(alive[cdnow.frequency == 0] == 1.0)
    assert np.all((alive[cdnow.frequency > 0] > 0) & (alive[cdnow.frequency > 0] < 1))
    # The longer the silence since the last purchase, the less likely the customer is alive.
    silence = clv.prob_alive(cdnow_bg, [3, 3, 3], [10, 10, 10], [10, 20, 40])
    assert silence[0] > silence[1] > silence[2]


@pytest.mark.parametrize(
    ("frequency", "recency", "T", "message"),
    [
        ([1, 2], [1, 2], [3, 3, 3], "differ in length"),
        ([1, -2, 0], [1, 2, 0], [3, 3, 3], "negative"),
        ([1, 2, 0], [1, 4, 0], [3, 3, 3], "recency exceeds T"),
        ([1, 2.5, 0], [1, 2, 0], [3, 3, 3], "whole number"),
        ([1, np.nan, 0], [1, 2, 0], [3, 3, 3], "missing"),
        ([1, 0, 0], [1, 2, 0], [3, 3, 3], "recency must be 0"),
        ([[1, 0]], [[1, 0]], [[3, 3]], "one-dimensional"),
        (["x", 0, 0], [1, 0, 0], [3, 3, 3], "numeric"),
    ],
)
def test_invalid_inputs_raise_input_error(frequency, recency, T, message):
    for call in (clv.fit_bgnbd, lambda *a: clv.prob_alive(PUBLISHED, *a)):
        with pytest.raises(InputError, match=message) as err:
            call(frequency, recency, T)
        assert "\n" not in str(err.value)


def test_too_little_data_raises_input_error():
    with pytest.raises(InputError, match="at least 10 customers"):
        clv.fit_bgnbd([1, 0, 2], [1, 0, 2], [3, 3, 3])
    with pytest.raises(InputError, match="no customer made a repeat purchase"):
        clv.fit_bgnbd(np.zeros(50), np.zeros(50), np.full(50, 10.0))
    with pytest.raises(InputError, match="horizon"):
        clv.expected_purchases(PUBLISHED, -1.0, [1], [1], [2])


def test_cdnow_shows_drop_out(cdnow_bg: clv.BGNBDParams) -> None:
    assert cdnow_bg.dropout_identified


def test_a_log_without_drop_out_is_fitted_as_the_no_drop_out_limit():
    # Everyone is still buying at the end of calibration: nothing shows drop-out, so the
    # likelihood improves without end as the drop-out probability goes to 0. That limit (the NBD
    # model: everyone active) is the answer, flagged, not a failure.
    rng = np.random.default_rng(0)
    T = rng.uniform(20, 52, 500)
    x = rng.poisson(5, 500).astype(float)
    fit = clv.fit_bgnbd(x, np.where(x > 0, T, 0.0), T)
    assert not fit.dropout_identified
    assert fit.a / (fit.a + fit.b) < 1e-3  # the drop-out probability after a purchase
    alive = clv.prob_alive(fit, x, np.where(x > 0, T, 0.0), T)
    assert alive.min() > 0.99
    rate = (x / T).mean()  # purchases per week, as the model's r / alpha
    assert fit.r / fit.alpha == pytest.approx(rate, rel=0.1)


# --- Gamma-Gamma --------------------------------------------------------------------------


def test_gamma_gamma_reproduces_the_published_cdnow_fit(cdnow_gg):
    assert cdnow_gg.n_customers == 946
    assert cdnow_gg.p == pytest.approx(6.25, rel=0.02)
    assert cdnow_gg.q == pytest.approx(3.74, rel=0.02)
    assert cdnow_gg.v == pytest.approx(15.44, rel=0.02)


def test_gamma_gamma_recovers_simulated_parameters():
    x, m = simulate_gamma_gamma(np.random.default_rng(11), 5000, p=2.0, q=6.0, v=100.0)
    fit = clv.fit_gamma_gamma(x, m)
    # p and v lie on a ridge (only per-customer means are seen); q and the mean are sharp.
    assert fit.q == pytest.approx(6.0, rel=0.15)
    assert fit.p * fit.v / (fit.q - 1) == pytest.approx(2.0 * 100.0 / 5.0, rel=0.05)
    assert fit.p == pytest.approx(2.0, rel=0.25)


def test_gamma_gamma_is_independent_of_order_and_currency(cdnow, cdnow_gg):
    order = np.random.default_rng(3).permutation(len(cdnow.frequency))
    assert clv.fit_gamma_gamma(cdnow.frequency[order], cdnow.monetary[order]) == cdnow_gg
    cents = clv.fit_gamma_gamma(cdnow.frequency, cdnow.monetary * 100)
    assert (cents.p, cents.q) == pytest.approx((cdnow_gg.p, cdnow_gg.q), rel=1e-4)
    assert cents.v == pytest.approx(cdnow_gg.v * 100, rel=1e-4)


def test_expected_spend(cdnow, cdnow_gg):
    spend = clv.expected_spend(cdnow_gg, cdnow.frequency, cdnow.monetary)
    population = cdnow_gg.p * cdnow_gg.v / (cdnow_gg.q - 1)
    assert np.all(spend[cdnow.frequency == 0] == pytest.approx(population))
    # A repeat buyer's expectation lies between their own mean and the population mean.
    rep = cdnow.frequency > 0
    low = np.minimum(cdnow.monetary[rep], population)
    high = np.maximum(cdnow.monetary[rep], population)
    assert np.all((spend[rep] >= low - 1e-9) & (spend[rep] <= high + 1e-9))
    # Monetary is not looked at for customers without a repeat purchase.
    assert clv.expected_spend(cdnow_gg, [0], [np.nan])[0] == pytest.approx(population)


def test_gamma_gamma_errors():
    with pytest.raises(InputError, match="mean spend is undefined"):
        clv.expected_spend(clv.GammaGammaParams(2.0, 0.9, 10.0, 100), [1], [10.0])
    with pytest.raises(InputError, match="at least 10 repeat buyers"):
        clv.fit_gamma_gamma([1, 2, 0], [10.0, 20.0, 0.0])
    with pytest.raises(InputError, match="positive"):
        clv.fit_gamma_gamma([1, 2, 0], [10.0, -20.0, 0.0])
    with pytest.raises(InputError, match="did not converge"):
        clv.fit_gamma_gamma(np.arange(1.0, 51.0), np.full(50, 20.0))  # no spread at all


def test_spend_frequency_correlation(cdnow):
    r = clv.spend_frequency_correlation(cdnow.frequency, cdnow.monetary)
    assert r == pytest.approx(0.11, abs=0.01)
    assert abs(r) < clv.SPEND_CORRELATION_WARNING
    x = np.arange(1.0, 101.0)
    assert clv.spend_frequency_correlation(x, 5 * x + 10) == pytest.approx(1.0)
    assert np.isnan(clv.spend_frequency_correlation([1, 0], [10.0, 0.0]))


# --- customer value -----------------------------------------------------------------------


def test_customer_value(cdnow, cdnow_bg, cdnow_gg):
    args = (cdnow_bg, cdnow_gg, cdnow.frequency, cdnow.recency, cdnow.T, cdnow.monetary)
    year = clv.customer_value(*args, horizon=52.0, periods_per_year=52.0)
    undiscounted = clv.customer_value(
        *args, horizon=52.0, periods_per_year=52.0, annual_discount_rate=0.0
    )
    two_years = clv.customer_value(*args, horizon=104.0, periods_per_year=52.0)
    assert np.all(np.isfinite(year)) and np.all(year > 0)
    # Without discounting the steps telescope to expected spend x expected purchases.
    spend = clv.expected_spend(cdnow_gg, cdnow.frequency, cdnow.monetary)
    purchases = clv.expected_purchases(cdnow_bg, 52.0, cdnow.frequency, cdnow.recency, cdnow.T)
    assert undiscounted == pytest.approx(spend * purchases, rel=1e-9)
    assert np.all(year < undiscounted)
    assert np.all(two_years > year)
    # Monthly steps at 10 % a year discount each month's purchases by 0.8 % to 9.1 %.
    assert np.all(year / undiscounted > 1 / 1.1)


def test_customer_value_rejects_bad_options(cdnow_gg):
    args = (PUBLISHED, cdnow_gg, [1], [1], [2], [10.0])
    with pytest.raises(InputError, match="horizon"):
        clv.customer_value(*args, horizon=0.0, periods_per_year=52.0)
    with pytest.raises(InputError, match="discount"):
        clv.customer_value(*args, horizon=52.0, periods_per_year=52.0, annual_discount_rate=-1)
    bad = replace(cdnow_gg, q=1.0)
    with pytest.raises(InputError, match="mean spend is undefined"):
        clv.customer_value(
            PUBLISHED, bad, [1], [1], [2], [10.0], horizon=52.0, periods_per_year=52.0
        )
