"""Independent numpy work on every core, with threads (no pipeline logic).

numpy releases the GIL while it sorts, partitions and searches, so per-feature work on large
columns (rank tests, quantiles) runs on all cores from threads: no copies, no processes. Results
come back in input order and each item is computed exactly as it would be alone. How many run
at once is bounded by the memory their temporaries take, not by a row count.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

PARALLEL_FROM = 200_000  # rows; below, starting threads costs more than it saves
# Bytes of temporaries that the items running at once may hold together (a sort of a column, its
# copy without blanks): threads are added while their scratch fits, so the run's peak memory
# grows by at most this much, whatever the row count (one item always runs).
SCRATCH_BUDGET = 512 * 2**20


def map_threads(
    fn: Callable[[T], R], items: Iterable[T], *, rows: int, scratch: int | None = None
) -> list[R]:
    """[fn(x) for x in items], on a thread per core for columns of PARALLEL_FROM rows or more,
    as many at once as `scratch` (bytes of temporaries per item; default three float64 columns
    of `rows`) fits in SCRATCH_BUDGET."""
    items = list(items)
    per_item = scratch if scratch is not None else 24 * rows
    fitting = max(1, SCRATCH_BUDGET // max(per_item, 1))
    workers = min(len(items), os.cpu_count() or 1, fitting)
    if rows < PARALLEL_FROM or workers < 2:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))


def map_small_fits(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """[fn(x) for x in items] on a thread per core, for many small independent model fits
    (k-means on a 20k-row sample for each candidate k, on each bootstrap resample). A fit that
    small runs single-threaded (see analysis.engine.SINGLE_THREAD_BELOW), which left one core idle;
    scikit-learn's k-means loops and BLAS release the GIL, so two fits at a time use both.

    The native thread pools are held at one thread for the whole map, from this thread: the
    per-fit limit inside the workers then saves and restores that same value, so no worker can
    leave the process's pools limited (or unlimited) behind another's back. Each fit carries its
    own seed, so the results are the same in any order."""
    from threadpoolctl import threadpool_limits

    items = list(items)
    workers = min(len(items), os.cpu_count() or 1)
    with threadpool_limits(1):
        if workers < 2:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(fn, items))
