"""Preparation on a cluster: the fitted steps of `prepare` from every row, without holding them.

`prepare.fit_steps` on a uniform sample decides the shape of each step (its kind, the blank
policy, a categorical column's levels, a yes/no column's positive value). The numbers that need
every row are then computed on the cluster with `prepare`'s own rules, exactly, in two passes
over the rows the rules keep (each pass re-reads and re-prepares every partition, so passes are
what a cluster fit costs):

1. **first pass**: every number column's exact moments (count, blanks, mean, M2, M3, min, max;
   those of log(1 + x) too for a column the skew rule may log) and the values in a *window*
   around its median, with the count below the window. The window comes from the sample: its
   order statistics Z_WINDOW sampling SDs either side of the median (at most about WINDOW_MAX
   rows wide), so the two middle order statistics of every row are read off the gathered values.
   Then, without a pass: the fill-in value (the median; a yes/no column's most common value);
   the filled-in values' moments (the non-blank moments merged with the blanks as copies of the
   fill-in value) and so the skew rule and a date's reference day; the median of the
   transformed values (with blanks filled in it is the fill-in value's, which sits at the
   median; else the middle order statistics transformed, log(1 + x) keeping their order).
2. **second pass**: the transformed values' moments (the scaler without caps) and, per numeric
   column, the values of |x - median| in the sample's window around the MAD, with the values
   near the caps that any MAD in that window gives (`_Caps`: within the inner caps nothing is
   capped, beyond the outer ones everything is): once the MAD is read off, the caps (median ±
   OUTLIER_RSD × 1.4826 × MAD), how many values they move (kept when at most MAX_OUTLIER_SHARE)
   and the capped values' moments follow from those pieces.

Where a window misses (the sample was unlucky, or the window was held to WINDOW_MAX) that
column's statistic falls back to `dask_engine.order_statistics` (histogram bracketing, 2-4
passes) and, for its caps, one more pass: slower, never different.

Repeated ids (`repeated_rows`): the rows whose id an earlier row of the dataset has, found by a
hashed bucket search over the id column alone, are marked (`marked`) so that every pass leaves
them out under `prepare`'s reason, first.

What stays the sample's: the blank policy (a share of blanks within about 0.1 point of
AUTO_IMPUTE_ABOVE can decide differently) and the categorical levels with their shares (they
only centre and weight the one-hot block). A date's reference day is the latest date of every
row. `sample_prepared` applies the steps to the sample for the stages that work on samples.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from reportgen.analysis.dask_engine import (
    Moments,
    column_moments,
    dask_module,
    floats,
    merge_moments,
    order_statistics,
    part_moments,
    pick,
    point_mass,
    quantile_ranks,
    reduce_partitions,
)
from reportgen.analysis.prepare import (
    MAX_OUTLIER_SHARE,
    OUTLIER_RSD,
    SKEW_LIMIT,
    DropReason,
    FeatureStep,
    FittedSteps,
    PreparedData,
    apply_steps_rows,
    customer_ids,
    id_text,
    parse_column,
)
from reportgen.errors import InputError
from reportgen.io.dictionary import DataDictionary

LOG = "|log"  # suffix of a column's log(1 + x) candidate in the moments pass
Vector = NDArray[np.float64]


@dataclass(frozen=True)
class ClusterPrepared(PreparedData):
    """`PreparedData` of a sample of the rows, with the counts of the whole dataset: the matrices
    hold the sample (for choosing k, stability, the tests and the charts); `n_read`, `drops` and
    `n_kept` are every row's."""

    rows_kept: int = 0

    @property
    def n_kept(self) -> int:
        return self.rows_kept


def scale_rules(fitted: FittedSteps) -> dict[str, tuple[float, float]]:
    return {r.column: r.scale for r in fitted.rules if r.scale is not None}


def _numbers(steps: tuple[FeatureStep, ...]) -> tuple[FeatureStep, ...]:
    return tuple(s for s in steps if s.kind != "categorical")


# --------------------------------------------------------------------------------- partitions


