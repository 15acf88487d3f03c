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
