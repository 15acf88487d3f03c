"""Stage 2b — screen: find segmentation features that carry no group structure (pure noise).

Pure: takes the prepared data, returns `Screening`. A column that no group of customers differs
on adds only noise to the distances k-means uses and can hide real segments, so it is moved out
of the segmentation (it is still profiled as a descriptive field) and the brief says so.

The test, stated in the brief: on a sample, cluster the customers on all features, and again on
all the *other* features (k chosen once, by silhouette), and measure how much of the column's
variance the groups explain (R², between-group over total). A structured column differs between
the groups; a noise column differs between neither: below 0.02 for both, it is screened out.

One exception makes the with-it groups weaker evidence. k-means that splits one group too many
cuts it along its widest direction, and inside a group that is a pure-noise column (standardised,
it is wider there than any structured one): the split then "explains" 0.18–0.25 of the noise
column on synthetic tables, by construction. So for a column unrelated to all the others (linear
R² on them below 0.02, as for pure noise) the groups found with it must explain at least half of
its variance — what a column that sets a group apart on its own shows. A weak but real column
(wholesale "Fresh": 0.07 with it, 0.20 linear) keeps the old test.

With few features that test is weak: one real feature and two noise columns make three
dimensions in which k-means, over-splitting, cuts the noise columns as readily as the real one
(R² with them 0.6 on synthetic tables). A column unrelated to all others can only carry groups
in its own values, so its own distribution is asked too: when one normal curve describes it as
well as two (BIC of a Gaussian mixture, one against two components), nothing in the data says
it holds groups, and it is screened out. A skewed or lumpy column prefers two components and
stays. At least one feature that is not noise stays (two when all look like noise), and with
fewer than three features nothing is screened. `--keep-all-features` turns it off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from reportgen.analysis.cluster import silhouette
from reportgen.analysis.engine import fit_kmeans
from reportgen.analysis.prepare import FeatureStep, PreparedData
from reportgen.engine.parallel import map_small_fits

Matrix = NDArray[np.float64]
Columns = NDArray[np.intp]

MIN_R2 = 0.02
COPY_R = 0.995  # correlation at which a feature repeats another
ALONE_R2 = 0.5  # an unrelated column that sets groups apart on its own: R² with it
SAMPLE = 4_000
SILHOUETTE_SAMPLE = 1_500
SCREEN_RULE = (
    "a feature is screened out as noise when groups found on the other features and groups found "
    f"on all features each explain less than {MIN_R2:.0%} of its variance — or, for a feature "
    f"unrelated to all the others (linear R² below {MIN_R2:.0%}), when groups found on all "
    f"features explain less than {ALONE_R2:.0%} or its values fit one normal curve as well as two "
    f"(Gaussian mixture BIC) (R² on a sample of at most {SAMPLE:,} rows)"
)


@dataclass(frozen=True)
class Screening:
    r2: dict[str, float]  # feature -> variance explained by groups found without it
    noise: tuple[str, ...]  # features screened out
    k_used: int | None
    r2_all: dict[str, float] | None = None  # feature -> explained by groups found on all
    r2_linear: dict[str, float] | None = None  # feature -> explained linearly by the others
    one_curve: tuple[str, ...] = ()  # features whose values one normal curve fits best
    copies: dict[str, tuple[str, float]] = field(default_factory=dict)  # copy -> (kept, r)

    @property
    def removed(self) -> tuple[str, ...]:
        return tuple(self.copies) + self.noise

    def reason(self, column: str) -> str:
        """Why a screened-out column went, in the column table's words."""
        if column in self.copies:
            first, r = self.copies[column]
            return f"repeats '{first}' (correlation {r:.3f}): counted once; profiled only"
        if column in self.one_curve:
            return (
                "screened out as noise: unrelated to the other features and its values are one "
                "normal curve; profiled only"
            )
        return f"screened out as noise (R² = {self.r2[column]:.3f}); profiled only"

    def note(self) -> str:
        """What was left out and why, in one paragraph for the brief's column table."""
        notes = []
        if self.copies:
            notes.append(
                "Left out of the segmentation because they repeat another feature, which "
                "would count twice in the distances: "
                + ", ".join(f"{c} (repeats {f})" for c, (f, _) in self.copies.items())
                + f" — correlation {COPY_R} or more."
            )
        if self.noise:
            notes.append(
                f"Screened out of the segmentation as noise: {', '.join(self.noise)} — "
                f"{SCREEN_RULE}."
            )
        return " ".join(notes)


