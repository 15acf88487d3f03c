"""Stage 2b — screen: find segmentation features that are pure noise, or repeat another.

Pure: takes the prepared data, returns `Screening`. A column that no group of customers differs
on adds only noise to the distances k-means uses and can hide real segments, so it is moved out
of the segmentation (it is still profiled as a descriptive field) and the brief says why.

**What counts as noise** (re-derived on the shared real tables and a synthetic suite together,
benchmarks/screening.py, benchmarks/README.md): a numeric feature is screened out only when all
three hold —
1. *no other feature predicts it linearly*: adjusted R² of a least-squares fit on the others
   below 0.02;
2. *the groups the other features form say nothing about it*: cluster the customers on the other
   features (k by silhouette) and the groups explain (adjusted R², between-group over total)
   below 0.02 of its variance;
3. *its own values form one hump*: a smoothed density of the column (a Gaussian kernel, Silverman's
   bandwidth ×0.7, never narrower than the spacing of its values, so integers do not look like
   combs; a frequency table for 20 or fewer distinct values) has no valley that is both at least
   10 % below the lower of the humps beside it and deeper than 3 standard errors of the counts,
   with at least 5 % of customers on each side. A yes/no column with both answers at 5 % or more
   is two groups.
A column with real spread that is related to the others is kept however the first split of the
data uses it: a credit limit that follows spend, payments that follow purchases (issue 15: the old
rule screened any column the k = 2 split did not differ on, and lost both on a card table). A
column unrelated to every other one is kept when its own values hold groups ('tier': 30 % at 60,
70 % at 20). What goes is what the brief's reader would call noise: a normal or uniform column
that nothing else explains (a random score, an arbitrary number).

Categories are never screened as noise (their levels are groups by definition), and a feature
that repeats another (correlation 0.995 or more after the transforms) counts once. With fewer
than three features nothing is screened as noise. When every feature looks like noise (all
unrelated, all one hump) the groups can only lie in single columns, so a weaker valley (2
standard errors) keeps a column, and a table of nothing but noise keeps two. `--keep-all-features`
turns screening off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from reportgen import fmt
from reportgen.analysis.choose_k import SelectionFits, selection_fits, silhouettes, small_kmeans
from reportgen.analysis.prepare import FeatureStep, PreparedData

Matrix = NDArray[np.float64]
Vector = NDArray[np.float64]
Columns = NDArray[np.intp]

MIN_R2 = 0.02  # adjusted R² below which a feature is "not explained" (linearly, by groups)
COPY_R = 0.995  # correlation at which a feature repeats another
SAMPLE = 4_000
SILHOUETTE_SAMPLE = 1_500
# The one-hump test (see the module docstring; calibrated in benchmarks/screening.py).
DISCRETE_UPTO = 20  # distinct values up to which the frequency table is the density
BANDWIDTH = 0.7  # × Silverman's rule of thumb
DENSITY_BINS = 256
VALLEY_Z = 3.0  # a valley deeper than this many standard errors of the counts
WEAK_VALLEY_Z = 2.0  # enough when every feature is unrelated to the others (see _noise)
VALLEY_DEPTH = 0.10  # … and at least this far below the lower hump beside it
SIDE_SHARE = 0.05  # customers on each side of the valley
SCREEN_RULE = (
    "a numeric feature is screened out as noise only when no other feature predicts it "
    f"(adjusted R² below {fmt.percent(MIN_R2)} for a linear fit on the others, and for the "
    "groups the others form) and its own values form one hump, with no groups of their own (no "
    f"valley in their smoothed distribution with at least {fmt.percent(SIDE_SHARE)} of customers "
    "on each side); "
    "features related to the others are kept whatever the first split uses "
    f"(on a sample of at most {SAMPLE:,} rows)"
)


@dataclass(frozen=True)
class Screening:
    # feature -> adjusted R² of the groups found on the other features; only for the features
    # that could be noise (one hump, not predicted linearly by the others)
    r2: dict[str, float]
    noise: tuple[str, ...]  # features screened out
    k_used: int | None
    r2_all: dict[str, float] | None = None  # feature -> explained by groups found on all
    r2_linear: dict[str, float] | None = None  # feature -> adjusted R², linear on the others
    # Numeric features whose values form one hump (no groups of their own). The name is kept
    # from the rule before issue 15 (one normal curve), which summary.json still calls it.
    one_curve: tuple[str, ...] = ()
    copies: dict[str, tuple[str, float]] = field(default_factory=dict)  # copy -> (kept, r)

    @property
    def removed(self) -> tuple[str, ...]:
        return tuple(self.copies) + self.noise

    def reason(self, column: str) -> str:
        """Why a screened-out column went, in the column table's words."""
        if column in self.copies:
            first, r = self.copies[column]
            return f"repeats '{first}' (correlation {r:.3f}): counted once; profiled only"
        linear = (self.r2_linear or {}).get(column, 0.0)
        return (
            "screened out as noise: no other feature predicts it (adjusted R² "
            f"{max(linear, 0.0):.3f} linear, {max(self.r2[column], 0.0):.3f} by the groups "
            "the others form) and its values form one hump, no groups of their own; "
            "profiled only"
        )

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


