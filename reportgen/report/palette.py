"""Segment colours: the one place a segment's colour is decided, for every chart and table."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

# seaborn's "colorblind" palette (Okabe–Ito based), reordered so that the first segments stay
# furthest apart when colour vision is deficient: simulated protanopia, deuteranopia and
# tritanopia (Machado et al. 2009, full severity) keep every pair at least 13 CIELAB ΔE apart up
# to five segments and 10.8 up to ten (seaborn's own order: 12.6 from four segments on, orange
# next to vermilion). Checked in tests/report/test_accessibility.py.
COLORBLIND = (
    "#0173b2",
    "#de8f05",
    "#029e73",
    "#cc78bc",
    "#56b4e9",
    "#ca9161",
    "#d55e00",
    "#fbafe4",
    "#ece133",
    "#949494",
)


def segment_colors(k: int, base: Sequence[str] = ()) -> tuple[str, ...]:
    """k colours: a theme's own (`base`) first, then the colour-blind safe palette, then evenly
    spaced hues beyond."""
    colours = list(dict.fromkeys([*base, *COLORBLIND]))
    if k <= len(colours):
        return tuple(colours[:k])
    import matplotlib.colors
    import seaborn as sns

    extra = [matplotlib.colors.to_hex(c) for c in sns.color_palette("husl", k - len(colours))]
    return tuple(colours + extra)


def colors_by_id(ids: Iterable[int], largest_id: int, base: Sequence[str] = ()) -> tuple[str, ...]:
    """A segment's colour follows its id, so a segment keeps its colour from run to run."""
    ids = list(ids)
    palette = segment_colors(max(largest_id, len(ids), 1), base)
    return tuple(palette[i - 1] for i in ids)


def palette_by_id(ids: Iterable[int], base: Sequence[str] = ()) -> dict[int, str]:
    """Segment id -> colour for every id given (this run's and a previous run's)."""
    ordered = sorted(set(ids))
    return dict(zip(ordered, colors_by_id(ordered, max(ordered), base), strict=True))


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


# ------------------------------------------------------------------ colour-vision deficiency

# Machado, Oliveira & Fernandes (2009), "A physiologically-based model for simulation of color
# vision deficiency", IEEE TVCG 15(6): the severity-1.0 matrices, applied to linear sRGB.
CVD_MATRICES: dict[str, tuple[tuple[float, float, float], ...]] = {
    "protanopia": (
        (0.152286, 1.052583, -0.204868),
        (0.114503, 0.786281, 0.099216),
        (-0.003882, -0.048116, 1.051998),
    ),
    "deuteranopia": (
        (0.367322, 0.860646, -0.227968),
        (0.280085, 0.672501, 0.047413),
        (-0.011820, 0.042940, 0.968881),
    ),
    "tritanopia": (
        (1.255528, -0.076749, -0.178779),
        (-0.078411, 0.930809, 0.147602),
        (0.004733, 0.691367, 0.303900),
    ),
}
_SRGB_TO_XYZ = (
    (0.4124564, 0.3575761, 0.1804375),
    (0.2126729, 0.7151522, 0.0721750),
    (0.0193339, 0.1191920, 0.9503041),
)
_D65 = (0.95047, 1.0, 1.08883)


def _apply(matrix: tuple[tuple[float, float, float], ...], v: tuple[float, ...]) -> list[float]:
    return [sum(m * x for m, x in zip(row, v, strict=True)) for row in matrix]


def simulate(color: str, deficiency: str | None) -> tuple[float, float, float]:
    """The colour as seen with `deficiency` (None: normal vision), as linear sRGB."""
    linear = tuple(_linear(c) for c in hex_rgb(color))
    if deficiency is None:
        return linear  # type: ignore[return-value]
    r, g, b = (min(1.0, max(0.0, c)) for c in _apply(CVD_MATRICES[deficiency], linear))
    return r, g, b


def lab(linear_rgb: tuple[float, float, float]) -> tuple[float, float, float]:
    """CIELAB (D65) of a linear sRGB colour."""
    xyz = _apply(_SRGB_TO_XYZ, linear_rgb)
    e = 6 / 29

    def f(t: float) -> float:
        return t ** (1 / 3) if t > e**3 else t / (3 * e * e) + 4 / 29

    fx, fy, fz = (f(c / w) for c, w in zip(xyz, _D65, strict=True))
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def delta_e(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    """CIE76 colour difference (Euclidean in CIELAB); about 2.3 is just noticeable."""
    return float(sum((x - y) ** 2 for x, y in zip(a, b, strict=True)) ** 0.5)


def closest_pair(colors: Iterable[str], deficiency: str | None) -> tuple[float, str, str]:
    """The smallest ΔE between two of `colors` as seen with `deficiency`, and that pair."""
    seen = [(c, lab(simulate(c, deficiency))) for c in colors]
    pairs = [(delta_e(la, lb), a, b) for i, (a, la) in enumerate(seen) for b, lb in seen[i + 1 :]]
    return min(pairs) if pairs else (float("inf"), "", "")
