"""Stage 4 — cluster: k-means with a fixed seed, segments numbered by size.

Pure: takes the model matrix and k, returns `Segmentation` (labels, distances, centres).
Segment ids run 1..k from the largest segment down, so the same data and seed always give the
same ids (k-means' own label order is arbitrary). Centres are in the model's scaled space; the
segments' averages in real units are the profile stage's job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

# The in-memory k-means code lives with the engine seam (engine.py); the stages and `score`
# import these names from here, as before.
from reportgen.analysis.engine import DEFAULT_ENGINE, Engine, fit_kmeans, fitted_result

Matrix = NDArray[np.float64]

# The final model: n_init k-means++ starts on a random sample of this many rows, then Lloyd on
# every row from the best start's centres (k-means' answer on all rows, at the cost of ~one fit).
FINAL_FIT_SAMPLE = 50_000
# The final Lloyd run's limits (scikit-learn's defaults, as the restarts use).
LLOYD_MAX_ITER = 300
LLOYD_TOL = 1e-4


@dataclass(frozen=True)
class Segmentation:
    k: int
    labels: NDArray[np.intp]  # segment id (1..k) per kept row
    distances: Matrix  # Euclidean distance to own centre, scaled units
    centers_scaled: Matrix  # k x model columns, row i = segment i+1
    sizes: tuple[int, ...]
    inertia: float
    n_init: int
    n_iter: int
    seed: int
    # Segment id of each centre row when ids were carried over from a previous run (see
    # compare.relabel); empty means the ids are 1..k in row order.
    ids: tuple[int, ...] = ()
    # Rows the k-means++ restarts ran on before the final Lloyd run on every row (see cluster).
    start_sample: int = 0

    @property
    def segment_ids(self) -> tuple[int, ...]:
        return self.ids or tuple(range(1, self.k + 1))


def cluster(
    scaled: Matrix, *, k: int, seed: int, n_init: int = 10, engine: Engine = DEFAULT_ENGINE
) -> Segmentation:
    """k-means on every row. On large data the n_init restarts (which only pick a good start) run
    on a random sample of FINAL_FIT_SAMPLE rows; the winner's centres then start one Lloyd run on
    all rows, `engine.lloyd`, so centres and inertia are k-means' own on the full data. Each row
    then goes to its nearest centre by `nearest`, the rule scoring uses. Up to FINAL_FIT_SAMPLE
    rows the restarts run on every row already: no full-data pass is left for the engine."""
    if len(scaled) > FINAL_FIT_SAMPLE:
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(len(scaled), size=FINAL_FIT_SAMPLE, replace=False))
        start = fit_kmeans(scaled[idx], k, seed, n_init).cluster_centers_
        final = engine.lloyd(scaled, start, LLOYD_MAX_ITER, LLOYD_TOL)
        fit_sample = FINAL_FIT_SAMPLE
    else:
        final = fitted_result(scaled, fit_kmeans(scaled, k, seed, n_init))
        fit_sample = len(scaled)
    return Segmentation(
        k=k,
        labels=final.labels + 1,
        distances=final.distances,
        centers_scaled=final.centers,
        sizes=final.sizes,
        inertia=final.inertia,
        n_init=n_init,
        n_iter=final.n_iter,
        seed=seed,
        start_sample=fit_sample,
    )


def silhouette(distances: Matrix, labels: NDArray[np.integer[Any]]) -> float:
    """Average silhouette from a precomputed distance matrix (Rousseeuw 1987; as scikit-learn's
    `silhouette_score`). Per row, its summed distance to each segment is one matrix product, so
    each candidate k costs O(n²·k) arithmetic instead of recomputing the n² distances."""
    codes, labels = np.unique(labels, return_inverse=True)
    onehot = np.zeros((len(labels), len(codes)))
    onehot[np.arange(len(labels)), labels] = 1.0
    sums = distances @ onehot  # row i, segment j: summed distance from i to j's members
    sizes = onehot.sum(axis=0)
    own = sizes[labels]
    a = sums[np.arange(len(labels)), labels] / np.maximum(own - 1, 1)
    mean_other = sums / sizes
    mean_other[np.arange(len(labels)), labels] = np.inf
    b = mean_other.min(axis=1)
    s = np.where(own > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-300), 0.0)
    return float(np.mean(np.nan_to_num(s)))