def _quick_k(
    x: Matrix, k_max: int, seed: int, rng: np.random.Generator, fits: SelectionFits
) -> int:
    from sklearn.metrics import pairwise_distances

    idx = rng.choice(len(x), size=min(len(x), SILHOUETTE_SAMPLE), replace=False)
    distances = pairwise_distances(x[idx])  # once for every k
    ks = list(range(2, max(2, min(k_max, 8)) + 1))
    labelings = fits.map(lambda k: small_kmeans(x, k, seed, n_init=3).labels_, ks)
    usable = [(k, labels[idx]) for k, labels in zip(ks, labelings, strict=True)]
    usable = [(k, sub) for k, sub in usable if len(np.unique(sub)) >= 2]
    if not usable:
        return 2
    scores = silhouettes(distances, [sub for _, sub in usable])
    best = max(range(len(usable)), key=lambda i: (scores[i], -i))  # the first best, as before
    return usable[best][0]


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
    valley = {
        step.column: valley_z(x[:, cols[0]])
        for step, cols in zip(steps, blocks, strict=True)
        if step.kind != "categorical" and len(cols) == 1
    }
    one_hump = {c for c, z in valley.items() if z < VALLEY_Z}
    r2_linear = dict(zip((s.column for s in steps), linear_r2(x, blocks), strict=True))
    # Only a one-hump column that no other feature predicts can be noise, so only those need
    # the groups found without them: one k-means refit each, the cost that grew with width.
    suspects = [c for c in valley if c in one_hump and r2_linear[c] < MIN_R2]
    with selection_fits() as fits:
        k_all = _quick_k(x, k_max, seed, rng, fits)
        r2, r2_all = _explained(x, steps, blocks, k_all, seed, fits, suspects)
    noise = _noise(r2, r2_linear, valley, len(steps))
    return Screening(
        r2,
        tuple(c for c in prepared.features if c in noise),
        k_all,
        r2_all,
        r2_linear,
        tuple(c for c in prepared.features if c in one_hump),
        copies,
    )


def _without(x: Matrix, cols: Columns) -> Matrix:
    return x[:, np.setdiff1d(np.arange(x.shape[1]), cols)]


def _explained(
    x: Matrix,
    steps: list[FeatureStep],
    blocks: list[Columns],
    k: int,
    seed: int,
    fits: SelectionFits,
    suspects: Sequence[str],
) -> tuple[dict[str, float], dict[str, float]]:
    """The adjusted share of each suspect's variance explained by the groups found without it,
    and of every feature's by the groups found on all features (shown, not used)."""
    block_of = {step.column: cols for step, cols in zip(steps, blocks, strict=True)}
    # The fit on all features and the one without each suspect, in one batch.
    everything = np.arange(0)
    labelings = fits.map(
        lambda cols: small_kmeans(_without(x, cols), k, seed, n_init=3).labels_,
        [everything, *(block_of[c] for c in suspects)],
    )
    all_labels, loo = labelings[0], labelings[1:]
    r2 = {c: _r2(x[:, block_of[c]], labels) for c, labels in zip(suspects, loo, strict=True)}
    r2_all = {s.column: _r2(x[:, cols], all_labels) for s, cols in zip(steps, blocks, strict=True)}
    return r2, r2_all


def _noise(
    r2: dict[str, float], r2_linear: dict[str, float], valley: dict[str, float], n_features: int
) -> list[str]:
    """The features screened out, surest first, never all of them."""
    noise = sorted(
        (c for c, z in valley.items() if z < VALLEY_Z and r2_linear[c] < MIN_R2 and r2[c] < MIN_R2),
        key=lambda c: (valley[c], max(r2[c], r2_linear[c]), c),
    )
    if len(noise) < n_features:
        return noise  # a feature that is not noise remains to carry the segments
    # Every feature is unrelated to the others and one hump: whatever groups there are lie in
    # single columns, so weaker evidence of a valley keeps a column; a table of nothing but
    # noise keeps two, the ones with the most sign of a valley (screening would only pick
    # which noise to keep).
    weak = [c for c in noise if valley[c] < WEAK_VALLEY_Z]
    return weak[: n_features - 2] if len(weak) == n_features else weak


