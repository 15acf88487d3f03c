"""Score: assign new rows to a saved run's segments, without refitting.

Pure: a `SavedModel` and a raw frame in, a `Scored` result out. The fitted preprocessing steps
are re-applied with `prepare.apply_steps` (same parsing, same drop rules, same transforms and
scaling, the very code `prepare` runs) and rows go to their nearest centre by `engine.nearest`,
the rule the brief's own segmentation uses, so scoring a run's own input reproduces its
assignments.
Rows that cannot be scored are counted with their reason, never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from reportgen.analysis.assign import assign_left_out, assignment_table
from reportgen.analysis.engine import nearest
from reportgen.analysis.prepare import (
    DropReason,
    UnseenValues,
    customer_ids,
    unseen_categories,
)
from reportgen.errors import InputError
from reportgen.runs.model import SavedModel


@dataclass(frozen=True)
class Scored:
    assignments: pd.DataFrame  # same columns as a brief's assignments.csv
    n_read: int
    drops: tuple[DropReason, ...]
    ignored_columns: tuple[str, ...]
    unseen: tuple[UnseenValues, ...] = ()
    n_partial: int = 0  # rows with blanks, assigned on the features they have
    n_unscored: int = 0  # rows listed without a segment (the reason in their note)

    @property
    def n_scored(self) -> int:
        return len(self.assignments) - self.n_unscored

    def notes(self) -> list[str]:
        out = []
        if self.ignored_columns:
            shown = ", ".join(self.ignored_columns[:8])
            extra = len(self.ignored_columns) - 8
            more = f" and {extra} more" if extra > 0 else ""
            out.append(
                f"ignored {len(self.ignored_columns)} column(s) the model does not use: "
                f"{shown}{more}"
            )
        if self.n_partial:
            out.append(
                f"assigned on partial data: {self.n_partial:,} row(s) with blanks, on the "
                "features they have (flagged in the output)"
            )
        if self.n_unscored:
            reasons = "; ".join(f"{d.rows:,} with {d.reason}" for d in self.drops)
            out.append(f"no segment for {self.n_unscored:,} row(s) (left out: {reasons})")
        for u in self.unseen:
            shown = ", ".join(repr(v[:30]) for v in u.examples)
            out.append(
                f"{u.rows:,} row(s) have a '{u.column}' value the model never saw ({shown}): "
                "scored as if that column had no known category"
            )
        return out


def score(model: SavedModel, frame: pd.DataFrame) -> Scored:
    missing = [f for f in model.features if f not in frame.columns]
    if model.id_column and model.id_column not in frame.columns:
        missing.append(model.id_column)
    if missing:
        raise InputError(
            f"the data lacks column(s) the model needs: {', '.join(missing)} "
            f"(the model uses {', '.join(model.features)}"
            + (f", id column {model.id_column}" if model.id_column else "")
            + ")"
        )
    used = set(model.features) | ({model.id_column} if model.id_column else set())
    ignored = tuple(str(c) for c in frame.columns if c not in used)
    matrix, alive, drops, left_out = model.transform_rows(frame)
    pos, dist = nearest(matrix[alive], model.centers_scaled)
    segment_ids = tuple(s.id for s in model.segments)
    kept = frame.loc[alive]
    if model.id_column:
        row_ids = customer_ids(kept[model.id_column])
    else:
        row_ids = pd.Series(np.flatnonzero(alive) + 1, name="row")
    rest = assign_left_out(
        frame, left_out, model.steps, model.centers_scaled, segment_ids, model.id_column
    )
    assignments = assignment_table(
        row_ids.reset_index(drop=True),
        model.id_name,
        np.asarray(segment_ids)[pos],
        {s.id: s.name for s in model.segments},
        dist,
        len(model.features),
        np.flatnonzero(alive),
        rest,
    )
    return Scored(
        assignments=assignments,
        n_read=len(frame),
        drops=drops,
        ignored_columns=ignored,
        unseen=tuple(unseen_categories(frame.loc[alive], model.steps)),
        n_partial=rest.n_partial,
        n_unscored=rest.n_unassigned,
    )
