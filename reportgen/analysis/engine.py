"""The engine seam: the three computations that need every row, behind one protocol.

Everything statistical about k and stability runs on samples. Three things read every row:

- `column_stats`: per-column count, blanks, mean, SD, skewness and robust quantiles (the
  preparation statistics);
- `lloyd`: the final k-means pass, Lloyd iterations on every row from the sample's centres, then
  every row's nearest centre (`cluster.cluster`);
- `segment_aggregates`: per segment and feature the count, sum and sum of squared deviations
  (the profiles' means, SDs and Cohen's d, `profile.profile`).

`InMemoryEngine` runs them with numpy and scikit-learn on one machine; it is the code the stages
ran before the seam existed, moved here. A Dask engine implements the same `Engine` protocol over
a partitioned dataset (see docs/scaling.md). Results are plain frozen dataclasses of numpy arrays.

Not to be confused with the `reportgen.engine` package (threads, a second process): that is how
one machine's run is made faster; this is where the rows are.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from reportgen.analysis import order_stats
from reportgen.engine.parallel import map_threads

if TYPE_CHECKING:
    from sklearn.cluster import KMeans

Matrix = NDArray[np.float64]
Vector = NDArray[np.float64]
Counts = NDArray[np.int64]
Index = NDArray[np.intp]
# Per segment: (count, mean, sum of squared deviations from the segment's mean).
Moments = tuple[Vector, Vector, Vector]

# Below this many rows a k-means fit runs on one thread (OpenMP and BLAS): on small samples the
# thread start-up and spin-waiting cost more than the work, and on a busy machine with few cores
# they made small fits many times slower. Large fits keep every core.
SINGLE_THREAD_BELOW = 200_000
ASSIGN_BLOCK = 4_096  # rows per block when rows are assigned to their nearest centre
QUANTILE_LEVELS = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


# --------------------------------------------------------------------------------- the results


@dataclass(frozen=True)
class ColumnStats:
    """Per column, over its non-blank values (blank = NaN). SD is the population SD (ddof=0,
    the scaler's), skewness the biased sample skewness (m3 / m2**1.5), the median numpy's
    (`np.median`: the mean of the two middle values for an even count), MAD the unscaled median
    absolute deviation from that median (×1.4826 for a robust SD). A column with no values has
    NaN statistics; a constant one has skewness 0. The in-memory engine's median and MAD are
    `np.median`'s bit for bit (preparation's fit relies on it); another engine's may differ in
    the last bits."""

    columns: tuple[str, ...]
    count: Counts
    blanks: Counts
    mean: Vector
    sd: Vector
    skew: Vector
    median: Vector
    mad: Vector
    quantile_levels: tuple[float, ...]
    quantiles: Matrix  # len(quantile_levels) x columns, linear interpolation (numpy's default)
    # Smallest and largest value (NaN for a column without values). Optional, so that an engine
    # written before preparation consumed them still builds a ColumnStats; preparation computes
    # them itself where an engine leaves them out (None).
    minimum: Vector | None = None
    maximum: Vector | None = None


@dataclass(frozen=True)
class LloydResult:
    """The final k-means pass. Centres come largest segment first (ties by their coordinates,
    see `size_order`), so every engine numbers the segments alike; `labels` are positions
    (0..k-1) in `centers`, by `nearest`'s rule; `distances` are to the own centre."""

    labels: Index
    distances: Vector
    centers: Matrix  # k x columns
    sizes: tuple[int, ...]  # rows per centre, by `labels`
    inertia: float  # sum of squared distances at the end of the iterations
    n_iter: int


