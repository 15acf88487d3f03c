"""Stage 7 — chart: PNG images for the brief, drawn with matplotlib's object API (no pyplot).

Pure apart from CPU: every chart function takes plain data and returns PNG bytes, and `draw_all`
returns the brief's charts as one `Charts`. The segment map's projection is computed by
`analysis.projection`; the words on its axes and under it are written here. One colour per
segment, chosen once by `report.palette` and used in every chart and table. Every chart has axis
labels with units. Dense layers are sampled and rasterised (full-data vector scatters are slow to
lay out).
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from reportgen import fmt

if TYPE_CHECKING:
    from reportgen.analysis.choose_k import KChoice
    from reportgen.analysis.cluster import Segmentation
    from reportgen.analysis.k_tree import KTree
    from reportgen.analysis.naming import SegmentStory
    from reportgen.analysis.prepare import FeatureStep, PreparedData
    from reportgen.analysis.profile import Profiles
    from reportgen.analysis.projection import Projection
    from reportgen.io.dictionary import ColumnSpec, DataDictionary

MAX_SCATTER_POINTS = 5000
DPI = 150


@lru_cache(maxsize=1)
def _font_family() -> list[str]:
    available = {f.name for f in font_manager.fontManager.ttflist}
    return [f for f in ("Inter", "DejaVu Sans") if f in available] or ["sans-serif"]


_THEME_FAMILIES: list[str] = []  # set by `theme_font` while a themed run draws


@contextmanager
def theme_font(family: str | None, path: str | None = None) -> Iterator[None]:
    """Charts drawn inside the block use a theme's font first: an installed family, or a font
    file registered with matplotlib (report/theme.py checked both). Drawn in this process."""
    if family is None:
        yield
        return
    name = family
    if path is not None:
        font_manager.fontManager.addfont(path)
        name = font_manager.FontProperties(fname=path).get_name()
    _THEME_FAMILIES.insert(0, name)
    try:
        yield
    finally:
        _THEME_FAMILIES.remove(name)


@contextmanager
def chart_style() -> Iterator[None]:
    with matplotlib.rc_context(
        {
            "font.family": [*_THEME_FAMILIES, *_font_family()],
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.titlesize": 10,
            "axes.labelsize": 9,
            "axes.edgecolor": "#555555",
            "axes.labelcolor": "#222222",
            "xtick.color": "#333333",
            "ytick.color": "#333333",
            "svg.hashsalt": "reportgen",
        }
    ):
        yield


def png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def sample_rows(n: int, limit: int, seed: int) -> np.ndarray:
    """Indices of at most `limit` rows, drawn reproducibly."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


MAP_NAMED_CENTRES = 4  # up to this many segments with short names, centres carry the name
MAP_NAME_CHARS = 24


def segment_map(
    xy: np.ndarray,
    labels: np.ndarray,
    centers_xy: np.ndarray,
    names: Sequence[str],
    colors: Sequence[str],
    *,
    x_label: str,
    y_label: str,
    jitter: tuple[float, float] = (0.0, 0.0),
    log: tuple[bool, bool] = (False, False),
    seed: int = 0,
    ids: Sequence[int] | None = None,
    y_ticks: Sequence[int] | None = None,
) -> bytes:
    """Scatter of customers on two axes, coloured by segment, centres marked and named.
    At most MAX_SCATTER_POINTS rows are drawn (`sample_rows`: rows already sampled to that many
    are drawn as given). `y_ticks`: segment numbers for rows 1..k when the y axis is the segment
    itself."""
    ids = list(ids) if ids is not None else list(range(1, len(names) + 1))
    idx = sample_rows(len(xy), MAX_SCATTER_POINTS, seed)
    pts = xy[idx].astype(float)
    lab = labels[idx]
    rng = np.random.default_rng(seed)
    if any(jitter):
        pts = pts + rng.uniform(-1, 1, size=pts.shape) * np.asarray(jitter)
    # Short names label their centre; long ones would overlap, so centres carry the segment's
    # number and the legend pairs numbers with names.
    by_number = len(names) > MAP_NAMED_CENTRES or max(map(len, names)) > MAP_NAME_CHARS
    with chart_style():
        fig = Figure(figsize=(6.6, 4.4))
        ax = fig.add_subplot()
        _map_points(ax, pts, lab, ids, names, colors, by_number)
        _map_centres(ax, centers_xy, ids, names, colors, by_number)
        if log[0]:
            ax.set_xscale("symlog", linthresh=1)
            x_label += " — log scale"
        if log[1]:
            ax.set_yscale("symlog", linthresh=1)
            y_label += " — log scale"
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        if y_ticks is not None:
            ax.set_yticks(range(1, len(y_ticks) + 1), [str(t) for t in y_ticks])
            ax.invert_yaxis()  # segment 1 on top, as in the tables
        _map_legend(ax, by_number, len(names))
        ax.grid(True, color="#e6e6e6", linewidth=0.6)
        ax.set_axisbelow(True)
        return png_bytes(fig)


