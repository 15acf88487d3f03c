"""Every row gets a segment when it can (reportgen.analysis.assign)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from reportgen.analysis.assign import assign_left_out, nearest_observed
from reportgen.analysis.prepare import prepare
from reportgen.io.dictionary import resolve_dictionary


def test_nearest_observed_uses_only_the_answers_given():
    centers = np.array([[0.0, 0.0], [10.0, 10.0]])
    x = np.array([[9.0, np.nan], [np.nan, 1.0], [np.nan, np.nan], [1.0, 2.0]])
    pos, dist = nearest_observed(x, centers)
    assert pos.tolist() == [1, 0, -1, 0]
    assert dist[0] == np.sqrt(1.0 * 2 / 1)  # scaled up to both features
    assert np.isnan(dist[2])


def test_a_row_with_a_blank_is_assigned_on_the_rest_and_flagged():
    rng = np.random.default_rng(0)
    a = rng.normal([0, 0, 0], 0.3, (100, 3))
    b = rng.normal([5, 5, 5], 0.3, (100, 3))
    frame = pd.DataFrame(np.vstack([a, b]), columns=["x", "y", "z"])
    frame.loc[3, "y"] = np.nan  # from group a
    frame.loc[150, "z"] = np.nan  # from group b
    prepared = prepare(frame, resolve_dictionary(frame))
    assert prepared.left_out.positions.tolist() == [3, 150]
    assert prepared.left_out.partial.all()
    centers = np.array([prepared.scaled[:99].mean(axis=0), prepared.scaled[-99:].mean(axis=0)])
    rest = assign_left_out(frame, prepared.left_out, prepared.steps, centers, (1, 2), None)
    assert rest.segment_ids.tolist() == [1, 2]
    assert rest.features_used.tolist() == [2, 2]
    assert rest.ids.tolist() == [4, 151]  # 1-based row numbers without an id column
    assert rest.n_partial == 2 and rest.n_unassigned == 0


def test_a_duplicate_id_is_listed_without_a_segment():
    frame = pd.DataFrame(
        {"id": ["a", "b", "b", "c"] * 10, "x": np.arange(40.0), "y": np.arange(40.0) % 7}
    )
    frame["id"] = [f"c{i}" for i in range(39)] + ["c0"]
    prepared = prepare(frame, resolve_dictionary(frame, id_column="id"))
    centers = np.zeros((2, prepared.scaled.shape[1]))
    rest = assign_left_out(frame, prepared.left_out, prepared.steps, centers, (1, 2), "id")
    assert rest.segment_ids.tolist() == [-1]
    assert "duplicate id" in rest.reasons[0]
