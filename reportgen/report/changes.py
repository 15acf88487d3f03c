"""Report structure for the "What changed since <previous date>" page.

Turns `compare.Changes` into plain, formatted values for `templates/changes.html.j2`; the
template owns layout, `compare` owns the numbers. Every number gets its words here.
"""

from __future__ import annotations

from typing import Any

from reportgen import fmt
from reportgen.io.dictionary import DataDictionary
from reportgen.report.context import data_uri
from reportgen.runs.compare import GONE_COL, NEW_ROW, PSI_MAJOR, PSI_MODERATE, Changes

TOP_MOVES = 3  # features listed per segment under "how the segment moved"
LEVEL_TEXT = {"stable": "stable", "moderate": "moderate shift", "major": "major shift"}


def _points(before: float | None, after: float | None) -> str:
    if before is None or after is None:
        return "–"
    d = 100 * (after - before)
    return "±0 pts" if round(d) == 0 else f"{'+' if d > 0 else '−'}{abs(d):.0f} pts"


def _signed(spec, delta: float) -> str:
    text = fmt.number(abs(delta), digits=1 if spec.type == "ordinal" else None)
    return ("+" if delta >= 0 else "−") + text


def changes_context(
    changes: Changes, dictionary: DataDictionary, colors: dict[int, str], units: str
) -> dict[str, Any]:
    """`colors`: segment id -> colour, for every id on the page (vanished ones included)."""
    from reportgen.report import (
        change_charts,  # matplotlib: imported when a run has a previous one to compare
    )

    names = {c.id: c.name for c in changes.segments}
    date = changes.previous_date
    segments = []
    for c in changes.segments:
        status = {"kept": "same segment", "new": "new this time", "vanished": "vanished"}[c.status]
        spec_moves = []
        for m in c.moves:
            spec = dictionary.column(m.column)
            size = abs(m.after - m.before) / m.sd
            spec_moves.append((size, spec, m))
        spec_moves.sort(key=lambda t: -t[0])
        segments.append(
            {
                "id": c.id,
                "name": c.name,
                "color": colors[c.id],
                "status": c.status,
                "status_text": status,
                "before": "–"
                if c.size_before is None
                else f"{fmt.percent(c.share_before)} ({c.size_before:,})",
                "after": "–"
                if c.size_after is None
                else f"{fmt.percent(c.share_after)} ({c.size_after:,})",
                "shift": _points(c.share_before, c.share_after),
                "distance": "–" if c.centre_distance is None else f"{c.centre_distance:.2f} SD",
                "moves": [
                    {
                        "label": spec.label,
                        "before": fmt.value(spec, m.before),
                        "after": fmt.value(spec, m.after),
                        "delta": _signed(spec, m.after - m.before),
                    }
                    for _, spec, m in spec_moves[:TOP_MOVES]
                ],
            }
        )
    kept = [c for c in changes.segments if c.status == "kept"]
    new = [c for c in changes.segments if c.status == "new"]
    gone = [c for c in changes.segments if c.status == "vanished"]
    parts = [
        f"{len(kept)} of the {changes.previous_k} segments of {date} are still here and keep "
        "their names"
    ]
    if new:
        parts.append(
            f"{fmt.count(len(new), 'new segment')} appeared ("
            + ", ".join(c.name for c in new)
            + ")"
        )
    if gone:
        parts.append(f"{len(gone)} vanished (" + ", ".join(c.name for c in gone) + ")")
    lead = "; ".join(parts) + "."
    ctx: dict[str, Any] = {
        "previous_date": date,
        "previous_file": changes.previous_file,
        "lead": lead,
        "segments": segments,
        "threshold_text": (
            f"A segment keeps its id and name when its centre (the average {dictionary.unit}) "
            f"is within {changes.threshold:g} standard deviation of a segment of {date}, measured "
            f"on {date}'s scale across all features; segments are paired so that the total "
            "distance is smallest (optimal matching)."
        ),
        "shift_chart": data_uri(
            change_charts.size_shift(
                [c.name for c in changes.segments],
                [c.share_before for c in changes.segments],
                [c.share_after for c in changes.segments],
                [colors[c.id] for c in changes.segments],
                units=units,
                previous_date=date,
            )
        ),
        "drift": [
            {
                "label": dictionary.column(d.column).label,
                "before": fmt.value(dictionary.column(d.column), d.mean_before),
                "after": fmt.value(dictionary.column(d.column), d.mean_after),
                "psi": f"{d.psi:.3f}",
                "level": LEVEL_TEXT[d.level],
                "css": "" if d.level == "stable" else "neg",
            }
            for d in changes.drift
        ],
        "psi_text": (
            "Input drift compares how each feature's values are spread now with how they were "
            f"spread on {date} (population stability index, PSI, over {date}'s ten decile bands). "
            f"Below {PSI_MODERATE:g}: stable; {PSI_MODERATE:g} to {PSI_MAJOR:g}: moderate shift, "
            f"worth a look; {PSI_MAJOR:g} or more: major shift — the {units} themselves have "
            "changed, so segment changes may reflect a different customer base rather than "
            "changed behaviour."
        ),
        "drift_alert": any(d.level != "stable" for d in changes.drift),
        "migration": None,
        "migration_note": changes.migration_note,
    }
    mig = changes.migration
    if mig is not None:

        def label(x) -> str:
            if x == NEW_ROW:
                return f"Not segmented on {date}"
            if x == GONE_COL:
                return "Not segmented now"
            return names.get(x) or f"Segment {x}"

        def color(x) -> str:
            return colors.get(x, "#555555") if isinstance(x, int) else "#555555"

        flows = []
        for i, r in enumerate(mig.rows):
            for j, c in enumerate(mig.cols):
                n = int(mig.counts[i, j])
                if n and isinstance(r, int) and isinstance(c, int) and r != c:
                    flows.append((n, f"{n:,} moved from {label(r)} to {label(c)}"))
        flows.sort(key=lambda t: -t[0])
        new_row = mig.counts[mig.rows.index(NEW_ROW)].sum()
        gone_col = mig.counts[:, mig.cols.index(GONE_COL)].sum()
        ctx["migration"] = {
            "chart": data_uri(
                change_charts.migration_matrix(
                    mig.counts,
                    [label(r) for r in mig.rows],
                    [label(c) for c in mig.cols],
                    [color(r) for r in mig.rows],
                    [color(c) for c in mig.cols],
                    units=units,
                    previous_date=date,
                )
            ),
            "n_both": f"{mig.n_both:,}",
            "n_moved": f"{mig.n_moved:,}",
            "share_moved": fmt.percent(mig.n_moved / mig.n_both) if mig.n_both else "0 %",
            "n_new": f"{int(new_row):,}",
            "n_gone": f"{int(gone_col):,}",
            "flows": [text for _, text in flows[:5]],
            "n_duplicate_ids": mig.n_duplicate_ids,
        }
    return ctx