@dataclass(frozen=True)
class SegmentAggregates:
    """Per segment (rows, in `segment_ids` order) and feature (columns): the count, the sum and
    the sum of squared deviations from the segment's own mean (centred, so SDs keep their
    accuracy; the raw sum of squares is `sum_sq_dev + n * mean**2`). Overall mean and SD
    (ddof=0) per feature too, over every row."""

    segment_ids: tuple[int, ...]
    n: Counts  # k
    sums: Matrix  # k x features
    sum_sq_dev: Matrix  # k x features
    overall_mean: Vector  # features
    overall_sd: Vector  # features

    @property
    def means(self) -> Matrix:
        with np.errstate(invalid="ignore", divide="ignore"):
            means: Matrix = self.sums / self.n.astype(np.float64)[:, None]
        return means

    def moments(self, feature: int) -> Moments:
        """(count, mean, sum of squared deviations) per segment of one feature, as floats."""
        counts = self.n.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            means: Vector = self.sums[:, feature] / counts
        return counts, means, self.sum_sq_dev[:, feature]


# --------------------------------------------------------------------------------- the seam


class Engine(Protocol):
    def column_stats(self, values: Matrix | pd.DataFrame, columns: Sequence[str]) -> ColumnStats:
        """Statistics of each of `columns` (of a frame, or naming a matrix's columns)."""
        ...

    def lloyd(self, x: Matrix, centers: Matrix, max_iter: int, tol: float) -> LloydResult:
        """Lloyd iterations on every row of `x` from `centers` (at most `max_iter`; converged
        when the centres move less than `tol` relative to the mean column variance, as
        scikit-learn's), then each row's nearest centre."""
        ...

    def segment_aggregates(
        self,
        values: Matrix,
        labels: NDArray[np.integer[Any]],
        segment_ids: Sequence[int],
    ) -> SegmentAggregates:
        """Per-segment aggregates of `values` (rows x features); `labels` holds each row's
        segment id, one of `segment_ids`."""
        ...


class InMemoryEngine:
    """Every row in one process's memory: numpy and scikit-learn."""

    def column_stats(self, values: Matrix | pd.DataFrame, columns: Sequence[str]) -> ColumnStats:
        """Preparation's fit (`prepare.fit_steps`) calls this for its blanks, skewness, medians
        and MADs. One column at a time, on threads as far as their scratch memory allows (see
        `map_threads`): no copy of the whole matrix, and one sort per column."""
        names = tuple(columns)
        if isinstance(values, pd.DataFrame):
            frame = values

            def column(j: int) -> Vector:
                col: Vector = frame[names[j]].to_numpy(dtype=np.float64, na_value=np.nan)
                return col
        else:
            matrix = values
            if matrix.ndim != 2 or matrix.shape[1] != len(names):
                raise ValueError(f"{matrix.shape} matrix for {len(names)} column names")

            def column(j: int) -> Vector:
                col: Vector = matrix[:, j]
                return col

        rows = len(values)
        # Per column: its copy without blanks and its sorted copy (the moments use small blocks).
        per = map_threads(
            lambda j: _one_column(column(j)), range(len(names)), rows=rows, scratch=16 * rows
        )
        stats = np.array(per, dtype=np.float64).reshape(len(names), 9 + len(QUANTILE_LEVELS))
        return ColumnStats(
            columns=names,
            count=stats[:, 0].astype(np.int64),
            blanks=stats[:, 1].astype(np.int64),
            mean=stats[:, 2],
            sd=stats[:, 3],
            skew=stats[:, 4],
            median=np.ascontiguousarray(stats[:, -1]),
            mad=stats[:, 5],
            quantile_levels=QUANTILE_LEVELS,
            quantiles=np.ascontiguousarray(stats[:, 8:-1].T),
            minimum=np.ascontiguousarray(stats[:, 6]),
            maximum=np.ascontiguousarray(stats[:, 7]),
        )

    def lloyd(self, x: Matrix, centers: Matrix, max_iter: int, tol: float) -> LloydResult:
        # With the centres given there is nothing random left: the seed is never used.
        model = fit_kmeans(x, len(centers), seed=0, init=centers, max_iter=max_iter, tol=tol)
        return fitted_result(x, model)

    def segment_aggregates(
        self,
        values: Matrix,
        labels: NDArray[np.integer[Any]],
        segment_ids: Sequence[int],
    ) -> SegmentAggregates:
        """Per feature, by np.bincount: one pass for the sums, one for the squared deviations
        from the segment means (two-pass, as accurate as numpy's own mean/var), instead of a
        boolean-mask copy per segment. One feature after another: bincount holds the GIL, so
        threads would not help (profile runs this call beside its rank tests instead). Overall
        mean and SD by `column_mean` and `column_std`: numpy's (of the C-ordered matrix) bit for
        bit, without its full-size copy."""
        ids = tuple(int(s) for s in segment_ids)
        index, k = segment_positions(labels, ids), len(ids)
        width = values.shape[1] if values.ndim == 2 else 0
        per = [_group_sums(values[:, i], index, k) for i in range(width)]
        if per:
            sums = np.column_stack([s for _, s, _, _ in per])
            sum_sq_dev = np.column_stack([ss for _, _, _, ss in per])
        else:
            sums = sum_sq_dev = np.zeros((k, 0))
        return SegmentAggregates(
            segment_ids=ids,
            n=np.bincount(index, minlength=k).astype(np.int64),
            sums=sums,
            sum_sq_dev=sum_sq_dev,
            overall_mean=column_mean(values) if values.size else np.zeros(width),
            overall_sd=column_std(values) if values.size else np.zeros(width),
        )


