"""The per-customer and per-segment tables the run exports (assignments.csv, profiles.csv)."""

from __future__ import annotations

import pandas as pd

from reportgen.analysis.cluster import Segmentation
from reportgen.analysis.naming import SegmentStory
from reportgen.analysis.prepare import PreparedData
from reportgen.analysis.profile import Profiles


def assignments_frame(
    prepared: PreparedData, seg: Segmentation, stories: tuple[SegmentStory, ...]
) -> pd.DataFrame:
    names = {s.segment_id: s.name for s in stories}
    # One name per segment id, picked per row by Arrow's take: no Python loop over the labels
    # and no array of Python strings (a second copy of the column).
    by_id = pd.array([names.get(i) for i in range(max(names) + 1)], dtype="str")
    # The ids keep their own (Arrow-backed) array: to_numpy() would make Python strings only
    # for pandas to turn them back into Arrow text, at the run's memory peak.
    return pd.DataFrame(
        {
            prepared.id_name: prepared.ids.array,
            "segment_id": seg.labels,
            "segment_name": by_id.take(seg.labels),
            "distance_to_center": seg.distances.round(6),
        },
        copy=False,
    )


def profiles_frame(profiles: Profiles, stories: tuple[SegmentStory, ...]) -> pd.DataFrame:
    table = profiles.table()
    names = [s.name for s in stories] + ["All"]
    table.insert(1, "segment_name", names)
    return table
