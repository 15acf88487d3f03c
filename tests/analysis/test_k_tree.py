"""The clustering tree (reportgen.analysis.k_tree): levels, shares and flows that add up, the
chosen level equal to the brief's segments, names at every level, and the same tree each run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reportgen.analysis.cluster import cluster
from reportgen.analysis.k_tree import MAX_LEVELS, k_tree, tree_levels
from reportgen.analysis.naming import name_segments
from reportgen.analysis.prepare import prepare
from reportgen.analysis.profile import profile
from reportgen.io.dictionary import resolve_dictionary
from tests.conftest import blobs


def _run(k: int = 3, runner_up: int | None = None, seed: int = 0):
    frame = blobs(n_per=(60, 45, 30), seed=seed)
    d = resolve_dictionary(frame, None)
    p = prepare(frame, d)
    seg = cluster(p.scaled, k=k, seed=0)
    stories = name_segments(profile(p, seg, d), d)
    return p, seg, stories, k_tree(p, seg, stories, d, seed=0, runner_up=runner_up)


def test_levels_run_from_two_to_one_beyond_the_chosen_k():
    assert tree_levels(3, 1000) == ([2, 3, 4], 0)
    assert tree_levels(2, 1000) == ([2, 3], 0)
    ks, _ = tree_levels(10, 10_000)
    assert len(ks) == MAX_LEVELS and ks[-1] == 11 and 10 in ks
    # a small table: no level with fewer than five rows a segment
    assert tree_levels(3, 18) == ([2, 3], 0)
    # a runner-up outside the drawn levels is computed too (for its names)
    assert tree_levels(2, 1000, runner_up=6) == ([2, 3], 6)
    assert tree_levels(3, 1000, runner_up=4) == ([2, 3, 4], 0)


def test_shares_and_flows_add_up_and_the_chosen_level_is_the_brief():
    p, seg, stories, tree = _run()
    assert [lv.k for lv in tree.levels] == [2, 3, 4]
    for lv in tree.levels:
        assert sum(lv.shares) == pytest.approx(1.0)
        assert len(lv.names) == lv.k and len(set(lv.names)) == lv.k
    for k in (2, 3):
        moves = [f for f in tree.flows if f.k == k]
        assert sum(f.share for f in moves) == pytest.approx(1.0)
        upper = tree.level(k)
        out = np.zeros(k)
        for f in moves:
            out[f.source] += f.share
        assert out == pytest.approx(upper.shares)
    chosen = tree.level(3)
    assert chosen.chosen and chosen.segment_ids == seg.segment_ids
    assert chosen.names == tuple(s.name for s in stories)
    sizes = np.array(seg.sizes) / sum(seg.sizes)
    assert chosen.shares == pytest.approx(tuple(sizes))  # every row counted: the brief's shares


def test_blobs_split_cleanly_at_the_true_k():
    _, _, _, tree = _run()
    # k = 3 is the truth: from 2 to 3 one segment splits, every other move is whole
    moves = [f for f in tree.flows if f.k == 2 and f.share > 0.01]
    assert len(moves) == 3


def test_runner_up_outside_the_levels_gets_named_and_the_tree_is_deterministic():
    _, _, _, a = _run(k=2, runner_up=4)
    _, _, _, b = _run(k=2, runner_up=4)
    assert a is not None and a.extra is not None and a.extra.k == 4
    assert a.level(4).names == b.level(4).names and a.flows == b.flows


def test_too_small_a_table_has_no_tree():
    frame = blobs(n_per=(4, 4, 3))
    d = resolve_dictionary(frame, None)
    p = prepare(frame, d)
    seg = cluster(p.scaled, k=2, seed=0)
    stories = name_segments(profile(p, seg, d), d)
    assert k_tree(p, seg, stories, d, seed=0) is None


def test_no_level_has_more_segments_than_distinct_customers():
    # three distinct rows only: k = 4 would hold an empty segment, so the tree stops at 3
    group = np.repeat([0, 1, 2], [40, 30, 20])
    frame = pd.DataFrame({"spend": 100.0 + 50 * group, "visits": 10.0 + 5 * (group == 2)})
    d = resolve_dictionary(frame, None)
    p = prepare(frame, d)
    seg = cluster(p.scaled, k=3, seed=0)
    tree = k_tree(p, seg, name_segments(profile(p, seg, d), d), d, seed=0)
    assert tree is not None and [lv.k for lv in tree.levels] == [2, 3]
    assert all(min(lv.shares) > 0 for lv in tree.levels)
