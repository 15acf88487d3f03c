"""Customer-lifetime-value models: BG/NBD for purchase counts, Gamma-Gamma for spend.

Pure computation on numpy arrays, one entry per customer. The time unit is whatever the caller
measured recency and T in (weeks in the CDNOW tests); every rate and horizon is in that unit.

* BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): while alive a
  customer buys at a Poisson rate lambda ~ Gamma(r, alpha); after each purchase they drop out with
  probability p ~ Beta(a, b).
* Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV"; Hardie's note "The Gamma-Gamma model of
  monetary value"): each repeat transaction's value is Gamma(p, nu) with nu ~ Gamma(q, v) across
  customers, independent of the purchase process.

Each fit maximises the closed-form log-likelihood over log-parameters with L-BFGS-B and an
analytic gradient. Every problem the caller can fix (bad input, too little data, no convergence)
raises ``InputError`` with a one-line message.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import expit, gammaln, hyp2f1, psi

from reportgen.errors import InputError

FloatArray = NDArray[np.float64]
ObjectiveFn = Callable[[FloatArray], tuple[float, FloatArray]]

MIN_CUSTOMERS = 10
"""Fewer customers than this cannot pin down four BG/NBD parameters."""
MIN_REPEAT_BUYERS = 10
"""Gamma-Gamma needs at least this many repeat buyers; BG/NBD needs at least one."""
SPEND_CORRELATION_WARNING = 0.3
"""|Pearson r| between frequency and spend above which Gamma-Gamma's independence is doubtful."""

# Log-parameters are boxed so that exp() stays finite. The data are rescaled to order 1 before a
# fit, so a parameter beyond 1e-4..1e4 means the likelihood keeps improving as it runs off to 0 or
# infinity along a ridge (e.g. nobody ever drops out): the model is not identified by the data.
_LOG_BOUND = 15.0
_LOG_IDENTIFIED = math.log(1e4)


@dataclass(frozen=True)
class BGNBDParams:
    """Fitted BG/NBD parameters: purchase rate ~ Gamma(r, alpha), drop-out ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    n_customers: int
    # False when the fit ran to a -> 0 or b -> infinity: the log shows (almost) no customer
    # dropping out, and the model is in effect the NBD (everyone still active).
    dropout_identified: bool = True


@dataclass(frozen=True)
class GammaGammaParams:
    """Fitted Gamma-Gamma spend parameters (p, q, v), from ``n_customers`` repeat buyers."""

    p: float
    q: float
    v: float
    n_customers: int


@dataclass(frozen=True)
class CustomerSummary:
    """Per-customer inputs for the models, in ascending order of customer id."""

    customer_ids: NDArray[np.generic]
    frequency: FloatArray
    recency: FloatArray
    T: FloatArray
    monetary: FloatArray


def _as_vector(name: str, values: ArrayLike) -> FloatArray:
    """One finite, non-negative float per customer, or InputError naming the argument."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be numeric") from None
    if arr.ndim != 1:
        raise InputError(f"{name} must be one-dimensional (one value per customer)")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} contains missing or infinite values")
    if np.any(arr < 0):
        raise InputError(f"{name} contains negative values")
    return arr