DEFAULT_ENGINE: Engine = InMemoryEngine()


# --------------------------------------------------------------------------------- k-means


def fit_kmeans(
    x: Matrix,
    k: int,
    seed: int,
    n_init: int = 10,
    init: Matrix | None = None,
    *,
    max_iter: int = 300,
    tol: float = 1e-4,
) -> KMeans:
    """The one way the package fits scikit-learn's KMeans (samples and the final pass alike)."""
    # scikit-learn is imported where it is used (here and in the other stages), so that the
    # pipeline can import it on a thread while the table is read (engine.offload).
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    small = len(x) < SINGLE_THREAD_BELOW
    # On large data scikit-learn centres the matrix in place and restores it (copy_x=False)
    # rather than holding a second copy of the matrix at the memory peak. The matrix is
    # standardised, so the mean it subtracts and adds back is ~1e-16.
    opts: dict[str, Any] = {"random_state": seed, "copy_x": small, "max_iter": max_iter}
    if init is not None:
        opts.update(init=init, n_init=1)
    else:
        opts.update(n_init=n_init)
    model = KMeans(n_clusters=k, tol=tol, **opts) if small else _large_kmeans(x, k, tol, opts)
    # A bootstrap resample of a table with repeated rows can hold fewer distinct points than k:
    # scikit-learn warns, the caller sees it in the labels (a segment not found, Jaccard 0) and
    # the user's terminal stays clean ('--quiet' means quiet).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if small:
            with threadpool_limits(1):
                return model.fit(x)
        return model.fit(x)


def _large_kmeans(x: Matrix, k: int, tol: float, opts: dict[str, Any]) -> KMeans:
    """A KMeans for a large matrix whose tolerance is scikit-learn's own number (mean column
    variance × tol) computed here by blocks (`column_variance`, np.var's bits) instead of by
    its np.var over a temporary copy of the whole matrix (0.8 GB and ~0.3 s at 10M rows)."""
    cls = _given_tolerance_kmeans()
    model = cls(n_clusters=k, tol=tol, **opts)
    model.given_tol = float(np.mean(column_variance(x)) * tol) if tol else 0.0
    return model


@functools.cache
def _given_tolerance_kmeans() -> type[KMeans]:
    from sklearn.cluster import KMeans

    class GivenToleranceKMeans(KMeans):  # type: ignore[misc]  # scikit-learn is untyped
        """scikit-learn's KMeans with `_tol` (its absolute tolerance) set from `given_tol`;
        scikit-learn skips its own variance pass for a zero relative tolerance."""

        given_tol = 0.0

        def _check_params_vs_input(self, X: Matrix, *args: Any, **kwargs: Any) -> None:
            relative: float = getattr(self, "tol")  # noqa: B009  # an untyped base's attribute
            self.tol = 0.0
            try:
                super()._check_params_vs_input(X, *args, **kwargs)
            finally:
                self.tol = relative
            self._tol = self.given_tol

    return GivenToleranceKMeans


