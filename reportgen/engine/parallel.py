"""Independent numpy work on every core, with threads (no pipeline logic).

numpy releases the GIL while it sorts, partitions and searches, so per-feature work on large
columns (rank tests, quantiles) runs on all cores from threads: no copies, no processes. Results
come back in input order and each item is computed exactly as it would be alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

PARALLEL_FROM = 200_000  # rows; below, starting threads costs more than it saves
# rows; above, each thread's temporaries (a sort order, sorted copies: ~0.3 GB per thread at 10M
# rows) would raise the run's peak memory, which matters more there than seconds.
PARALLEL_UPTO = 4_000_000


def map_threads(fn: Callable[[T], R], items: Iterable[T], *, rows: int) -> list[R]:
    """[fn(x) for x in items], on a thread per core for columns of 200k to 4M rows."""
    items = list(items)
    workers = min(len(items), os.cpu_count() or 1)
    if not PARALLEL_FROM <= rows <= PARALLEL_UPTO or workers < 2:
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
