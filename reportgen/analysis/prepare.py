"""Stage 2 — prepare: from the raw table to the matrix k-means sees, every decision stated.

Pure: takes the raw frame and the resolved data dictionary, returns `PreparedData`. Every row that
is dropped is counted under the first reason that applies, so the brief can explain each one.

Two halves, one path: `fit_steps` decides each column's `FeatureStep` from the data (transform,
fill-in value, caps, scale) and the rules that leave rows out; `apply_steps` is the one place
that applies them (drops, fill-in, log, caps, one-hot, scaling). `prepare` is the fit followed by
the apply, and scoring a saved model (`runs.score`) runs the same apply, so a run's own input
scores to its own segments.

Policies (each overridable per column in the data dictionary, each counted in the brief):
- **Duplicate ids**: the first row of an id is kept, later rows with the same id are dropped.
- **Missing values** in a segmentation column: when at most 5 % of rows lack a value those rows
  are dropped; above that the column's median (the most common value for yes/no columns) is filled
  in, so one patchy column does not remove a large part of the customer base. Missing categories
  become their own "(missing)" category.
- **Skew**: an amount (non-negative numbers, not a rating scale) with skewness above 1 is
  log-transformed (log(1 + x)) before scaling, so a few big spenders do not define the segments.
- **Outliers**: after that, values more than 5 robust standard deviations (1.4826 × MAD) from the
  median are capped at that bound for clustering only, when they are at most 1 % of rows (more
  than that is a group of customers, not a few outliers); profiles keep the real values.
- **Constant columns** carry no information and are left out.
- **Dates** become a number: days before the latest date in the column (tenure).
- **Categories** that segment are one-hot encoded; each category column is centred and the block
  of a column is scaled to a total variance of CATEGORY_SPREAD² = 0.25 (half the spread of a
  standardised numeric column), whatever its number of categories: a k-prototypes-like balance
  that keeps plain k-means, its speed and its centroids. Half, not equal: a category's spread is
  all jumps (two customers on different plans are 1.6 SD apart at equal weight, with nobody in
  between), so at equal weight k-means carves segments along the category's values instead of
  the groups the numbers show. On 150 synthetic tables with known groups and a category that
  leans with the group, weight 1 found the planted k in 116 and weight 0.5 in 124 (out of sample
  108 → 114 of 140; docs/choosing-k.md). At most 12 categories per column; the rarer ones are
  pooled as "Other".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from reportgen.analysis.engine import DEFAULT_ENGINE, ColumnStats, Engine, cubed_mean
from reportgen.errors import InputError
from reportgen.io.dictionary import ColumnSpec, DataDictionary, numeric_values
from reportgen.io.orders import parse_dates

AUTO_IMPUTE_ABOVE = 0.05
SKEW_LIMIT = 1.0
OUTLIER_RSD = 5.0
MAX_OUTLIER_SHARE = 0.01
MAX_LEVELS = 12
CATEGORY_SPREAD = 0.5  # square root of a categorical column's one-hot block variance
MISSING_LEVEL = "(missing)"
# At most this many columns segment. Screening, the choice of k and the charts each grow faster
# than the column count (screening refits k-means without each feature), so a wide export
# (hundreds of columns) is refused at once with a clear message rather than running for hours
# and exhausting memory; the columns that do not segment can still be described (linearly).
MAX_SEGMENT_FEATURES = 100
OTHER_LEVEL = "Other"
YES_WORDS = {"1", "yes", "y", "true", "t"}

Matrix = NDArray[np.float64]
Mask = NDArray[np.bool_]


@dataclass(frozen=True)
class DropReason:
    reason: str
    rows: int


@dataclass(frozen=True)
class FeatureStep:
    """How one input column becomes model columns: plain data, JSON-friendly, re-appliable."""

    column: str
    kind: str  # "numeric" | "binary" | "date" | "categorical"
    transform: str = "none"  # "none" | "log1p"
    impute: float | None = None  # numeric value filled in for a missing value (None: row dropped)
    clip_low: float | None = None  # bounds after transform
    clip_high: float | None = None
    mean: float = 0.0
    scale: float = 1.0
    categories: tuple[str, ...] = ()  # categorical levels (model columns, in order)
    category_means: tuple[float, ...] = ()
    weight: float = 1.0  # categorical: CATEGORY_SPREAD / sqrt(block variance)
    positive: str | None = None  # binary: the raw value that counts as 1
    reference_date: str | None = None  # date: ISO date that tenure is counted back from
    date_format: str | None = None  # date: the fit's strptime format (None: read per value)
    imputed: int = 0  # rows filled in (fit data)
    capped: int = 0  # rows capped as outliers (fit data)
    reason: str = ""

    @property
    def model_columns(self) -> tuple[str, ...]:
        if self.kind == "categorical":
            return tuple(f"{self.column}={c}" for c in self.categories)
        return (self.column,)


@dataclass(frozen=True)
class RowRule:
    """What leaves a row out on one segmentation column (besides a value that cannot be read or
    is infinite, which always does)."""

    column: str
    kind: str
    drop_blank: bool = False  # a row without a value is left out (else the fit fills it in)
    scale: tuple[float, float] | None = None  # rating-scale bounds: a value outside leaves it out


@dataclass(frozen=True)
class FittedSteps:
    """What `fit_steps` decided: the steps of the columns that segment, and the row rules of every
    segmentation column (a column left out as constant still left its unreadable rows out)."""

    steps: tuple[FeatureStep, ...]
    rules: tuple[RowRule, ...]
    constant: tuple[str, ...]  # left out: the same value in every kept row
    blank: tuple[str, ...]  # left out: blank in every kept row


@dataclass(frozen=True)
class LeftOut:
    """The input rows left out of the fit, in input order, each with the first reason that
    applied. `partial`: rows left out only for blanks, which can still be assigned to a segment
    on the features they have."""

    positions: NDArray[np.intp]  # 0-based input positions
    reasons: tuple[str, ...]
    partial: Mask

    @staticmethod
    def none() -> LeftOut:
        return LeftOut(np.zeros(0, dtype=np.intp), (), np.zeros(0, dtype=bool))


@dataclass(frozen=True)
class PreparedData:
    features: tuple[str, ...]  # input columns that segment
    numeric_features: tuple[str, ...]  # of those, the ones profiled as numbers
    values: Matrix  # kept rows x numeric_features, real units (imputed filled in)
    scaled: Matrix  # kept rows x model columns: what k-means sees
    steps: tuple[FeatureStep, ...]
    # kept rows, every input column as read, index = input position; when no row is dropped the
    # float columns that `values` holds unchanged are views of `values` (one copy in memory)
    kept: pd.DataFrame
    row_numbers: NDArray[np.intp]  # 1-based data-row numbers in the input file of the kept rows
    ids: pd.Series  # customer id of each kept row (or the row number when there is no id column)
    id_name: str  # name of the id column in outputs ("row" when the input has none)
    n_read: int
    drops: tuple[DropReason, ...]
    notes: tuple[str, ...]
    duplicate_ids: int = 0
    categorical_features: tuple[str, ...] = field(default=())
    left_out: LeftOut = field(default_factory=LeftOut.none)

    @property
    def n_kept(self) -> int:
        return len(self.scaled)

    @property
    def n_dropped(self) -> int:
        return sum(d.rows for d in self.drops)

    @property
    def model_columns(self) -> tuple[str, ...]:
        return tuple(c for s in self.steps for c in s.model_columns)


# --------------------------------------------------------------------------- raw column parsing


class ParsedColumn(NamedTuple):
    values: pd.Series  # floats (labels for a categorical column); NaN where blank or unreadable
    present: Mask  # a value was given
    invalid: Mask  # a value was given but is not a number (or not a date)
    reference: pd.Timestamp | None = None  # date: the day tenure was counted back from
    date_format: str | None = None  # date: the one strptime format the values were in


def _binary_positive(values: pd.Series) -> str:
    levels = sorted(str(v) for v in values.dropna().astype(str).str.strip().unique())
    for level in levels:
        if level.lower() in YES_WORDS:
            return level
    return levels[-1]


def parse_column(series: pd.Series, kind: str, step: FeatureStep | None = None) -> ParsedColumn:
    """One segmentation column of the given kind ("numeric", "binary", "date", "categorical") as
    numbers (or labels); a fitted step fixes the binary positive value and the date of
    reference, without one they come from the column."""
    if kind == "numeric" and pd.api.types.is_numeric_dtype(series) and series.dtype != bool:
        # Already numbers (Parquet, typed CSV columns): no round trip through text.
        nums = series.astype(float)
        present = nums.notna().to_numpy()
        return ParsedColumn(nums, present, np.zeros_like(present))
    text = series.astype("string").str.strip()
    present = (text.notna() & (text != "")).to_numpy()
    if kind == "categorical":
        labels = text.fillna(MISSING_LEVEL).replace("", MISSING_LEVEL)
        return ParsedColumn(labels, present, np.zeros_like(present))
    if kind == "binary":
        positive = step.positive if step else _binary_positive(text[present])
        is_positive = (text == positive).fillna(False).to_numpy(dtype=bool)
        nums = pd.Series(np.where(is_positive, 1.0, 0.0), index=series.index)
        nums[~present] = np.nan
        return ParsedColumn(nums, present, np.zeros_like(present))
    if kind == "date":
        return _parse_dates(text, present, step)
    nums = numeric_values(series)
    return ParsedColumn(nums, present, present & nums.isna().to_numpy())


def _parse_dates(text: pd.Series, present: Mask, step: FeatureStep | None) -> ParsedColumn:
    """Dates read as an order log's are (io.orders.parse_dates: the format, and day/month order,
    worked out from the values, so ISO 2026-06-12 is 12 June). A fitted step's format reads the
    rows it applies to (a batch whose days are all 1-12 is read as the fit read its dates);
    values in another shape are worked out on their own."""
    given = text.astype(object).where(present, None)
    fixed = step.date_format if step is not None else None
    dates, found = _read_dates(given, fixed)
    if fixed is not None and (other := present & dates.isna().to_numpy()).any():
        dates = dates.where(~other, _read_dates(given.where(other, None), None)[0])
    invalid = present & dates.isna().to_numpy()
    if step is not None and step.reference_date:
        ref = pd.Timestamp(step.reference_date)
    else:
        ref = dates.max()
    days = (ref - dates).dt.days.astype(float)
    return ParsedColumn(days, present, invalid, ref, fixed or found)


def _read_dates(text: pd.Series, date_format: str | None) -> tuple[pd.Series, str | None]:
    """The dates of `text` and the one strptime format they were in (None: several, or none);
    a column mixing formats that no value decides is read value by value, day first."""
    try:
        read = parse_dates(text, date_format, strict=False)
    except InputError:
        return pd.to_datetime(text, errors="coerce", format="mixed", dayfirst=True), None
    single = len(read.formats) == 1 and read.formats[0].startswith("%")
    return read.dates, read.formats[0] if single else None


def _kind(spec: ColumnSpec) -> str:
    if spec.type in ("categorical", "text"):
        return "categorical"
    if spec.type == "binary":
        return "binary"
    if spec.type == "date":
        return "date"
    return "numeric"


def _parse_for_fit(frame: pd.DataFrame, dictionary: DataDictionary) -> dict[str, ParsedColumn]:
    columns = {}
    for name in dictionary.segment_columns:
        spec = dictionary.column(name)
        parsed = parse_column(frame[name], _kind(spec))
        if _kind(spec) != "categorical" and parsed.values.notna().sum() == 0:
            raise InputError(
                f"column '{name}' has no numeric values and cannot segment "
                f"(its type is {spec.type or 'text'}); describe it instead"
            )
        columns[name] = parsed
    return columns


# --------------------------------------------------------------------------- which rows


class RowFilter:
    """The rows still usable and, for the rows left out, the first reason that applied."""

    def __init__(self, n: int) -> None:
        self.usable: Mask = np.ones(n, dtype=bool)
        self.drops: list[DropReason] = []
        self._first: NDArray[np.int16] = np.full(n, -1, dtype=np.int16)  # index into drops
        self._blank: set[int] = set()  # drops that are a blank where nothing is filled in

    def drop(self, mask: Mask, reason: str, *, blank: bool = False) -> None:
        hit = np.asarray(mask, dtype=bool) & self.usable
        count = int(hit.sum())
        if count:
            if blank:
                self._blank.add(len(self.drops))
            self._first[hit] = len(self.drops)
            self.drops.append(DropReason(reason, count))
            self.usable[hit] = False

    def left_out(self) -> LeftOut:
        """The rows left out, with their reasons (see LeftOut)."""
        positions = np.flatnonzero(~self.usable)
        codes = self._first[positions]
        reasons = tuple(self.drops[c].reason for c in codes.tolist())
        partial = np.isin(codes, sorted(self._blank)) if self._blank else np.zeros(len(codes), bool)
        return LeftOut(positions, reasons, partial)


def row_rules(
    steps: tuple[FeatureStep, ...], scale_rules: dict[str, tuple[float, float]] | None = None
) -> tuple[RowRule, ...]:
    """The row rules of fitted steps: blanks leave a row out where the fit filled nothing in."""
    scale_rules = scale_rules or {}
    return tuple(
        RowRule(
            s.column,
            s.kind,
            drop_blank=s.kind != "categorical" and s.impute is None,
            scale=scale_rules.get(s.column),
        )
        for s in steps
    )


def _drop_rows(
    columns: dict[str, ParsedColumn],
    rules: tuple[RowRule, ...],
    steps: tuple[FeatureStep, ...],
    rows: RowFilter,
) -> None:
    """Leave out the rows the rules exclude, counted in this order: a value that is not a number
    (or date); infinite; outside its rating scale; blank where nothing is filled in; negative
    in a column the fit log-transformed."""
    for rule in rules:
        what = "not a date" if rule.kind == "date" else "not a number"
        rows.drop(columns[rule.column].invalid, f"'{rule.column}' is {what}")
    for rule in rules:
        if rule.kind == "categorical":
            continue
        parsed = columns[rule.column]
        v = parsed.values.to_numpy(dtype=float)
        rows.drop(parsed.present & np.isinf(v), f"'{rule.column}' is infinite")
        if rule.scale is not None:
            lo, hi = rule.scale
            outside = parsed.present & ((v < lo) | (v > hi))
            rows.drop(outside, f"'{rule.column}' outside its {lo:g}–{hi:g} scale")
    for rule in rules:
        if rule.drop_blank:
            rows.drop(~columns[rule.column].present, f"no value for '{rule.column}'", blank=True)
    for step in steps:
        if step.transform == "log1p":
            v = columns[step.column].values.to_numpy(dtype=float)
            negative = v < 0
            if step.impute is not None and step.impute < 0:  # blanks are filled in negative
                negative |= np.isnan(v)
            rows.drop(negative, f"'{step.column}' is negative (log-transformed when fitted)")


def _start_rows(n: int, repeats: Mask | None, id_column: str | None) -> RowFilter:
    rows = RowFilter(n)
    if repeats is not None:
        rows.drop(repeats, f"duplicate id in '{id_column}' (first row kept)")
    return rows


# --------------------------------------------------------------------------- fit


def fit_steps(
    frame: pd.DataFrame, dictionary: DataDictionary, *, engine: Engine = DEFAULT_ENGINE
) -> FittedSteps:
    """Decide from the data how each segmentation column becomes model columns and which rows
    are left out. `prepare` applies the decisions to the table they were fitted on; the steps
    alone are what `apply_steps` applies to new rows."""
    _check_segment_columns(dictionary)
    repeats = _repeats(frame, dictionary)
    return _fit(dictionary, _parse_for_fit(frame, dictionary), repeats, frame, engine)


def _check_segment_columns(dictionary: DataDictionary) -> None:
    if not dictionary.segment_columns:
        raise InputError(
            "no usable numeric column to segment on: add a data dictionary or name columns "
            "with --columns"
        )
    if len(dictionary.segment_columns) > MAX_SEGMENT_FEATURES:
        raise InputError(
            f"{len(dictionary.segment_columns):,} columns would segment the customers, more "
            f"than the {MAX_SEGMENT_FEATURES} a brief can describe: name the ones to segment on "
            "with --columns, or set the others to 'describe' in a data dictionary (reportgen "
            "init writes one)"
        )


def _repeats(frame: pd.DataFrame, dictionary: DataDictionary) -> Mask | None:
    return repeated_ids(frame[dictionary.id_column]) if dictionary.id_column else None


def _fit(
    dictionary: DataDictionary,
    columns: dict[str, ParsedColumn],
    repeats: Mask | None,
    frame: pd.DataFrame,
    engine: Engine = DEFAULT_ENGINE,
) -> FittedSteps:
    """The row rules first (the blank policy depends on the rows the other rules leave), then a
    step per column fitted on the rows they keep."""
    rules = tuple(_read_rule(dictionary.column(name)) for name in columns)
    rows = _start_rows(len(frame), repeats, dictionary.id_column)
    _drop_rows(columns, rules, (), rows)
    drop_blank = _blank_policy(dictionary, columns, rows.usable)
    rules = tuple(replace(r, drop_blank=drop_blank.get(r.column, False)) for r in rules)
    # The rows the steps are fitted on: the ones apply_steps keeps.
    rows = _start_rows(len(frame), repeats, dictionary.id_column)
    _drop_rows(columns, rules, (), rows)
    if not rows.usable.any():
        raise InputError(
            f"no usable rows: all {len(frame)} rows were dropped "
            f"({'; '.join(f'{d.reason}: {d.rows}' for d in rows.drops)})"
        )
    steps, constant, blank = _fit_columns(dictionary, columns, rules, rows.usable, frame, engine)
    if not steps:
        if blank and not constant:
            raise InputError(
                f"every segmentation column is blank ({', '.join(blank)}): nothing to segment on"
            )
        raise InputError("every segmentation column is constant: nothing to segment on")
    return FittedSteps(tuple(steps), rules, tuple(constant), tuple(blank))


def _read_rule(spec: ColumnSpec) -> RowRule:
    """A column's rules before the blank policy is decided; rating-scale bounds for numbers."""
    kind = _kind(spec)
    scale = None
    if kind == "numeric" and spec.scale_min is not None and spec.scale_max is not None:
        scale = (spec.scale_min, spec.scale_max)
    return RowRule(spec.name, kind, scale=scale)