def _check_rft(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Validate the BG/NBD inputs and return them as float arrays."""
    x = _as_vector("frequency", frequency)
    tx = _as_vector("recency", recency)
    big_t = _as_vector("T", T)
    if not (len(x) == len(tx) == len(big_t)):
        raise InputError(
            f"frequency, recency and T differ in length ({len(x)}, {len(tx)}, {len(big_t)})"
        )
    if np.any(x != np.round(x)):
        raise InputError("frequency must be a whole number of repeat purchases")
    if np.any(tx > big_t):
        raise InputError("recency exceeds T for some customers (last purchase after the end)")
    if np.any((x == 0) & (tx > 0)):
        raise InputError("recency must be 0 for customers with no repeat purchase")
    return x, tx, big_t


def _group_triples(
    x: FloatArray, tx: FloatArray, big_t: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Distinct (x, tx, T) rows in sorted order and how many customers share each.

    Sorting by value (not first occurrence) makes the fit independent of the input order, down
    to the last bit of the summed likelihood.
    """
    order = np.lexsort((big_t, tx, x))
    xs, txs, ts = x[order], tx[order], big_t[order]
    starts = np.ones(len(xs), dtype=bool)
    starts[1:] = (xs[1:] != xs[:-1]) | (txs[1:] != txs[:-1]) | (ts[1:] != ts[:-1])
    first = np.flatnonzero(starts)
    counts = np.diff(np.append(first, len(xs))).astype(np.float64)
    return xs[first], txs[first], ts[first], counts


def _bgnbd_objective(
    x: FloatArray, tx: FloatArray, big_t: FloatArray, w: FloatArray
) -> ObjectiveFn:
    """Mean negative log-likelihood and its gradient in log-parameters, for grouped customers.

    The log-likelihood is A1 + A2 + log(exp(A3) + exp(A4)) (Fader, Hardie & Lee 2005, eq. 6).
    A1 and A2 depend on the data only through x, which takes few distinct values, so their
    special functions are evaluated once per distinct x rather than once per row.
    """
    total = float(w.sum())
    ux, inv = np.unique(x, return_inverse=True)
    wx = np.bincount(inv, weights=w)
    rep = x > 0

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        r, alpha, a, b = np.exp(theta)
        a12 = gammaln(r + ux) - gammaln(r) + gammaln(a + b) + gammaln(b + ux) - gammaln(b)
        a12 -= gammaln(a + b + ux)
        log_at, log_atx = np.log(alpha + big_t), np.log(alpha + tx)
        a3 = -(r + x) * log_at
        # The drop-out branch exists only after a repeat purchase; b + x - 1 > 0 there.
        bx1 = np.where(rep, b + x - 1.0, 1.0)
        a4 = np.where(rep, np.log(a) - np.log(bx1) - (r + x) * log_atx, -np.inf)
        ll = wx @ a12 + total * r * np.log(alpha) + w @ np.logaddexp(a3, a4)
        w4 = w * np.where(rep, expit(a4 - a3), 0.0)  # weight of the A4 branch in each row
        w3 = w - w4
        g_r = wx @ (psi(r + ux) - psi(r)) + total * np.log(alpha) - w3 @ log_at - w4 @ log_atx
        g_alpha = total * r / alpha - (r + x) @ (w3 / (alpha + big_t) + w4 / (alpha + tx))
        g_a = wx @ (psi(a + b) - psi(a + b + ux)) + w4.sum() / a
        g_b = wx @ (psi(a + b) + psi(b + ux) - psi(b) - psi(a + b + ux)) - w4 @ (1.0 / bx1)
        grad = np.array([g_r * r, g_alpha * alpha, g_a * a, g_b * b])
        return -float(ll) / total, -grad / total

    return objective


def _fit_log_params(
    model: str,
    names: tuple[str, ...],
    objective: ObjectiveFn,
    may_vanish: dict[str, float] | None = None,
) -> FloatArray:
    """Minimise ``objective`` over log-parameters, from 0 (all parameters 1); InputError if stuck.

    Callers rescale their data to order 1 first, so that this one start and box suit any unit.
    ``may_vanish`` names parameters allowed to run to an edge of the box in one direction
    (-1: towards 0, +1: towards infinity), where the model has a meaningful limit.
    """
    start = np.zeros(len(names))
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(names)
    with np.errstate(all="ignore"):
        res = minimize(
            objective,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-9},
        )
    theta = np.asarray(res.x, dtype=np.float64)
    if not np.isfinite(res.fun) or not np.all(np.isfinite(theta)):
        raise InputError(f"{model} fit failed: the likelihood is not finite for this data")
    vanish = may_vanish or {}
    at_edge = [
        n
        for n, t in zip(names, theta, strict=True)
        if abs(t) > _LOG_IDENTIFIED and np.sign(t) != vanish.get(n)
    ]
    if at_edge:
        raise InputError(
            f"{model} fit did not converge: {', '.join(at_edge)} ran off towards 0 or infinity "
            "(the data cannot identify the model)"
        )
    # L-BFGS-B may stop on a line-search failure at a point that is already optimal; accept it
    # only when the gradient is flat, which is what convergence means here.
    grad = np.asarray(res.jac, dtype=np.float64)
    if not res.success and float(np.max(np.abs(grad))) > 1e-5:
        raise InputError(f"{model} fit did not converge: {res.message}")
    return theta


