"""Segment colours: the one place a segment's colour is decided, for every chart and table."""

from __future__ import annotations

from collections.abc import Iterable

# seaborn's "colorblind" palette (Okabe–Ito based): distinguishable for the common colour-vision
# deficiencies up to ten segments.
COLORBLIND = (
    "#0173b2",
    "#de8f05",
    "#029e73",
    "#d55e00",
    "#cc78bc",
    "#ca9161",
    "#fbafe4",
    "#949494",
    "#ece133",
    "#56b4e9",
)


def segment_colors(k: int) -> tuple[str, ...]:
    """k colours: the colour-blind safe palette up to ten, evenly spaced hues beyond."""
    if k <= len(COLORBLIND):
        return COLORBLIND[:k]
    import matplotlib.colors
    import seaborn as sns

    return tuple(matplotlib.colors.to_hex(c) for c in sns.color_palette("husl", k))


def colors_by_id(ids: Iterable[int], largest_id: int) -> tuple[str, ...]:
    """A segment's colour follows its id, so a segment keeps its colour from run to run."""
    ids = list(ids)
    palette = segment_colors(max(largest_id, len(ids), 1))
    return tuple(palette[i - 1] for i in ids)


def palette_by_id(ids: Iterable[int]) -> dict[int, str]:
    """Segment id -> colour for every id given (this run's and a previous run's)."""
    ordered = sorted(set(ids))
    return dict(zip(ordered, colors_by_id(ordered, max(ordered)), strict=True))