def _quick_k(x: Matrix, k_max: int, seed: int, rng: np.random.Generator) -> int:
    from sklearn.metrics import pairwise_distances

    idx = rng.choice(len(x), size=min(len(x), SILHOUETTE_SAMPLE), replace=False)
    best, best_k = -1.0, 2
    distances = pairwise_distances(x[idx])  # once for every k
    ks = list(range(2, max(2, min(k_max, 8)) + 1))
    fits = map_small_fits(lambda k: fit_kmeans(x, k, seed, n_init=3).labels_, ks)
    for k, labels in zip(ks, fits, strict=True):
        if len(np.unique(labels[idx])) < 2:
            continue
        s = silhouette(distances, labels[idx])
        if s > best:
            best, best_k = s, k
    return best_k


def _blocks(steps: Sequence[FeatureStep]) -> list[Columns]:
    """The model-matrix columns of each step (a category's one-hot block is several)."""
    blocks, start = [], 0
    for step in steps:
        width = len(step.model_columns)
        blocks.append(np.arange(start, start + width))
        start += width
    return blocks


def _copies(
    steps: Sequence[FeatureStep], blocks: list[Columns], x: Matrix
) -> dict[str, tuple[str, float]]:
    """Features that repeat an earlier one ('spend_usd' next to 'spend_eur', a total next to
    itself under another name): correlation of at least COPY_R on the sample, after the
    features' transforms. Each counted twice in the distances k-means uses, doubling its
    weight; the first in column order stays."""
    single = [(s.column, b[0]) for s, b in zip(steps, blocks, strict=True) if len(b) == 1]
    if len(single) < 2:
        return {}
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.atleast_2d(np.corrcoef(x[:, [c for _, c in single]], rowvar=False))
    copies: dict[str, tuple[str, float]] = {}
    for j, (name, _) in enumerate(single):
        for i in range(j):
            first = single[i][0]
            if first not in copies and abs(r[i, j]) >= COPY_R:
                copies[name] = (first, float(r[i, j]))
                break
    return copies


def _sample_without_copies(
    prepared: PreparedData, rng: np.random.Generator
) -> tuple[list[FeatureStep], Matrix, list[Columns], dict[str, tuple[str, float]]]:
    """The screening sample (at most SAMPLE rows) without the features that repeat another:
    (steps, sample, each step's columns, copies)."""
    steps = list(prepared.steps)
    x = prepared.scaled
    if len(x) > SAMPLE:
        x = x[np.sort(rng.choice(len(x), size=SAMPLE, replace=False))]
    blocks = _blocks(steps)
    copies = _copies(steps, blocks, x) if len(x) >= 10 else {}
    if copies:
        kept = [i for i, step in enumerate(steps) if step.column not in copies]
        x = x[:, np.concatenate([blocks[i] for i in kept])]
        steps = [steps[i] for i in kept]
        blocks = _blocks(steps)
    return steps, x, blocks, copies