def fit_bgnbd(frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> BGNBDParams:
    """Fit BG/NBD by maximum likelihood.

    ``frequency`` is the number of repeat purchases (distinct purchase periods minus 1),
    ``recency`` the time from first to last purchase (0 when frequency is 0), ``T`` the time from
    first purchase to the end of calibration, all in one time unit. Customers with identical
    (frequency, recency, T) are grouped and weighted, so the cost grows with the number of distinct
    triples, not customers. Raises InputError on invalid input, fewer than ``MIN_CUSTOMERS``
    customers, no repeat buyer at all, or a fit that does not converge.
    """
    x, tx, big_t = _check_rft(frequency, recency, T)
    if len(x) < MIN_CUSTOMERS:
        raise InputError(f"BG/NBD needs at least {MIN_CUSTOMERS} customers, got {len(x)}")
    if not np.any(x > 0):
        raise InputError("BG/NBD cannot be fitted: no customer made a repeat purchase")
    # Only alpha carries the time unit, so fit in units of the median T and convert back. The
    # median (unlike the mean) does not depend on the input order, which keeps shuffles exact.
    scale = float(np.median(big_t)) or float(np.max(big_t)) or 1.0
    x_g, tx_g, t_g, counts = _group_triples(x, tx, big_t)
    scaled = _bgnbd_objective(x_g, tx_g / scale, t_g / scale, counts)
    # a -> 0 or b -> infinity is the limit where nobody drops out (the NBD model): a log that
    # short or that loyal cannot show drop-out, which is a finding, not a failure.
    theta = _fit_log_params("BG/NBD", ("r", "alpha", "a", "b"), scaled, {"a": -1.0, "b": 1.0})
    theta[1] += math.log(scale)
    identified = bool(theta[2] > -_LOG_IDENTIFIED and theta[3] < _LOG_IDENTIFIED)
    r, alpha, a, b = (float(v) for v in np.exp(theta))
    mean_nll, _ = _bgnbd_objective(x_g, tx_g, t_g, counts)(theta)
    return BGNBDParams(r, alpha, a, b, -mean_nll * len(x), len(x), identified)


def _log_dropout_odds(
    params: BGNBDParams, x: FloatArray, tx: FloatArray, big_t: FloatArray
) -> FloatArray:
    """log of P(dropped out) / P(alive) given the history; -inf when there is no repeat purchase."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    rep = x > 0
    bx1 = np.where(rep, b + x - 1.0, 1.0)
    odds = np.log(a / bx1) + (r + x) * (np.log(alpha + big_t) - np.log(alpha + tx))
    return np.asarray(np.where(rep, odds, -np.inf), dtype=np.float64)


def prob_alive(
    params: BGNBDParams, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> FloatArray:
    """P(customer still alive at T | frequency, recency, T) under BG/NBD.

    Exactly 1 for frequency 0: in BG/NBD a customer can drop out only right after a repeat
    purchase, so someone who never bought again cannot have left yet.
    """
    x, tx, big_t = _check_rft(frequency, recency, T)
    return np.asarray(expit(-_log_dropout_odds(params, x, tx, big_t)), dtype=np.float64)


def expected_purchases(
    params: BGNBDParams, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> FloatArray:
    """Expected number of purchases in the next ``t`` periods after T, per customer (BG/NBD).

    Eq. (10) of Fader, Hardie & Lee (2005). ``t`` is a scalar or broadcasts against the customer
    arrays. The formula divides by a - 1; it has a removable singularity at a = 1 exactly.
    """
    x, tx, big_t = _check_rft(frequency, recency, T)
    horizon = np.asarray(t, dtype=np.float64)
    if np.any(~np.isfinite(horizon)) or np.any(horizon < 0):
        raise InputError("the prediction horizon t must be finite and non-negative")
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = horizon / (alpha + big_t + horizon)
    shrink = np.exp((r + x) * np.log1p(-z))  # ((alpha + T) / (alpha + T + t)) ** (r + x)
    bracket = 1.0 - shrink * hyp2f1(r + x, b + x, a + b + x - 1.0, z)
    scale = (a + b + x - 1.0) / (a - 1.0)
    alive = expit(-_log_dropout_odds(params, x, tx, big_t))
    return np.asarray(scale * bracket * alive, dtype=np.float64)


def _repeat_buyers(frequency: ArrayLike, monetary: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Frequency and spend of the customers with frequency > 0; spend must be positive there."""
    x = _as_vector("frequency", frequency)
    m = np.asarray(monetary, dtype=np.float64)
    if m.shape != x.shape:
        raise InputError(f"frequency and monetary differ in length ({len(x)}, {m.size})")
    if np.any(x != np.round(x)):
        raise InputError("frequency must be a whole number of repeat purchases")
    rep = x > 0
    if not np.all(np.isfinite(m[rep])) or np.any(m[rep] <= 0):
        raise InputError("monetary must be positive and finite for every repeat buyer")
    return x[rep], m[rep]


def _gamma_gamma_objective(x: FloatArray, m: FloatArray) -> ObjectiveFn:
    """Mean negative log-likelihood of the mean spends and its gradient in log-parameters."""
    log_xm = np.log(x) + np.log(m)

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        p, q, v = np.exp(theta)
        px = p * x
        log_den = np.log(x * m + v)
        # Density of a customer's mean spend m given x transactions; (px - 1) log m + px log x
        # is written as px log(xm) - log m.
        ll = gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v)
        ll += px * log_xm - np.log(m) - (px + q) * log_den
        d_p = x * (psi(px + q) - psi(px) + log_xm - log_den)
        d_q = psi(px + q) - psi(q) + np.log(v) - log_den
        d_v = q / v - (px + q) / (x * m + v)
        grad = np.array([d_p.sum() * p, d_q.sum() * q, d_v.sum() * v])
        return -float(ll.sum()) / len(x), -grad / len(x)

    return objective


