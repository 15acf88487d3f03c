"""Stage 7 — chart: PNG images for the brief, drawn with matplotlib's object API (no pyplot).

Pure apart from CPU: every function takes plain data and returns PNG bytes. One colour per segment,
chosen once by `report.palette` and used in every chart and table. Every chart has axis labels with
units. Dense layers are sampled and rasterised (see DESIGN.md: full-data vector scatters are slow).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from functools import lru_cache

import matplotlib
import numpy as np
from matplotlib import font_manager
from matplotlib.figure import Figure

from reportgen import fmt

MAX_SCATTER_POINTS = 5000
DPI = 150


@lru_cache(maxsize=1)
def _font_family() -> list[str]:
    available = {f.name for f in font_manager.fontManager.ttflist}
    return [f for f in ("Inter", "DejaVu Sans") if f in available] or ["sans-serif"]


@contextmanager
def chart_style():
    rc = {
        "font.family": _font_family(),
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
    with matplotlib.rc_context(rc):
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
    `y_ticks`: segment numbers for rows 1..k when the y axis is the segment itself."""
    ids = list(ids) if ids is not None else list(range(1, len(names) + 1))
    idx = sample_rows(len(xy), MAX_SCATTER_POINTS, seed)
    pts = xy[idx].astype(float)
    lab = labels[idx]
    rng = np.random.default_rng(seed)
    if any(jitter):
        pts = pts + rng.uniform(-1, 1, size=pts.shape) * np.asarray(jitter)
    with chart_style():
        fig = Figure(figsize=(6.6, 4.4))
        ax = fig.add_subplot()
        # Short names label their centre; long ones would overlap, so centres carry the segment's
        # number and the legend pairs numbers with names.
        by_number = len(names) > MAP_NAMED_CENTRES or max(map(len, names)) > MAP_NAME_CHARS
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
        for pos, (sid, name, color) in enumerate(zip(ids, names, colors, strict=True)):
            cx, cy = centers_xy[pos]
            ax.scatter(
                [cx],
                [cy],
                marker="X",
                s=160,
                color=color,
                edgecolors="black",
                linewidths=1.2,
                zorder=5,
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
        # Long names go below the map so that they do not squeeze it sideways.
        place = (
            {
                "loc": "upper center",
                "bbox_to_anchor": (0.5, -0.16),
                "ncol": 2 if len(names) > 4 else 1,
            }
            if by_number
            else {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0)}
        )
        ax.legend(frameon=False, title="Segment", markerscale=1.5, **place)
        ax.grid(True, color="#e6e6e6", linewidth=0.6)
        ax.set_axisbelow(True)
        return png_bytes(fig)


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
                y,
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


