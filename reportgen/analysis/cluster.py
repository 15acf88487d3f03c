"""Stage 4 — cluster: k-means with a fixed seed, segments numbered by size.

Pure: takes the model matrix and k, returns `Segmentation` (labels, distances, centres).
Segment ids run 1..k from the largest segment down, so the same data and seed always give the
same ids (k-means' own label order is arbitrary). Centres are in the model's scaled space; the
segments' averages in real units are the profile stage's job.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from sklearn.cluster import KMeans

Matrix = NDArray[np.float64]

# Below this many rows a k-means fit runs on one thread (OpenMP and BLAS): on small samples the
# thread start-up and spin-waiting cost more than the work, and on a busy machine with few cores
# they made small fits many times slower. Large fits keep every core.
SINGLE_THREAD_BELOW = 200_000
# The final model: n_init k-means++ starts on a random sample of this many rows, then Lloyd on
# every row from the best start's centres (k-means' answer on all rows, at the cost of ~one fit).
FINAL_FIT_SAMPLE = 50_000
ASSIGN_BLOCK = 4_096  # rows per block when rows are assigned to their nearest centre


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


def fit_kmeans(
    x: Matrix, k: int, seed: int, n_init: int = 10, init: Matrix | None = None
) -> KMeans:
    # scikit-learn is imported where it is used (here and in the other stages), so that the
    # pipeline can import it on a thread while the table is read (see pipeline.EARLY_IMPORTS).
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    small = len(x) < SINGLE_THREAD_BELOW
    # On large data scikit-learn centres the matrix in place and restores it (copy_x=False)
    # rather than holding a second copy of the matrix at the memory peak. The matrix is
    # standardised, so the mean it subtracts and adds back is ~1e-16.
    opts: dict[str, Any] = {"random_state": seed, "copy_x": small}
    if init is not None:
        model = KMeans(n_clusters=k, init=init, n_init=1, **opts)
    else:
        model = KMeans(n_clusters=k, n_init=n_init, **opts)
    # A bootstrap resample of a table with repeated rows can hold fewer distinct points than k:
    # scikit-learn warns, the caller sees it in the labels (a segment not found, Jaccard 0) and
    # the user's terminal stays clean ('--quiet' means quiet).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if small:
            with threadpool_limits(1):
                return model.fit(x)
        return model.fit(x)


def nearest(x: Matrix, centers: Matrix) -> tuple[NDArray[np.intp], Matrix]:
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


def cluster(scaled: Matrix, *, k: int, seed: int, n_init: int = 10) -> Segmentation:
    """k-means on every row. On large data the n_init restarts (which only pick a good start) run
    on a random sample of FINAL_FIT_SAMPLE rows; the winner's centres then start one Lloyd run on
    all rows, so centres and inertia are k-means' own on the full data. Each row then goes to
    its nearest centre by `nearest`, the rule scoring uses."""
    if len(scaled) > FINAL_FIT_SAMPLE:
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(len(scaled), size=FINAL_FIT_SAMPLE, replace=False))
        start = fit_kmeans(scaled[idx], k, seed, n_init).cluster_centers_
        model = fit_kmeans(scaled, k, seed, init=start)
        fit_sample = FINAL_FIT_SAMPLE
    else:
        model = fit_kmeans(scaled, k, seed, n_init)
        fit_sample = len(scaled)
    centers: Matrix = model.cluster_centers_
    counts = np.bincount(model.labels_, minlength=k)
    # Largest first; ties broken by the centre's coordinates so the order is fully determined.
    order = sorted(range(k), key=lambda j: (-counts[j], tuple(np.round(centers[j], 9))))
    centers_scaled = centers[order]
    positions, distances = nearest(scaled, centers_scaled)
    sizes = np.bincount(positions, minlength=k)
    return Segmentation(
        k=k,
        labels=positions + 1,
        distances=distances,
        centers_scaled=centers_scaled,
        sizes=tuple(int(s) for s in sizes),
        inertia=float(model.inertia_),
        n_init=n_init,
        n_iter=int(model.n_iter_),
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