def fit_gamma_gamma(frequency: ArrayLike, monetary: ArrayLike) -> GammaGammaParams:
    """Fit the Gamma-Gamma spend model on the repeat buyers (frequency > 0).

    ``monetary`` is each customer's mean spend per repeat transaction; it is ignored (may be 0 or
    NaN) where frequency is 0. The model assumes spend is independent of frequency: check
    ``spend_frequency_correlation`` first. A fitted q <= 1 is returned as is, but then the mean
    spend is undefined and ``expected_spend`` refuses it.
    """
    x, m = _repeat_buyers(frequency, monetary)
    if len(x) < MIN_REPEAT_BUYERS:
        raise InputError(
            f"Gamma-Gamma needs at least {MIN_REPEAT_BUYERS} repeat buyers, got {len(x)}"
        )
    # Sorting fixes the summation order (shuffled input gives the same bits); only v carries
    # the currency unit, so fit in units of the median spend and convert back.
    order = np.lexsort((m, x))
    scale = float(np.median(m))
    objective = _gamma_gamma_objective(x[order], m[order] / scale)
    theta = _fit_log_params("Gamma-Gamma", ("p", "q", "v"), objective)
    p, q, v = (float(val) for val in np.exp(theta))
    v *= scale
    return GammaGammaParams(p, q, v, len(x))


def expected_spend(
    params: GammaGammaParams, frequency: ArrayLike, monetary: ArrayLike
) -> FloatArray:
    """Conditional expected value of a customer's future transactions (Gamma-Gamma).

    A weighted mean of the population mean p*v/(q-1) and the customer's own mean spend, the
    weight on the latter growing with frequency; for frequency 0 it is the population mean.
    Raises InputError when q <= 1 (the population mean spend is then infinite).
    """
    if params.q <= 1:
        raise InputError(f"Gamma-Gamma q = {params.q:.3g} <= 1: mean spend is undefined")
    x = _as_vector("frequency", frequency)
    m = np.asarray(monetary, dtype=np.float64)
    if m.shape != x.shape:
        raise InputError(f"frequency and monetary differ in length ({len(x)}, {m.size})")
    own = np.where(x > 0, x * np.nan_to_num(m), 0.0)  # monetary is meaningless at frequency 0
    if not np.all(np.isfinite(own)):
        raise InputError("monetary must be finite for every repeat buyer")
    p, q, v = params.p, params.q, params.v
    return np.asarray(p * (v + own) / (p * x + q - 1.0), dtype=np.float64)


def spend_frequency_correlation(frequency: ArrayLike, monetary: ArrayLike) -> float:
    """Pearson r between frequency and mean spend among repeat buyers.

    Gamma-Gamma assumes the two are independent. |r| above ``SPEND_CORRELATION_WARNING`` (0.3)
    is worth a warning to the reader; CDNOW's calibration period gives about 0.11. Returns NaN
    when there are fewer than two repeat buyers or either variable is constant among them.
    """
    x, m = _repeat_buyers(frequency, monetary)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(m) == 0:
        return math.nan
    return float(np.corrcoef(x, m)[0, 1])


