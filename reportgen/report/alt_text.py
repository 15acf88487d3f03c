"""Alt texts for the brief's charts, written from the numbers each chart draws.

A screen-reader user hears what a sighted reader sees: the kind of chart and its values ("Bar
chart of segment shares: Premium-savers 53 %, Agent-seekers 47 %"). Each function takes the same
inputs as its chart in `report.charts` (the profiles, the stories, the k evidence), formatted
with `fmt` exactly as the chart's labels are, so the two never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reportgen import fmt
from reportgen.analysis.choose_k import KChoice
from reportgen.analysis.naming import SegmentStory
from reportgen.analysis.profile import Profiles, SegmentProfile
from reportgen.io.dictionary import ColumnSpec

TRAITS_SHOWN = 12  # trait_bars draws the twelve largest differences


def _shares(profiles: Profiles, stories: Sequence[SegmentStory]) -> str:
    return ", ".join(
        f"{story.name} {fmt.percent(s.share)}"
        for s, story in zip(profiles.segments, stories, strict=True)
    )


def sizes(profiles: Profiles, stories: Sequence[SegmentStory], units: str) -> str:
    """'Bar chart of segment shares: Premium-savers 53 % (78 respondents), ...'."""
    parts = ", ".join(
        f"{story.name} {fmt.percent(s.share)} ({s.size:,} {units})"
        for s, story in zip(profiles.segments, stories, strict=True)
    )
    return f"Bar chart of segment shares: {parts}."


def segment_map(
    profiles: Profiles,
    stories: Sequence[SegmentStory],
    axes: tuple[str, str],
    units: str,
    drawn: int,
) -> str:
    """The map: what its axes are, how many dots, and the segments it colours."""
    x_label, y_label = axes
    where = f" on {x_label} (across) and {y_label} (up)" if x_label and y_label else ""
    return (
        f"Scatter plot of {drawn:,} {units}{where}, one colour per segment, each segment's "
        f"centre marked: {_shares(profiles, stories)}."
    )


def heatmap(
    profiles: Profiles,
    stories: Sequence[SegmentStory],
    specs: Mapping[str, ColumnSpec],
    units: str,
) -> str:
    """Per segment, its average on each feature and the difference from all, as the cells show."""
    rows = []
    for s, story in zip(profiles.segments, stories, strict=True):
        cells = ", ".join(
            f"{f.label} {fmt.value(specs[f.column], f.segment_mean)} ({fmt.signed_sd(f.z)})"
            for f in s.features
        )
        rows.append(f"{story.name}: {cells}")
    return (
        f"Heatmap of each segment's average against the average of all {units}, "
        "coloured by the difference in standard deviations. " + "; ".join(rows) + "."
    )


def traits(
    segment: SegmentProfile, story: SegmentStory, specs: Mapping[str, ColumnSpec], units: str
) -> str:
    """One segment's trait bars, largest difference first (the bars top to bottom)."""
    ranked = sorted(segment.features, key=lambda f: -abs(f.z))[:TRAITS_SHOWN]
    bars = ", ".join(
        f"{f.label} {fmt.signed_sd(f.z)} "
        f"({fmt.value(specs[f.column], f.segment_mean)} vs "
        f"{fmt.value(specs[f.column], f.overall_mean)})"
        for f in ranked
    )
    return (
        f"Bar chart of how {story.name} differ from the average of all {units}, in "
        f"standard deviations: {bars}."
    )


def elbow(kchoice: KChoice) -> str:
    """The within-segment sum of squares at each k, the chosen k and the elbow."""
    points = ", ".join(f"k = {e.k}: {fmt.number(e.inertia)}" for e in kchoice.evidence)
    knee = f"; the elbow is at k = {kchoice.knee}" if kchoice.knee is not None else ""
    return (
        f"Line chart of the within-segment sum of squares by number of segments ({points}); "
        f"chosen k = {kchoice.k}{knee}."
    )
