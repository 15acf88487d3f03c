"""Stage 2 — prepare: from the raw table to the matrix k-means sees, every decision stated.

Pure: takes the raw frame and the resolved data dictionary, returns `PreparedData`. Every row that
is dropped is counted under the first reason that applies, so the brief can explain each one.

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

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from reportgen.errors import InputError
from reportgen.io.dictionary import ColumnSpec, DataDictionary, numeric_values

AUTO_IMPUTE_ABOVE = 0.05
SKEW_LIMIT = 1.0
OUTLIER_RSD = 5.0
MAX_OUTLIER_SHARE = 0.01
MAX_LEVELS = 12
CATEGORY_SPREAD = 0.5  # square root of a categorical column's one-hot block variance
MISSING_LEVEL = "(missing)"
OTHER_LEVEL = "Other"
YES_WORDS = {"1", "yes", "y", "true", "t"}


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
    imputed: int = 0  # rows filled in (fit data)
    capped: int = 0  # rows capped as outliers (fit data)
    reason: str = ""

    @property
    def model_columns(self) -> tuple[str, ...]:
        if self.kind == "categorical":
            return tuple(f"{self.column}={c}" for c in self.categories)
        return (self.column,)


@dataclass(frozen=True)
class PreparedData:
    features: tuple[str, ...]  # input columns that segment
    numeric_features: tuple[str, ...]  # of those, the ones profiled as numbers
    values: np.ndarray  # kept rows x numeric_features, real units (imputed filled in)
    scaled: np.ndarray  # kept rows x model columns: what k-means sees
    steps: tuple[FeatureStep, ...]
    # kept rows, every input column as read, index = input position; when no row is dropped the
    # float columns that `values` holds unchanged are views of `values` (one copy in memory)
    kept: pd.DataFrame
    row_numbers: np.ndarray  # 1-based data-row numbers in the input file of the kept rows
    ids: pd.Series  # customer id of each kept row (or the row number when there is no id column)
    id_name: str  # name of the id column in outputs ("row" when the input has none)
    n_read: int
    drops: tuple[DropReason, ...]
    notes: tuple[str, ...]
    duplicate_ids: int = 0
    categorical_features: tuple[str, ...] = field(default=())

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


def _binary_positive(values: pd.Series) -> str:
    levels = sorted(values.dropna().astype(str).str.strip().unique())
    for level in levels:
        if level.lower() in YES_WORDS:
            return level
    return levels[-1]


def parse_column(series: pd.Series, kind: str, step: FeatureStep | None = None):
    """Return (numbers or labels, present mask, invalid mask) for one segmentation column of the
    given kind ("numeric", "binary", "date", "categorical"); a fitted step fixes the binary
    positive value and the date of reference."""
    if kind == "numeric" and pd.api.types.is_numeric_dtype(series) and series.dtype != bool:
        # Already numbers (Parquet, typed CSV columns): no round trip through text.
        nums = series.astype(float)
        present = nums.notna().to_numpy()
        return nums, present, np.zeros_like(present)
    text = series.astype("string").str.strip()
    present = (text.notna() & (text != "")).to_numpy()
    if kind == "categorical":
        return (
            text.fillna(MISSING_LEVEL).replace("", MISSING_LEVEL),
            present,
            np.zeros_like(present),
        )
    if kind == "binary":
        positive = step.positive if step else _binary_positive(text[present])
        nums = pd.Series(np.where(text == positive, 1.0, 0.0), index=series.index)
        nums[~present] = np.nan
        return nums, present, np.zeros_like(present)
    if kind == "date":
        dates = pd.to_datetime(text, errors="coerce", format="mixed", dayfirst=True)
        invalid = present & dates.isna().to_numpy()
        if step is not None and step.reference_date:
            ref = pd.Timestamp(step.reference_date)
        else:
            ref = dates.max()
        days = (ref - dates).dt.days.astype(float)
        return days, present, invalid
    nums = numeric_values(series)
    invalid = present & nums.isna().to_numpy()
    return nums, present, invalid


def _kind(spec: ColumnSpec) -> str:
    if spec.type in ("categorical", "text"):
        return "categorical"
    if spec.type == "binary":
        return "binary"
    if spec.type == "date":
        return "date"
    return "numeric"


def _skewness(x: np.ndarray) -> float:
    """Sample skewness. d * d * d is ten times faster than d ** 3 (numpy's general power) but may
    differ in the last bits; the skewness is only compared with SKEW_LIMIT and printed with one
    decimal, so next to either boundary the value is recomputed exactly as before."""
    sd = x.std()
    if not sd > 0:
        return 0.0
    mean = x.mean()
    # The mean of cubed deviations by blocks of rows (two 0.5 MB scratch arrays instead of two
    # copies of the column: 160 MB at 10M rows); it differs from the one-pass mean by rounding
    # only, which the boundary check below covers.
    total, block = 0.0, 65_536
    for start in range(0, len(x), block):
        d = x[start : start + block] - mean
        cube = d * d
        cube *= d
        total += float(cube.sum())
    fast = total / len(x) / sd**3
    tenths = fast * 10 - np.floor(fast * 10)
    if abs(fast - SKEW_LIMIT) > 1e-6 and abs(tenths - 0.5) > 1e-6:
        return fast
    return float(((x - mean) ** 3).mean() / sd**3)


# --------------------------------------------------------------------------- fit


def prepare(frame: pd.DataFrame, dictionary: DataDictionary) -> PreparedData:
    n_read = len(frame)
    features = list(dictionary.segment_columns)
    if not features:
        raise InputError(
            "no usable numeric column to segment on: add a data dictionary or name columns "
            "with --columns"
        )
    notes: list[str] = []
    alive = np.ones(n_read, dtype=bool)
    drops: list[DropReason] = []

    def drop(mask: np.ndarray, reason: str) -> None:
        hit = np.asarray(mask, dtype=bool) & alive
        count = int(hit.sum())
        if count:
            drops.append(DropReason(reason, count))
            alive[hit] = False

    duplicate_ids = 0
    if dictionary.id_column:
        dup = repeated_ids(frame[dictionary.id_column])
        duplicate_ids = int(dup.sum())
        drop(dup, f"duplicate id in '{dictionary.id_column}' (first row kept)")

    parsed = {}
    for name in features:
        spec = dictionary.column(name)
        values, present, invalid = parse_column(frame[name], _kind(spec))
        if _kind(spec) != "categorical" and values.notna().sum() == 0:
            raise InputError(
                f"column '{name}' has no numeric values and cannot segment "
                f"(its type is {spec.type or 'text'}); describe it instead"
            )
        parsed[name] = (spec, values, present, invalid)

    for name, (spec, values, present, invalid) in parsed.items():
        what = "not a date" if _kind(spec) == "date" else "not a number"
        drop(invalid, f"'{name}' is {what}")
        parsed[name] = (spec, values, present, None)  # used: free it (10 MB a column at 10M)
    for name, (spec, values, present, _) in parsed.items():
        if _kind(spec) == "numeric":
            v = values.to_numpy(dtype=float)
            drop(present & np.isinf(v), f"'{name}' is infinite")
            if spec.is_scale:
                outside = present & ((v < spec.scale_min) | (v > spec.scale_max))
                drop(outside, f"'{name}' outside its {spec.scale_min:g}–{spec.scale_max:g} scale")

    # Missing values: drop when rare, impute when common (or as the dictionary says).
    impute_cols = []
    for name, (spec, _, present, _) in parsed.items():
        if _kind(spec) == "categorical":
            continue
        share_missing = float((~present & alive).sum()) / max(int(alive.sum()), 1)
        policy = spec.missing or ("impute" if share_missing > AUTO_IMPUTE_ABOVE else "drop")
        if policy == "drop":
            drop(~present, f"no value for '{name}'")
        else:
            impute_cols.append(name)
        if _kind(spec) == "numeric":  # only binary columns need `present` again
            parsed[name] = (spec, parsed[name][1], None, None)

    n_kept = int(alive.sum())
    all_alive = n_kept == n_read
    if n_kept == 0:
        raise InputError(
            f"no usable rows: all {n_read} rows were dropped "
            f"({'; '.join(f'{d.reason}: {d.rows}' for d in drops)})"
        )

    # The matrices are filled column by column into preallocated arrays: no list of columns and
    # no column_stack/hstack copy of the whole matrix (each one 0.8 GB at 10M x 10). Categorical
    # columns are fitted first only to know their width; their steps keep the input order.
    categorical_fits = {
        name: _fit_categorical(name, values if all_alive else values[alive])
        for name, (spec, values, _, _) in parsed.items()
        if _kind(spec) == "categorical"
    }
    n_numeric_max = sum(1 for spec, *_ in parsed.values() if _kind(spec) != "categorical")
    width_max = n_numeric_max + sum(
        len(step.categories) for step, _ in categorical_fits.values() if step is not None
    )
    values_matrix = np.empty((n_kept, n_numeric_max))
    scaled = np.empty((n_kept, width_max))
    steps: list[FeatureStep] = []
    numeric_features: list[str] = []
    categorical_features: list[str] = []
    constant: list[str] = []
    empty: list[str] = []
    as_read: set[str] = set()
    col_at = 0
    for name in list(parsed):
        spec, values, present, _ = parsed.pop(name)  # the parsed column is freed once used
        kind = _kind(spec)
        if kind == "categorical":
            step, block = categorical_fits.pop(name)
            if step is None:
                blank = (values if all_alive else values[alive]).eq(MISSING_LEVEL).all()
                (empty if blank else constant).append(name)
                continue
            steps.append(step)
            scaled[:, col_at : col_at + block.shape[1]] = block
            col_at += block.shape[1]
            del block
            categorical_features.append(name)
            continue
        raw = values.to_numpy(dtype=float)
        if not all_alive:
            raw = raw[alive]
        del values
        missing = np.isnan(raw)
        impute_value = None
        if name in impute_cols and missing.any():
            observed = raw[~missing]
            if kind == "binary":
                impute_value = float(np.round(observed.mean()))
            else:
                impute_value = float(np.median(observed))
            del observed
            raw = np.where(missing, impute_value, raw)
        elif name in impute_cols:
            impute_value = float(np.median(raw))
        if raw.std() == 0:
            constant.append(name)
            continue
        step, x = _fit_numeric(name, spec, kind, raw, impute_value, int(missing.sum()))
        read_as_float = frame[name].dtype == np.float64
        if all_alive and kind == "numeric" and read_as_float and not missing.any():
            as_read.add(name)  # the values column is the frame's column, value for value
        del missing
        if kind == "binary":
            positive = _binary_positive(frame[name].astype("string").str.strip()[alive & present])
            step = _replace(step, positive=positive)
        if kind == "date":
            dates = pd.to_datetime(
                frame[name].astype("string").str.strip(),
                errors="coerce",
                format="mixed",
                dayfirst=True,
            )
            step = _replace(step, reference_date=dates.max().date().isoformat())
        steps.append(step)
        column = scaled[:, col_at]
        np.subtract(x, step.mean, out=column)
        np.divide(column, step.scale, out=column)
        del x
        values_matrix[:, len(numeric_features)] = raw
        del raw
        col_at += 1
        numeric_features.append(name)
    # Only when a column turned out constant is there a narrower copy (rare; same as before).
    if len(numeric_features) < n_numeric_max:
        values_matrix = np.ascontiguousarray(values_matrix[:, : len(numeric_features)])
    if col_at < width_max:
        scaled = np.ascontiguousarray(scaled[:, :col_at])

    if constant:
        notes.append(
            "Left out because every kept row has the same value: " + ", ".join(constant) + "."
        )
    if empty:
        notes.append("Left out because every kept row is blank: " + ", ".join(empty) + ".")
    if not steps:
        if empty and not constant:
            raise InputError(
                f"every segmentation column is blank ({', '.join(empty)}): nothing to segment on"
            )
        raise InputError("every segmentation column is constant: nothing to segment on")
    for s in steps:
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

    # No copy of every column when no row was dropped (1 GB at 10M rows); then the columns that
    # `values` holds exactly as read are views of `values`, so the caller can let the frame's
    # own copies go (0.8 GB at 10M x 10).
    if alive.all():
        kept = _sharing_values(frame, values_matrix, numeric_features, as_read)
    else:
        kept = frame.loc[alive]
    row_numbers = np.flatnonzero(alive)
    row_numbers += 1  # in place: no second 80 MB array at 10M rows
    if dictionary.id_column:
        ids = id_text(kept[dictionary.id_column])
        id_name = dictionary.id_column
    else:
        ids = pd.Series(row_numbers, index=kept.index, name="row")
        id_name = "row"
    if duplicate_ids:
        notes.append(
            f"{duplicate_ids:,} rows repeat an id seen earlier in the file; the first row of each "
            "id was kept and the repeats left out."
        )
    return PreparedData(
        features=tuple(s.column for s in steps),
        numeric_features=tuple(numeric_features),
        values=values_matrix,
        scaled=scaled,
        steps=tuple(steps),
        kept=kept,
        row_numbers=row_numbers,
        ids=ids,
        id_name=id_name,
        n_read=n_read,
        drops=tuple(drops),
        notes=tuple(notes),
        duplicate_ids=duplicate_ids,
        categorical_features=tuple(categorical_features),
    )


def _sharing_values(
    frame: pd.DataFrame, values: np.ndarray, numeric: list[str], as_read: set[str]
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


def repeated_ids(column: pd.Series) -> np.ndarray:
    """Rows whose id (trimmed; blank ids never count) appeared in an earlier row.

    Arrow's dictionary encoding numbers distinct ids in order of first appearance, so a row is
    a repeat exactly when its code is not above every code before it: no Python strings and no
    pandas hash table (2 GB at 10M rows)."""
    import pyarrow as pa
    import pyarrow.compute as pc

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
    # The trimmed text and the hash table (1.2 GB at 10M rows) are freed, but Arrow's allocator
    # keeps freed memory until asked: give it back before prepare allocates its matrices.
    pa.default_memory_pool().release_unused()
    return repeat & ~blank


def id_text(column: pd.Series) -> pd.Series:
    """Ids as text; whole-number floats (a blank cell makes pandas read 1001 as 1001.0) lose the
    '.0' so they match the CRM."""
    if pd.api.types.is_float_dtype(column):
        finite = column.dropna()
        if (finite % 1 == 0).all():
            column = column.astype("Int64")
    return column.astype("string").fillna("")


def _replace(step: FeatureStep, **changes) -> FeatureStep:
    from dataclasses import replace

    return replace(step, **changes)


def _fit_numeric(name, spec, kind, raw, impute_value, n_imputed):
    transform = "none"
    reason = ""
    if kind == "numeric" and not spec.is_scale and spec.type != "ordinal":
        wanted = spec.transform
        # The skewness decides only for non-negative amounts without a declared transform.
        skew = _skewness(raw) if wanted is None and raw.min() >= 0 else 0.0
        if wanted == "log" or (wanted is None and raw.min() >= 0 and skew > SKEW_LIMIT):
            if raw.min() < 0:
                raise InputError(
                    f"column '{name}' has negative values and cannot be log-transformed"
                )
            transform = "log1p"
            reason = (
                f"log-transformed (log(1 + x)) because its skewness is {skew:.1f} (rule: "
                f"non-negative amounts with skewness above {SKEW_LIMIT:g})"
                if wanted is None
                else "log-transformed as the data dictionary asks"
            )
    x = np.log1p(raw) if transform == "log1p" else raw
    med = float(np.median(x))
    # The same median of |x - med|, computed in one scratch array (np.median(np.abs(x - med))
    # held three copies of the column: 0.24 GB at 10M rows).
    scratch = np.subtract(x, med)
    np.abs(scratch, out=scratch)
    mad = float(np.median(scratch, overwrite_input=True)) * 1.4826
    del scratch
    lo = hi = None
    capped = 0
    if mad > 0 and kind == "numeric":
        lo, hi = med - OUTLIER_RSD * mad, med + OUTLIER_RSD * mad
        capped = int(((x < lo) | (x > hi)).sum())
        if capped > MAX_OUTLIER_SHARE * len(x):
            capped = 0  # that many far values are a group of customers, not outliers
        if capped:
            x = np.clip(x, lo, hi)
        else:
            lo = hi = None
    mean, scale = float(x.mean()), float(x.std())
    if scale == 0:
        scale = 1.0
    step = FeatureStep(
        column=name,
        kind=kind,
        transform=transform,
        impute=impute_value,
        clip_low=lo,
        clip_high=hi,
        mean=mean,
        scale=scale,
        imputed=n_imputed,
        capped=capped,
        reason=reason,
    )
    return step, x  # transformed and capped; the caller scales it: (x - mean) / scale


def _fit_categorical(name: str, labels: pd.Series):
    counts = labels.value_counts()
    counts = counts.sort_index().sort_values(ascending=False, kind="stable")
    levels = list(counts.index[:MAX_LEVELS])
    if len(counts) > MAX_LEVELS:
        levels = levels[: MAX_LEVELS - 1] + [OTHER_LEVEL]
    if len(levels) < 2:
        return None, None
    onehot = _onehot(labels, levels)
    means = onehot.mean(axis=0)
    variance = float(onehot.var(axis=0).sum())
    weight = CATEGORY_SPREAD / np.sqrt(variance) if variance > 0 else 1.0
    step = FeatureStep(
        column=name,
        kind="categorical",
        categories=tuple(str(v) for v in levels),
        category_means=tuple(float(m) for m in means),
        weight=float(weight),
        reason=f"one-hot over {len(levels)} categories, at half a numeric feature's spread",
    )
    return step, (onehot - means) * weight


def _onehot(labels: pd.Series, levels: list[str]) -> np.ndarray:
    values = labels.astype(str).to_numpy()
    known = set(levels)
    if OTHER_LEVEL in known:
        values = np.where(np.isin(values, list(known)), values, OTHER_LEVEL)
    return np.column_stack([(values == lvl).astype(float) for lvl in levels])


# --------------------------------------------------------------------------- re-apply (scoring)


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
        values = parse_column(frame[step.column], step.kind, step)[0].astype(str)
        unseen = ~values.isin(list(step.categories)).to_numpy()
        if unseen.any():
            examples = tuple(pd.unique(values[unseen])[:3])
            out.append(UnseenValues(step.column, int(unseen.sum()), examples))
    return out


def apply_steps(
    frame: pd.DataFrame,
    steps: tuple[FeatureStep, ...],
    scale_rules: dict[str, tuple[float, float]] | None = None,
) -> tuple[np.ndarray, np.ndarray, tuple[DropReason, ...]]:
    """New rows through fitted steps: (model matrix, usable-row mask, reasons for the rest).

    The same parsing and the same rules as `prepare`: a row is unusable when a value is not a
    number (or date), infinite, outside its rating scale, or missing where the fit dropped
    missing rows instead of imputing. Unusable rows get zeros in the matrix; use the mask.
    """
    n = len(frame)
    usable = np.ones(n, dtype=bool)
    drops: list[DropReason] = []
    scale_rules = scale_rules or {}

    def drop(mask: np.ndarray, reason: str) -> None:
        hit = np.asarray(mask, dtype=bool) & usable
        if hit.any():
            drops.append(DropReason(reason, int(hit.sum())))
            usable[hit] = False

    parsed = [(step, *parse_column(frame[step.column], step.kind, step)) for step in steps]
    for step, _, _, invalid in parsed:
        drop(
            invalid, f"'{step.column}' is {'not a date' if step.kind == 'date' else 'not a number'}"
        )
    for step, values, present, _ in parsed:
        if step.kind == "categorical":
            continue
        v = values.to_numpy(dtype=float)
        drop(present & np.isinf(v), f"'{step.column}' is infinite")
        if step.column in scale_rules:
            lo, hi = scale_rules[step.column]
            drop(
                present & ((v < lo) | (v > hi)), f"'{step.column}' outside its {lo:g}–{hi:g} scale"
            )
    for step, _, present, _ in parsed:
        if step.kind != "categorical" and step.impute is None:
            drop(~present, f"no value for '{step.column}'")
    # Filled column by column into one preallocated matrix (no hstack copy of the whole matrix).
    matrix = np.empty((n, sum(len(step.model_columns) for step in steps)))
    col_at = 0
    for step, values, _, _ in parsed:
        if step.kind == "categorical":
            onehot = _onehot(values, list(step.categories))
            width = onehot.shape[1]
            matrix[:, col_at : col_at + width] = (
                onehot - np.asarray(step.category_means)
            ) * step.weight
            col_at += width
            continue
        x = values.to_numpy(dtype=float)
        if step.impute is not None:
            x = np.where(np.isnan(x), step.impute, x)
        x = np.where(np.isfinite(x), x, 0.0)
        if step.transform == "log1p":
            negative = x < 0
            drop(negative, f"'{step.column}' is negative (log-transformed when fitted)")
            x = np.log1p(np.maximum(x, 0))
        if step.clip_low is not None:
            x = np.clip(x, step.clip_low, step.clip_high)
        column = matrix[:, col_at]
        np.subtract(x, step.mean, out=column)
        np.divide(column, step.scale, out=column)
        col_at += 1
    return matrix, usable, tuple(drops)