def _map_points(
    ax: Axes,
    pts: np.ndarray,
    lab: np.ndarray,
    ids: Sequence[int],
    names: Sequence[str],
    colors: Sequence[str],
    by_number: bool,
) -> None:
    for sid, name, color in zip(ids, names, colors, strict=True):
        m = lab == sid
        ax.scatter(
            pts[m, 0],
            pts[m, 1],
            s=14 if len(pts) < 1000 else 4,
            color=color,
            alpha=0.55,
            linewidths=0,
            label=f"{sid} · {name}" if by_number else name,
            rasterized=True,
        )


def _map_centres(
    ax: Axes,
    centers_xy: np.ndarray,
    ids: Sequence[int],
    names: Sequence[str],
    colors: Sequence[str],
    by_number: bool,
) -> None:
    for pos, (sid, name, color) in enumerate(zip(ids, names, colors, strict=True)):
        cx, cy = centers_xy[pos]
        ax.scatter(
            [cx], [cy], marker="X", s=160, color=color, edgecolors="black", linewidths=1.2, zorder=5
        )
        ax.annotate(
            str(sid) if by_number else name,
            (cx, cy),
            xytext=(8, 8),
            textcoords="offset points",
            fontsize=9,
            fontweight="bold",
            color="#111111",
            zorder=6,
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": color, "alpha": 0.9},
        )


def _map_legend(ax: Axes, by_number: bool, n_segments: int) -> None:
    # Long names go below the map so that they do not squeeze it sideways.
    if by_number:
        ax.legend(
            frameon=False,
            title="Segment",
            markerscale=1.5,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.16),
            ncol=2 if n_segments > 4 else 1,
        )
    else:
        ax.legend(
            frameon=False,
            title="Segment",
            markerscale=1.5,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
        )


