"""Lines and table cells the brief's context (reportgen.report.context) words from the analysis:
the smallest-segment note, the stability line, the smallest share in the k table."""

from __future__ import annotations

import numpy as np


def test_a_final_segment_under_the_minimum_share_is_said_not_hidden():
    from types import SimpleNamespace

    from reportgen.report.context import _final_below_min

    seg = SimpleNamespace(k=3, sizes=(600, 368, 32), labels=np.zeros(1000))
    voted = SimpleNamespace(method="vote", min_share=0.05)
    note = _final_below_min(voted, seg, "customers")
    assert note.startswith("On all 1,000 customers the smallest segment holds 3.2 %, below the 5 %")
    assert (
        _final_below_min(SimpleNamespace(method="user", min_share=0.05), seg, "customers") is None
    )
    assert (
        _final_below_min(voted, SimpleNamespace(k=2, sizes=(900, 100), labels=seg.labels), "x")
        is None
    )


def test_the_stability_line_names_each_shaky_segment_once_without_nested_brackets():
    from types import SimpleNamespace as NS

    from reportgen.report.context import _stability_line

    ev = NS(
        resamples=20,
        stability=(
            NS(segment_id=1, verdict="doubtful", jaccard=0.73),
            NS(segment_id=2, verdict="stable", jaccard=0.9),
        ),
    )
    stories = (NS(segment_id=1, name="High spend (avg 1,121)"), NS(segment_id=2, name="Low spend"))
    line = _stability_line(ev, stories)
    assert line == (
        "Stability: High spend (avg 1,121) is doubtful (Jaccard 0.73) — check before acting on it."
    )


def test_a_smallest_segment_just_under_the_rule_is_not_shown_as_the_rule():
    from types import SimpleNamespace

    from reportgen.report import context as report

    kchoice = SimpleNamespace(min_share=0.05, k=2)

    def row(share):
        e = SimpleNamespace(
            k=3, inertia=1.0, silhouette=0.5, calinski_harabasz=10.0, davies_bouldin=1.0,
            gap=0.1, min_share=share, admissible=share >= 0.05,
        )  # fmt: skip
        return report._evidence_row(e, kchoice).smallest

    assert row(0.0495) == "4.95 %"  # below 5 %: not a bare "5 %" in red next to the rule
    assert row(0.048) == "4.8 %"
    assert row(0.049999) == "5.00 %"  # two decimals at most
    assert row(0.03) == "3 %"
    assert row(0.2) == "20 %"
