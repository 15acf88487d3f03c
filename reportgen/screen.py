"""Stage 2b — screen: find segmentation features that carry no group structure (pure noise).

Pure: takes the prepared data, returns `Screening`. A column that no group of customers differs
on adds only noise to the distances k-means uses and can hide real segments, so it is moved out
of the segmentation (it is still profiled as a descriptive field) and the brief says so.

The test, stated in the brief: on a sample, cluster the customers on all features, and again on
all the *other* features (k chosen once, by silhouette), and measure how much of the
column's variance the groups explain (R², between-group over total; the larger of the two). A
structured column differs between the groups; a noise column differs between neither.
Columns with R² below 0.02 are screened out; at least two features always stay, and with fewer
than three features nothing is screened. `--keep-all-features` turns it off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import pairwise_distances

from .cluster import fit_kmeans, silhouette
from .prepare import PreparedData

MIN_R2 = 0.02
SAMPLE = 4_000
SILHOUETTE_SAMPLE = 1_500
SCREEN_RULE = (
    "a feature is screened out as noise when groups found on the other features explain less "
    f"than {MIN_R2:.0%} of its variance (R² on a sample of at most {SAMPLE:,} rows)"
)


@dataclass(frozen=True)
class Screening:
    r2: dict[str, float]  # feature -> variance explained by groups found without it
    noise: tuple[str, ...]  # features screened out
    k_used: int | None


def _quick_k(x: np.ndarray, k_max: int, seed: int, rng: np.random.Generator) -> int:
    idx = rng.choice(len(x), size=min(len(x), SILHOUETTE_SAMPLE), replace=False)
    best, best_k = -1.0, 2
    distances = pairwise_distances(x[idx])  # once for every k
    for k in range(2, max(2, min(k_max, 8)) + 1):
        labels = fit_kmeans(x, k, seed, n_init=3).labels_
        if len(np.unique(labels[idx])) < 2:
            continue
        s = silhouette(distances, labels[idx])
        if s > best:
            best, best_k = s, k
    return best_k


def screen_features(prepared: PreparedData, *, seed: int, k_max: int = 10) -> Screening:
    steps = prepared.steps
    if len(steps) < 3:
        return Screening({}, (), None)
    rng = np.random.default_rng(seed + 7)
    x = prepared.scaled
    if len(x) > SAMPLE:
        x = x[np.sort(rng.choice(len(x), size=SAMPLE, replace=False))]
    if len(np.unique(x, axis=0)) < 10:
        return Screening({}, (), None)
    blocks, start = [], 0
    for step in steps:
        width = len(step.model_columns)
        blocks.append(np.arange(start, start + width))
        start += width
    k_all = _quick_k(x, k_max, seed, rng)
    all_labels = fit_kmeans(x, k_all, seed, n_init=3).labels_
    r2: dict[str, float] = {}
    for step, cols in zip(steps, blocks, strict=True):
        others = x[:, np.setdiff1d(np.arange(x.shape[1]), cols)]
        loo_labels = fit_kmeans(others, k_all, seed, n_init=3).labels_
        # A column that alone separates two groups is explained by the groups found with it;
        # noise is explained by neither.
        r2[step.column] = max(_r2(x[:, cols], all_labels), _r2(x[:, cols], loo_labels))
    ranked = sorted(r2, key=lambda c: r2[c])
    noise = [c for c in ranked if r2[c] < MIN_R2]
    if len(noise) > len(steps) - 2:
        noise = noise[: len(steps) - 2]
    return Screening(r2, tuple(c for c in prepared.features if c in noise), k_all)


def _r2(block: np.ndarray, labels: np.ndarray) -> float:
    """Share of the block's variance between the groups (R²)."""
    centred = block - block.mean(axis=0)
    total = float((centred**2).sum())
    if total <= 0:
        return 0.0
    between = 0.0
    for g in np.unique(labels):
        members = labels == g
        between += members.sum() * float((centred[members].mean(axis=0) ** 2).sum())
    return between / total
