"""Charts of what customers are worth (order logs): revenue concentration and each segment's
share of customers beside its share of revenue. Same style and PNG settings as report.charts."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from reportgen import fmt
from reportgen.report.charts import chart_style, png_bytes


def pareto(curve: Sequence[tuple[float, float]], *, units: str) -> bytes:
    """Cumulative share of revenue against the share of customers, best customers first."""
    x = np.array([100 * c for c, _ in curve])
    y = np.array([100 * r for _, r in curve])
    with chart_style():
        fig = Figure(figsize=(6.2, 3.0))
        ax = fig.add_subplot()
        ax.plot(x, y, color="#0173b2", linewidth=2)
        ax.plot([0, 100], [0, 100], color="#9a9a9a", linewidth=0.8, linestyle="--")
        top = int(np.searchsorted(x, 20.0))
        if top < len(x):
            ax.annotate(
                f"top 20 % of {units}: {fmt.percent(y[top] / 100)} of revenue",
                xy=(x[top], y[top]),
                xytext=(x[top] + 12, y[top] - 22),
                arrowprops={"arrowstyle": "->", "color": "#555555"},
                fontsize=8,
            )
        ax.set_xlim(0, 100)
        ax.set_ylim(min(0.0, float(y.min())), max(100.0, float(y.max())))
        ax.set_xlabel(f"Share of {units}, biggest spenders first (%)")
        ax.set_ylabel("Share of net revenue (%)")
        ax.grid(True, color="#e6e6e6", linewidth=0.6)
        ax.set_axisbelow(True)
        return png_bytes(fig)


def customer_and_revenue_shares(
    names: Sequence[str],
    customer_shares: Sequence[float],
    revenue_shares: Sequence[float],
    colors: Sequence[str],
    *,
    units: str,
) -> bytes:
    """Per segment, two bars: its share of customers (light) and of net revenue (full colour)."""
    ypos = np.arange(len(names))[::-1].astype(float)
    with chart_style():
        fig = Figure(figsize=(6.6, 0.7 + 0.55 * len(names)))
        ax = fig.add_subplot()
        cust = [100 * s for s in customer_shares]
        rev = [100 * s for s in revenue_shares]
        ax.barh(ypos + 0.19, cust, height=0.36, color=list(colors), alpha=0.35, label=units)
        ax.barh(ypos - 0.19, rev, height=0.36, color=list(colors), label="net revenue")
        for y, c, r in zip(ypos, cust, rev, strict=True):
            ax.text(max(c, 0) + 1, y + 0.19, f"{c:.0f} % of {units}", va="center", fontsize=7.5)
            ax.text(max(r, 0) + 1, y - 0.19, f"{r:.0f} % of revenue", va="center", fontsize=7.5)
        ax.set_yticks(ypos, list(names))
        ax.set_xlim(min(0.0, min(rev)), max(max(cust), max(rev)) * 1.35 + 5)
        ax.set_xlabel("Share (%)")
        ax.grid(True, axis="x", color="#e6e6e6", linewidth=0.6)
        ax.set_axisbelow(True)
        return png_bytes(fig)
