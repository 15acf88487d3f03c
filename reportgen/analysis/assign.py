"""Every row gets a segment when it can: rows left out of the fit only for blanks are assigned
on the features they have; the others are listed with the reason they have none.

Why nearest centre on the observed features (and not imputation, then assignment): it uses only
what the customer answered, so a blank never pulls a customer towards the average customer's
segment; for k-means it is the exact nearest centre in the subspace of the observed features
(the "partial distance" rule). Measured against median imputation on tables with planted
segments and random blanks in benchmarks/partial_assignment.py (see benchmarks/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import NDArray

from reportgen.analysis.prepare import FeatureStep, LeftOut, customer_ids, partial_matrix

Matrix = NDArray[np.float64]


@dataclass(frozen=True)
class LeftOutAssignment:
    """The rows left out of the fit (input order): a segment for those assigned on partial
    data (-1 for the others), and why each was left out."""

    positions: NDArray[np.intp]  # 0-based input positions
    ids: pd.Series  # customer id (or row number) of each row, as in assignments.csv
    segment_ids: NDArray[np.int64]  # -1: no segment
    distances: Matrix  # NaN without a segment
    features_used: NDArray[np.int64]  # segmentation features the assignment rests on
    reasons: tuple[str, ...]

    @property
    def n_partial(self) -> int:
        return int((self.segment_ids >= 0).sum())

    @property
    def n_unassigned(self) -> int:
        return int((self.segment_ids < 0).sum())


def nearest_observed(x: Matrix, centers: Matrix) -> tuple[NDArray[np.intp], Matrix]:
    """Nearest centre over each row's observed (non-NaN) model columns, and the distance scaled
    up to all columns (so it reads like a complete row's distance). Rows with nothing observed
    get position -1 and distance NaN."""
    observed = ~np.isnan(x)
    filled = np.where(observed, x, 0.0)
    squared = np.stack([(((filled - c) * observed) ** 2).sum(axis=1) for c in centers], axis=1)
    n_obs = observed.sum(axis=1)
    positions = squared.argmin(axis=1).astype(np.intp)
    best = squared[np.arange(len(x)), positions]
    with np.errstate(divide="ignore", invalid="ignore"):
        distances = np.sqrt(best * x.shape[1] / n_obs)
    positions[n_obs == 0] = -1
    distances[n_obs == 0] = np.nan
    return positions, distances


def _features_used(rows: pd.DataFrame, steps: tuple[FeatureStep, ...]) -> NDArray[np.int64]:
    """How many segmentation features each row has a value for (a blank category counts: it is
    a level of its own)."""
    present = [
        np.ones(len(rows), dtype=bool)
        if s.kind == "categorical"
        else (rows[s.column].astype("string").str.strip().fillna("") != "").to_numpy()
        for s in steps
    ]
    return np.sum(present, axis=0).astype(np.int64) if present else np.zeros(len(rows), np.int64)


def assign_left_out(
    frame: pd.DataFrame,
    left_out: LeftOut,
    steps: tuple[FeatureStep, ...],
    centers_scaled: Matrix,
    segment_ids: tuple[int, ...],
    id_column: str | None,
) -> LeftOutAssignment:
    """Assign the left-out rows that can be (blanks only) to the nearest centre on their
    observed features; list the rest with their reason."""
    rows = frame.iloc[left_out.positions]
    seg = np.full(len(rows), -1, dtype=np.int64)
    dist = np.full(len(rows), np.nan)
    used = _features_used(rows, steps)
    if left_out.partial.any():
        x = partial_matrix(rows.iloc[np.flatnonzero(left_out.partial)], steps)
        pos, d = nearest_observed(x, centers_scaled)
        ids = np.asarray(segment_ids, dtype=np.int64)
        seg[left_out.partial] = np.where(pos >= 0, ids[np.maximum(pos, 0)], -1)
        dist[left_out.partial] = d
    if id_column:
        row_ids = customer_ids(rows[id_column]).reset_index(drop=True)
    else:
        row_ids = pd.Series(left_out.positions + 1, name="row")
    return LeftOutAssignment(left_out.positions, row_ids, seg, dist, used, left_out.reasons)


def assignment_table(
    ids: pd.Series,
    id_name: str,
    labels: NDArray[np.int64] | NDArray[np.intp],
    names: dict[int, str],
    distances: Matrix,
    n_features: int,
    kept_positions: NDArray[np.intp],
    rest: LeftOutAssignment | None = None,
) -> pd.DataFrame:
    """Every input row in input order with its segment, the distance to the segment's centre,
    on how many features the assignment rests, and a note for the rows left out of the fit
    (assigned on partial data, or why they have no segment). The brief's assignments.csv and
    `score`'s output are this table."""
    # The names are a categorical column: k texts and a code per row, not a text per row (half
    # a gigabyte at 10M rows); the CSV and workbook writers write each name's text once.
    # The ids keep their own (Arrow-backed) array: to_numpy() would make Python strings only
    # for pandas to turn them back into Arrow text, at the run's memory peak.
    n = len(labels)
    kept = pd.DataFrame(
        {
            id_name: ids.array,
            "segment_id": labels,
            "segment_name": segment_names(labels, names),
            "distance_to_center": distances.round(6),
            "features_used": np.full(n, n_features, dtype=np.int16),
            "note": pd.array(pa.nulls(n, pa.string()), dtype="str"),
        },
        copy=False,
    )
    if rest is None or not len(rest.positions):
        return kept
    rest_rows = _rest_frame(rest, id_name, ids.dtype, names, n_features)
    return _in_input_order(kept, kept_positions, rest_rows)


def segment_names(labels: NDArray[np.integer[Any]], names: dict[int, str]) -> pd.Categorical:
    """Each row's segment name (missing where the label is not a segment id, e.g. -1)."""
    categories = list(dict.fromkeys(names[i] for i in sorted(names)))
    position = {name: j for j, name in enumerate(categories)}
    code_of = np.full(max(names) + 1, -1, dtype=np.int32)
    for i, name in names.items():
        code_of[i] = position[name]
    known = (labels >= 0) & (labels <= max(names))
    codes = np.where(known, code_of[np.where(known, labels, 0)], -1)
    return pd.Categorical.from_codes(codes, categories=pd.Index(categories, dtype="str"))


def _rest_frame(
    rest: LeftOutAssignment, id_name: str, id_dtype: object, names: dict[int, str], total: int
) -> pd.DataFrame:
    assigned = rest.segment_ids >= 0
    notes = [
        f"assigned on {used} of {total} features ({why})" if ok else f"no segment: {why}"
        for ok, used, why in zip(assigned, rest.features_used, rest.reasons, strict=True)
    ]
    segment = [int(i) if ok else None for i, ok in zip(rest.segment_ids, assigned, strict=True)]
    return pd.DataFrame(
        {
            id_name: rest.ids.astype(id_dtype).to_numpy(),  # type: ignore[call-overload]
            "segment_id": pd.array(segment, dtype="Int64"),
            "segment_name": segment_names(rest.segment_ids, names),
            "distance_to_center": rest.distances.round(6),
            "features_used": rest.features_used.astype(np.int16),
            "note": notes,
        },
        index=rest.positions,
    )


def _in_input_order(
    kept: pd.DataFrame, kept_positions: NDArray[np.intp], rest: pd.DataFrame
) -> pd.DataFrame:
    both = pd.concat([kept, rest], ignore_index=True)
    both["segment_id"] = both["segment_id"].astype("Int64")
    order = np.argsort(np.concatenate([kept_positions, rest.index.to_numpy()]), kind="stable")
    return both.iloc[order].reset_index(drop=True)