def size_order(centers: Matrix, counts: NDArray[np.integer[Any]]) -> list[int]:
    """Centre positions largest first; ties broken by the centre's coordinates (rounded to 9
    places) so the order is fully determined whatever order the fit left them in."""
    return sorted(
        range(len(centers)), key=lambda j: (-int(counts[j]), tuple(np.round(centers[j], 9)))
    )


def fitted_result(x: Matrix, model: KMeans) -> LloydResult:
    """A fitted KMeans as the final pass's result: centres in `size_order` (by the fit's own
    labels), then every row of `x` to its nearest centre."""
    fitted: Matrix = model.cluster_centers_
    k = len(fitted)
    centers = fitted[size_order(fitted, np.bincount(model.labels_, minlength=k))]
    positions, distances = nearest(x, centers)
    return LloydResult(
        labels=positions,
        distances=distances,
        centers=centers,
        sizes=tuple(int(s) for s in np.bincount(positions, minlength=k)),
        inertia=float(model.inertia_),
        n_iter=int(model.n_iter_),
    )


def nearest(x: Matrix, centers: Matrix) -> tuple[Index, Vector]:
    """The model's assignment rule: the position of the nearest centre per row (Euclidean; ties
    go to the lower position) and the distance to it. The final segmentation and the scoring of
    new rows both use it, so a run's own rows score to their own segments.

    By blocks of rows small enough to stay in the processor's cache, one centre at a time, into
    reused scratch arrays: no temporary the size of the matrix."""
    positions = np.empty(len(x), dtype=np.intp)
    distances = np.empty(len(x))
    rows = min(ASSIGN_BLOCK, len(x))
    diff = np.empty((rows, x.shape[1]))
    squared = np.empty((rows, len(centers)))
    for lo in range(0, len(x), ASSIGN_BLOCK):
        part = x[lo : lo + ASSIGN_BLOCK]
        d, sq = diff[: len(part)], squared[: len(part)]
        for j, centre in enumerate(centers):
            np.subtract(part, centre, out=d)
            np.einsum("ij,ij->i", d, d, out=sq[:, j])
        chosen = sq.argmin(axis=1)
        np.subtract(part, centers[chosen], out=d)  # the distance as its own difference vector
        positions[lo : lo + ASSIGN_BLOCK] = chosen
        distances[lo : lo + ASSIGN_BLOCK] = np.sqrt(np.einsum("ij,ij->i", d, d))
    return positions, distances


# --------------------------------------------------------------------------------- aggregates


def segment_positions(labels: NDArray[np.integer[Any]], segment_ids: Sequence[int]) -> Index:
    """Each row's position in `segment_ids` (0..k-1), for np.bincount."""
    ids = np.asarray(segment_ids)
    order = np.argsort(ids)
    positions: Index = order[np.searchsorted(ids[order], labels)]
    return positions


def _group_sums(x: Vector, index: Index, k: int) -> tuple[Vector, Vector, Vector, Vector]:
    """(count, sum, mean, sum of squared deviations from the mean) per group, two-pass."""
    # Weighted bincounts are floats already (astype without a copy); numpy's stubs say integers.
    counts = np.bincount(index, minlength=k).astype(np.float64)
    sums = np.bincount(index, weights=x, minlength=k).astype(np.float64, copy=False)
    with np.errstate(invalid="ignore", divide="ignore"):
        means: Vector = sums / counts
    dev = x - means[index]
    ss = np.bincount(index, weights=dev * dev, minlength=k).astype(np.float64, copy=False)
    return counts, sums, means, ss