def screen_features(prepared: PreparedData, *, seed: int, k_max: int = 10) -> Screening:
    rng = np.random.default_rng(seed + 7)
    steps, x, blocks, copies = _sample_without_copies(prepared, rng)
    if len(steps) < 3 or len(np.unique(x, axis=0)) < 10:
        return Screening({}, (), None, copies=copies)
    k_all = _quick_k(x, k_max, seed, rng)
    r2, r2_all, r2_linear = _explained(x, steps, blocks, k_all, seed)
    one_curve = {
        step.column
        for step, cols in zip(steps, blocks, strict=True)
        if step.kind != "categorical" and len(cols) == 1 and r2_linear[step.column] < MIN_R2
        if _one_normal_curve(x[:, cols[0]], seed)
    }
    noise = _noise(r2, r2_all, r2_linear, one_curve, len(steps))
    return Screening(
        r2,
        tuple(c for c in prepared.features if c in noise),
        k_all,
        r2_all,
        r2_linear,
        tuple(c for c in prepared.features if c in one_curve),
        copies,
    )


def _explained(
    x: Matrix, steps: list[FeatureStep], blocks: list[Columns], k: int, seed: int
) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Per feature, the share of its variance explained by groups found without it, by groups
    found on all features, and linearly by the other features."""
    all_labels = fit_kmeans(x, k, seed, n_init=3).labels_

    def without(cols: Columns) -> Matrix:
        return x[:, np.setdiff1d(np.arange(x.shape[1]), cols)]

    loo = map_small_fits(lambda cols: fit_kmeans(without(cols), k, seed, n_init=3).labels_, blocks)
    r2: dict[str, float] = {}
    r2_all: dict[str, float] = {}
    r2_linear: dict[str, float] = {}
    for step, cols, loo_labels in zip(steps, blocks, loo, strict=True):
        r2[step.column] = _r2(x[:, cols], loo_labels)
        r2_all[step.column] = _r2(x[:, cols], all_labels)
        r2_linear[step.column] = _linear_r2(x[:, cols], without(cols))
    return r2, r2_all, r2_linear


def _noise(
    r2: dict[str, float],
    r2_all: dict[str, float],
    r2_linear: dict[str, float],
    one_curve: set[str],
    n_features: int,
) -> list[str]:
    """The features screened out, surest first, never all of them."""

    def is_noise(c: str) -> bool:
        if r2[c] >= MIN_R2:
            return False
        if r2_linear[c] >= MIN_R2:
            return r2_all[c] < MIN_R2
        return r2_all[c] < ALONE_R2 or c in one_curve

    # One normal curve is the surest sign of noise, so those go first.
    ranked = sorted(r2, key=lambda c: (c not in one_curve, r2[c], r2_all[c]))
    noise = [c for c in ranked if is_noise(c)]
    # A column that is not noise, or whose values are not one normal curve, can carry the
    # segments on its own; a table of nothing but normal noise keeps two (screening would only
    # pick which noise to keep).
    keep = 1 if len(noise) < n_features or len(one_curve) < n_features else 2
    return noise[: n_features - keep]


def _one_normal_curve(values: Matrix, seed: int) -> bool:
    """One normal curve fits the values at least as well as a mixture of two (lower or equal
    BIC): nothing in the column's own distribution suggests groups."""
    if len(np.unique(values)) < 10:
        return False  # a few values (a rating, a count) are lumps, not a curve: keep the column
    from sklearn.mixture import GaussianMixture

    v = values.reshape(-1, 1)
    bic = [
        GaussianMixture(n, random_state=seed, n_init=2 if n > 1 else 1).fit(v).bic(v)
        for n in (1, 2)
    ]
    return bool(bic[0] <= bic[1])


def _linear_r2(block: Matrix, others: Matrix) -> float:
    """Share of the block's variance a least-squares fit on the other features explains."""
    design = np.column_stack([others, np.ones(len(others))])
    coef, *_ = np.linalg.lstsq(design, block, rcond=None)
    centred = block - block.mean(axis=0)
    total = float((centred**2).sum())
    return 0.0 if total <= 0 else 1.0 - float(((block - design @ coef) ** 2).sum()) / total


def _r2(block: Matrix, labels: NDArray[np.intp]) -> float:
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
