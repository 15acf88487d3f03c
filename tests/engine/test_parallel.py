"""Work on threads (reportgen.engine.parallel): the serial results, thread pools restored."""

from __future__ import annotations

import numpy as np


def test_small_fits_on_threads_give_the_serial_results_and_restore_the_thread_pools():
    from threadpoolctl import threadpool_info

    from reportgen.analysis.engine import fit_kmeans
    from reportgen.engine.parallel import map_small_fits

    before = [(p["internal_api"], p["num_threads"]) for p in threadpool_info()]
    x = np.random.default_rng(0).normal(size=(2000, 4))
    fits = map_small_fits(lambda k: fit_kmeans(x, k, 42, n_init=2).inertia_, range(2, 9))
    serial = [fit_kmeans(x, k, 42, n_init=2).inertia_ for k in range(2, 9)]
    assert fits == serial
    assert [(p["internal_api"], p["num_threads"]) for p in threadpool_info()] == before


def test_threads_are_bounded_by_their_scratch_memory_not_by_rows(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from reportgen.engine import parallel

    pools: list[int] = []

    class Recording(ThreadPoolExecutor):
        def __init__(self, max_workers: int) -> None:
            pools.append(max_workers)
            super().__init__(max_workers=max_workers)

    monkeypatch.setattr(parallel, "ThreadPoolExecutor", Recording)
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(parallel, "SCRATCH_BUDGET", 1_000)
    rows = 10**7  # far above any row threshold: only the scratch decides
    square = lambda i: i * i  # noqa: E731
    # 400 bytes each: two fit in the budget of 1,000, so two threads (not four).
    assert parallel.map_threads(square, range(4), rows=rows, scratch=400) == [0, 1, 4, 9]
    assert pools == [2]
    # 600 bytes each: one at a time, on the caller's thread, however many rows.
    assert parallel.map_threads(square, range(4), rows=rows, scratch=600) == [0, 1, 4, 9]
    assert pools == [2]
    # Without a stated scratch: three columns of the rows (240 MB at 10M rows).
    monkeypatch.setattr(parallel, "SCRATCH_BUDGET", 512 * 2**20)
    assert parallel.map_threads(square, range(4), rows=rows) == [0, 1, 4, 9]
    assert pools == [2, 2]
