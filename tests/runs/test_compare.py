"""Re-reporting with --previous: ids and names carried over, migration, drift (real runs)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reportgen.errors import InputError
from reportgen.runs.compare import GONE_COL, NEW_ROW, psi, psi_level
from reportgen.runs.model import reference_bins
from tests.conftest import MOVED


def _by_truth(run, truth):
    """True group -> the segment id its customers got (they must all get the same one)."""
    frame = run.assignments
    out = {}
    for group in sorted(set(truth.values())):
        ids = frame.loc[frame["customer_id"].map(truth) == group, "segment_id"].unique()
        assert len(ids) == 1, f"group {group} split over segments {ids}"
        out[group] = int(ids[0])
    return out


def test_migration_matrix_recovers_exactly_the_customers_who_moved(periods):
    run2 = periods["runs"][2]
    seg = _by_truth(run2, periods["truth"][2])
    mig = run2.changes.migration
    assert mig.count(seg["A"], seg["B"]) == MOVED
    assert mig.count(seg["A"], seg["A"]) == 120 - MOVED
    assert mig.count(seg["B"], seg["B"]) == 100
    assert mig.count(seg["C"], seg["C"]) == 70
    assert mig.count(seg["C"], GONE_COL) == 10
    assert mig.count(NEW_ROW, seg["C"]) == 15
    assert mig.n_moved == MOVED
    assert mig.counts.sum() == 300 + 15  # everyone of both months, each counted once


def test_segments_keep_ids_and_names_across_runs(periods):
    run1, run2 = periods["runs"][1], periods["runs"][2]
    ids1 = _by_truth(run1, periods["truth"][1])
    ids2 = _by_truth(run2, periods["truth"][2])
    assert ids1 == ids2
    names1 = {s.segment_id: s.name for s in run1.stories}
    names2 = {s.segment_id: s.name for s in run2.stories}
    assert names1 == names2
    # Without matching, B (now the largest) would have become segment 1.
    assert run2.segmentation.sizes[ids2["B"] - 1] == 140 and ids2["B"] != 1


def test_new_segment_gets_new_id_and_vanished_one_is_reported(periods):
    run2, run3 = periods["runs"][2], periods["runs"][3]
    ids2 = _by_truth(run2, periods["truth"][2])
    ids3 = _by_truth(run3, periods["truth"][3])
    assert ids3["A"] == ids2["A"] and ids3["B"] == ids2["B"]
    assert ids3["D"] == 4  # never a reused id
    status = {c.id: c.status for c in run3.changes.segments}
    assert status[ids2["C"]] == "vanished"
    assert status[4] == "new"
    names2 = {s.name for s in run2.stories}
    name_d = next(s.name for s in run3.stories if s.segment_id == 4)
    assert name_d not in names2
    assert run3.model["next_segment_id"] == 5
    assert run3.changes.migration.count(ids2["C"], GONE_COL) == 85


def test_drift_flags_the_moved_feature(periods):
    drift2 = {d.column: d for d in periods["runs"][2].changes.drift}
    drift3 = {d.column: d for d in periods["runs"][3].changes.drift}
    # Month 2: 13 % of customers changed spend band, a real but modest shift.
    assert 0.03 < drift2["spend_eur"].psi < 0.25
    # Month 3: a whole new group spending 900 EUR, and C's customers gone: a major shift.
    assert drift3["spend_eur"].level == "major"
    assert drift3["spend_eur"].mean_after > drift2["spend_eur"].mean_after


def test_psi_is_near_zero_for_the_same_distribution_and_large_for_a_shift():
    rng = np.random.default_rng(0)
    ref = rng.normal(0, 1, 5000)
    edges, shares = reference_bins(ref)
    assert psi(edges, shares, rng.normal(0, 1, 5000)) < 0.1
    assert psi_level(psi(edges, shares, rng.normal(1, 1, 5000))) == "major"


def test_previous_run_with_other_features_is_refused(periods, tmp_path):
    from reportgen import build_brief

    frame = pd.read_csv(periods["data"][1]).rename(columns={"visits": "trips"})
    path = tmp_path / "other.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(InputError, match="different columns"):
        build_brief(
            path, k=3, k_max=3, out_dir=tmp_path / "out", previous=periods["runs"][1].config.out_dir
        )
    assert not (tmp_path / "out").exists()


def test_migration_follows_whole_number_ids_as_the_csv_writes_them():
    """Integer ids stay integers in this run; the previous run's CSV holds their digits (a
    negative id too: a number is never neutralised like formula text)."""
    from reportgen.runs.compare import migration

    previous = pd.DataFrame({"id": ["-5", "7", "9"], "segment_id": [1, 2, 2]})
    ids = pd.Series(np.array([-5, 7, 11], dtype=np.int64))
    mig = migration(previous, ids, np.array([2, 2, 1]), (1, 2), (1, 2))
    assert mig.n_both == 2
    assert mig.count(1, 2) == 1 and mig.count(2, 2) == 1