def map_axes(prepared, seg, profiles, dictionary) -> dict[str, object]:
    """Coordinates for the segment map: the two features themselves, or a PCA projection."""
    from sklearn.decomposition import PCA

    numeric_only = not prepared.categorical_features
    means = np.array([[f.segment_mean for f in s.features] for s in profiles.segments])
    if numeric_only and len(prepared.numeric_features) == 2:
        a, b = (dictionary.column(f) for f in prepared.numeric_features)
        jit = tuple(0.22 if s.type in ("ordinal", "binary") else 0.0 for s in (a, b))
        return {
            "xy": prepared.values,
            "centers": means,
            "x_label": _axis_label(a),
            "y_label": _axis_label(b),
            "jitter": jit,
            "log": tuple(_log_axis(s, prepared) for s in prepared.steps),
            "caption": (
                f"Each dot is a {dictionary.unit}, placed by the two segmentation features; "
                "crosses mark each segment's average."
            ),
        }
    if prepared.scaled.shape[1] == 1:  # one numeric feature: a strip per segment
        spec = dictionary.column(prepared.numeric_features[0])
        row_of = np.zeros(max(seg.segment_ids) + 1)
        row_of[list(seg.segment_ids)] = np.arange(1, seg.k + 1)
        return {
            "xy": np.column_stack([prepared.values[:, 0], row_of[seg.labels]]),
            "centers": np.column_stack([means[:, 0], np.arange(1, seg.k + 1)]),
            "x_label": _axis_label(spec),
            "y_label": "Segment",
            "jitter": (0.22 if spec.type in ("ordinal", "binary") else 0.0, 0.25),
            "log": (_log_axis(prepared.steps[0], prepared), False),
            "y_ticks": tuple(seg.segment_ids),
            "caption": (
                f"Each dot is a {dictionary.unit}, placed by the one segmentation feature and "
                "drawn in its segment's row; crosses mark each segment's average."
            ),
        }
    x = prepared.scaled
    pca = PCA(n_components=2, random_state=0).fit(x)
    xy = pca.transform(x)
    centers = np.array([xy[seg.labels == sid].mean(axis=0) for sid in seg.segment_ids])
    labels = list(prepared.model_columns)
    names = {c: dictionary.column(c).label for c in prepared.features}

    def nice(col: str) -> str:
        base, _, level = col.partition("=")
        return f"{names.get(base, base)}: {level}" if level else names.get(col, col)

    def axis(i: int) -> str:
        comp = pca.components_[i]
        top = np.argsort(-np.abs(comp), kind="stable")[:2]
        words = ", ".join(f"{'+' if comp[j] >= 0 else '−'}{nice(labels[j])}" for j in top)
        share = fmt.percent(pca.explained_variance_ratio_[i])
        return f"Map axis {i + 1} ({share} of spread): {words}"

    return {
        "xy": xy,
        "centers": centers,
        "x_label": wrap_label(axis(0), 70),
        "y_label": wrap_label(axis(1), 45),
        "jitter": (0.0, 0.0),
        "log": (False, False),
        "caption": (
            f"Each dot is a {dictionary.unit}. With {fmt.count(len(prepared.features), 'feature')}"
            " the map "
            "shows the two directions along which customers differ most (principal components "
            "of the scaled features); axis titles name the features that drive each direction."
        ),
    }


def _log_axis(step, prepared) -> bool:
    return step.transform == "log1p"


def _axis_label(spec) -> str:
    if spec.is_scale and spec.type == "ordinal":
        return f"{spec.label} (rating {spec.scale_min:g}–{spec.scale_max:g})"
    return f"{spec.label} ({spec.unit})" if spec.unit else spec.label


def draw_all(
    prepared,
    seg,
    profiles,
    stories,
    kchoice,
    dictionary,
    colors,
    *,
    seed: int,
    executor: Executor | None = None,
) -> dict:
    """Every chart of the brief as PNG bytes, keyed by name (per-segment ones by segment id)."""
    # The trait charts (one per segment, the bulk of the drawing) go to the executor when there
    # is one, and the other charts are drawn here meanwhile: same function, same inputs, same PNG.
    requests = {
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
    items = list(requests.values())
    pending = [executor.submit(trait_bars, **item) for item in items] if executor else []
    names = [s.name for s in stories]
    m = map_axes(prepared, seg, profiles, dictionary)
    charts: dict[str, object] = {
        "segment_map": segment_map(
            m["xy"],
            seg.labels,
            m["centers"],
            names,
            colors,
            x_label=m["x_label"],
            y_label=m["y_label"],
            jitter=m["jitter"],
            log=m["log"],
            seed=seed,
            ids=seg.segment_ids,
            y_ticks=m.get("y_ticks"),
        ),
        "map_caption": m["caption"],
    }
    z = np.array([[f.z for f in s.features] for s in profiles.segments]).reshape(seg.k, -1)
    ann = [
        [fmt.value(dictionary.column(f.column), f.segment_mean) for f in s.features]
        for s in profiles.segments
    ]
    charts["heatmap"] = (
        profile_heatmap(z, ann, names, profiles.labels, seg.segment_ids) if z.size else None
    )
    charts["sizes"] = size_bars(
        names,
        [s.share for s in profiles.segments],
        [s.size for s in profiles.segments],
        colors,
        units=dictionary.units,
    )
    charts["elbow"] = elbow(
        [e.k for e in kchoice.evidence],
        [e.inertia for e in kchoice.evidence],
        kchoice.k,
        kchoice.knee,
    )
    drawn = [f.result() for f in pending] if executor else [trait_bars(**i) for i in items]
    charts["traits"] = dict(zip(requests, drawn, strict=True))
    return charts