def profile_heatmap(
    z: np.ndarray,
    annotations: Sequence[Sequence[str]],
    segment_names: Sequence[str],
    feature_labels: Sequence[str],
    segment_ids: Sequence[int] | None = None,
) -> bytes:
    """Features down, segments across (as in the profile table above it): colour = difference
    from the average in SD, text = the segment's average in the feature's units.

    `z` and `annotations` are segments x features. Up to four segments are named under their
    column; with more, the columns carry the segment numbers used on the map and in the tables.
    """
    k, p = z.shape
    limit = max(1.0, float(np.nanmax(np.abs(z))) if z.size else 1.0)
    ids = list(segment_ids) if segment_ids is not None else list(range(1, k + 1))
    if k <= 4:
        columns = [
            wrap_label(f"{i} · {n}", max(14, 64 // k), max_lines=4)
            for i, n in zip(ids, segment_names, strict=True)
        ]
    else:
        columns = [str(i) for i in ids]
    with chart_style():
        # At least 2.3 in tall: the colour bar's two-line title needs that much beside the bar.
        fig = Figure(figsize=(6.8, max(2.3, 1.0 + 0.3 * p + (0.45 if k <= 4 else 0.0))))
        ax = fig.add_subplot()
        import seaborn as sns

        sns.heatmap(
            np.asarray(z).T,
            ax=ax,
            cmap="RdBu_r",
            vmin=-limit,
            vmax=limit,
            center=0,
            annot=np.asarray(annotations, dtype=object).T,
            fmt="",
            annot_kws={"fontsize": 8 if k <= 5 else 7},
            linewidths=0.8,
            linecolor="white",
            cbar_kws={"label": "Difference from average\n(standard deviations)", "shrink": 0.9},
            xticklabels=columns,
            yticklabels=[wrap_label(lbl, 34, max_lines=2) for lbl in feature_labels],
        )
        ax.set_xlabel("Segment (cell text: the segment's average in the feature's units)")
        ax.set_ylabel("")
        ax.tick_params(axis="x", rotation=0, labelsize=8)
        ax.tick_params(axis="y", rotation=0, labelsize=8)
        return png_bytes(fig)


def trait_bars(
    z: Sequence[float],
    feature_labels: Sequence[str],
    value_texts: Sequence[str],
    color: str,
    *,
    units: str,
) -> bytes:
    """One segment: difference from the average per feature (SD), real values printed."""
    order = list(np.argsort(-np.abs(np.asarray(z)), kind="stable"))[:12][::-1]
    zs = [z[i] for i in order]
    with chart_style():
        fig = Figure(figsize=(6.6, 0.8 + 0.24 * len(order)))
        ax = fig.add_subplot()
        ypos = np.arange(len(order))
        ax.barh(ypos, zs, color=color, edgecolor="#333333", linewidth=0.5, height=0.6)
        ax.set_yticks(ypos, [wrap_label(feature_labels[i], 28) for i in order])
        ax.axvline(0, color="#333333", linewidth=0.8)
        lim = max(1.0, max(abs(v) for v in zs) * 1.9)
        ax.set_xlim(-lim, lim)
        for y, i in zip(ypos, order, strict=True):
            v = z[i]
            # The value goes on the other side of the zero line, where there is always room.
            ax.text(
                -0.03 * lim if v >= 0 else 0.03 * lim,
                float(y),
                value_texts[i],
                va="center",
                ha="right" if v >= 0 else "left",
                fontsize=8,
                color="#222222",
            )
        ax.set_xlabel(f"Difference from the average of all {units} (standard deviations)")
        ax.grid(True, axis="x", color="#e6e6e6", linewidth=0.6)
        ax.set_axisbelow(True)
        return png_bytes(fig)


def elbow(ks: Sequence[int], inertias: Sequence[float], chosen: int, knee: int | None) -> bytes:
    with chart_style():
        fig = Figure(figsize=(6.0, 3.0))
        ax = fig.add_subplot()
        ax.plot(ks, inertias, marker="o", color="#444444", linewidth=1.5, markersize=4)
        ci = list(ks).index(chosen) if chosen in ks else None
        if ci is not None:
            ax.scatter(
                [chosen],
                [inertias[ci]],
                s=120,
                facecolors="none",
                edgecolors="#d55e00",
                linewidths=2,
                zorder=5,
                label=f"chosen k = {chosen}",
            )
        if knee is not None and knee != chosen and knee in ks:
            ax.axvline(
                knee, color="#0072b2", linestyle="--", linewidth=1, label=f"elbow at k = {knee}"
            )
        ax.set_xlabel("Number of segments (k)")
        ax.set_ylabel("Within-segment sum of squares\n(standardised units)")
        ax.set_xticks(list(ks))
        ax.legend(frameon=False)
        ax.grid(True, color="#e6e6e6", linewidth=0.6)
        return png_bytes(fig)


def size_bars(
    names: Sequence[str],
    shares: Sequence[float],
    sizes: Sequence[int],
    colors: Sequence[str],
    *,
    units: str,
) -> bytes:
    with chart_style():
        fig = Figure(figsize=(6.6, 0.5 + 0.38 * len(names)))
        ax = fig.add_subplot()
        ypos = np.arange(len(names))[::-1]
        ax.barh(ypos, [100 * s for s in shares], color=list(colors), height=0.6)
        ax.set_yticks(ypos, list(names))
        for y, s, n in zip(ypos, shares, sizes, strict=True):
            ax.text(100 * s + 1, y, f"{fmt.percent(s)} ({n:,})", va="center", fontsize=8)
        ax.set_xlim(0, max(100 * max(shares) * 1.3, 10))
        ax.set_xlabel(f"Share of {units} (%)")
        ax.grid(True, axis="x", color="#e6e6e6", linewidth=0.6)
        ax.set_axisbelow(True)
        return png_bytes(fig)


def wrap_label(text: str, width: int, max_lines: int = 3) -> str:
    """Words wrapped at `width` characters, at most `max_lines` lines (the last one ends in '…'
    when words were left out)."""
    words, lines, line = str(text).split(), [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    lines.append(line)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] += " …"
    return "\n".join(lines)


# --------------------------------------------------------------------------- the brief's charts


@dataclass(frozen=True)
class Charts:
    """Every chart of the brief as PNG bytes, and the segment map's caption."""

    segment_map: bytes
    map_caption: str
    heatmap: bytes | None  # None when no numeric feature segments
    sizes: bytes
    elbow: bytes
    traits: dict[int, bytes]  # segment id -> its trait bars (segments with numeric features)
    k_tree: bytes | None = None  # how the segments split as k grows (report.k_tree_chart)
    map_axes: tuple[str, str] = ("", "")  # the map's axis titles (its alt text names them)
    map_points: int = 0  # dots drawn on the map


@dataclass(frozen=True)
class MapAxes:
    """What the segment map draws: the sampled rows' coordinates and segments, each segment's
    centre (in the order of the segment ids), and the words for the axes and the caption."""

    xy: np.ndarray
    labels: np.ndarray
    centres: np.ndarray
    x_label: str
    y_label: str
    caption: str
    jitter: tuple[float, float] = (0.0, 0.0)
    log: tuple[bool, bool] = (False, False)
    y_ticks: tuple[int, ...] | None = None


def map_axes(
    prepared: PreparedData,
    seg: Segmentation,
    profiles: Profiles,
    dictionary: DataDictionary,
    rows: np.ndarray,
    *,
    seed: int = 0,
) -> MapAxes:
    """The segment map of the rows `rows` (those it draws): the two features themselves, one
    feature with a row per segment, or (more features, or a categorical one) the scaled rows
    projected on their two principal components (`analysis.projection`; `seed` draws the rows
    the projection is fitted on when the table is large)."""
    means = np.array([[f.segment_mean for f in s.features] for s in profiles.segments])
    if not prepared.categorical_features and len(prepared.numeric_features) == 2:
        a, b = (dictionary.column(f) for f in prepared.numeric_features)
        return MapAxes(
            xy=prepared.values[rows],
            labels=seg.labels[rows],
            centres=means,
            x_label=_axis_label(a),
            y_label=_axis_label(b),
            caption=(
                f"Each dot is a {dictionary.unit}, placed by the two segmentation features; "
                "crosses mark each segment's average."
            ),
            jitter=(_jitter(a), _jitter(b)),
            log=(_log_axis(prepared.steps[0]), _log_axis(prepared.steps[1])),
        )
    if prepared.scaled.shape[1] == 1:  # one numeric feature: a strip per segment
        spec = dictionary.column(prepared.numeric_features[0])
        row_of = np.zeros(max(seg.segment_ids) + 1)
        row_of[list(seg.segment_ids)] = np.arange(1, seg.k + 1)
        return MapAxes(
            xy=np.column_stack([prepared.values[rows, 0], row_of[seg.labels[rows]]]),
            labels=seg.labels[rows],
            centres=np.column_stack([means[:, 0], np.arange(1, seg.k + 1)]),
            x_label=_axis_label(spec),
            y_label="Segment",
            caption=(
                f"Each dot is a {dictionary.unit}, placed by the one segmentation feature and "
                "drawn in its segment's row; crosses mark each segment's average."
            ),
            jitter=(_jitter(spec), 0.25),
            log=(_log_axis(prepared.steps[0]), False),
            y_ticks=tuple(seg.segment_ids),
        )
    return _pca_axes(prepared, seg, dictionary, rows, seed)


def _pca_axes(
    prepared: PreparedData,
    seg: Segmentation,
    dictionary: DataDictionary,
    rows: np.ndarray,
    seed: int,
) -> MapAxes:
    from reportgen.analysis.projection import project

    p = project(prepared.scaled, seg.labels, seg.segment_ids, rows, seed=seed)
    names = {c: dictionary.column(c).label for c in prepared.features}
    titles = [_pca_axis_title(p, i, prepared.model_columns, names) for i in (0, 1)]
    return MapAxes(
        xy=p.points,
        labels=seg.labels[rows],
        centres=p.centres,
        x_label=wrap_label(titles[0], 70),
        y_label=wrap_label(titles[1], 45),
        caption=(
            f"Each dot is a {dictionary.unit}. With {fmt.count(len(prepared.features), 'feature')}"
            " the map shows the two directions along which customers differ most (principal "
            "components of the scaled features); axis titles name the features that drive each "
            "direction."
        ),
    )


def _pca_axis_title(p: Projection, i: int, columns: Sequence[str], names: dict[str, str]) -> str:
    """'Map axis 1 (34 % of spread): +Spend, −Visits': the two columns that weigh most."""

    def nice(col: str) -> str:
        base, _, level = col.partition("=")
        return f"{names.get(base, base)}: {level}" if level else names.get(col, col)

    comp = p.components[i]
    top = np.argsort(-np.abs(comp), kind="stable")[:2]
    words = ", ".join(f"{'+' if comp[j] >= 0 else '−'}{nice(columns[j])}" for j in top)
    return f"Map axis {i + 1} ({fmt.percent(p.explained[i])} of spread): {words}"


def _jitter(spec: ColumnSpec) -> float:
    # Ratings and yes/no answers take few values: without jitter, identical answers hide each
    # other behind a single dot.
    return 0.22 if spec.type in ("ordinal", "binary") else 0.0


def _log_axis(step: FeatureStep) -> bool:
    return step.transform == "log1p"


def _axis_label(spec: ColumnSpec) -> str:
    if spec.is_scale and spec.type == "ordinal":
        return f"{spec.label} (rating {spec.scale_min:g}–{spec.scale_max:g})"
    return f"{spec.label} ({spec.unit})" if spec.unit else spec.label


def draw_all(
    prepared: PreparedData,
    seg: Segmentation,
    profiles: Profiles,
    stories: Sequence[SegmentStory],
    kchoice: KChoice,
    dictionary: DataDictionary,
    colors: Sequence[str],
    *,
    seed: int,
    executor: Executor | None = None,
    tree: KTree | None = None,
) -> Charts:
    """Every chart of the brief. The trait charts (one per segment, the bulk of the drawing) go
    to the executor when there is one, and the other charts are drawn here meanwhile: same
    function, same inputs, same PNG."""
    requests = _trait_requests(profiles, dictionary, colors)
    items = list(requests.values())
    pending = [executor.submit(trait_bars, **item) for item in items] if executor else []
    names = [s.name for s in stories]
    segment_png, caption, axes = _segment_map(
        prepared, seg, profiles, dictionary, names, colors, seed
    )
    heatmap = _heatmap(seg, profiles, dictionary, names)
    sizes = size_bars(
        names,
        [s.share for s in profiles.segments],
        [s.size for s in profiles.segments],
        colors,
        units=dictionary.units,
    )
    elbow_png = elbow(
        [e.k for e in kchoice.evidence],
        [e.inertia for e in kchoice.evidence],
        kchoice.k,
        kchoice.knee,
    )
    tree_png = _k_tree(tree, colors, kchoice)
    drawn = [f.result() for f in pending] if executor else [trait_bars(**i) for i in items]
    return Charts(
        segment_map=segment_png,
        map_caption=caption,
        heatmap=heatmap,
        sizes=sizes,
        elbow=elbow_png,
        traits=dict(zip(requests, drawn, strict=True)),
        map_axes=axes,
        map_points=min(len(seg.labels), MAX_SCATTER_POINTS),
        k_tree=tree_png,
    )


def _k_tree(tree: KTree | None, colors: Sequence[str], kchoice: KChoice) -> bytes | None:
    if tree is None:
        return None
    from reportgen.report.k_tree_chart import segment_tree

    return segment_tree(tree, colors, runner_up=kchoice.runner_up)


def _segment_map(
    prepared: PreparedData,
    seg: Segmentation,
    profiles: Profiles,
    dictionary: DataDictionary,
    names: Sequence[str],
    colors: Sequence[str],
    seed: int,
) -> tuple[bytes, str, tuple[str, str]]:
    """The segment map, its caption and its axis titles."""
    rows = sample_rows(len(seg.labels), MAX_SCATTER_POINTS, seed)  # the dots the map draws
    m = map_axes(prepared, seg, profiles, dictionary, rows, seed=seed)
    png = segment_map(
        m.xy,
        m.labels,
        m.centres,
        names,
        colors,
        x_label=m.x_label,
        y_label=m.y_label,
        jitter=m.jitter,
        log=m.log,
        seed=seed,
        ids=seg.segment_ids,
        y_ticks=m.y_ticks,
    )
    return png, m.caption, (m.x_label, m.y_label)


def _trait_requests(
    profiles: Profiles, dictionary: DataDictionary, colors: Sequence[str]
) -> dict[int, dict[str, Any]]:
    """`trait_bars`' arguments per segment id (segments with numeric features only)."""
    return {
        s.segment_id: {
            "z": [float(f.z) for f in s.features],
            "feature_labels": list(profiles.labels),
            "value_texts": [
                f"{fmt.value(dictionary.column(f.column), f.segment_mean)} vs "
                f"{fmt.value(dictionary.column(f.column), f.overall_mean)}"
                for f in s.features
            ],
            "color": color,
            "units": dictionary.units,
        }
        for s, color in zip(profiles.segments, colors, strict=True)
        if s.features
    }


def _heatmap(
    seg: Segmentation, profiles: Profiles, dictionary: DataDictionary, names: Sequence[str]
) -> bytes | None:
    z = np.array([[f.z for f in s.features] for s in profiles.segments]).reshape(seg.k, -1)
    if not z.size:
        return None
    ann = [
        [fmt.value(dictionary.column(f.column), f.segment_mean) for f in s.features]
        for s in profiles.segments
    ]
    return profile_heatmap(z, ann, names, profiles.labels, seg.segment_ids)