def customer_value(
    bg: BGNBDParams,
    gg: GammaGammaParams,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    monetary: ArrayLike,
    *,
    horizon: float,
    periods_per_year: float,
    annual_discount_rate: float = 0.1,
    steps_per_year: int = 12,
) -> FloatArray:
    """Discounted expected spend over the next ``horizon`` periods, per customer.

    The horizon is cut into steps of 1/``steps_per_year`` of a year (monthly by default; the last
    step may be shorter). Expected purchases in each step (the difference of
    ``expected_purchases`` at its two ends) times ``expected_spend`` is discounted to T from the
    end of the step at ``annual_discount_rate``, as lifetimes' ``customer_lifetime_value`` does.
    ``periods_per_year`` says how many of the caller's time units make a year (52.18 for weeks).
    """
    for name, val in (("horizon", horizon), ("periods_per_year", periods_per_year)):
        if not (math.isfinite(val) and val > 0):
            raise InputError(f"{name} must be a positive number, got {val}")
    if not (math.isfinite(annual_discount_rate) and annual_discount_rate > -1):
        raise InputError(f"annual_discount_rate must exceed -1, got {annual_discount_rate}")
    if steps_per_year < 1:
        raise InputError(f"steps_per_year must be at least 1, got {steps_per_year}")
    spend = expected_spend(gg, frequency, monetary)
    step = periods_per_year / steps_per_year
    n_steps = math.ceil(horizon / step - 1e-9)  # a horizon of exactly 12 months is 12 steps
    ends = np.minimum(np.arange(1, n_steps + 1) * step, horizon)
    value = np.zeros_like(spend)
    done = np.zeros_like(spend)
    for end in ends:
        upto = expected_purchases(bg, end, frequency, recency, T)
        value += spend * (upto - done) / (1.0 + annual_discount_rate) ** (end / periods_per_year)
        done = upto
    return value


def summary_from_transactions(
    customer_ids: ArrayLike,
    dates: ArrayLike,
    amounts: ArrayLike,
    *,
    as_of: str | np.datetime64 | date,
    period_days: float = 7.0,
) -> CustomerSummary:
    """Turn a transaction log into per-customer (frequency, recency, T, monetary).

    Transactions are grouped by calendar day (times of day are dropped), so frequency is the number
    of distinct purchase days minus 1 and monetary is the mean per-day spend over the repeat days
    (the first purchase day excluded, as lifetimes does; 0 for frequency 0). Purchases on days
    after ``as_of`` are excluded, purchases on ``as_of`` itself count, and customers with no
    purchase left are dropped. recency and T are whole days from the first purchase day to the
    last purchase day and to ``as_of`` respectively, divided by ``period_days`` (so a purchase
    on ``as_of`` has recency = T). This is lifetimes' ``observation_period_end`` convention, and
    the one that reproduces Fader & Hardie's published CDNOW fit with as_of = 1997-09-30.
    """
    if not (math.isfinite(period_days) and period_days > 0):
        raise InputError(f"period_days must be a positive number, got {period_days}")
    try:
        day = np.asarray(dates, dtype="datetime64[D]")
        cutoff = pd.Timestamp(as_of).normalize()
    except (TypeError, ValueError):
        raise InputError("dates and as_of must be dates") from None
    ids, spend = np.asarray(customer_ids), np.asarray(amounts, dtype=np.float64)
    if not (ids.shape == day.shape == spend.shape and day.ndim == 1):
        raise InputError("customer_ids, dates and amounts must be 1-D and of equal length")
    if np.any(np.isnat(day)) or not np.all(np.isfinite(spend)):
        raise InputError("the transactions contain missing dates or amounts")
    frame = pd.DataFrame({"id": ids, "day": day, "amount": spend})
    frame = frame[frame["day"] <= cutoff]
    if frame.empty:
        raise InputError(f"no purchases on or before {cutoff.date()}")
    daily = frame.groupby(["id", "day"], sort=True)["amount"].sum().reset_index()
    per = daily.groupby("id", sort=True)["day"]
    first_day, last_day = per.min(), per.max()
    repeat = daily[daily["day"] != per.transform("min")]
    monetary = repeat.groupby("id")["amount"].mean().reindex(first_day.index, fill_value=0.0)
    first = first_day.to_numpy().astype("datetime64[D]")
    last = last_day.to_numpy().astype("datetime64[D]")
    end = np.datetime64(cutoff.date(), "D")
    return CustomerSummary(
        customer_ids=first_day.index.to_numpy(),
        frequency=np.asarray(per.size().to_numpy() - 1, dtype=np.float64),
        recency=(last - first).astype(np.float64) / period_days,
        T=(end - first).astype(np.float64) / period_days,
        monetary=monetary.to_numpy(dtype=np.float64),
    )