def _blank_policy(
    dictionary: DataDictionary, columns: dict[str, ParsedColumn], usable: Mask
) -> dict[str, bool]:
    """Per non-categorical column: are rows without a value left out (True) or filled in?

    Decided in column order on the rows still usable, each column after the rows the earlier
    ones leave out (as `_drop_rows` counts them): left out when at most AUTO_IMPUTE_ABOVE of
    those rows lack a value, unless the data dictionary says."""
    usable = usable.copy()
    out = {}
    for name, parsed in columns.items():
        spec = dictionary.column(name)
        if _kind(spec) == "categorical":
            continue
        share_missing = float((~parsed.present & usable).sum()) / max(int(usable.sum()), 1)
        policy = spec.missing or ("impute" if share_missing > AUTO_IMPUTE_ABOVE else "drop")
        out[name] = policy == "drop"
        if out[name]:
            usable &= parsed.present
    return out


def _fit_columns(
    dictionary: DataDictionary,
    columns: dict[str, ParsedColumn],
    rules: tuple[RowRule, ...],
    usable: Mask,
    frame: pd.DataFrame,
    engine: Engine = DEFAULT_ENGINE,
) -> tuple[list[FeatureStep], list[str], list[str]]:
    """One step per column on the usable rows, in input order; the constant and the blank
    columns get none. The number columns' statistics come from `engine.column_stats`."""
    drop_blank = {r.column: r.drop_blank for r in rules}
    rows = None if usable.all() else usable  # all rows: no copy of each column
    numbers = [n for n in columns if _kind(dictionary.column(n)) != "categorical"]
    fitted_numbers = _fit_numbers(dictionary, columns, numbers, rows, drop_blank, engine)
    steps: list[FeatureStep] = []
    constant: list[str] = []
    blank: list[str] = []
    for name, parsed in columns.items():
        if name not in fitted_numbers:
            labels = parsed.values if rows is None else parsed.values[rows]
            step = _fit_categorical(name, labels)
            if step is None:
                (blank if labels.eq(MISSING_LEVEL).all() else constant).append(name)
                continue
        else:
            fitted = fitted_numbers[name]
            if fitted is None:
                constant.append(name)
                continue
            step = _fit_anchor(fitted, frame[name], parsed, usable)
        steps.append(step)
    return steps, constant, blank


