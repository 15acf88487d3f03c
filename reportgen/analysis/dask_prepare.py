"""Preparation on a cluster: the fitted steps of `prepare` from every row, without holding them.

`prepare.fit_steps` on a uniform sample decides the shape of each step (its kind, the blank
policy, a categorical column's levels, a yes/no column's positive value). The numbers that need
every row are then computed on the cluster with `DaskEngine` (see dask_engine.py), with
`prepare`'s own rules, in this order:

1. the fill-in value of a column whose blanks are filled in: the median of its values (the most
   common value of a yes/no column), `column_stats` over the rows the rules keep;
2. the skew rule (log(1 + x) for a non-negative amount with skewness above SKEW_LIMIT) on the
   filled-in values, from their exact moments;
3. the outlier caps: median ± OUTLIER_RSD × 1.4826 × MAD of the transformed values
   (`column_stats`, exact), kept when they cap at most MAX_OUTLIER_SHARE of the rows;
4. the scaler: mean and SD of the capped values (one pass).

What stays the sample's: the blank policy (a share of blanks within about 0.1 point of
AUTO_IMPUTE_ABOVE can decide differently) and the categorical levels with their shares (they
only centre and weight the one-hot block). A date's reference day is the latest date of every
row. `sample_prepared` applies the steps to the sample for the stages that work on samples.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from reportgen.analysis.dask_engine import DaskEngine, Moments, column_moments
from reportgen.analysis.prepare import (
    MAX_OUTLIER_SHARE,
    OUTLIER_RSD,
    SKEW_LIMIT,
    DropReason,
    FeatureStep,
    FittedSteps,
    PreparedData,
    apply_steps_rows,
    id_text,
    parse_column,
)
from reportgen.errors import InputError
from reportgen.io.dictionary import DataDictionary

LOG = "|log"  # suffix of a column's log(1 + x) candidate in the moments pass


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
    plain = tuple(replace(s, transform="none", clip_low=None, clip_high=None) for s in steps)
    _, usable, _, _ = apply_steps_rows(part, plain, rules)
    return pd.DataFrame(
        {
            s.column: parse_column(part[s.column], s.kind, s).values.to_numpy(dtype=float)[usable]
            for s in _numbers(steps)
        }
    )


def _candidates(fills: dict[str, float], logs: tuple[str, ...], part: pd.DataFrame) -> pd.DataFrame:
    out = {c: part[c].fillna(fills[c]) if c in fills else part[c] for c in part.columns}
    for c in logs:
        with np.errstate(invalid="ignore"):
            out[c + LOG] = np.log1p(out[c])
    return pd.DataFrame(out)


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


# --------------------------------------------------------------------------------- the fit


def fit_on_cluster(
    data: Any, dictionary: DataDictionary, sample_fit: FittedSteps, engine: DaskEngine
) -> FittedSteps:
    """The sample's steps with their numbers fitted on every row of the dask dataframe `data`
    (the input as read), by `prepare`'s rules (see the module's docstring)."""
    rules = scale_rules(sample_fit)
    numbers = _numbers(sample_fit.steps)
    if not numbers:
        return sample_fit
    names = [s.column for s in numbers]
    rows = _lazy(data, functools.partial(fit_rows, sample_fit.steps, rules), names)
    steps = {s.column: s for s in numbers}
    filled = [s for s in numbers if s.impute is not None]
    if filled:
        stats = engine.column_stats(rows[[s.column for s in filled]], [s.column for s in filled])
        for j, s in enumerate(filled):
            binary = s.kind == "binary" and stats.blanks[j] > 0  # prepare's _fill_value
            value = np.round(stats.mean[j]) if binary else stats.median[j]
            steps[s.column] = replace(s, impute=float(value), imputed=int(stats.blanks[j]))
    logs = tuple(c for c in names if _may_log(dictionary, steps[c]))
    fills = {c: s.impute for c, s in steps.items() if s.impute is not None}
    moments = column_moments(
        _lazy(rows, functools.partial(_candidates, fills, logs), names + [c + LOG for c in logs]),
        names + [c + LOG for c in logs],
    )
    at = {c: j for j, c in enumerate(names + [c + LOG for c in logs])}
    for c in names:
        steps[c] = _decide_transform(dictionary, steps[c], moments, at)
        steps[c] = _reference_day(steps[c], moments.low[at[c]])
    fitted = tuple(steps[c] for c in names)
    fitted = _fit_scale(rows, fitted, engine)
    by_name = {s.column: s for s in fitted}
    return replace(sample_fit, steps=tuple(by_name.get(s.column, s) for s in sample_fit.steps))


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
    moves forward by the most negative tenure the rows show."""
    if step.kind != "date" or step.reference_date is None or not low < 0:
        return step
    later = date.fromisoformat(step.reference_date) + timedelta(days=int(-low))
    return replace(step, reference_date=later.isoformat())


def _fit_scale(
    rows: Any, steps: tuple[FeatureStep, ...], engine: DaskEngine
) -> tuple[FeatureStep, ...]:
    """Caps (numeric columns) from the exact median and MAD, then mean and SD of the capped
    values, as `prepare` fits them."""
    names = [s.column for s in steps]
    x = _lazy(rows, functools.partial(_transformed, steps), names)
    numeric = [s.column for s in steps if s.kind == "numeric"]
    bounds: dict[str, tuple[float, float]] = {}
    if numeric:
        stats = engine.column_stats(x[numeric], numeric)
        for j, c in enumerate(numeric):
            mad = float(stats.mad[j]) * 1.4826
            if mad > 0:
                med = float(stats.median[j])
                bounds[c] = (med - OUTLIER_RSD * mad, med + OUTLIER_RSD * mad)
    plain = column_moments(x, names)
    capped_cols = [c for b in bounds for c in (b, b + "|out")]
    capped = (
        column_moments(
            _lazy(rows, functools.partial(_capped, steps, bounds), capped_cols), capped_cols
        )
        if bounds
        else None
    )
    out = []
    for j, s in enumerate(steps):
        mean, m2, n = plain.mean[j], plain.m2[j], plain.n[j]
        lo = hi = None
        count = 0
        if capped is not None and s.column in bounds:
            i = capped_cols.index(s.column)
            count = int(round(capped.mean[i + 1] * capped.n[i + 1]))
            if 0 < count <= MAX_OUTLIER_SHARE * n:
                lo, hi = bounds[s.column]
                mean, m2 = capped.mean[i], capped.m2[i]
            else:
                count = 0
        sd = float(np.sqrt(m2 / n)) if n else 0.0
        out.append(
            replace(
                s,
                clip_low=lo,
                clip_high=hi,
                capped=count,
                mean=float(mean),
                scale=sd if sd != 0 else 1.0,
            )
        )
    return tuple(out)


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
        ids, id_name = id_text(kept[dictionary.id_column]), dictionary.id_column
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
