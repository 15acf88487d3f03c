"""How the segments split as k grows: a clustering tree (as R's clustree draws it).

k-means is fitted independently at every k from 2 to one beyond the chosen k, on one sample.
The chosen level uses the brief's own centres, so its segments are the brief's segments with
their names. Every row of a larger sample then goes to its nearest centre at each level, which
gives each segment's share and the share of customers flowing from a segment at one k to a
segment at the next. Each other level's segments are profiled and named on a small sample with
the brief's own naming rules, so the runner-up k can be shown in words, not just sizes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from reportgen.analysis.choose_k import ROWS_PER_SEGMENT
from reportgen.analysis.cluster import Segmentation
from reportgen.analysis.engine import Index, Matrix, fit_kmeans, fitted_result, nearest
from reportgen.analysis.naming import SegmentStory, name_segments
from reportgen.analysis.prepare import LeftOut, PreparedData
from reportgen.analysis.profile import profile
from reportgen.io.dictionary import DataDictionary

FIT_SAMPLE = 20_000  # rows each level's k-means is fitted on
SHARE_SAMPLE = 200_000  # rows whose segments give the shares and flows (all rows below it)
NAME_SAMPLE = 5_000  # rows each level's segments are profiled and named on
MAX_LEVELS = 8  # levels drawn at most: the chosen k + 1 and the ones below it
N_INIT = 4


@dataclass(frozen=True)
class Level:
    """The segments of one k, largest first (the chosen level: the brief's order and ids)."""

    k: int
    segment_ids: tuple[int, ...]
    shares: tuple[float, ...]  # of the rows the shares are counted on
    names: tuple[str, ...]
    chosen: bool = False


@dataclass(frozen=True)
class Flow:
    """Customers in segment position `source` at k who are in position `target` at k + 1."""

    k: int
    source: int
    target: int
    share: float  # of all rows counted

    @property
    def k_to(self) -> int:
        return self.k + 1


@dataclass(frozen=True)
class KTree:
    levels: tuple[Level, ...]  # consecutive k, smallest first
    flows: tuple[Flow, ...]
    rows_counted: int  # rows the shares and flows are counted on
    rows_fitted: int  # rows each level was fitted on
    extra: Level | None = None  # the runner-up k when it lies outside the drawn levels

    def level(self, k: int) -> Level | None:
        found = [lv for lv in (*self.levels, self.extra) if lv is not None and lv.k == k]
        return found[0] if found else None


def tree_levels(chosen: int, n_rows: int, runner_up: int | None = None) -> tuple[list[int], int]:
    """The ks drawn (2 … chosen + 1, at most MAX_LEVELS, each with ROWS_PER_SEGMENT rows a
    segment) and a runner-up k outside them (0 when none)."""
    top = min(chosen + 1, n_rows // ROWS_PER_SEGMENT)
    ks = list(range(max(2, top - MAX_LEVELS + 1), top + 1))
    if chosen not in ks:
        return [], 0
    extra = runner_up if runner_up and runner_up not in ks and runner_up >= 2 else 0
    return ks, extra


def k_tree(
    prepared: PreparedData,
    seg: Segmentation,
    stories: Sequence[SegmentStory],
    dictionary: DataDictionary,
    *,
    seed: int,
    runner_up: int | None = None,
) -> KTree | None:
    """The clustering tree of a run (None when the table is too small for two levels)."""
    n = prepared.n_kept
    ks, extra_k = tree_levels(seg.k, n, runner_up)
    if len(ks) < 2:
        return None
    rng = np.random.default_rng(seed)
    counted = _sample(n, SHARE_SAMPLE, rng)
    fitted = counted[_sample(len(counted), FIT_SAMPLE, rng)]
    named = _sample(len(counted), NAME_SAMPLE, rng)
    x, x_fit = prepared.scaled[counted], prepared.scaled[fitted]
    names_sub = _subset(prepared, counted[named])
    by_k: dict[int, tuple[Level, Index]] = {}
    for k in [*ks, *([extra_k] if extra_k else [])]:
        if k == seg.k:
            by_k[k] = _chosen_level(x, seg, stories)
        else:
            by_k[k] = _fitted_level(x, x_fit, k, seed, names_sub, named, dictionary)
    # A k with an empty segment has more segments than the data has distinct customers (a
    # table of a few categories): the tree stops above it.
    ks = [k for k in ks if k <= seg.k or min(by_k[k][0].shares) > 0]
    ks = [k for i, k in enumerate(ks) if k == ks[0] + i]
    if len(ks) < 2:
        return None
    extra_k = extra_k if extra_k and min(by_k[extra_k][0].shares) > 0 else 0
    levels = tuple(by_k[k][0] for k in ks)
    flows = tuple(f for a, b in zip(ks, ks[1:], strict=False) for f in _flows(a, by_k, b))
    return KTree(
        levels=levels,
        flows=flows,
        rows_counted=len(counted),
        rows_fitted=len(fitted),
        extra=by_k[extra_k][0] if extra_k else None,
    )


def _sample(n: int, size: int, rng: np.random.Generator) -> Index:
    if n <= size:
        return np.arange(n, dtype=np.intp)
    return np.sort(rng.choice(n, size=size, replace=False)).astype(np.intp)


def _chosen_level(
    x: Matrix, seg: Segmentation, stories: Sequence[SegmentStory]
) -> tuple[Level, Index]:
    positions, _ = nearest(x, seg.centers_scaled)
    name_of = {s.segment_id: s.name for s in stories}
    level = Level(
        k=seg.k,
        segment_ids=seg.segment_ids,
        shares=_shares(positions, seg.k),
        names=tuple(name_of.get(i, f"Segment {i}") for i in seg.segment_ids),
        chosen=True,
    )
    return level, positions


def _fitted_level(
    x: Matrix,
    x_fit: Matrix,
    k: int,
    seed: int,
    names_sub: PreparedData,
    named: Index,
    dictionary: DataDictionary,
) -> tuple[Level, Index]:
    """An independent k-means at k: fitted on the fit sample, every counted row to its nearest
    centre (positions largest first), its segments named from a profile of the naming sample."""
    centres = fitted_result(x_fit, fit_kmeans(x_fit, k, seed, N_INIT)).centers
    positions, distances = nearest(x, centres)
    ids = tuple(range(1, k + 1))
    names = _names(names_sub, positions[named], distances[named], centres, dictionary)
    return Level(k=k, segment_ids=ids, shares=_shares(positions, k), names=names), positions


def _names(
    sub: PreparedData,
    positions: Index,
    distances: Matrix,
    centres: Matrix,
    dictionary: DataDictionary,
) -> tuple[str, ...]:
    k = len(centres)
    sizes = np.bincount(positions, minlength=k)
    level_seg = Segmentation(
        k=k,
        labels=positions + 1,
        distances=distances,
        centers_scaled=centres,
        sizes=tuple(int(s) for s in sizes),
        inertia=float(np.sum(distances**2)),
        n_init=N_INIT,
        n_iter=0,
        seed=0,
    )
    stories = name_segments(profile(sub, level_seg, dictionary), dictionary)
    return tuple(s.name for s in stories)


def _subset(prepared: PreparedData, rows: Index) -> PreparedData:
    """The prepared rows at `rows` (positions among the kept rows), for profiling a sample."""
    return replace(
        prepared,
        values=prepared.values[rows],
        scaled=prepared.scaled[rows],
        kept=prepared.kept.iloc[rows],
        row_numbers=prepared.row_numbers[rows],
        ids=prepared.ids.iloc[rows],
        left_out=LeftOut.none(),
    )


def _shares(positions: Index, k: int) -> tuple[float, ...]:
    counts = np.bincount(positions, minlength=k)
    return tuple(float(c) / max(len(positions), 1) for c in counts)


def _flows(k: int, by_k: dict[int, tuple[Level, Index]], k_next: int) -> list[Flow]:
    (_, upper), (_, lower) = by_k[k], by_k[k_next]
    table = np.zeros((k, k_next), dtype=np.int64)
    np.add.at(table, (upper, lower), 1)
    total = max(len(upper), 1)
    return [
        Flow(k=k, source=i, target=j, share=float(table[i, j]) / total)
        for i in range(k)
        for j in range(k_next)
        if table[i, j]
    ]