def fit_rows(
    steps: tuple[FeatureStep, ...], rules: dict[str, tuple[float, float]], part: pd.DataFrame
) -> pd.DataFrame:
    """The rows the rules keep, each number column as parsed (NaN where blank): what the fit of
    each step sees. The transforms and caps are not applied (they are being fitted)."""
    part, repeat = split_repeats(part)
    if repeat is not None:
        part = part.loc[~repeat]
    plain = tuple(replace(s, transform="none", clip_low=None, clip_high=None) for s in steps)
    _, usable, _, _ = apply_steps_rows(part, plain, rules)
    return pd.DataFrame(
        {
            s.column: parse_column(part[s.column], s.kind, s).values.to_numpy(dtype=float)[usable]
            for s in _numbers(steps)
        }
    )


def _transformed(steps: tuple[FeatureStep, ...], part: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for s in steps:
        x = part[s.column].to_numpy(dtype=float)
        if s.impute is not None:
            x = np.where(np.isnan(x), s.impute, x)
        out[s.column] = np.log1p(x) if s.transform == "log1p" else x
    return pd.DataFrame(out)


def _capped(
    steps: tuple[FeatureStep, ...], bounds: dict[str, tuple[float, float]], part: pd.DataFrame
) -> pd.DataFrame:
    x = _transformed(steps, part)
    out = {}
    for c, (lo, hi) in bounds.items():
        v = x[c].to_numpy()
        out[c] = np.clip(v, lo, hi)
        out[c + "|out"] = ((v < lo) | (v > hi)).astype(float)
    return pd.DataFrame(out)


def _lazy(data: Any, fn: Any, columns: list[str]) -> Any:
    meta = pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    return data.map_partitions(fn, meta=meta)


# --------------------------------------------------------------------------------- windows


Z_WINDOW = 5.0  # a window spans this many sampling SDs of the sample quantile's rank each side
WINDOW_MAX = 800_000  # values a window gathers at most, about: 6 MB; Z_WINDOW SDs up to ~50M rows


@dataclass(frozen=True)
class Window:
    """Where the sample puts an order statistic: the values in [low, high] are gathered and the
    ones below `low` counted, so the wanted ranks are read off exactly when they fall inside.
    A window of one value (a tie the sample's window lies within: a whole-number or rating
    column) only counts: its values are all `low`."""

    low: float
    high: float

    @property
    def point(self) -> bool:
        return self.low == self.high


@dataclass(frozen=True)
class Gathered:
    below: int
    inside: int
    values: Vector  # the values inside, unless the window is a point

    def middle(self, n: int, window: Window) -> tuple[float, float] | None:
        """The two middle order statistics of the n values the window was laid over (the same
        one twice when n is odd), or None when either lies outside it (the sample misled)."""
        lo, hi, _ = median_ranks(n)
        if not (self.below <= lo and hi < self.below + self.inside):
            return None
        if window.point:
            return window.low, window.low
        inside = np.sort(self.values)
        return float(inside[lo - self.below]), float(inside[hi - self.below])


def gather(column: Vector, window: Window) -> Gathered:
    keep = (column >= window.low) & (column <= window.high)
    below = int(np.count_nonzero(column < window.low))
    if window.point:
        return Gathered(below, int(np.count_nonzero(keep)), np.zeros(0))
    values = column[keep]
    return Gathered(below, len(values), values)


def merge_gathered(parts: Sequence[Gathered]) -> Gathered:
    return Gathered(
        sum(p.below for p in parts),
        sum(p.inside for p in parts),
        np.concatenate([p.values for p in parts]),
    )


def sample_window(values: Vector, expected_rows: float, q: float = 0.5) -> Window | None:
    """The sample's order statistics Z_WINDOW sampling SDs either side of quantile q (none
    beyond when the sample is every row), the width held to about WINDOW_MAX rows. None when
    ties would still put more than WINDOW_MAX rows in it (then bracketing finds the value)."""
    s = np.sort(values[~np.isnan(values)])
    if not len(s):
        return None
    w = 0.0
    if expected_rows > len(s):
        w = min(Z_WINDOW * np.sqrt(q * (1 - q) / len(s)), WINDOW_MAX / (2 * expected_rows))
    lo = int(np.clip(np.floor((len(s) - 1) * (q - w)), 0, len(s) - 1))
    hi = int(np.clip(np.ceil((len(s) - 1) * (q + w)), 0, len(s) - 1))
    window = Window(float(s[lo]), float(s[hi]))
    inside = np.searchsorted(s, window.high, "right") - np.searchsorted(s, window.low, "left")
    if not window.point and inside * expected_rows / len(s) > WINDOW_MAX:
        return None
    return window


def median_ranks(n: int) -> tuple[int, int, float]:
    """The 0-based ranks of the middle value(s) of n values (twice the same when n is odd)."""
    return quantile_ranks(n, (0.5,))[0]


def middle_value(low: float, high: float) -> float:
    """np.median from the two middle order statistics: their sum over two, as numpy (and
    `order_stats.median`, the in-memory engine's) computes it, so the digits are the same."""
    return float((np.float64(low) + np.float64(high)) / 2.0)


# --------------------------------------------------------------------------------- the fit


@dataclass(frozen=True)
class _Plan:
    """What the first pass computes over the fit rows: the moments of the number columns `names`
    (then of log(1 + x) of `logs`), and the values around each median the sample expects."""

    names: tuple[str, ...]
    logs: tuple[str, ...]
    windows: tuple[Window | None, ...]  # per name


@dataclass(frozen=True)
class _First:
    moments: Moments
    medians: tuple[Gathered | None, ...]


def _first_mapper(plan: _Plan, part: pd.DataFrame) -> _First:
    x = floats(part, plan.names)
    if plan.logs:
        with np.errstate(invalid="ignore", divide="ignore"):
            logged = np.log1p(floats(part, plan.logs))
        x = np.column_stack([x, logged])
    medians = tuple(None if w is None else gather(x[:, j], w) for j, w in enumerate(plan.windows))
    return _First(part_moments(x), medians)


def _merge_first(parts: list[_First]) -> _First:
    medians = tuple(
        None if per[0] is None else merge_gathered(per)
        for per in zip(*[p.medians for p in parts], strict=True)
    )
    return _First(merge_moments([p.moments for p in parts]), medians)


def fit_on_cluster(
    data: Any,
    dictionary: DataDictionary,
    sample_fit: FittedSteps,
    sample: pd.DataFrame,
    n_rows: int,
) -> FittedSteps:
    """The sample's steps with their numbers fitted on every row of the dask dataframe `data`
    (the input as read), by `prepare`'s rules (see the module's docstring): two passes over
    the rows when the sample's windows hold the medians and MADs, more where they do not."""
    rules = scale_rules(sample_fit)
    numbers = _numbers(sample_fit.steps)
    if not numbers:
        return sample_fit
    names = tuple(s.column for s in numbers)
    rows = _lazy(data, functools.partial(fit_rows, sample_fit.steps, rules), list(names))
    sample_rows = fit_rows(sample_fit.steps, rules, sample)
    per_sample_row = n_rows / max(len(sample), 1)
    steps = {s.column: s for s in numbers}
    logs = tuple(c for c in names if _may_log(dictionary, steps[c]))
    wanted = [s.kind == "numeric" or s.impute is not None for s in numbers]
    windows = tuple(
        sample_window(v, np.count_nonzero(~np.isnan(v)) * per_sample_row) if w else None
        for v, w in zip((sample_rows[c].to_numpy(dtype=float) for c in names), wanted, strict=True)
    )
    plan = _Plan(names, logs, windows)
    first = reduce_partitions(rows, functools.partial(_first_mapper, plan), _merge_first)
    raw = first.moments
    medians = _raw_medians(rows, names, raw, first.medians, windows, wanted)
    steps = {c: _filled(steps[c], raw, j, medians[j]) for j, c in enumerate(names)}
    filled = _with_fills(raw, names, logs, steps)
    at = {c: j for j, c in enumerate(names + tuple(c + LOG for c in logs))}
    for c in names:
        steps[c] = _decide_transform(dictionary, steps[c], filled, at)
    centre = {
        c: _transformed_median(steps[c], raw, j, medians[j])
        for j, c in enumerate(names)
        if steps[c].kind == "numeric"
    }
    fitted = _fit_scale(rows, tuple(steps[c] for c in names), centre, sample_rows, per_sample_row)
    shifted = {s.column: _reference_day(s, filled.low[at[s.column]]) for s in fitted}
    return replace(sample_fit, steps=tuple(shifted.get(s.column, s) for s in sample_fit.steps))


def _raw_medians(
    rows: Any,
    names: tuple[str, ...],
    raw: Moments,
    found: tuple[Gathered | None, ...],
    windows: tuple[Window | None, ...],
    wanted: list[bool],
) -> list[tuple[float, float] | None]:
    """Per column whose median is wanted: its two middle order statistics among the non-blank
    values, from the first pass's window or, where the window missed them, by bracketing."""
    out: list[tuple[float, float] | None] = [None] * len(names)
    missed = []
    for j, g in enumerate(found):
        n = int(raw.n[j])
        if not wanted[j] or n == 0:
            continue
        w = windows[j]
        found_pair = g.middle(n, w) if g is not None and w is not None else None
        if found_pair is None:
            missed.append(j)
        else:
            out[j] = found_pair
    if missed:
        cols = [names[j] for j in missed]
        sub = pick(raw, missed)
        ranks = [list(median_ranks(int(sub.n[i]))[:2]) for i in range(len(missed))]
        stats = order_statistics(rows[cols], cols, ranks, sub)
        for i, j in enumerate(missed):
            lo, hi = ranks[i]
            out[j] = (stats[i][lo], stats[i][hi])
    return out


def _filled(
    step: FeatureStep, raw: Moments, j: int, middle: tuple[float, float] | None
) -> FeatureStep:
    """prepare's fill-in value: the median, the most common value of a yes/no column."""
    if step.impute is None:
        return step
    blanks = int(raw.blanks[j])
    if step.kind == "binary" and blanks > 0:
        value = float(np.round(raw.mean[j]))
    else:
        assert middle is not None
        value = middle_value(*middle)
    return replace(step, impute=value, imputed=blanks)


def _with_fills(
    raw: Moments, names: tuple[str, ...], logs: tuple[str, ...], steps: dict[str, FeatureStep]
) -> Moments:
    """The moments of the filled-in values (and of their logs): the non-blank values' moments
    merged with the blanks as that many copies of the fill-in value."""
    width = len(names) + len(logs)
    n, value = np.zeros(width), np.zeros(width)
    for j, c in enumerate(names + logs):
        s = steps[c]
        if s.impute is not None:
            n[j] = raw.blanks[j] if j < len(names) else raw.blanks[names.index(c)]
            value[j] = s.impute if j < len(names) else np.log1p(s.impute)
    zero = np.zeros(width)
    low, high = np.where(n > 0, value, np.inf), np.where(n > 0, value, -np.inf)
    return merge_moments([raw, Moments(n, zero, value, zero, zero, low, high)])


def _transformed_median(
    step: FeatureStep, raw: Moments, j: int, middle: tuple[float, float] | None
) -> float:
    """The median of a column's filled-in, transformed values. With blanks filled in it is the
    fill-in value's (the blanks sit at the median); else the two middle order statistics
    transformed (log(1 + x) keeps the order) and averaged as np.median averages them."""

    def t(v: float) -> float:
        return float(np.log1p(v)) if step.transform == "log1p" else v

    if step.impute is not None and raw.blanks[j] > 0:
        return t(float(step.impute))
    assert middle is not None
    return middle_value(t(middle[0]), t(middle[1]))


def _may_log(dictionary: DataDictionary, step: FeatureStep) -> bool:
    spec = dictionary.column(step.column)
    return step.kind == "numeric" and not spec.is_scale and spec.type != "ordinal"


def _decide_transform(
    dictionary: DataDictionary, step: FeatureStep, m: Moments, at: dict[str, int]
) -> FeatureStep:
    """prepare's skew rule on every row's (filled-in) values."""
    if not _may_log(dictionary, step):
        return step
    j = at[step.column]
    wanted = dictionary.column(step.column).transform
    minimum = float(m.low[j])
    sd = np.sqrt(m.m2[j] / m.n[j])
    skew = float((m.m3[j] / m.n[j]) / sd**3) if sd > 0 else 0.0
    if wanted is not None or minimum < 0:
        skew = 0.0
    if not (wanted == "log" or (wanted is None and minimum >= 0 and skew > SKEW_LIMIT)):
        return replace(step, transform="none", reason="")
    if minimum < 0:
        raise InputError(
            f"column '{step.column}' has negative values and cannot be log-transformed"
        )
    if wanted is not None:
        return replace(
            step, transform="log1p", reason="log-transformed as the data dictionary asks"
        )
    reason = (
        f"log-transformed (log(1 + x)) because its skewness is {skew:.1f} (rule: "
        f"non-negative amounts with skewness above {SKEW_LIMIT:g})"
    )
    return replace(step, transform="log1p", reason=reason)


def _reference_day(step: FeatureStep, low: float) -> FeatureStep:
    """A date's tenure counts back from the latest date of every row: the sample's latest date
    moves forward by the most negative tenure the rows show, and every tenure (so the fill-in
    value and the mean) grows by as many days."""
    if step.kind != "date" or step.reference_date is None or not low < 0:
        return step
    days = int(-low)
    later = date.fromisoformat(step.reference_date) + timedelta(days=days)
    impute = None if step.impute is None else step.impute + days
    return replace(step, reference_date=later.isoformat(), impute=impute, mean=step.mean + days)


# --------------------------------------------------------------------------------- caps, scaler


def cap_bounds(median: float, mad: float) -> tuple[float, float]:
    """prepare's caps: OUTLIER_RSD robust SDs (1.4826 x MAD) from the median, computed as it
    computes them (the same rounding: monotone in the MAD, which the speculative caps rely on)."""
    robust = mad * 1.4826
    return median - OUTLIER_RSD * robust, median + OUTLIER_RSD * robust


@dataclass(frozen=True)
class _Caps:
    """Caps for any MAD in the window [d1, d2]: values within `inner` are never capped, values
    beyond `outer` always are (to the bound), the ones between are gathered."""

    inner: tuple[float, float]
    outer: tuple[float, float]


@dataclass(frozen=True)
class _Capped:
    """A numeric column's caps, how many of its values they move, the capped values' moments."""

    low: float
    high: float
    count: int
    moments: Moments


@dataclass(frozen=True)
class _ScalePlan:
    steps: tuple[FeatureStep, ...]
    numeric: tuple[int, ...]  # positions in `steps` of the numeric columns
    medians: Vector  # per numeric column, of its transformed values
    windows: tuple[Window | None, ...]  # where the sample puts each MAD
    caps: tuple[_Caps | None, ...]


@dataclass(frozen=True)
class _Second:
    moments: Moments  # every step's transformed values
    mads: tuple[Gathered | None, ...]  # |x - median| around the MAD, per numeric column
    core: Moments  # per numeric column: the values within the inner caps
    zones: tuple[Vector, ...]  # the values between the inner and the outer caps
    beyond: NDArray[np.int64]  # per numeric column: below the outer low, above the outer high


def _second_mapper(plan: _ScalePlan, part: pd.DataFrame) -> _Second:
    x = _transformed(plan.steps, part).to_numpy(dtype=float)
    xn = x[:, list(plan.numeric)]
    dev = np.abs(xn - plan.medians)
    mads = tuple(None if w is None else gather(dev[:, i], w) for i, w in enumerate(plan.windows))
    core = np.full_like(xn, np.nan)
    zones = []
    beyond = np.zeros((len(plan.numeric), 2), dtype=np.int64)
    for i, c in enumerate(plan.caps):
        if c is None:
            zones.append(np.zeros(0))
            continue
        v = xn[:, i]
        inside = (v >= c.inner[0]) & (v <= c.inner[1])
        core[inside, i] = v[inside]
        zones.append(v[~inside & (v >= c.outer[0]) & (v <= c.outer[1])])
        beyond[i] = (np.count_nonzero(v < c.outer[0]), np.count_nonzero(v > c.outer[1]))
    return _Second(part_moments(x), mads, part_moments(core), tuple(zones), beyond)


def _merge_second(parts: list[_Second]) -> _Second:
    mads = tuple(
        None if per[0] is None else merge_gathered(per)
        for per in zip(*[p.mads for p in parts], strict=True)
    )
    zones = tuple(np.concatenate(per) for per in zip(*[p.zones for p in parts], strict=True))
    return _Second(
        merge_moments([p.moments for p in parts]),
        mads,
        merge_moments([p.core for p in parts]),
        zones,
        np.sum([p.beyond for p in parts], axis=0),
    )


def _scale_plan(
    steps: tuple[FeatureStep, ...],
    centre: dict[str, float],
    sample_rows: pd.DataFrame,
    per_sample_row: float,
) -> _ScalePlan:
    """Where the sample puts each numeric column's MAD, and the caps that any MAD there gives
    (left to a pass of their own when more than WINDOW_MAX rows would lie between them)."""
    numeric = tuple(j for j, s in enumerate(steps) if s.kind == "numeric")
    medians = np.array([centre[steps[j].column] for j in numeric], dtype=float)
    x = _transformed(steps, sample_rows)
    windows: list[Window | None] = []
    caps: list[_Caps | None] = []
    for i, j in enumerate(numeric):
        v = x[steps[j].column].to_numpy(dtype=float)
        w = sample_window(np.abs(v - medians[i]), len(v) * per_sample_row)
        windows.append(w)
        cap = None
        if w is not None:
            cap = _Caps(cap_bounds(medians[i], w.low), cap_bounds(medians[i], w.high))
            between = (v < cap.inner[0]) & (v >= cap.outer[0]) | (v > cap.inner[1]) & (
                v <= cap.outer[1]
            )
            if np.count_nonzero(between) * per_sample_row > WINDOW_MAX:
                cap = None
        caps.append(cap)
    return _ScalePlan(steps, numeric, medians, tuple(windows), tuple(caps))


def _fit_scale(
    rows: Any,
    steps: tuple[FeatureStep, ...],
    centre: dict[str, float],
    sample_rows: pd.DataFrame,
    per_sample_row: float,
) -> tuple[FeatureStep, ...]:
    """Caps (numeric columns) from the exact median and MAD, then mean and SD of the capped
    values, as `prepare` fits them: one pass when the sample's windows hold every MAD and the
    caps' neighbourhoods, a bracketing of the MAD and a pass for the capped values where not."""
    names = [s.column for s in steps]
    plan = _scale_plan(steps, centre, sample_rows, per_sample_row)
    second = reduce_partitions(rows, functools.partial(_second_mapper, plan), _merge_second)
    x = _lazy(rows, functools.partial(_transformed, steps), names)
    mads = _mads(x, plan, second)
    found: dict[str, _Capped] = {}
    later: dict[str, tuple[float, float]] = {}
    for i, j in enumerate(plan.numeric):
        c, mad = names[j], mads[i]
        if not mad > 0:
            continue
        bounds = cap_bounds(float(plan.medians[i]), mad)
        w, cap = plan.windows[i], plan.caps[i]
        if w is not None and cap is not None and w.low <= mad <= w.high:
            found[c] = _assembled_caps(second, i, bounds)
        else:
            later[c] = bounds
    if later:
        found.update(_capped_pass(rows, steps, later))
    return tuple(_scaled(s, second.moments, j, found.get(s.column)) for j, s in enumerate(steps))


def _mads(x: Any, plan: _ScalePlan, second: _Second) -> list[float]:
    """Each numeric column's MAD: from the second pass's window, else by bracketing."""
    out: list[float] = []
    missed: list[int] = []
    for i, j in enumerate(plan.numeric):
        g = second.mads[i]
        n = int(second.moments.n[j])
        w = plan.windows[i]
        pair = g.middle(n, w) if g is not None and w is not None and n else None
        out.append(np.nan if pair is None else middle_value(*pair))
        if pair is None and n:
            missed.append(i)
    if missed:
        cols = [str(x.columns[plan.numeric[i]]) for i in missed]
        sub = pick(second.moments, [plan.numeric[i] for i in missed])
        ranks = [list(median_ranks(int(n))[:2]) for n in sub.n]
        stats = order_statistics(x[cols], cols, ranks, sub, shift=plan.medians[missed])
        for at, i in enumerate(missed):
            lo, hi = ranks[at]
            out[i] = middle_value(stats[at][lo], stats[at][hi])
    return out


def _assembled_caps(second: _Second, i: int, bounds: tuple[float, float]) -> _Capped:
    """The capped values' moments from the second pass's pieces: the values within the inner
    caps as they are, the ones between clipped, the ones beyond as copies of the bounds."""
    lo, hi = bounds
    zone = second.zones[i]
    below, above = (int(v) for v in second.beyond[i])
    count = below + above + int(np.count_nonzero(zone < lo)) + int(np.count_nonzero(zone > hi))
    pieces = [
        pick(second.core, [i]),
        part_moments(np.clip(zone, lo, hi)[:, None]),
        point_mass(np.array([float(below)]), np.array([lo])),
        point_mass(np.array([float(above)]), np.array([hi])),
    ]
    return _Capped(lo, hi, count, merge_moments(pieces))


def _capped_pass(
    rows: Any, steps: tuple[FeatureStep, ...], bounds: dict[str, tuple[float, float]]
) -> dict[str, _Capped]:
    """One pass for the capped values of the columns whose caps the second pass could not
    settle: their moments, and how many values the caps move."""
    cols = [c for b in bounds for c in (b, b + "|out")]
    m = column_moments(_lazy(rows, functools.partial(_capped, steps, bounds), cols), cols)
    out: dict[str, _Capped] = {}
    for c, (lo, hi) in bounds.items():
        i = cols.index(c)
        count = int(round(m.mean[i + 1] * m.n[i + 1]))
        out[c] = _Capped(lo, hi, count, pick(m, [i]))
    return out


def _scaled(s: FeatureStep, plain: Moments, j: int, caps: _Capped | None) -> FeatureStep:
    """The step with its caps (kept when they move at most MAX_OUTLIER_SHARE of the values)
    and the scaler: the mean and SD of the (capped) values."""
    mean, m2, n = float(plain.mean[j]), float(plain.m2[j]), float(plain.n[j])
    lo = hi = None
    count = 0
    if caps is not None and 0 < caps.count <= MAX_OUTLIER_SHARE * n:
        lo, hi, count = caps.low, caps.high, caps.count
        mean, m2 = float(caps.moments.mean[0]), float(caps.moments.m2[0])
    sd = float(np.sqrt(m2 / n)) if n else 0.0
    return replace(
        s,
        clip_low=lo,
        clip_high=hi,
        capped=count,
        mean=mean,
        scale=sd if sd != 0 else 1.0,
    )


# --------------------------------------------------------------------------------- the sample


def sample_prepared(
    sample: pd.DataFrame,
    dictionary: DataDictionary,
    fitted: FittedSteps,
    *,
    n_read: int,
    n_kept: int,
    drops: tuple[DropReason, ...],
    notes: tuple[str, ...],
) -> ClusterPrepared:
    """The sample through the fitted steps (`prepare.apply_steps_rows`, the rule every row
    follows on the cluster), with the dataset's counts."""
    steps = fitted.steps
    matrix, usable, _, _ = apply_steps_rows(sample, steps, scale_rules(fitted))
    kept = sample.loc[usable]
    numeric = [s for s in steps if s.kind != "categorical"]
    values = np.empty((len(kept), len(numeric)))
    for j, s in enumerate(numeric):
        raw = parse_column(kept[s.column], s.kind, s).values.to_numpy(dtype=float)
        values[:, j] = np.where(np.isnan(raw), s.impute, raw) if s.impute is not None else raw
    row_numbers = np.flatnonzero(usable) + 1
    if dictionary.id_column:
        ids, id_name = customer_ids(kept[dictionary.id_column]), dictionary.id_column
    else:
        ids, id_name = pd.Series(row_numbers, index=kept.index, name="row"), "row"
    return ClusterPrepared(
        features=tuple(s.column for s in steps),
        numeric_features=tuple(s.column for s in numeric),
        values=values,
        scaled=np.ascontiguousarray(matrix[usable]),
        steps=steps,
        kept=kept,
        row_numbers=row_numbers,
        ids=ids,
        id_name=id_name,
        n_read=n_read,
        drops=drops,
        notes=notes,
        categorical_features=tuple(s.column for s in steps if s.kind == "categorical"),
        rows_kept=n_kept,
    )


# --------------------------------------------------------------------------------- repeated ids

REPEAT = "\x00repeat"  # the column marking a row whose id an earlier row has (never a header)
IDS_PER_BUCKET = 2_000_000  # id hashes one task of the repeat search holds, about (16 MB)
MAX_REPEATS = 5_000_000  # repeated ids the driver tracks; more is refused


def duplicate_reason(id_column: str) -> str:
    """The reason `prepare` gives a repeated id's row (the same words in every output)."""
    return f"duplicate id in '{id_column}' (first row kept)"


def repeated_rows(data: Any, id_column: str, total: int) -> dict[int, NDArray[np.int64]]:
    """Per partition, the rows whose id (`prepare.id_text`, trimmed; blank ids never count) an
    earlier row of the dataset has: earlier in partition order, then in row order, that is file
    order then row order, so the row kept is the first in the files as `prepare` keeps the
    first in the file. Reads the id column alone, once when no id repeats:

    1. every partition hashes its ids (64 bits) into buckets of about IDS_PER_BUCKET hashes;
       one task per bucket finds the hashes seen more than once (no task holds every id, and
       all the buckets together hold 8 bytes per row);
    2. only when some hash repeats: every partition sends the rows whose hash is one of those,
       with their ids as text, and the repeats are found on the text, so two ids that share a
       hash are told apart: exact."""
    dask = dask_module()
    parts = data[[id_column]].to_delayed()
    buckets = int(max(1, min(len(parts) * 4, -(-total // IDS_PER_BUCKET))))
    split = [dask.delayed(_hashed_ids, nout=buckets)(p, buckets) for p in parts]
    found = dask.compute(
        *[dask.delayed(_repeated_hashes)([s[j] for s in split]) for j in range(buckets)]
    )
    candidates = np.sort(np.concatenate(found)) if found else np.zeros(0, np.uint64)
    if not len(candidates):
        return {}
    if len(candidates) > MAX_REPEATS:
        raise InputError(
            f"about {len(candidates):,} ids appear on more than one row, more than the "
            f"{MAX_REPEATS:,} the Dask engine tracks: remove the repeats from the dataset"
        )
    shared = dask.delayed(candidates)  # one copy in the graph, not one per task
    tables = dask.compute(
        *[dask.delayed(_candidate_rows)(p, i, shared) for i, p in enumerate(parts)]
    )
    table = pd.concat(tables, ignore_index=True)  # partition order, rows in order
    where = table.loc[table["id"].duplicated(keep="first"), ["part", "row"]].to_numpy(np.int64)
    return {int(p): np.sort(where[where[:, 0] == p, 1]) for p in np.unique(where[:, 0]).tolist()}


def _ids(part: pd.DataFrame) -> tuple[pd.Series, NDArray[np.intp], NDArray[np.uint64]]:
    """A partition's non-blank ids as text, their rows, and their 64-bit hashes."""
    text = id_text(part.iloc[:, 0]).str.strip()
    present = (text != "").to_numpy()
    ids = text[present].reset_index(drop=True)
    hashed = pd.util.hash_pandas_object(ids, index=False)
    hashes = np.asarray(hashed, dtype=np.uint64)
    return ids, np.flatnonzero(present), hashes


def _hashed_ids(part: pd.DataFrame, buckets: int) -> tuple[NDArray[np.uint64], ...]:
    _, _, hashes = _ids(part)
    bucket = hashes % np.uint64(buckets)
    return tuple(hashes[bucket == j] for j in range(buckets))


def _repeated_hashes(pieces: list[NDArray[np.uint64]]) -> NDArray[np.uint64]:
    values, counts = np.unique(np.concatenate(pieces), return_counts=True)
    out: NDArray[np.uint64] = values[counts > 1]
    return out


def _candidate_rows(part: pd.DataFrame, index: int, candidates: NDArray[np.uint64]) -> pd.DataFrame:
    """The rows whose id hash is a repeated one: their id as text, partition and row."""
    ids, rows, hashes = _ids(part)
    at = np.clip(np.searchsorted(candidates, hashes), 0, len(candidates) - 1)
    hit = candidates[at] == hashes
    return pd.DataFrame(
        {
            "id": ids[hit].to_numpy(),
            "part": np.full(int(hit.sum()), index, np.int64),
            "row": rows[hit],
        }
    )


def marked(data: Any, repeats: dict[int, NDArray[np.int64]]) -> Any:
    """The dataset with a REPEAT column (True on the repeated rows); each partition's task
    carries only its own rows' positions."""
    dask = dask_module()
    import dask.dataframe as dd

    parts = [
        dask.delayed(_mark)(p, repeats.get(i, np.zeros(0, np.int64)))
        for i, p in enumerate(data.to_delayed())
    ]
    meta = data._meta.assign(**{REPEAT: pd.Series(dtype=bool)})
    return dd.from_delayed(parts, meta=meta, verify_meta=False)


def _mark(part: pd.DataFrame, rows: NDArray[np.int64]) -> pd.DataFrame:
    flag = np.zeros(len(part), dtype=bool)
    flag[rows] = True
    return part.assign(**{REPEAT: flag})


def split_repeats(part: pd.DataFrame) -> tuple[pd.DataFrame, NDArray[np.bool_] | None]:
    """A partition without its REPEAT column, and the column (None when nothing repeats)."""
    if REPEAT not in part.columns:
        return part, None
    return part.drop(columns=REPEAT), part[REPEAT].to_numpy(dtype=bool)
