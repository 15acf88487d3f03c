"""Stage 4 — cluster: k-means with a fixed seed, segments numbered by size.

Pure: takes the model matrix and k, returns `Segmentation` (labels, distances, centres).
Segment ids run 1..k from the largest segment down, so the same data and seed always give the
same ids (k-means' own label order is arbitrary). Centres are in the model's scaled space; the
segments' averages in real units are the profile stage's job.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sklearn.cluster import KMeans

# Below this many rows a k-means fit runs on one thread (OpenMP and BLAS): on small samples the
# thread start-up and spin-waiting cost more than the work, and on a busy 2-core laptop they made
# a 20k-row fit 15x slower (0.5 s -> 15 s measured). Large fits keep every core.
SINGLE_THREAD_BELOW = 200_000
# The final model: n_init k-means++ starts on a random sample of this many rows, then Lloyd on
# every row from the best start's centres (k-means' answer on all rows, at the cost of ~one fit).
FINAL_FIT_SAMPLE = 50_000


@dataclass(frozen=True)
class Segmentation:
    k: int
    labels: np.ndarray  # segment id (1..k) per kept row
    distances: np.ndarray  # Euclidean distance to own centre, scaled units
    centers_scaled: np.ndarray  # k x model columns, row i = segment i+1
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


def fit_kmeans(x: np.ndarray, k: int, seed: int, n_init: int = 10, init=None) -> KMeans:
    # scikit-learn is imported where it is used (here and in the other stages), so that the
    # pipeline can import it on a thread while the table is read (see pipeline.EARLY_IMPORTS).
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    small = len(x) < SINGLE_THREAD_BELOW
    # On large data scikit-learn centres the matrix in place and restores it (copy_x=False)
    # rather than holding a second copy: 800 MB less at 10M x 10. The matrix is standardised, so
    # the mean it subtracts and adds back is ~1e-16.
    opts = {"random_state": seed, "copy_x": small}
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


def nearest(x: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest centre per row and the distance to it (ties: lowest index)."""
    d2 = (x**2).sum(axis=1)[:, None] - 2 * x @ centers.T + (centers**2).sum(axis=1)[None, :]
    idx = d2.argmin(axis=1)
    return idx, np.sqrt(np.maximum(d2[np.arange(len(x)), idx], 0))


def _distances(x: np.ndarray, centers: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Distance of each row to its own centre, in blocks so the temporaries stay small."""
    out = np.empty(len(x))
    step = 262_144
    for lo in range(0, len(x), step):
        diff = x[lo : lo + step] - centers[labels[lo : lo + step]]
        out[lo : lo + step] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return out


def cluster(scaled: np.ndarray, *, k: int, seed: int, n_init: int = 10) -> Segmentation:
    """k-means on every row. On large data the n_init restarts (which only pick a good start) run
    on a random sample of FINAL_FIT_SAMPLE rows; the winner's centres then start one Lloyd run on
    all rows, so labels, centres and inertia are k-means' own on the full data."""
    if len(scaled) > FINAL_FIT_SAMPLE:
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(len(scaled), size=FINAL_FIT_SAMPLE, replace=False))
        start = fit_kmeans(scaled[idx], k, seed, n_init).cluster_centers_
        model = fit_kmeans(scaled, k, seed, init=start)
        fit_sample = FINAL_FIT_SAMPLE
    else:
        model = fit_kmeans(scaled, k, seed, n_init)
        fit_sample = len(scaled)
    raw_labels = model.labels_
    counts = np.bincount(raw_labels, minlength=k)
    # Largest first; ties broken by the centre's coordinates so the order is fully determined.
    order = sorted(
        range(k), key=lambda j: (-counts[j], tuple(np.round(model.cluster_centers_[j], 9)))
    )
    remap = np.empty(k, dtype=int)
    for new, old in enumerate(order):
        remap[old] = new
    labels0 = remap[raw_labels]
    centers_scaled = model.cluster_centers_[order]
    distances = _distances(scaled, centers_scaled, labels0)
    return Segmentation(
        k=k,
        labels=labels0 + 1,
        distances=distances,
        centers_scaled=centers_scaled,
        sizes=tuple(int(counts[j]) for j in order),
        inertia=float(model.inertia_),
        n_init=n_init,
        n_iter=int(model.n_iter_),
        seed=seed,
        start_sample=fit_sample,
    )


def silhouette(distances: np.ndarray, labels: np.ndarray) -> float:
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
