"""Compare a run with the previous one: keep segment ids and names, measure what changed.

Pure. `match_segments` pairs this run's segments with the previous run's by optimal matching
(Hungarian algorithm, scipy `linear_sum_assignment`) of their centres, both placed in the
PREVIOUS run's scaled space, so last month's yardstick measures this month's segments. A pair
further apart than `MATCH_THRESHOLD` is no match: that segment is new, and the previous one has
vanished. `relabel` gives matched segments their previous ids (new ones get ids never used
before). `compare_runs` then measures size shifts, centre movement in the data's units, the
migration of customers whose ids appear in both runs, and input drift per feature (PSI).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from reportgen.analysis.cluster import Segmentation
from reportgen.analysis.naming import SegmentStory
from reportgen.analysis.prepare import PreparedData
from reportgen.analysis.profile import Profiles
from reportgen.errors import InputError
from reportgen.fmt import neutralise
from reportgen.runs.model import PreviousRun, SavedModel

MATCH_THRESHOLD = 1.0  # largest centre distance (standard deviations, Euclidean) for a match
PSI_MODERATE = 0.1  # population stability index: below = stable
PSI_MAJOR = 0.25  # at or above = the feature's distribution has shifted markedly
PSI_FLOOR = 1e-4  # share used for an empty bin, so the log stays finite
NEW_ROW = "new"  # migration row: customers not in the previous run's segments
GONE_COL = "gone"  # migration column: previous customers not in this run's segments


@dataclass(frozen=True)
class Matching:
    mapping: dict[int, int]  # this run's original segment id -> carried-over or new id
    distance: dict[int, float]  # carried-over id -> centre distance to its previous self (SD)
    kept_names: dict[int, str]  # carried-over id -> previous name
    new_ids: tuple[int, ...]  # ids given to segments with no previous match
    vanished: tuple[int, ...]  # previous ids with no match in this run
    next_segment_id: int
    threshold: float = MATCH_THRESHOLD


def _previous_order(previous: SavedModel, features: tuple[str, ...]) -> list[int]:
    if set(features) != set(previous.features):
        raise InputError(
            "--previous run segmented on different columns ("
            + ", ".join(previous.features)
            + ") than this run ("
            + ", ".join(features)
            + "): runs can only be compared on the same features"
        )
    return [features.index(f) for f in previous.features]


def centroids_in(
    previous: SavedModel, frame: pd.DataFrame, labels: NDArray[np.intp], ids: tuple[int, ...]
) -> NDArray[np.float64]:
    """Each segment's members, put through the previous run's preprocessing, averaged."""
    scaled, usable, _ = previous.transform(frame)
    out = np.full((len(ids), scaled.shape[1]), np.nan)
    for i, sid in enumerate(ids):
        rows = usable & (labels == sid)
        if rows.any():
            out[i] = scaled[rows].mean(axis=0)
    return out


def match_segments(
    previous: SavedModel,
    prepared: PreparedData,
    seg: Segmentation,
    threshold: float = MATCH_THRESHOLD,
) -> Matching:
    _previous_order(previous, prepared.features)
    current = centroids_in(previous, prepared.kept, seg.labels, seg.segment_ids)
    prev_centers = previous.centers_scaled
    cost = np.linalg.norm(prev_centers[:, None, :] - current[None, :, :], axis=2)
    # A segment none of whose rows the previous model can read has no position there: no match.
    cost = np.where(np.isfinite(cost), cost, 1e12)
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(cost)
    mapping: dict[int, int] = {}
    distance: dict[int, float] = {}
    kept_names: dict[int, str] = {}
    for r, c in zip(rows, cols, strict=True):
        if cost[r, c] <= threshold:
            prev = previous.segments[r]
            mapping[seg.segment_ids[c]] = prev.id
            distance[prev.id] = float(cost[r, c])
            kept_names[prev.id] = prev.name
    next_id = previous.next_segment_id
    new_ids = []
    for sid in seg.segment_ids:  # largest first: new segments numbered by size
        if sid not in mapping:
            mapping[sid] = next_id
            new_ids.append(next_id)
            next_id += 1
    vanished = tuple(s.id for s in previous.segments if s.id not in distance)
    return Matching(mapping, distance, kept_names, tuple(new_ids), vanished, next_id, threshold)


def relabel(seg: Segmentation, mapping: dict[int, int]) -> Segmentation:
    """The same segmentation with ids from `mapping`, rows ordered by the new id."""
    old_ids = seg.segment_ids
    order = sorted(range(seg.k), key=lambda i: mapping[old_ids[i]])
    lookup = np.zeros(max(old_ids) + 1, dtype=int)
    for old, new in mapping.items():
        lookup[old] = new
    return replace(
        seg,
        labels=lookup[seg.labels],
        centers_scaled=seg.centers_scaled[order],
        sizes=tuple(seg.sizes[i] for i in order),
        ids=tuple(mapping[old_ids[i]] for i in order),
    )


# --------------------------------------------------------------------------- what changed


@dataclass(frozen=True)
class FeatureMove:
    column: str
    before: float
    after: float
    sd: float  # the previous run's standard deviation of the feature (ranks the moves)


@dataclass(frozen=True)
class SegmentChange:
    id: int
    name: str
    status: str  # "kept", "new" or "vanished"
    size_before: int | None
    share_before: float | None
    size_after: int | None
    share_after: float | None
    centre_distance: float | None  # SD, previous run's scale (kept segments only)
    moves: tuple[FeatureMove, ...]  # segment averages before and after, data's units


@dataclass(frozen=True)
class Drift:
    column: str
    psi: float
    level: str  # "stable", "moderate" or "major"
    mean_before: float
    mean_after: float


@dataclass(frozen=True)
class Migration:
    rows: tuple[int | str, ...]  # previous segment ids, then NEW_ROW
    cols: tuple[int | str, ...]  # this run's segment ids, then GONE_COL
    counts: NDArray[np.int64]  # len(rows) x len(cols)
    n_both: int  # customers segmented in both runs
    n_moved: int  # of those, how many changed segment
    n_duplicate_ids: int  # ids left out because they repeat within a run

    def count(self, row: int | str, col: int | str) -> int:
        return int(self.counts[self.rows.index(row), self.cols.index(col)])


@dataclass(frozen=True)
class Changes:
    previous_date: str
    previous_created_at: str
    previous_file: str
    previous_k: int
    threshold: float
    segments: tuple[SegmentChange, ...]
    drift: tuple[Drift, ...]
    migration: Migration | None
    migration_note: str | None  # why there is no migration matrix


def psi(
    reference_edges: Sequence[float], reference_shares: Sequence[float], values: NDArray[np.float64]
) -> float:
    """Population stability index of `values` against a stored reference binning."""
    edges = np.asarray(reference_edges, dtype=float)
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)
    actual = np.maximum(counts / max(len(values), 1), PSI_FLOOR)
    expected = np.maximum(np.asarray(reference_shares, dtype=float), PSI_FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def psi_level(value: float) -> str:
    return "stable" if value < PSI_MODERATE else "moderate" if value < PSI_MAJOR else "major"


def migration(
    previous: pd.DataFrame,
    ids: pd.Series,
    labels: NDArray[np.intp],
    previous_ids: tuple[int, ...],
    current_ids: tuple[int, ...],
) -> Migration:
    """Who moved where: previous segment (rows) x this run's segment (columns), by customer id.

    Ids are compared as the CSV export writes them (formula-like text is neutralised there).
    An id that repeats within either run is left out: its row cannot be followed reliably. A
    previous segment id the previous model does not know is skipped, never guessed.
    """
    before = pd.Series(previous["segment_id"].to_numpy(), index=previous["id"].astype(str))
    if pd.api.types.is_integer_dtype(ids.dtype):  # whole numbers: written as their digits
        written = pd.Index(ids.astype("string").fillna(""))
    else:
        written = pd.Index([str(neutralise(str(i))) for i in ids])
    after = pd.Series(labels, index=written)
    dup_before = before.index.duplicated(keep=False)
    dup_after = after.index.duplicated(keep=False)
    n_dup = int(len(set(before.index[dup_before]) | set(after.index[dup_after])))
    before = before[~dup_before]
    after = after[~dup_after]
    both = before.index.intersection(after.index)
    kp, kc = len(previous_ids), len(current_ids)

    def prev_at(ids: pd.Series) -> NDArray[np.intp]:
        return pd.Index(previous_ids).get_indexer(pd.Index(ids.to_numpy()))

    def cur_at(ids: pd.Series) -> NDArray[np.intp]:
        return pd.Index(current_ids).get_indexer(pd.Index(ids.to_numpy()))

    counts = np.zeros((kp + 1, kc + 1), dtype=np.int64)  # + the NEW_ROW row, the GONE_COL column
    counts[:kp, :kc] = _cell_counts(prev_at(before.loc[both]), cur_at(after.loc[both]), kp, kc)
    counts[kp, :kc] = np.bincount(cur_at(after.drop(both)), minlength=kc)
    gone = prev_at(before.drop(both))
    counts[:kp, kc] = np.bincount(gone[gone >= 0], minlength=kp)
    same = np.equal.outer(np.asarray(previous_ids), np.asarray(current_ids))
    moved = int(counts[:kp, :kc][~same].sum())
    rows: tuple[int | str, ...] = (*previous_ids, NEW_ROW)
    cols: tuple[int | str, ...] = (*current_ids, GONE_COL)
    return Migration(rows, cols, counts, int(len(both)), moved, n_dup)


def _cell_counts(
    row_at: NDArray[np.intp], col_at: NDArray[np.intp], n_rows: int, n_cols: int
) -> NDArray[np.int64]:
    """How many (row, column) pairs fall in each cell; a row position of -1 is not counted."""
    known = row_at >= 0
    flat = row_at[known] * n_cols + col_at[known]
    return np.bincount(flat, minlength=n_rows * n_cols).reshape(n_rows, n_cols).astype(np.int64)


def compare_runs(
    previous: PreviousRun,
    matching: Matching,
    prepared: PreparedData,
    seg: Segmentation,
    profiles: Profiles,
    stories: tuple[SegmentStory, ...],
) -> Changes:
    prev = previous.model
    _previous_order(prev, prepared.features)
    order = [prepared.numeric_features.index(f) for f in prev.numeric_features]
    mig, note = _migration_or_why_not(previous, prepared, seg)
    return Changes(
        previous_date=prev.date_text,
        previous_created_at=prev.created_at,
        previous_file=prev.input_file,
        previous_k=prev.k,
        threshold=matching.threshold,
        segments=_segment_changes(prev, matching, profiles, stories, order),
        drift=_drift(prev, prepared.values[:, order]),
        migration=mig,
        migration_note=note,
    )


def _segment_changes(
    prev: SavedModel,
    matching: Matching,
    profiles: Profiles,
    stories: tuple[SegmentStory, ...],
    order: list[int],
) -> tuple[SegmentChange, ...]:
    """Each segment of this run against its previous self (none for a new one), then the
    vanished ones; by id. `order`: this run's position of each previous numeric feature."""
    prev_by_id = {s.id: s for s in prev.segments}
    changes = []
    for sp, story in zip(profiles.segments, stories, strict=True):
        before = prev_by_id.get(sp.segment_id)
        after_means = [sp.features[j].segment_mean for j in order]
        moves: tuple[FeatureMove, ...] = ()
        if before is not None:
            moves = tuple(
                FeatureMove(f, b, a, sd)
                for f, b, a, sd in zip(
                    prev.numeric_features,
                    before.mean_units,
                    after_means,
                    prev.overall_sd,
                    strict=True,
                )
            )
        changes.append(
            SegmentChange(
                id=sp.segment_id,
                name=story.name,
                status="kept" if before is not None else "new",
                size_before=before.size if before else None,
                share_before=before.share if before else None,
                size_after=sp.size,
                share_after=sp.share,
                centre_distance=matching.distance.get(sp.segment_id),
                moves=moves,
            )
        )
    for vid in matching.vanished:
        s = prev_by_id[vid]
        changes.append(
            SegmentChange(vid, s.name, "vanished", s.size, s.share, None, None, None, ())
        )
    changes.sort(key=lambda c: c.id)
    return tuple(changes)


def _drift(prev: SavedModel, values: NDArray[np.float64]) -> tuple[Drift, ...]:
    """PSI of each numeric feature (columns of `values`, in the previous run's feature order)
    against the previous run's reference bins."""
    drift = []
    for j, f in enumerate(prev.numeric_features):
        edges, shares = prev.reference[f]
        value = psi(edges, shares, values[:, j])
        drift.append(
            Drift(f, value, psi_level(value), prev.overall_mean[j], float(values[:, j].mean()))
        )
    return tuple(drift)


def _migration_or_why_not(
    previous: PreviousRun, prepared: PreparedData, seg: Segmentation
) -> tuple[Migration | None, str | None]:
    note = previous.note
    if note is None and prepared.id_name == "row":
        note = "this run's data has no customer id column, so customers cannot be followed"
    if note is not None or previous.assignments is None:
        return None, note
    mig = migration(
        previous.assignments,
        prepared.ids,
        seg.labels,
        tuple(s.id for s in previous.model.segments),
        seg.segment_ids,
    )
    if mig.n_both == 0:
        return None, "no customer id appears in both runs"
    return mig, None
