"""Stage 4 — cluster: k-means with a fixed seed, segments numbered by size.

Pure: takes the model matrix and k, returns `Segmentation` (labels, distances, centres).
Segment ids run 1..k from the largest segment down, so the same data and seed always give the
same ids (k-means' own label order is arbitrary). Centres are in the model's scaled space; the
segments' averages in real units are the profile stage's job.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans


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

    @property
    def segment_ids(self) -> tuple[int, ...]:
        return self.ids or tuple(range(1, self.k + 1))


def fit_kmeans(x: np.ndarray, k: int, seed: int, n_init: int = 10, init=None) -> KMeans:
    if init is not None:
        return KMeans(n_clusters=k, init=init, n_init=1, random_state=seed).fit(x)
    return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(x)


def nearest(x: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest centre per row and the distance to it (ties: lowest index)."""
    d2 = (x**2).sum(axis=1)[:, None] - 2 * x @ centers.T + (centers**2).sum(axis=1)[None, :]
    idx = d2.argmin(axis=1)
    return idx, np.sqrt(np.maximum(d2[np.arange(len(x)), idx], 0))


def cluster(scaled: np.ndarray, *, k: int, seed: int, n_init: int = 10) -> Segmentation:
    model = fit_kmeans(scaled, k, seed, n_init)
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
    distances = np.linalg.norm(scaled - centers_scaled[labels0], axis=1)
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
    )
