"""Order statistics of one column from one sort: medians, MADs, quantiles, bin counts, ranks.

numpy's `np.sort` of float64 is a vectorised (SIMD) sort, several times faster than the
partitions behind `np.median` and `np.quantile` and ~8x faster than `np.argsort`. So a column
is sorted once and every order statistic a stage needs is read off the sorted copy in O(1) or
O(log n): the median and quantiles by index, the MAD by a selection in the two sorted halves of
the deviations, bin counts by binary search, Kruskal–Wallis rank sums by binary search of each
group's own sorted values.

Every function returns exactly (bit for bit) what numpy's own function returns on the unsorted
column — `np.median`, `np.quantile` (linear method), `np.median(np.abs(x - np.median(x)))`,
`np.bincount(np.searchsorted(edges, x))` — so a caller can switch without changing an output;
tests compare them on random columns with ties. Inputs hold no NaN (blanks are removed first).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

Vector = NDArray[np.float64]
Counts = NDArray[np.int64]

RANK_BLOCK = 1 << 20  # values ranked at once (two int64 positions each)


def median(s: Vector) -> float:
    """np.median of the sorted values `s`: the middle value, or the mean of the two middle ones
    (numpy adds them and divides by two, as here)."""
    n = len(s)
    if n == 0:
        return float("nan")
    h = n // 2
    if n % 2:
        return float(s[h])
    return float((s[h - 1] + s[h]) / 2.0)


def quantiles(s: Vector, levels: Sequence[float]) -> Vector:
    """np.quantile(x, levels) (method 'linear') of the sorted values `s`, by numpy's own index
    and interpolation arithmetic, without its partition of a copy of the column."""
    n = len(s)
    q = np.asarray(levels, dtype=np.float64)
    if n == 0:
        return np.full(len(q), np.nan)
    virtual = (n - 1) * q
    previous = np.floor(virtual)
    nxt = previous + 1
    above = virtual >= n - 1
    previous[above] = -1
    nxt[above] = -1
    below = virtual < 0
    previous[below] = 0
    nxt[below] = 0
    gamma = np.asarray(virtual - previous, dtype=np.float64)
    a, b = s[previous.astype(np.intp)], s[nxt.astype(np.intp)]
    diff = b - a
    out: Vector = np.add(a, diff * gamma)
    np.subtract(b, diff * (1 - gamma), out=out, where=gamma >= 0.5)
    return out


def mad(s: Vector, centre: float) -> float:
    """np.median(np.abs(x - centre)) of the sorted values `s`, centre within their range.

    |s - centre| falls over the values below the centre and rises over the rest (rounding is
    monotone, so exactly so in floating point): two sorted runs, whose middle element(s) are
    found by binary search, each deviation computed when looked at (the same subtraction numpy
    does), instead of partitioning a scratch copy of the column."""
    n = len(s)
    if n == 0:
        return float("nan")
    c = np.float64(centre)
    split = int(np.searchsorted(s, c, side="left"))

    def below(i: int) -> np.float64:  # deviations of the values below the centre, nearest first
        return np.float64(abs(s[split - 1 - i] - c))

    def above(i: int) -> np.float64:
        return np.float64(abs(s[split + i] - c))

    h = n // 2
    sizes = (split, n - split)
    if n % 2:
        return float(_kth_of_two(below, above, sizes, h))
    low = _kth_of_two(below, above, sizes, h - 1)
    return float((low + _kth_of_two(below, above, sizes, h)) / 2.0)


def _kth_of_two(
    a: Callable[[int], np.float64], b: Callable[[int], np.float64], sizes: tuple[int, int], k: int
) -> np.float64:
    """The k-th smallest (0-based) of the union of two ascending sequences (read by index), in
    O(log n) reads."""
    na, nb = sizes
    lo, hi = max(0, k + 1 - nb), min(k + 1, na)
    while lo < hi:  # the fewest taken from `a` with a[i] >= b[k - i]
        i = (lo + hi) // 2
        if a(i) < b(k - i):
            lo = i + 1
        else:
            hi = i
    j = k + 1 - lo
    if lo == 0:
        return b(j - 1)
    if j == 0:
        return a(lo - 1)
    return max(a(lo - 1), b(j - 1))


def bin_counts(s: Vector, edges: Vector) -> Counts:
    """np.bincount(np.searchsorted(edges, x, side='left'), minlength=len(edges) + 1) of the
    sorted values `s`: per bin (below the first edge, between edges, above the last) the values
    in (edges[i-1], edges[i]], by one binary search per edge."""
    at_or_below = np.searchsorted(s, edges, side="right").astype(np.int64)
    counts: Counts = np.diff(np.concatenate(([0], at_or_below, [len(s)])))
    return counts


def rank_sums(s: Vector, groups: Sequence[Vector]) -> tuple[Vector, float]:
    """Kruskal–Wallis's per-group sums of average ranks (ties share their mean rank) and the
    tie correction 1 - sum(t^3 - t) / (n^3 - n), from the sorted column `s` and each group's
    values sorted. Each run of equal values in `s` has the average rank (first + last 1-based
    position) / 2; a value's run is found by one binary search among the distinct values, and
    twice the ranks are summed as integers (exact; rank sums are sums of half-integers below
    2**53), so this equals ranking by argsort."""
    n = len(s)
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]]) if n else np.zeros(0, np.intp)
    run = np.diff(np.r_[starts, n])
    distinct = s[starts]
    twice_rank = 2 * starts.astype(np.int64) + run + 1
    sums = np.zeros(len(groups))
    for g, values in enumerate(groups):
        total = 0
        for lo in range(0, len(values), RANK_BLOCK):  # bounded scratch for the positions
            at = np.searchsorted(distinct, values[lo : lo + RANK_BLOCK], side="left")
            total += int(twice_rank[at].sum())
        sums[g] = total / 2.0
    runs = run.astype(np.float64)
    ties = 1.0 - float((runs**3 - runs).sum()) / (float(n) ** 3 - n) if n > 1 else 1.0
    return sums, ties
