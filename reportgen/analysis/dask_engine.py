"""The engine seam over a Dask cluster: the full-data steps on rows that never leave the workers.

`DaskEngine` implements `engine.Engine` over a `dask.dataframe.DataFrame` partitioned by rows
(each partition a pandas frame of float columns, NaN = blank). Every method is a few passes in
which each partition returns a small summary (k-by-columns numbers) and the summaries are merged
in a fixed tree on the cluster, so the answer does not depend on which worker ran what, and a
partition lost with its worker is recomputed from the data.

- `column_stats`: count, blanks, mean, SD and skewness **exactly**, from per-partition central
  moments merged by Pébay's formulas (one pass); the quantiles, the median and the MAD
  **exactly** too, by bracketing: a histogram of each column over its range locates the bin of
  each wanted order statistic, a finer histogram of that bin narrows it while it holds more than
  `COLLECT_MAX` values, then those values are gathered and sorted (2-4 passes for the quantiles,
  as many for the MAD of |x - median|). The result is numpy's linear-interpolation quantile.
- `lloyd`: Lloyd iterations as reductions: each partition assigns its rows to the broadcast
  centres (`engine.nearest`, the one rule) and returns per-centre counts and sums; stop on
  scikit-learn's `tol` (relative to the mean column variance, measured in the first pass).
  `lloyd_steps` is the iterations alone, one pass each: the brief assigns every row to the final
  centres in the pass that aggregates its profiles instead of a pass of its own.
- The brief's preparation does not call `column_stats` (five or more passes): `dask_prepare`
  gathers the values where the sample puts each median and MAD, with `order_statistics` as the
  fallback, in two passes.
- `segment_aggregates`: per segment and column count, mean and sum of squared deviations per
  partition, merged with Chan et al.'s formula (centred: as accurate as two passes).

Dask is imported inside the functions: this module can be imported without it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from reportgen.analysis.engine import (
    QUANTILE_LEVELS,
    ColumnStats,
    LloydResult,
    SegmentAggregates,
    nearest,
    segment_positions,
    size_order,
)

Matrix = NDArray[np.float64]
Vector = NDArray[np.float64]

BINS = 4096  # histogram bins per bracketing pass
COLLECT_MAX = 100_000  # a bracket holding at most this many values is gathered and sorted
MERGE_FAN_IN = 8  # partition summaries merged per task
MAX_NARROWING = 8  # histogram passes per order statistic before its bracket is gathered anyway


# --------------------------------------------------------------------------------- passes


def reduce_partitions(
    frame: Any, mapper: Callable[[pd.DataFrame], Any], merge: Callable[[list[Any]], Any]
) -> Any:
    """`mapper` on every partition of `frame`, the results merged in a fixed tree (partition
    order, `MERGE_FAN_IN` at a time) on the cluster; the one merged result comes back."""
    dask = dask_module()
    parts = [dask.delayed(mapper)(p) for p in frame.to_delayed()]
    if not parts:
        raise ValueError("a dataset without partitions")
    while len(parts) > 1:
        parts = [
            dask.delayed(merge)(parts[i : i + MERGE_FAN_IN])
            for i in range(0, len(parts), MERGE_FAN_IN)
        ]
    return dask.compute(parts[0])[0]


def dask_module() -> Any:
    """The dask module, imported when a pass runs (untyped: its results are ours to check)."""
    import importlib

    return importlib.import_module("dask")


def floats(part: pd.DataFrame, columns: Sequence[str]) -> Matrix:
    """The columns as one float matrix: no copy when the partition is those float64 columns."""
    frame = part if list(part.columns) == list(columns) else part[list(columns)]
    if all(dtype == np.float64 for dtype in frame.dtypes):
        out: Matrix = frame.to_numpy(dtype=np.float64)
    else:
        out = frame.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


# --------------------------------------------------------------------------------- moments


@dataclass(frozen=True)
class Moments:
    """Per column over the non-blank values: count, blanks, mean, M2, M3 (sums of 2nd and 3rd
    powers of deviations from the mean), min and max."""

    n: Vector
    blanks: Vector
    mean: Vector
    m2: Vector
    m3: Vector
    low: Vector
    high: Vector


def part_moments(x: Matrix) -> Moments:
    blank = np.isnan(x)
    if not blank.any():  # the usual case: no mask, no copies beyond the deviations
        n = np.full(x.shape[1], float(len(x)))
        if not len(x):
            zero = np.zeros(x.shape[1])
            return Moments(n, zero, zero, zero, zero, zero + np.inf, zero - np.inf)
        mean = x.mean(axis=0)
        d = x - mean
        square = d * d
        m2 = square.sum(axis=0)
        square *= d
        return Moments(
            n, np.zeros(x.shape[1]), mean, m2, square.sum(axis=0), x.min(axis=0), x.max(axis=0)
        )
    ok = ~blank
    n = ok.sum(axis=0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, np.nansum(x, axis=0) / n, 0.0)
        d = np.where(ok, x - mean, 0.0)
        m2 = (d * d).sum(axis=0)
        m3 = (d * d * d).sum(axis=0)
    has = n > 0
    low = np.where(has, np.nanmin(np.where(ok, x, np.inf), axis=0), np.inf)
    high = np.where(has, np.nanmax(np.where(ok, x, -np.inf), axis=0), -np.inf)
    return Moments(n, (~ok).sum(axis=0).astype(np.float64), mean, m2, m3, low, high)


def point_mass(n: Vector, value: Vector) -> Moments:
    """The moments of n[j] copies of value[j] per column (none where n is 0)."""
    zero = np.zeros(len(n))
    some = n > 0
    return Moments(
        n.astype(np.float64),
        zero,
        np.where(some, value, 0.0),
        zero,
        zero,
        np.where(some, value, np.inf),
        np.where(some, value, -np.inf),
    )


def pick(m: Moments, columns: Sequence[int]) -> Moments:
    """The moments of some of the columns, in the order given."""
    at = list(columns)
    return Moments(m.n[at], m.blanks[at], m.mean[at], m.m2[at], m.m3[at], m.low[at], m.high[at])


def merge_moments(parts: Sequence[Moments]) -> Moments:
    """Pébay (2008): the central moments of a union from those of its parts."""
    out = parts[0]
    for b in parts[1:]:
        a = out
        n = a.n + b.n
        with np.errstate(invalid="ignore", divide="ignore"):
            delta = b.mean - a.mean
            w = np.where(n > 0, b.n / n, 0.0)
            mean = a.mean + delta * w
            m2 = a.m2 + b.m2 + delta * delta * a.n * w
            m3 = (
                a.m3
                + b.m3
                + delta**3 * a.n * b.n * (a.n - b.n) / np.where(n > 0, n * n, 1.0)
                + 3.0 * delta * (a.n * b.m2 - b.n * a.m2) / np.where(n > 0, n, 1.0)
            )
        out = Moments(
            n,
            a.blanks + b.blanks,
            mean,
            m2,
            m3,
            np.minimum(a.low, b.low),
            np.maximum(a.high, b.high),
        )
    return out


def _moments_mapper(columns: tuple[str, ...], part: pd.DataFrame) -> Moments:
    return part_moments(floats(part, columns))


def column_moments(frame: Any, columns: Sequence[str]) -> Moments:
    """One pass: the exact moments of each column over the cluster."""
    cols = tuple(columns)
    return reduce_partitions(  # type: ignore[no-any-return]
        frame, functools.partial(_moments_mapper, cols), merge_moments
    )


# --------------------------------------------------------------------------------- order stats


@dataclass
class _Bracket:
    """Where one order statistic (0-based `rank` among a column's non-blank values) lies: in
    [low, high] (or [low, high) when not `closed`), with `below` values under `low` and
    `inside` values in it."""

    column: int
    rank: int
    low: float
    high: float
    below: int
    inside: int
    closed: bool = True
    value: float | None = None  # known once resolved

    @property
    def box(self) -> tuple[int, float, float, bool]:
        return (self.column, self.low, self.high, self.closed)


Box = tuple[int, float, float, bool]  # column, low, high, high end included


def _inside(col: Vector, box: Box) -> Vector:
    _, low, high, closed = box
    keep = (col >= low) & ((col <= high) if closed else (col < high))
    out: Vector = col[keep]
    return out


def _edges(box: Box) -> Vector:
    """The BINS equal bins of a bracket: computed the same way here and on every worker."""
    edges: Vector = np.linspace(box[1], box[2], BINS + 1)
    return edges


def _histogram_mapper(
    columns: tuple[str, ...], shift: Vector | None, boxes: tuple[Box, ...], part: pd.DataFrame
) -> list[tuple[NDArray[np.int64], float, float]]:
    """Per bracket: the counts of its values in its BINS bins (the last one takes the high end
    when the bracket does), and the least and greatest of its values."""
    x = _values(part, columns, shift)
    out = []
    for box in boxes:
        inside = _inside(x[:, box[0]], box)
        idx = np.clip(np.searchsorted(_edges(box), inside, side="right") - 1, 0, BINS - 1)
        counts = np.bincount(idx, minlength=BINS).astype(np.int64)
        if len(inside):
            out.append((counts, float(inside.min()), float(inside.max())))
        else:
            out.append((counts, np.inf, -np.inf))
    return out


def _merge_histograms(
    parts: list[list[tuple[NDArray[np.int64], float, float]]],
) -> list[tuple[NDArray[np.int64], float, float]]:
    return [
        (
            np.sum([c for c, _, _ in per], axis=0),
            min(lo for _, lo, _ in per),
            max(hi for _, _, hi in per),
        )
        for per in zip(*parts, strict=True)
    ]


def _collect_mapper(
    columns: tuple[str, ...], shift: Vector | None, boxes: tuple[Box, ...], part: pd.DataFrame
) -> list[Vector]:
    x = _values(part, columns, shift)
    return [_inside(x[:, box[0]], box) for box in boxes]


def _merge_collected(parts: list[list[Vector]]) -> list[Vector]:
    return [np.concatenate(per) for per in zip(*parts, strict=True)]


def _values(part: pd.DataFrame, columns: tuple[str, ...], shift: Vector | None) -> Matrix:
    """The columns as floats; with `shift`, |x - shift| per column (deviations for the MAD)."""
    x = floats(part, columns)
    if shift is not None:
        x = np.abs(x - shift)
    return x


def order_statistics(
    frame: Any,
    columns: Sequence[str],
    ranks: Sequence[Sequence[int]],
    moments: Moments,
    shift: Vector | None = None,
) -> list[dict[int, float]]:
    """The values at the given 0-based `ranks` among each column's non-blank values (of
    |x - shift| with `shift`), exactly: histogram passes narrow each bracket to the bin its rank
    falls in, then the values of the brackets are gathered and sorted. `moments` give the count
    and the range."""
    cols = tuple(columns)
    if shift is None:
        lows, highs = moments.low, moments.high
    else:
        lows, highs = np.zeros(len(cols)), np.maximum(moments.high - shift, shift - moments.low)
    todo = [
        _Bracket(j, r, float(lows[j]), float(highs[j]), 0, int(moments.n[j]))
        for j in range(len(cols))
        for r in sorted(set(ranks[j]))
    ]
    for _ in range(MAX_NARROWING):
        for b in todo:
            if b.value is None and b.low >= b.high:  # a constant column
                b.value = b.low
        wide = [b for b in todo if b.value is None and b.inside > COLLECT_MAX]
        if not wide:
            break
        _narrow(frame, cols, shift, wide)
    _gather(frame, cols, shift, [b for b in todo if b.value is None])
    out: list[dict[int, float]] = [{} for _ in cols]
    for b in todo:
        assert b.value is not None
        out[b.column][b.rank] = b.value
    return out


def _narrow(frame: Any, cols: tuple[str, ...], shift: Vector | None, wide: list[_Bracket]) -> None:
    """One histogram pass: each bracket shrinks to the bin its rank falls in."""
    boxes = sorted({b.box for b in wide})
    mapper = functools.partial(_histogram_mapper, cols, shift, tuple(boxes))
    result = dict(zip(boxes, reduce_partitions(frame, mapper, _merge_histograms), strict=True))
    for b in wide:
        counts, low, high = result[b.box]
        if low == high:  # every value of the bracket is one number
            b.value = low
            continue
        cumulative = np.cumsum(counts)
        i = int(np.searchsorted(cumulative, b.rank - b.below, side="right"))
        edges = _edges(b.box)
        b.below += int(cumulative[i - 1]) if i else 0
        b.inside = int(counts[i])
        b.closed = b.closed and i == BINS - 1
        b.low, b.high = float(edges[i]), float(edges[i + 1])


def _gather(frame: Any, cols: tuple[str, ...], shift: Vector | None, open_: list[_Bracket]) -> None:
    if not open_:
        return
    boxes = sorted({b.box for b in open_})
    mapper = functools.partial(_collect_mapper, cols, shift, tuple(boxes))
    values = reduce_partitions(frame, mapper, _merge_collected)
    found = {box: np.sort(v) for box, v in zip(boxes, values, strict=True)}
    for b in open_:
        b.value = float(found[b.box][b.rank - b.below])


def quantile_ranks(n: int, levels: Sequence[float]) -> list[tuple[int, int, float]]:
    """numpy's linear method: position (n - 1) q between the order statistics floor and ceil."""
    out = []
    for q in levels:
        h = (n - 1) * q
        lo = int(np.floor(h))
        out.append((lo, min(lo + 1, n - 1), h - lo))
    return out