def one_hump_of(values: Vector) -> bool:
    """The values form one hump (see `valley_z`)."""
    return valley_z(values) < VALLEY_Z


def valley_z(values: Vector) -> float:
    """How clearly the values fall into groups of their own: the deepest valley in their
    smoothed distribution, in standard errors of the counts, among the valleys at least
    VALLEY_DEPTH below the lower hump beside them with SIDE_SHARE of the values on each side
    (0 when there is none). Two values (a yes/no) are two groups (inf) when each holds
    SIDE_SHARE."""
    values = values[np.isfinite(values)]
    distinct, counts = np.unique(values, return_counts=True)
    if len(distinct) <= 2:
        return np.inf if len(distinct) == 2 and counts.min() >= SIDE_SHARE * len(values) else 0.0
    density, var_per_count = _density(values, distinct, counts)
    mass = np.cumsum(density) / density.sum()
    left = np.maximum.accumulate(density)
    right = np.maximum.accumulate(density[::-1])[::-1]
    i = np.arange(1, len(density) - 1)
    hump, valley = np.minimum(left[i - 1], right[i + 1]), density[i]
    ok = (
        (valley <= (1 - VALLEY_DEPTH) * hump)
        & (mass[i] >= SIDE_SHARE)
        & (mass[i] <= 1 - SIDE_SHARE)
    )
    if not ok.any():
        return 0.0
    z = (hump - valley)[ok] / np.sqrt(var_per_count * (hump + valley)[ok])
    return float(z.max())


def _density(values: Vector, distinct: Vector, counts: NDArray[np.intp]) -> tuple[Vector, float]:
    """The column's smoothed counts and the variance of a smoothed count per unit of it (1 for
    a frequency table; for kernel-smoothed counts, sum(kernel²) / sum(kernel))."""
    if len(distinct) <= DISCRETE_UPTO:
        return counts.astype(np.float64), 1.0
    lo, hi = np.quantile(values, [0.005, 0.995])
    if hi <= lo:  # nearly every value the same: the whole range, so the bins have a width
        lo, hi = float(values.min()), float(values.max())
    q1, q3 = np.quantile(values, [0.25, 0.75])
    spread = min(values.std(), (q3 - q1) / 1.34) or values.std()
    bandwidth = BANDWIDTH * 0.9 * spread * len(values) ** -0.2
    # Never narrower than the values' own spacing: integer ages are a hump, not a comb.
    bandwidth = max(bandwidth, float(np.median(np.diff(distinct))))
    hist, _ = np.histogram(values, bins=DENSITY_BINS, range=(lo, hi))
    sigma = bandwidth / ((hi - lo) / DENSITY_BINS)
    half = int(4 * sigma) + 1
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    padded = np.pad(hist.astype(np.float64), (half, half))
    smooth = np.convolve(padded, kernel, mode="same")
    return smooth, float((kernel**2).sum() / kernel.sum())


def _adjusted(r2: float, n: int, params: int) -> float:
    """R² adjusted for the parameters fitted (what chance alone gives is ~0, not params/n)."""
    if n - params - 1 <= 0:
        return r2
    return 1.0 - (1.0 - r2) * (n - 1) / (n - params - 1)


def linear_r2(x: Matrix, blocks: Sequence[Columns]) -> list[float]:
    """Per block of columns, the adjusted share of its variance that a least-squares fit (with
    an intercept) on every other column explains. From the cross-products of the centred matrix,
    computed once: each fit is then a small system in the other columns, not a pass over the
    rows, so the cost of many columns is one product plus one small solve per column."""
    centred = x - x.mean(axis=0)
    gram = centred.T @ centred
    everything = np.arange(x.shape[1])
    out = []
    for cols in blocks:
        rest = np.setdiff1d(everything, cols)
        total = float(np.trace(gram[np.ix_(cols, cols)]))
        if total <= 0 or not len(rest):
            out.append(0.0)
            continue
        cross = gram[np.ix_(rest, cols)]
        coef, *_ = np.linalg.lstsq(gram[np.ix_(rest, rest)], cross, rcond=None)
        raw = min(float(np.sum(cross * coef)) / total, 1.0)
        out.append(_adjusted(raw, len(x), len(rest)))
    return out


def _r2(block: Matrix, labels: NDArray[np.intp]) -> float:
    """Adjusted share of the block's variance between the groups (R², k − 1 parameters)."""
    centred = block - block.mean(axis=0)
    total = float((centred**2).sum())
    if total <= 0:
        return 0.0
    between = 0.0
    groups = np.unique(labels)
    for g in groups:
        members = labels == g
        between += members.sum() * float((centred[members].mean(axis=0) ** 2).sum())
    return _adjusted(between / total, len(block), len(groups) - 1)
