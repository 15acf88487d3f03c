"""Stage 4b — evaluate: how good and how stable are the segments?

Pure: takes the model matrix and the segmentation, returns `Evaluation`.

- **Quality**: the average silhouette of the final segments (on a sample of at most 3,000 rows),
  read with Kaufman & Rousseeuw's cut-offs: below 0.25 *poor* (no substantial structure),
  0.25–0.50 *fair* (weak structure, segments overlap), 0.50 and above *good*.
- **Stability** (Hennig's clusterboot idea): draw bootstrap resamples, re-run k-means on each,
  and for every segment take the Jaccard similarity of its best-matching new segment (over the
  customers in both). The mean over resamples is the segment's stability: 0.75 or more *stable*,
  0.60–0.75 *doubtful*, below 0.60 *unstable* (Hennig 2007 treats ≤ 0.5 as dissolved).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reportgen.analysis.choose_k import SelectionFits, selection_fits, small_kmeans
from reportgen.analysis.cluster import Segmentation

STABILITY_SAMPLE = 5_000
SILHOUETTE_SAMPLE = 3_000
QUALITY_CUTOFFS = (0.25, 0.50)
STABILITY_CUTOFFS = (0.60, 0.75)
QUALITY_RULE = (
    "average silhouette below 0.25 = poor, 0.25–0.50 = fair, 0.50 or above = good "
    "(Kaufman & Rousseeuw)"
)
STABILITY_RULE = (
    "mean Jaccard similarity of the best-matching segment over bootstrap re-runs: 0.75 or more = "
    "stable, 0.60–0.75 = doubtful, below 0.60 = unstable (Hennig's clusterboot)"
)


@dataclass(frozen=True)
class SegmentStability:
    segment_id: int
    jaccard: float
    verdict: str  # "stable" | "doubtful" | "unstable"


@dataclass(frozen=True)
class Evaluation:
    silhouette: float | None
    quality: str  # "good" | "fair" | "poor" | "unknown"
    stability: tuple[SegmentStability, ...]
    resamples: int
    sample_size: int

    def of(self, segment_id: int) -> SegmentStability:
        return next(s for s in self.stability if s.segment_id == segment_id)


def quality_verdict(silhouette: float | None) -> str:
    if silhouette is None:
        return "unknown"
    if silhouette < QUALITY_CUTOFFS[0]:
        return "poor"
    return "fair" if silhouette < QUALITY_CUTOFFS[1] else "good"


def stability_verdict(jaccard: float) -> str:
    if jaccard >= STABILITY_CUTOFFS[1]:
        return "stable"
    return "doubtful" if jaccard >= STABILITY_CUTOFFS[0] else "unstable"


Labels = NDArray[np.intp]


def evaluate(
    scaled: NDArray[np.float64],
    seg: Segmentation,
    *,
    seed: int,
    resamples: int = 20,
    fits: SelectionFits | None = None,
) -> Evaluation:
    """Quality and stability of `seg` (see the module docstring). The resamples' fits run in
    one batch under one thread limit (`choose_k.selection_fits`; pass `fits` to share one)."""
    rng = np.random.default_rng(seed + 1)
    n = len(scaled)
    idx = (
        np.sort(rng.choice(n, size=STABILITY_SAMPLE, replace=False))
        if n > STABILITY_SAMPLE
        else np.arange(n)
    )
    x, labels = scaled[idx], seg.labels[idx]
    sil_idx = (
        np.sort(rng.choice(len(x), size=SILHOUETTE_SAMPLE, replace=False))
        if len(x) > SILHOUETTE_SAMPLE
        else np.arange(len(x))
    )
    # The resamples are drawn in order from one generator, then fitted a worker per core, with
    # the silhouette (the largest job) in the same batch.
    boots = [rng.integers(0, len(x), size=len(x)) for _ in range(resamples)]

    def job(b: int) -> Any:
        if b < 0:
            return _silhouette(x[sil_idx], labels[sil_idx])
        model = small_kmeans(x[boots[b]], seg.k, seed + 100 + b, n_init=3)
        members = np.unique(boots[b])
        return members, model.predict(x[members])

    with selection_fits(fits) as pool:
        done = pool.map(job, range(-1, resamples))
    silhouette, refits = done[0], done[1:]
    jaccard = _mean_best_jaccard(seg, labels, refits)
    stability = tuple(
        SegmentStability(segment_id=sid, jaccard=j, verdict=stability_verdict(j))
        for sid, j in zip(seg.segment_ids, jaccard, strict=True)
    )
    return Evaluation(silhouette, quality_verdict(silhouette), stability, resamples, len(x))


def _silhouette(x: NDArray[np.float64], labels: Labels) -> float | None:
    """The average silhouette of the rows given (at most SILHOUETTE_SAMPLE; None for one
    segment)."""
    from sklearn.metrics import silhouette_score

    if len(np.unique(labels)) < 2:
        return None
    return float(silhouette_score(x, labels))


def _mean_best_jaccard(
    seg: Segmentation, labels: Labels, refits: Iterable[tuple[Labels, Labels]]
) -> list[float]:
    """Per segment, the mean over resamples of the Jaccard similarity of its best-matching new
    segment, over the customers in the resample (0 when it never appears)."""
    sums = np.zeros(seg.k)
    counts = np.zeros(seg.k)
    for members, new in refits:
        old = labels[members]
        for j, sid in enumerate(seg.segment_ids):
            a = old == sid
            if not a.any():
                continue
            best = 0.0
            for c in range(seg.k):
                bmask = new == c
                union = np.count_nonzero(a | bmask)
                if union:
                    best = max(best, np.count_nonzero(a & bmask) / union)
            sums[j] += best
            counts[j] += 1
    return [float(sums[j] / counts[j]) if counts[j] else 0.0 for j in range(seg.k)]