def _fit_anchor(
    step: FeatureStep, column: pd.Series, parsed: ParsedColumn, usable: Mask
) -> FeatureStep:
    """A binary step's value that counts as 1 (among the kept rows), a date step's reference."""
    if step.kind == "binary":
        text = column.astype("string").str.strip()
        return replace(step, positive=_binary_positive(text[usable & parsed.present]))
    if step.kind == "date" and parsed.reference is not None:
        reference = parsed.reference.date().isoformat()
        return replace(step, reference_date=reference, date_format=parsed.date_format)
    return step


# The number columns fitted together hold at most about this many bytes of new arrays (their
# fit rows when some rows are left out, filled-in or log-transformed values); more columns are
# fitted batch after batch, so the fit's memory does not grow with the column count.
FIT_BATCH_BYTES = 256 * 2**20


def _fit_numbers(
    dictionary: DataDictionary,
    columns: dict[str, ParsedColumn],
    names: list[str],
    rows: Mask | None,
    drop_blank: dict[str, bool],
    engine: Engine,
) -> dict[str, FeatureStep | None]:
    """The steps of the numeric, binary and date columns (None: constant), in batches of
    columns whose new arrays fit in FIT_BATCH_BYTES (on all rows a column is not copied unless
    its blanks are filled in or it is log-transformed)."""
    if not names:
        return {}
    n = len(columns[names[0]].values) if rows is None else int(np.count_nonzero(rows))
    per_batch = max(1, FIT_BATCH_BYTES // max(8 * n, 1))
    out: dict[str, FeatureStep | None] = {}
    for start in range(0, len(names), per_batch):
        batch = names[start : start + per_batch]
        raws = {}
        for name in batch:
            raw = columns[name].values.to_numpy(dtype=float)
            raws[name] = raw if rows is None else raw[rows]
        specs = [dictionary.column(name) for name in batch]
        out.update(_fit_batch(specs, raws, drop_blank, engine))
    return out


def _stats_of(engine: Engine, raws: dict[str, Matrix], names: list[str]) -> ColumnStats:
    return engine.column_stats(pd.DataFrame({c: raws[c] for c in names}, copy=False), names)


def _fit_batch(
    specs: list[ColumnSpec], raws: dict[str, Matrix], drop_blank: dict[str, bool], engine: Engine
) -> dict[str, FeatureStep | None]:
    """Each column's fill-in value, then (on the filled-in values) whether it is constant, its
    transform, caps and scaler, all from `engine.column_stats`: one sort per column, and one
    more for a column whose values the fill-in or the log change."""
    names = [spec.name for spec in specs]
    stats = _stats_of(engine, raws, names)
    fills: dict[str, float | None] = {}
    refit = []
    for j, spec in enumerate(specs):
        fills[spec.name] = None
        if drop_blank[spec.name]:
            continue
        fill = _fill_value(stats, j, _kind(spec))
        fills[spec.name] = fill
        if stats.blanks[j]:
            raw = raws[spec.name]
            raws[spec.name] = np.where(np.isnan(raw), fill, raw)
            refit.append(spec.name)
    filled = _merged(stats, _stats_of(engine, raws, refit)) if refit else stats
    imputed = {c: int(stats.blanks[j]) if fills[c] is not None else 0 for j, c in enumerate(names)}
    return _decide(specs, raws, filled, fills, imputed, engine)


def _decide(
    specs: list[ColumnSpec],
    raws: dict[str, Matrix],
    stats: ColumnStats,
    fills: dict[str, float | None],
    imputed: dict[str, int],
    engine: Engine,
) -> dict[str, FeatureStep | None]:
    """Per column (its filled-in values `raws`, their `stats`): constant (None), or its step
    with its fill-in value and how many blanks it filled in."""
    out: dict[str, FeatureStep | None] = {}
    transforms = {}
    for j, spec in enumerate(specs):
        if stats.sd[j] == 0:
            out[spec.name] = None
            continue
        transforms[spec.name] = _transform(spec, _kind(spec), raws[spec.name], stats, j)
    logged = [c for c, (t, _) in transforms.items() if t == "log1p"]
    for c in logged:
        raws[c] = np.log1p(raws[c])
    after = _merged(stats, _stats_of(engine, raws, logged)) if logged else stats
    for j, spec in enumerate(specs):
        if spec.name in transforms:
            step = _scaled_step(spec, raws[spec.name], after, j, transforms[spec.name])
            out[spec.name] = replace(step, impute=fills[spec.name], imputed=imputed[spec.name])
    return out


def _merged(base: ColumnStats, update: ColumnStats) -> ColumnStats:
    """`base` with the columns of `update` replaced by their new statistics."""
    at = [base.columns.index(c) for c in update.columns]
    fields: dict[str, NDArray[np.generic] | None] = {}
    for name in ("count", "blanks", "mean", "sd", "skew", "median", "mad", "minimum", "maximum"):
        mine, theirs = getattr(base, name), getattr(update, name)
        if mine is None or theirs is None:
            fields[name] = None
            continue
        merged = np.array(mine, copy=True)
        merged[at] = theirs
        fields[name] = merged
    quantiles = np.array(base.quantiles, copy=True)
    quantiles[:, at] = update.quantiles
    return replace(base, quantiles=quantiles, **fields)  # type: ignore[arg-type]


def _fill_value(stats: ColumnStats, j: int, kind: str) -> float:
    """What a blank becomes: the median (the most common value for a yes/no column)."""
    if kind == "binary" and stats.blanks[j]:
        return float(np.round(stats.mean[j]))
    return float(stats.median[j])


def _scaled_step(
    spec: ColumnSpec, x: Matrix, stats: ColumnStats, j: int, transform: tuple[str, str]
) -> FeatureStep:
    """The step of a column that is not constant: caps (numbers only) and the scaler, on its
    (transformed) values `x` whose statistics are column j of `stats`."""
    kind = _kind(spec)
    lo, hi, capped = _caps(x, stats, j) if kind == "numeric" else (None, None, 0)
    if lo is not None and hi is not None:
        x = np.clip(x, lo, hi)
        mean, scale = float(x.mean()), float(x.std())
    else:  # the same x.mean() and x.std() as column_stats computed
        mean, scale = float(stats.mean[j]), float(stats.sd[j])
    return FeatureStep(
        column=spec.name,
        kind=kind,
        transform=transform[0],
        clip_low=lo,
        clip_high=hi,
        mean=mean,
        scale=scale if scale != 0 else 1.0,
        capped=capped,
        reason=transform[1],
    )


def _transform(
    spec: ColumnSpec, kind: str, raw: Matrix, stats: ColumnStats, j: int
) -> tuple[str, str]:
    """log(1 + x) for a skewed amount or where the data dictionary asks; the reason in words."""
    if kind != "numeric" or spec.is_scale or spec.type == "ordinal":
        return "none", ""
    wanted = spec.transform
    low = float(stats.minimum[j]) if stats.minimum is not None else float(raw.min())
    # The skewness decides only for non-negative amounts without a declared transform.
    skew = _decided_skewness(raw, float(stats.skew[j])) if wanted is None and low >= 0 else 0.0
    if not (wanted == "log" or (wanted is None and low >= 0 and skew > SKEW_LIMIT)):
        return "none", ""
    if low < 0:
        raise InputError(f"column '{spec.name}' has negative values and cannot be log-transformed")
    if wanted is not None:
        return "log1p", "log-transformed as the data dictionary asks"
    return "log1p", (
        f"log-transformed (log(1 + x)) because its skewness is {skew:.1f} (rule: "
        f"non-negative amounts with skewness above {SKEW_LIMIT:g})"
    )


def _skewness(x: Matrix) -> float:
    """Sample skewness, decided as `_decided_skewness` (the fast value, exact near a boundary)."""
    sd = x.std()
    if not sd > 0:
        return 0.0
    return _decided_skewness(x, cubed_mean(x, float(x.mean())) / sd**3)


def _decided_skewness(x: Matrix, fast: float) -> float:
    """The skewness the rule compares with SKEW_LIMIT and prints with one decimal. The fast
    value (`engine.cubed_mean`: d * d * d by blocks) may differ from the exact one in the last
    bits, so next to either boundary the value is recomputed exactly as before."""
    tenths = fast * 10 - np.floor(fast * 10)
    if abs(fast - SKEW_LIMIT) > 1e-6 and abs(tenths - 0.5) > 1e-6:
        return float(fast)
    mean, sd = x.mean(), x.std()
    return float(((x - mean) ** 3).mean() / sd**3) if sd > 0 else 0.0


def _caps(x: Matrix, stats: ColumnStats, j: int) -> tuple[float | None, float | None, int]:
    """Bounds OUTLIER_RSD robust SDs from the median (`stats` of `x`), and how many values lie
    beyond them; no bounds when there are none, or more than MAX_OUTLIER_SHARE (a group, not
    outliers)."""
    med = float(stats.median[j])
    mad = float(stats.mad[j]) * 1.4826
    if not mad > 0:
        return None, None, 0
    lo, hi = med - OUTLIER_RSD * mad, med + OUTLIER_RSD * mad
    capped = int(((x < lo) | (x > hi)).sum())
    if not capped or capped > MAX_OUTLIER_SHARE * len(x):
        return None, None, 0
    return lo, hi, capped


def _fit_categorical(name: str, labels: pd.Series) -> FeatureStep | None:
    """The levels (the most common first, the rarest pooled as 'Other'), their shares and the
    block weight; None for fewer than two levels."""
    counts = labels.value_counts()
    counts = counts.sort_index().sort_values(ascending=False, kind="stable")
    levels = [str(v) for v in counts.index[:MAX_LEVELS]]
    if len(counts) > MAX_LEVELS:
        levels = levels[: MAX_LEVELS - 1] + [OTHER_LEVEL]
    if len(levels) < 2:
        return None
    onehot = _onehot(labels, levels)
    means = onehot.mean(axis=0)
    variance = float(onehot.var(axis=0).sum())
    del onehot
    weight = CATEGORY_SPREAD / np.sqrt(variance) if variance > 0 else 1.0
    return FeatureStep(
        column=name,
        kind="categorical",
        categories=tuple(levels),
        category_means=tuple(float(m) for m in means),
        weight=float(weight),
        reason=f"one-hot over {len(levels)} categories, at half a numeric feature's spread",
    )


def _onehot(labels: pd.Series, levels: list[str]) -> Matrix:
    values = labels.astype(str).to_numpy()
    known = set(levels)
    if OTHER_LEVEL in known:
        values = np.where(np.isin(values, list(known)), values, OTHER_LEVEL)
    return np.column_stack([(values == lvl).astype(float) for lvl in levels])


# --------------------------------------------------------------------------- apply


def apply_steps(
    frame: pd.DataFrame,
    steps: tuple[FeatureStep, ...],
    scale_rules: dict[str, tuple[float, float]] | None = None,
) -> tuple[Matrix, Mask, tuple[DropReason, ...]]:
    """New rows through fitted steps: (model matrix, usable-row mask, reasons for the rest).

    The same parsing, rules and arithmetic as `prepare`: a row is unusable when a value is not a
    number (or date), infinite, outside its rating scale, or missing where the fit dropped
    missing rows instead of imputing. The matrix has a row for every input row; the unusable
    ones hold finite numbers that mean nothing: use the mask.
    """
    columns = {s.column: parse_column(frame[s.column], s.kind, s) for s in steps}
    rows = RowFilter(len(frame))
    matrix, _ = _apply(columns, steps, row_rules(steps, scale_rules), rows, usable_only=False)
    return matrix, rows.usable, tuple(rows.drops)


def apply_steps_rows(
    frame: pd.DataFrame,
    steps: tuple[FeatureStep, ...],
    scale_rules: dict[str, tuple[float, float]] | None = None,
) -> tuple[Matrix, Mask, tuple[DropReason, ...], LeftOut]:
    """`apply_steps`, and which rows it left out and why (see LeftOut)."""
    columns = {s.column: parse_column(frame[s.column], s.kind, s) for s in steps}
    rows = RowFilter(len(frame))
    matrix, _ = _apply(columns, steps, row_rules(steps, scale_rules), rows, usable_only=False)
    return matrix, rows.usable, tuple(rows.drops), rows.left_out()


def partial_matrix(rows: pd.DataFrame, steps: tuple[FeatureStep, ...]) -> Matrix:
    """The model columns of `rows` with NaN where a value is blank: for assigning a row on the
    features it has. Everything else as `apply_steps` computes it."""
    out = np.empty((len(rows), sum(len(s.model_columns) for s in steps)))
    at = 0
    for step in steps:
        parsed = parse_column(rows[step.column], step.kind, step)
        if step.kind == "categorical":
            width = len(step.categories)
            onehot = _onehot(parsed.values, list(step.categories))
            # A blank category is a level of its own, as in the fit: never missing here.
            out[:, at : at + width] = (onehot - np.asarray(step.category_means)) * step.weight
            at += width
            continue
        raw = parsed.values.to_numpy(dtype=float)
        if step.impute is not None:
            raw = np.where(np.isnan(raw), step.impute, raw)
        _scale_into(out[:, at], raw, step, clean=False)
        at += 1
    return out


_NO_MASK: Mask = np.zeros(0, dtype=bool)


def _apply(
    columns: dict[str, ParsedColumn],
    steps: tuple[FeatureStep, ...],
    rules: tuple[RowRule, ...],
    rows: RowFilter,
    *,
    usable_only: bool,
    handed_over: _HandedOver | None = None,
) -> tuple[Matrix, Matrix | None]:
    """Leave rows out by the rules, then build the model matrix (for the usable rows only, with
    their values in the data's units beside it; or for every row). Consumes `columns`; see
    `_model_matrix` for `handed_over`."""
    _drop_rows(columns, rules, steps, rows)
    for name, parsed in columns.items():  # the masks are used: free them before the matrices
        columns[name] = parsed._replace(present=_NO_MASK, invalid=_NO_MASK)
    take = rows.usable if usable_only and not rows.usable.all() else None
    n = len(rows.usable) if take is None else int(take.sum())
    return _model_matrix(columns, steps, take, n, usable_only=usable_only, handed_over=handed_over)


def _model_matrix(
    columns: dict[str, ParsedColumn],
    steps: tuple[FeatureStep, ...],
    take: Mask | None,
    n: int,
    *,
    usable_only: bool,
    handed_over: _HandedOver | None = None,
) -> tuple[Matrix, Matrix | None]:
    """Each step's model columns for the rows in `take` (None: every row), and with
    `usable_only` the numeric steps' values in units. The matrices are filled column by column
    into preallocated arrays: no list of columns and no stacked copy of the whole matrix; each
    parsed column is freed once used, and with `handed_over` so is the frame's own copy.

    The values in units are column-major, so writing a column touches only its own pages (in
    a row-major matrix the first column touches them all) and the frame's copy of each column
    goes as the values' copy comes. The scaled matrix stays row-major: k-means needs it so."""
    scaled = np.empty((n, sum(len(s.model_columns) for s in steps)))
    width = sum(s.kind != "categorical" for s in steps)
    units = np.empty((n, width), order="F") if usable_only else None
    at = j = 0
    for step in steps:
        values = columns.pop(step.column).values
        if take is not None:
            values = values[take]
        if step.kind == "categorical":
            width = len(step.categories)
            onehot = _onehot(values, list(step.categories))
            del values
            scaled[:, at : at + width] = (onehot - np.asarray(step.category_means)) * step.weight
            at += width
            continue
        raw = values.to_numpy(dtype=float)
        del values
        if step.impute is not None:
            raw = np.where(np.isnan(raw), step.impute, raw)
        if units is not None:
            units[:, j] = raw
            if handed_over is not None and take is None:
                handed_over.share(step.column, units[:, j])
            j += 1
        _scale_into(scaled[:, at], raw, step, clean=not usable_only)
        at += 1
    return scaled, units


@dataclass(frozen=True)
class _HandedOver:
    """A frame its caller gave up, and the caller's call for each column of it let go."""

    frame: pd.DataFrame
    released: Callable[[], None]

    def share(self, name: str, copy: Matrix) -> None:
        """Replace the frame's column by `copy` where that is the column value for value."""
        if _held_as_read(self.frame[name]):
            self.frame[name] = pd.Series(copy, index=self.frame.index, name=name, copy=False)
            self.released()


def _held_as_read(column: pd.Series) -> bool:
    """Whether the values in units hold this numeric column value for value (float64 as read,
    nothing filled in), so the column can be a view of them."""
    return bool(column.dtype == np.float64 and not column.hasnans)


def _scale_into(out: Matrix, raw: Matrix, step: FeatureStep, *, clean: bool) -> None:
    """A numeric step's model column: log, caps, then (x - mean) / scale. `clean`: rows that are
    left out may hold anything, so they are made harmless finite numbers first."""
    x = raw
    if clean:
        x = np.where(np.isfinite(x), x, 0.0)
        if step.transform == "log1p":
            x = np.maximum(x, 0)
    if step.transform == "log1p":
        x = np.log1p(x)
    if step.clip_low is not None:
        x = np.clip(x, step.clip_low, step.clip_high)
    np.subtract(x, step.mean, out=out)
    np.divide(out, step.scale, out=out)


# --------------------------------------------------------------------------- prepare = fit + apply


def prepare(
    frame: pd.DataFrame,
    dictionary: DataDictionary,
    *,
    engine: Engine = DEFAULT_ENGINE,
    frame_released: Callable[[], None] | None = None,
) -> PreparedData:
    """Fit the steps on the table, then apply them to it: the kept rows, their model matrix and
    their values in units, with every row left out counted under its reason.

    `frame_released`, when given, hands the frame over: its float64 segment columns are swapped
    for their (equal) columns of the values in units as those are filled, and the call is made
    after each, so the caller can give the freed memory back to the system (pyarrow's allocator
    keeps it otherwise). The frame reads the same afterwards, and a large table's read copy and
    its values are not both held at the run's memory peak."""
    _check_segment_columns(dictionary)
    repeats = _repeats(frame, dictionary)
    # Each column is parsed once, for the fit and the apply: without a step a binary column's
    # positive value and a date column's reference come from the column, and they parse the
    # kept rows to the same numbers as the fitted step does.
    columns = _parse_for_fit(frame, dictionary)
    fitted = _fit(dictionary, columns, repeats, frame, engine)
    rows = _start_rows(len(frame), repeats, dictionary.id_column)
    handed_over = _HandedOver(frame, frame_released) if frame_released is not None else None
    steps, rules = fitted.steps, fitted.rules
    scaled, values = _apply(columns, steps, rules, rows, usable_only=True, handed_over=handed_over)
    assert values is not None  # usable_only: the values in units come with the matrix
    usable = rows.usable
    numeric = [s.column for s in fitted.steps if s.kind != "categorical"]
    kept = _kept_rows(frame, usable, values, numeric, fitted.steps)
    row_numbers = np.flatnonzero(usable)
    row_numbers += 1  # in place: no second array of row numbers
    if dictionary.id_column:
        ids, id_name = customer_ids(kept[dictionary.id_column]), dictionary.id_column
    else:
        ids, id_name = pd.Series(row_numbers, index=kept.index, name="row"), "row"
    duplicate_ids = int(repeats.sum()) if repeats is not None else 0
    return PreparedData(
        features=tuple(s.column for s in fitted.steps),
        numeric_features=tuple(numeric),
        values=values,
        scaled=scaled,
        steps=fitted.steps,
        kept=kept,
        row_numbers=row_numbers,
        ids=ids,
        id_name=id_name,
        n_read=len(frame),
        drops=tuple(rows.drops),
        notes=fit_notes(fitted, duplicate_ids),
        duplicate_ids=duplicate_ids,
        categorical_features=tuple(s.column for s in fitted.steps if s.kind == "categorical"),
        left_out=rows.left_out(),
    )


def fit_notes(fitted: FittedSteps, duplicate_ids: int) -> tuple[str, ...]:
    notes = []
    if fitted.constant:
        notes.append(
            "Left out because every kept row has the same value: "
            + ", ".join(fitted.constant)
            + "."
        )
    if fitted.blank:
        notes.append("Left out because every kept row is blank: " + ", ".join(fitted.blank) + ".")
    for s in fitted.steps:
        if s.imputed:
            notes.append(
                f"'{s.column}': {s.imputed:,} missing values filled in with "
                f"{'the most common value' if s.kind == 'binary' else 'the median'} "
                f"({s.impute:g}), because more than {AUTO_IMPUTE_ABOVE:.0%} of rows lacked it."
            )
        if s.transform == "log1p":
            notes.append(f"'{s.column}': {s.reason}")
        if s.capped:
            notes.append(
                f"'{s.column}': {s.capped:,} extreme values (more than {OUTLIER_RSD:g} robust SD "
                "from the median) capped for clustering; profiles use the real values."
            )
    if duplicate_ids:
        notes.append(
            f"{duplicate_ids:,} rows repeat an id seen earlier in the file; the first row of each "
            "id was kept and the repeats left out."
        )
    return tuple(notes)


def _kept_rows(
    frame: pd.DataFrame,
    usable: Mask,
    values: Matrix,
    numeric: list[str],
    steps: tuple[FeatureStep, ...],
) -> pd.DataFrame:
    """The kept rows as read. No copy of every column when no row was dropped; then the columns
    that `values` holds exactly as read are views of `values`, so the caller can let the frame's
    own copies go."""
    if not usable.all():
        return frame.loc[usable]
    as_read = {s.column for s in steps if s.kind == "numeric" and _held_as_read(frame[s.column])}
    return _sharing_values(frame, values, numeric, as_read)


def _sharing_values(
    frame: pd.DataFrame, values: Matrix, numeric: list[str], as_read: set[str]
) -> pd.DataFrame:
    """The frame with each column in `as_read` replaced by its (equal) column of `values`."""
    if not as_read:
        return frame
    at = {name: j for j, name in enumerate(numeric)}
    columns = {
        c: pd.Series(values[:, at[c]], index=frame.index, name=c, copy=False)
        if c in as_read
        else frame[c]
        for c in frame.columns
    }
    return pd.DataFrame(columns, index=frame.index, copy=False)


def repeated_ids(column: pd.Series) -> Mask:
    """Rows whose id (trimmed; blank ids never count) appeared in an earlier row.

    Arrow's dictionary encoding numbers distinct ids in order of first appearance, so a row is
    a repeat exactly when its code is not above every code before it: no Python strings and no
    pandas hash table. Whole numbers are compared as numbers (their text is equal exactly when
    they are), without making the text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pd.api.types.is_integer_dtype(column.dtype):
        whole: Mask = column.duplicated(keep="first").to_numpy() & column.notna().to_numpy()
        return whole
    text = pc.utf8_trim_whitespace(pa.array(column.astype("string"), type=pa.large_string()))
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    blank = pc.fill_null(pc.equal(text, ""), True).to_numpy(zero_copy_only=False)
    codes = pc.dictionary_encode(text).indices
    del text
    codes = pc.fill_null(codes, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    seen_max = np.maximum.accumulate(codes)
    repeat = np.empty(len(codes), dtype=bool)
    if len(codes):
        repeat[0] = False
        repeat[1:] = codes[1:] <= seen_max[:-1]
    del codes, seen_max
    # The trimmed text and the hash table are freed, but Arrow's allocator keeps freed memory
    # until asked: give it back before prepare allocates its matrices.
    pa.default_memory_pool().release_unused()
    result: Mask = repeat & ~blank
    return result


def customer_ids(column: pd.Series) -> pd.Series:
    """The ids as assignments.csv lists them: a column of whole numbers keeps its integers
    (written as the same digits, with no text made for millions of ids); anything else is text
    (`id_text`)."""
    if pd.api.types.is_integer_dtype(column.dtype):
        return column
    return id_text(column)


def id_text(column: pd.Series) -> pd.Series:
    """Ids as text; whole-number floats (a blank cell makes pandas read 1001 as 1001.0) lose the
    '.0' so they match the CRM."""
    if pd.api.types.is_float_dtype(column):
        finite = column.dropna()
        if (finite % 1 == 0).all():
            column = column.astype("Int64")
    return column.astype("string").fillna("")


# --------------------------------------------------------------------------- scoring checks


@dataclass(frozen=True)
class UnseenValues:
    """Rows whose category the fit never saw: scored with that column as 'no known category'."""

    column: str
    rows: int
    examples: tuple[str, ...]  # up to three distinct values, as found in the data


def unseen_categories(frame: pd.DataFrame, steps: tuple[FeatureStep, ...]) -> list[UnseenValues]:
    """Category values a fitted model cannot place (a fit with an 'Other' level places them all)."""
    out = []
    for step in steps:
        if step.kind != "categorical" or OTHER_LEVEL in step.categories:
            continue
        values = parse_column(frame[step.column], step.kind, step).values.astype(str)
        unseen = ~values.isin(list(step.categories)).to_numpy()
        if unseen.any():
            examples = tuple(str(v) for v in pd.unique(values[unseen])[:3])
            out.append(UnseenValues(step.column, int(unseen.sum()), examples))
    return out