def group_moments(x: Vector, index: Index, k: int) -> Moments:
    """(count, mean, sum of squared deviations from the group mean) per group: two-pass, so as
    accurate as numpy's own mean/var, but one bincount per pass instead of a mask per group."""
    counts, _, means, ss = _group_sums(x, index, k)
    return counts, means, ss


def column_std(values: NDArray[np.float64], block: int = 65_536) -> Vector:
    """np.ascontiguousarray(values).std(axis=0), bit for bit, without its temporary copy of the
    whole matrix (the square root of `column_variance`, as numpy takes it)."""
    if values.ndim != 2 or values.shape[1] < 2:
        std: Vector = values.std(axis=0)  # one column: numpy sums it pairwise, not row by row
        return std
    return np.sqrt(column_variance(values, block))


def column_mean(values: NDArray[np.float64], block: int = 65_536) -> Vector:
    """np.ascontiguousarray(values).mean(axis=0), bit for bit, whatever the matrix's layout."""
    if values.ndim != 2 or values.shape[1] < 2:
        mean: Vector = values.mean(axis=0)
        return mean
    return _sum_down(_row_blocks(values, block)) / len(values)


def column_variance(values: NDArray[np.float64], block: int = 65_536) -> Vector:
    """np.ascontiguousarray(values).var(axis=0), bit for bit, without its temporary copy of the
    whole matrix: numpy sums a C-ordered matrix down axis 0 row after row, so carrying the
    running sums from block to block adds the same numbers in the same order (a test checks
    it). A column-major matrix is summed by C-ordered blocks of rows: the same numbers again
    (numpy would sum each of its columns pairwise instead)."""
    if values.ndim != 2 or values.shape[1] < 2:
        var: Vector = values.var(axis=0)
        return var
    n = len(values)
    mean = _sum_down(_row_blocks(values, block)) / n

    def squares(part: NDArray[np.float64]) -> NDArray[np.float64]:
        d = part - mean
        d *= d
        return d

    variance: Vector = _sum_down(squares(part) for part in _row_blocks(values, block)) / n
    return variance


def _row_blocks(values: NDArray[np.float64], block: int) -> Iterator[NDArray[np.float64]]:
    for s in range(0, len(values), block):
        yield np.ascontiguousarray(values[s : s + block])


def _sum_down(blocks: Iterable[NDArray[np.float64]]) -> Vector:
    total: Vector | None = None
    for part in blocks:
        total = part.sum(axis=0) if total is None else np.vstack([total, part]).sum(axis=0)
    assert total is not None  # at least one block: the matrix has rows
    return total


# --------------------------------------------------------------------------------- columns


def _one_column(raw: Vector) -> list[float]:
    """[count, blanks, mean, sd, skew, mad, minimum, maximum, *quantiles] of one column: the
    moments in one pass each, every order statistic from one sort (`order_stats`)."""
    blank = np.isnan(raw)
    n_blank = int(np.count_nonzero(blank))
    x = raw[~blank] if n_blank else raw
    if not len(x):
        return [0.0, float(n_blank)] + [float("nan")] * (7 + len(QUANTILE_LEVELS))
    mean = float(x.mean())
    sd = float(x.std())
    skew = cubed_mean(x, mean) / sd**3 if sd > 0 else 0.0
    s = np.sort(x)
    centre = order_stats.median(s)
    quantiles = order_stats.quantiles(s, QUANTILE_LEVELS)
    mad = order_stats.mad(s, centre)
    return [float(len(x)), float(n_blank), mean, sd, skew, mad, float(s[0]), float(s[-1])] + [
        *map(float, quantiles),
        centre,
    ]


def cubed_mean(x: Vector, mean: float, block: int = 65_536) -> float:
    """Mean of (x - mean)**3 by blocks of rows (two small scratch arrays instead of two copies
    of the column; d * d * d rather than numpy's general power). It differs from the one-pass
    mean in the last bits only."""
    total = 0.0
    for start in range(0, len(x), block):
        d = x[start : start + block] - mean
        cube = d * d
        cube *= d
        total += float(cube.sum())
    return total / len(x)
