"""Charts for the "What changed" page: size shift and migration matrix (object API, no pyplot).

Same conventions as `charts`: PNG bytes out, one colour per segment (the brief's colours), axis
labels with units.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import ScalarFormatter

from reportgen.report.charts import chart_style, png_bytes, wrap_label

GREY = "#9a9a9a"


def size_shift(
    names: Sequence[str],
    before: Sequence[float | None],
    after: Sequence[float | None],
    colors: Sequence[str],
    *,
    units: str,
    previous_date: str,
) -> bytes:
    """Per segment: share of customers last time (pale) and now (full colour), in %."""
    n = len(names)
    with chart_style():
        fig = Figure(figsize=(6.6, 0.7 + 0.55 * n))
        ax = fig.add_subplot()
        y = np.arange(n)[::-1]
        b = [100 * (v or 0.0) for v in before]
        a = [100 * (v or 0.0) for v in after]
        ax.barh(
            y + 0.19,
            b,
            height=0.36,
            color=list(colors),
            alpha=0.35,
            edgecolor="#555555",
            linewidth=0.4,
            label=f"{previous_date}",
        )
        ax.barh(
            y - 0.19,
            a,
            height=0.36,
            color=list(colors),
            edgecolor="#333333",
            linewidth=0.4,
            label="now",
        )
        top = max(a + b + [10.0])
        _shift_labels(ax, y, b, a, before, after, top)
        ax.set_yticks(y, [wrap_label(nm, 28) for nm in names])
        ax.set_xlim(0, top * 1.18)
        ax.set_xlabel(f"Share of {units} (%) — pale bar: {previous_date}, full bar: now")
        ax.grid(True, axis="x", color="#e6e6e6", linewidth=0.6)
        ax.set_axisbelow(True)
        return png_bytes(fig)


def _shift_labels(
    ax: Axes,
    y: np.ndarray,
    b: Sequence[float],
    a: Sequence[float],
    before: Sequence[float | None],
    after: Sequence[float | None],
    top: float,
) -> None:
    """Each bar's share in %, or "–" / "gone" for a segment absent then / now."""
    for yy, vb, va, pb, pa in zip(y, b, a, before, after, strict=True):
        ax.text(
            vb + top * 0.01,
            yy + 0.19,
            "–" if pb is None else f"{vb:.0f} %",
            va="center",
            fontsize=7,
            color="#555555",
        )
        ax.text(
            va + top * 0.01,
            yy - 0.19,
            "gone" if pa is None else f"{va:.0f} %",
            va="center",
            fontsize=7.5,
            color="#111111",
        )


def migration_matrix(
    counts: np.ndarray,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    row_colors: Sequence[str],
    col_colors: Sequence[str],
    *,
    units: str,
    previous_date: str,
) -> bytes:
    """Rows: segment last time; columns: segment now; cell: number of customers (and row %)."""
    r, c = counts.shape
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros(counts.shape, dtype=float), where=totals > 0)
    with chart_style():
        fig = Figure(figsize=(min(7.0, 2.6 + 1.05 * c), 1.3 + 0.5 * r))
        ax = fig.add_subplot()
        image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="auto")
        for i in range(r):
            for j in range(c):
                n = int(counts[i, j])
                text = f"{n:,}" if n == 0 else f"{n:,}\n{100 * share[i, j]:.0f} %"
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=7.5,
                    color="white" if share[i, j] > 0.6 else "#111111",
                )
        ax.set_xticks(range(c), [wrap_label(x, 14) for x in col_labels], fontsize=7.5)
        ax.set_yticks(range(r), [wrap_label(x, 24) for x in row_labels], fontsize=7.5)
        for tick, color in zip(ax.get_xticklabels(), col_colors, strict=True):
            tick.set_color(color)
            tick.set_fontweight("bold")
        for tick, color in zip(ax.get_yticklabels(), row_colors, strict=True):
            tick.set_color(color)
            tick.set_fontweight("bold")
        ax.xaxis.set_ticks_position("top")
        ax.xaxis.set_label_position("top")
        ax.set_xlabel("Segment now", labelpad=6)
        ax.set_ylabel(f"Segment on {previous_date}")
        ax.set_xticks(np.arange(-0.5, c, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, r, 1), minor=True)
        ax.grid(which="minor", color="white", linewidth=1.5)
        ax.tick_params(which="minor", length=0)
        for side in ("top", "right", "left", "bottom"):
            ax.spines[side].set_visible(False)
        bar = fig.colorbar(image, ax=ax, shrink=0.8, pad=0.02)
        bar.set_label(f"Share of the row's {units}")
        if isinstance(bar.formatter, ScalarFormatter):  # a linear colour scale's formatter
            bar.formatter.set_useOffset(False)
        return png_bytes(fig)
