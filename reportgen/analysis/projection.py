"""The segment map's coordinates: the scaled rows projected onto their two principal components.

Numbers only: `report.charts` draws the points and writes the captions and axis titles. The
directions of largest spread are estimated as well from a few tens of thousands of rows as from
millions, so the PCA is fitted on a bounded, seeded sample, and only the rows that the map draws
are projected: the cost stays flat however large the table is. On a table no larger than the fit
sample every row is used, and the result is the PCA of the whole table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

MAX_FIT_ROWS = 50_000  # rows the PCA is fitted on, at most

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]


@dataclass(frozen=True)
class Projection:
    points: FloatArray  # len(rows) x 2: the requested rows, in the order given
    centres: FloatArray  # k x 2: each segment's centre, in the order of `segment_ids`
    components: FloatArray  # 2 x model columns: each column's loading on each map axis
    explained: tuple[float, float]  # share of the total variance along each map axis
    fit_rows: int  # rows the PCA was fitted on


def fit_sample(n: int, limit: int, seed: int) -> IntArray:
    """Sorted indices of at most `limit` of `n` rows, drawn reproducibly."""
    if n <= limit:
        return np.arange(n, dtype=np.intp)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=limit, replace=False)).astype(np.intp)


def segment_centres(
    scaled: FloatArray, labels: NDArray[np.integer], segment_ids: tuple[int, ...]
) -> FloatArray:
    """Mean of each segment's scaled rows (k x columns, in the order of `segment_ids`): the
    k-means centres. Summed column by column, so no copy of a segment's rows is made; a segment
    without rows has NaN coordinates."""
    code_of = np.full(max(segment_ids) + 1, -1, dtype=np.intp)
    code_of[list(segment_ids)] = np.arange(len(segment_ids))
    codes = code_of[labels]
    k = len(segment_ids)
    counts = np.bincount(codes, minlength=k).astype(np.float64)
    sums = np.column_stack(
        [np.bincount(codes, weights=scaled[:, j], minlength=k) for j in range(scaled.shape[1])]
    ).reshape(k, scaled.shape[1])
    centres: FloatArray = np.full(sums.shape, np.nan)
    np.divide(sums, counts[:, None], out=centres, where=counts[:, None] > 0)
    return centres


def project(
    scaled: FloatArray,
    labels: NDArray[np.integer],
    segment_ids: tuple[int, ...],
    rows: IntArray,
    *,
    seed: int,
    max_fit_rows: int = MAX_FIT_ROWS,
) -> Projection:
    """The first two principal components of `scaled`, fitted on at most `max_fit_rows` rows
    (a sample drawn with `seed`). `points` are the projections of `rows` only; `centres` are
    the projected segment centres (a PCA is affine, so that is the average of the projected
    rows of each segment)."""
    from sklearn.decomposition import PCA

    fit = fit_sample(len(scaled), max_fit_rows, seed)
    # The solver's own randomness (used only by the randomized solver on wide tables) is fixed,
    # so that the map depends on the seed only through the fit sample.
    pca = PCA(n_components=2, random_state=0)
    pca.fit(scaled if len(fit) == len(scaled) else scaled[fit])
    points = np.asarray(pca.transform(scaled[rows]), dtype=np.float64)
    components = np.asarray(pca.components_, dtype=np.float64)
    mean = np.asarray(pca.mean_, dtype=np.float64)
    # PCA.transform's own formula, written out: it refuses the NaN centre of an empty segment.
    centres = (segment_centres(scaled, labels, segment_ids) - mean) @ components.T
    ratio = np.asarray(pca.explained_variance_ratio_, dtype=np.float64)
    return Projection(
        points=points,
        centres=centres,
        components=components,
        explained=(float(ratio[0]), float(ratio[1])),
        fit_rows=len(fit),
    )