def lerp(a: float, b: float, t: float) -> float:
    """numpy's interpolation between two order statistics (its formula, for the same digits)."""
    diff = b - a
    return float(b - diff * (1 - t)) if t >= 0.5 else float(a + diff * t)


# --------------------------------------------------------------------------------- the engine


@dataclass(frozen=True)
class LazyAssignment:
    """What `DaskEngine.lloyd` leaves on the cluster: the centres to assign each partition's
    rows with (`engine.nearest`); the labels and distances are computed where the rows are."""

    centers: Matrix


class DaskEngine:
    """The full-data steps over a Dask dataframe of float columns, partitioned by rows."""

    def column_stats(self, values: Any, columns: Sequence[str]) -> ColumnStats:
        names = tuple(columns)
        m = column_moments(values, names)
        count = m.n.astype(np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            sd = np.where(count > 0, np.sqrt(m.m2 / m.n), np.nan)
            skew = np.where(sd > 0, (m.m3 / m.n) / sd**3, 0.0)
            mean = np.where(count > 0, m.mean, np.nan)
        skew = np.where(count > 0, skew, np.nan)
        quantiles, median = self._quantiles(values, names, m)
        mad = self._mad(values, names, m, median)
        return ColumnStats(
            columns=names,
            count=count,
            blanks=m.blanks.astype(np.int64),
            mean=mean,
            sd=sd,
            skew=skew,
            median=median,
            mad=mad,
            quantile_levels=QUANTILE_LEVELS,
            quantiles=quantiles,
        )

    def _quantiles(self, values: Any, names: tuple[str, ...], m: Moments) -> tuple[Matrix, Vector]:
        plans = [quantile_ranks(int(n), QUANTILE_LEVELS) if n > 0 else [] for n in m.n]
        ranks = [[r for lo, hi, _ in plan for r in (lo, hi)] for plan in plans]
        found = order_statistics(values, names, ranks, m)
        q = np.full((len(QUANTILE_LEVELS), len(names)), np.nan)
        for j, plan in enumerate(plans):
            for i, (lo, hi, t) in enumerate(plan):
                q[i, j] = lerp(found[j][lo], found[j][hi], t)
        return q, np.ascontiguousarray(q[QUANTILE_LEVELS.index(0.5)])

    def _mad(self, values: Any, names: tuple[str, ...], m: Moments, median: Vector) -> Vector:
        plans = [quantile_ranks(int(n), (0.5,)) if n > 0 else [] for n in m.n]
        ranks = [[r for lo, hi, _ in plan for r in (lo, hi)] for plan in plans]
        shift = np.where(np.isnan(median), 0.0, median)
        found = order_statistics(values, names, ranks, m, shift=shift)
        mad = np.full(len(names), np.nan)
        for j, plan in enumerate(plans):
            for lo, hi, t in plan:
                mad[j] = lerp(found[j][lo], found[j][hi], t)
        return mad

    def lloyd(self, x: Any, centers: Matrix, max_iter: int, tol: float) -> LloydResult:
        """Lloyd on every row of the dask dataframe `x` (the model columns) from `centers`. The
        labels and distances stay on the cluster: the result's `labels` and `distances` are
        empty and `lazy` (see `lloyd_lazy`) says how to compute them where the rows are."""
        result, _ = self.lloyd_lazy(x, centers, max_iter, tol)
        return result

    def lloyd_lazy(
        self, x: Any, centers: Matrix, max_iter: int, tol: float
    ) -> tuple[LloydResult, LazyAssignment]:
        columns = tuple(str(c) for c in x.columns)
        current, n_iter = self.lloyd_steps(x, centers, max_iter, tol)
        final = reduce_partitions(
            x, functools.partial(_lloyd_mapper, columns, current, False), _merge_lloyd
        )
        order = size_order(current, final.counts.astype(np.int64))
        ordered = current[order]
        result = LloydResult(
            labels=np.zeros(0, dtype=np.intp),
            distances=np.zeros(0),
            centers=ordered,
            sizes=tuple(int(final.counts[j]) for j in order),
            inertia=float(final.inertia),
            n_iter=n_iter,
        )
        return result, LazyAssignment(ordered)

    def lloyd_steps(self, x: Any, centers: Matrix, max_iter: int, tol: float) -> tuple[Matrix, int]:
        """The Lloyd iterations alone: the final centres (in the order of `centers`) and how
        many iterations moved them, one pass each. The pass that assigns every row to the final
        centres (sizes, inertia) is the caller's: `lloyd_lazy` makes one, the brief does it in
        the pass that aggregates the profiles."""
        columns = tuple(str(c) for c in x.columns)
        current = np.asarray(centers, dtype=np.float64)
        step = reduce_partitions(
            x, functools.partial(_lloyd_mapper, columns, current, True), _merge_lloyd
        )
        variance = step.squares / step.rows - (step.total / step.rows) ** 2
        threshold = float(np.mean(variance)) * tol
        n_iter = 0
        for n_iter in range(1, max_iter + 1):  # noqa: B007  (n_iter is the count after the loop)
            if n_iter > 1:
                step = reduce_partitions(
                    x, functools.partial(_lloyd_mapper, columns, current, False), _merge_lloyd
                )
            # A centre that lost every row keeps its place (scikit-learn would move it to a far
            # point; from a good start on the sample's centres this does not happen).
            counts = step.counts[:, None]
            moved = np.where(counts > 0, step.sums / np.maximum(counts, 1), current)
            shift = float(((moved - current) ** 2).sum())
            current = moved
            if shift <= threshold:
                break
        return current, n_iter

    def segment_aggregates(
        self, values: Any, labels: Any, segment_ids: Sequence[int]
    ) -> SegmentAggregates:
        """`values`: a dask dataframe of float columns with the segment id of each row in the
        column named by `labels` (a string); rows with a blank are left out per column."""
        label_column = str(labels)
        columns = tuple(str(c) for c in values.columns if c != label_column)
        ids = tuple(int(s) for s in segment_ids)
        grouped = reduce_partitions(
            values,
            functools.partial(_group_mapper, columns, label_column, ids),
            merge_grouped,
        )
        result: SegmentAggregates = grouped.aggregates(ids)
        return result


# --------------------------------------------------------------------------------- Lloyd steps


@dataclass(frozen=True)
class _LloydStep:
    counts: Vector  # rows per centre
    sums: Matrix  # per centre and column
    inertia: float
    rows: float
    total: Vector  # per column (first pass only: for the tolerance)
    squares: Vector


def _lloyd_mapper(
    columns: tuple[str, ...], centers: Matrix, first: bool, part: pd.DataFrame
) -> _LloydStep:
    x = floats(part, columns)
    k = len(centers)
    positions, distances = nearest(x, centers) if len(x) else (np.zeros(0, np.intp), np.zeros(0))
    counts = np.bincount(positions, minlength=k).astype(np.float64)
    sums = np.zeros((k, x.shape[1]))
    np.add.at(sums, positions, x)
    width = x.shape[1]
    total = x.sum(axis=0) if first else np.zeros(width)
    squares = (x * x).sum(axis=0) if first else np.zeros(width)
    return _LloydStep(counts, sums, float((distances**2).sum()), float(len(x)), total, squares)


def _merge_lloyd(parts: list[_LloydStep]) -> _LloydStep:
    return _LloydStep(
        np.sum([p.counts for p in parts], axis=0),
        np.sum([p.sums for p in parts], axis=0),
        float(sum(p.inertia for p in parts)),
        float(sum(p.rows for p in parts)),
        np.sum([p.total for p in parts], axis=0),
        np.sum([p.squares for p in parts], axis=0),
    )


# --------------------------------------------------------------------------------- aggregates


@dataclass(frozen=True)
class Grouped:
    """Per segment (rows) and column: count, mean and sum of squared deviations over the
    non-blank values; and the same for all rows together."""

    n: Matrix
    mean: Matrix
    m2: Matrix
    all_n: Vector
    all_mean: Vector
    all_m2: Vector

    def aggregates(self, ids: tuple[int, ...], columns: slice | None = None) -> SegmentAggregates:
        """As the engine's `SegmentAggregates` (columns without blanks: one count per segment)."""
        cols = columns or slice(None)
        n = self.n[:, cols]
        counts = n[:, 0] if n.shape[1] else np.zeros(len(ids))
        with np.errstate(invalid="ignore", divide="ignore"):
            sd = np.sqrt(self.all_m2[cols] / self.all_n[cols])
        return SegmentAggregates(
            segment_ids=ids,
            n=counts.astype(np.int64),
            sums=self.mean[:, cols] * n,
            sum_sq_dev=self.m2[:, cols],
            overall_mean=self.all_mean[cols],
            overall_sd=sd,
        )


def group_moments(x: Matrix, index: NDArray[np.intp], k: int) -> Grouped:
    """Per group and column over the non-blank values (two-pass within the block)."""
    ok = ~np.isnan(x)
    z = np.where(ok, x, 0.0)
    n = np.zeros((k, x.shape[1]))
    sums = np.zeros((k, x.shape[1]))
    np.add.at(n, index, ok.astype(np.float64))
    np.add.at(sums, index, z)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, sums / np.maximum(n, 1), 0.0)
    d = np.where(ok, x - mean[index], 0.0)
    m2 = np.zeros((k, x.shape[1]))
    np.add.at(m2, index, d * d)
    all_n = ok.sum(axis=0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        all_mean = np.where(all_n > 0, z.sum(axis=0) / np.maximum(all_n, 1), 0.0)
    da = np.where(ok, x - all_mean, 0.0)
    return Grouped(n, mean, m2, all_n, all_mean, (da * da).sum(axis=0))


def _chan(
    na: Matrix, ma: Matrix, sa: Matrix, nb: Matrix, mb: Matrix, sb: Matrix
) -> tuple[Matrix, Matrix, Matrix]:
    n = na + nb
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(n > 0, nb / np.maximum(n, 1), 0.0)
    delta = mb - ma
    return n, ma + delta * w, sa + sb + delta * delta * na * w


def merge_grouped(parts: list[Grouped]) -> Grouped:
    out = parts[0]
    for b in parts[1:]:
        n, mean, m2 = _chan(out.n, out.mean, out.m2, b.n, b.mean, b.m2)
        an, amean, am2 = _chan(out.all_n, out.all_mean, out.all_m2, b.all_n, b.all_mean, b.all_m2)
        out = Grouped(n, mean, m2, an, amean, am2)
    return out


def _group_mapper(
    columns: tuple[str, ...], label_column: str, ids: tuple[int, ...], part: pd.DataFrame
) -> Grouped:
    index = segment_positions(part[label_column].to_numpy(dtype=np.int64), ids)
    return group_moments(floats(part, columns), index, len(ids))


# --------------------------------------------------------------------------------- sampling


def uniform_sample(
    frame: Any, rows: int, seed: int, total: int | None = None
) -> tuple[pd.DataFrame, int, NDArray[np.int64]]:
    """About `rows` rows drawn uniformly on the cluster (each row kept with the same probability,
    seeded per partition: the same data and seed give the same sample), the number of rows in
    the dataset (counted in a pass unless given: a Parquet dataset's footers hold it), and
    each drawn row's partition and position in it (n x 2). Every row when the dataset has no
    more than `rows`."""
    dask = dask_module()
    if total is None:
        total = int(dask.compute(frame.map_partitions(len).sum())[0])
    share = min(1.0, rows / total) if total else 1.0
    parts = [
        dask.delayed(_sample_part)(p, share, seed, i) for i, p in enumerate(frame.to_delayed())
    ]
    drawn = dask.compute(*parts)
    sample = pd.concat([d for d, _ in drawn], ignore_index=True)
    where = np.concatenate([w for _, w in drawn]) if drawn else np.zeros((0, 2), np.int64)
    return sample, total, where


def _sample_part(
    part: pd.DataFrame, share: float, seed: int, index: int
) -> tuple[pd.DataFrame, NDArray[np.int64]]:
    if share >= 1.0:
        keep = np.arange(len(part))
    else:
        rng = np.random.default_rng([seed, index])
        keep = np.flatnonzero(rng.random(len(part)) < share)
    where = np.column_stack([np.full(len(keep), index), keep]).astype(np.int64)
    return part.iloc[keep], where
