"""The clustering-tree chart: how the segments split as k grows (see analysis.k_tree).

One row of circles per k, smallest k at the top; a circle's area is its segment's share of
customers. A line joins a segment to each segment of the next k that takes some of its customers:
its width is the share of all customers that move along it, its darkness the share of the lower
segment that comes from the upper one (clustree's "in-proportion"). The chosen k is drawn in the
brief's segment colours; the other levels in grey.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from reportgen import fmt
from reportgen.analysis.k_tree import KTree, Level
from reportgen.report.charts import chart_style, png_bytes, wrap_label
from reportgen.report.k_tree_context import level_title

OTHER_LEVEL = "#9aa7b4"
EDGE = "#56646f"
MIN_FLOW = 0.005  # moves of less than this share of customers are not drawn
NAMED_UP_TO = 6  # segments per level that still get their names under the circles
TOP_ROOM = 0.6  # rows of room above the top row's centres


def tree_order(tree: KTree) -> list[list[int]]:
    """Left-to-right order of each level's segment positions: the first level as it comes
    (largest first), each next one by the mean position of the segments it draws from (fewer
    crossing lines)."""
    orders = [list(range(tree.levels[0].k))]
    for upper, lower in zip(tree.levels, tree.levels[1:], strict=False):
        x_of = {p: i for i, p in enumerate(orders[-1])}
        pull = np.zeros(lower.k)
        weight = np.zeros(lower.k)
        for f in (f for f in tree.flows if f.k == upper.k):
            pull[f.target] += f.share * x_of[f.source]
            weight[f.target] += f.share
        centre = np.where(weight > 0, pull / np.maximum(weight, 1e-12), lower.k)
        orders.append(sorted(range(lower.k), key=lambda j: (centre[j], j)))
    return orders


def segment_tree(tree: KTree, colors: Sequence[str], *, runner_up: int | None = None) -> bytes:
    """The chart as PNG; `colors` are the chosen level's segment colours, in its order."""
    orders = tree_order(tree)
    n_levels = len(tree.levels)
    xy: dict[tuple[int, int], tuple[float, float]] = {}
    for row, (level, order) in enumerate(zip(tree.levels, orders, strict=True)):
        for slot, pos in enumerate(order):
            xy[(level.k, pos)] = ((slot + 0.5) / level.k, float(n_levels - 1 - row))
    with chart_style():
        fig = Figure(figsize=(6.8, 0.7 + 1.05 * n_levels))
        ax = fig.add_subplot()
        _edges(ax, tree, xy)
        for level in tree.levels:
            _nodes(ax, level, xy, colors, runner_up)
        ax.set_xlim(-0.02, 1.02)
        # Room above the top row for its largest circle (a circle is sized in points, not in
        # data units, so the axes would cut a large one flat).
        ax.set_ylim(-0.75, n_levels - 1 + TOP_ROOM)
        ax.set_yticks(
            [n_levels - 1 - r for r in range(n_levels)],
            [level_title(lv, runner_up) for lv in tree.levels],
        )
        ax.set_xticks([])
        for side in ("left", "bottom"):
            ax.spines[side].set_visible(False)
        ax.tick_params(axis="y", length=0)
        return png_bytes(fig)


def _edges(ax: object, tree: KTree, xy: dict[tuple[int, int], tuple[float, float]]) -> None:
    share_of = {(lv.k, i): s for lv in tree.levels for i, s in enumerate(lv.shares)}
    for f in tree.flows:
        if f.share < MIN_FLOW:
            continue
        (x0, y0), (x1, y1) = xy[(f.k, f.source)], xy[(f.k_to, f.target)]
        inflow = f.share / max(share_of[(f.k_to, f.target)], 1e-12)
        ax.plot(  # type: ignore[attr-defined]
            [x0, x1],
            [y0, y1],
            color=EDGE,
            linewidth=0.6 + 16 * f.share,
            alpha=0.2 + 0.6 * min(inflow, 1.0),
            solid_capstyle="round",
            zorder=1,
        )


def _nodes(
    ax: object,
    level: Level,
    xy: dict[tuple[int, int], tuple[float, float]],
    colors: Sequence[str],
    runner_up: int | None,
) -> None:
    named = level.k <= NAMED_UP_TO
    width = max(12, int(70 / level.k))
    for pos, (share, name) in enumerate(zip(level.shares, level.names, strict=True)):
        x, y = xy[(level.k, pos)]
        color = colors[pos % len(colors)] if level.chosen else OTHER_LEVEL
        edge = "#222222" if level.k == runner_up else "white"
        size = 60 + 2200 * share  # points squared: the circle is sqrt(size) points across
        ax.scatter(  # type: ignore[attr-defined]
            [x],
            [y],
            s=size,
            color=color,
            edgecolors=edge,
            linewidths=1.2,
            zorder=3,
            clip_on=False,
        )
        text = fmt.percent(share) + ("\n" + wrap_label(name, width, 3) if named else "")
        ax.annotate(  # type: ignore[attr-defined]
            text,
            (x, y),
            # Just under the circle whatever its size (a fixed drop in data units put the label
            # of a large circle over its lower half).
            xytext=(0, -(math.sqrt(size) / 2 + 1.5)),
            textcoords="offset points",
            ha="center",
            va="top",
            fontsize=7 if level.k <= 4 else 6.2,
            color="#222222",
            zorder=4,
            # Opaque: a line passing behind a label must not run through its words.
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none"},
        )
