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


# --------------------------------------------------------------------------- contrast (WCAG 2.x)


def hex_rgb(color: str) -> tuple[float, float, float]:
    """'#7a1f5c' or '#abc' as sRGB components from 0 to 1."""
    text = color.strip().lstrip("#")
    if len(text) == 3:
        text = "".join(c * 2 for c in text)
    if len(text) != 6 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise ValueError(f"not a colour: {color!r}")
    r, g, b = (int(text[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return r, g, b


def _linear(c: float) -> float:
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(color: str) -> float:
    """WCAG 2.x relative luminance of an sRGB colour."""
    r, g, b = (_linear(c) for c in hex_rgb(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG contrast ratio, from 1 (none) to 21 (black on white); body text needs 4.5."""
    a, b = sorted((relative_luminance(foreground), relative_luminance(background)), reverse=True)
    return (a + 0.05) / (b + 0.05)
