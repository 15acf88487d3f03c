"""Report structure for the "What changed since <previous date>" page.

Turns `compare.Changes` into a `ChangesView` of plain, formatted values for
`templates/changes.html.j2`; the template owns layout, `compare` owns the numbers. Every number
gets its words here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from reportgen import fmt
from reportgen.io.dictionary import ColumnSpec, DataDictionary
from reportgen.report.images import data_uri
from reportgen.runs.compare import (
    GONE_COL,
    NEW_ROW,
    PSI_MAJOR,
    PSI_MODERATE,
    Changes,
    Drift,
    Migration,
    SegmentChange,
)

TOP_MOVES = 3  # features listed per segment under "how the segment moved"
TOP_FLOWS = 5  # moves between segments listed above the migration matrix
LEVEL_TEXT = {"stable": "stable", "moderate": "moderate shift", "major": "major shift"}
STATUS_TEXT = {"kept": "same segment", "new": "new this time", "vanished": "vanished"}
NO_SEGMENT_COLOR = "#555555"  # migration rows and columns of customers in no segment


@dataclass(frozen=True)
class MoveRow:
    label: str
    before: str
    after: str
    delta: str


@dataclass(frozen=True)
class ChangedSegmentView:
    id: int
    name: str
    color: str
    status: str  # "kept", "new" or "vanished"
    status_text: str
    before: str  # share and size on the previous date
    after: str
    shift: str  # change in share, percentage points
    distance: str  # how far the centre moved
    moves: tuple[MoveRow, ...]  # the largest moves of the segment's averages


@dataclass(frozen=True)
class DriftRow:
    label: str
    before: str
    after: str
    psi: str
    level: str
    css: str


@dataclass(frozen=True)
class MigrationView:
    chart: str  # data URI
    n_both: str
    n_moved: str
    share_moved: str
    n_new: str
    n_gone: str
    flows: tuple[str, ...]  # the largest moves between segments, in words
    n_duplicate_ids: int


@dataclass(frozen=True)
class ChangesView:
    previous_date: str
    previous_file: str
    lead: str
    segments: tuple[ChangedSegmentView, ...]
    threshold_text: str
    shift_chart: str  # data URI
    drift: tuple[DriftRow, ...]
    psi_text: str
    drift_alert: bool
    migration: MigrationView | None
    migration_note: str | None  # why there is no migration matrix


def changes_context(
    changes: Changes, dictionary: DataDictionary, colors: Mapping[int, str], units: str
) -> ChangesView:
    """`colors`: segment id -> colour, for every id on the page (vanished ones included)."""
    date = changes.previous_date
    return ChangesView(
        previous_date=date,
        previous_file=changes.previous_file,
        lead=_lead(changes),
        segments=tuple(_segment(c, dictionary, colors) for c in changes.segments),
        threshold_text=(
            f"A segment keeps its id and name when its centre (the average {dictionary.unit}) "
            f"is within {changes.threshold:g} standard deviation of a segment of {date}, measured "
            f"on {date}'s scale across all features; segments are paired so that the total "
            "distance is smallest (optimal matching)."
        ),
        shift_chart=_shift_chart(changes, colors, units),
        drift=tuple(_drift_row(d, dictionary.column(d.column)) for d in changes.drift),
        psi_text=(
            "Input drift compares how each feature's values are spread now with how they were "
            f"spread on {date} (population stability index, PSI, over {date}'s ten decile bands). "
            f"Below {PSI_MODERATE:g}: stable; {PSI_MODERATE:g} to {PSI_MAJOR:g}: moderate shift, "
            f"worth a look; {PSI_MAJOR:g} or more: major shift — the {units} themselves have "
            "changed, so segment changes may reflect a different customer base rather than "
            "changed behaviour."
        ),
        drift_alert=any(d.level != "stable" for d in changes.drift),
        migration=_migration(changes, changes.migration, colors, units)
        if changes.migration is not None
        else None,
        migration_note=changes.migration_note,
    )


def _lead(changes: Changes) -> str:
    kept = [c for c in changes.segments if c.status == "kept"]
    new = [c for c in changes.segments if c.status == "new"]
    gone = [c for c in changes.segments if c.status == "vanished"]
    parts = [
        f"{len(kept)} of the {changes.previous_k} segments of {changes.previous_date} are still "
        "here and keep their names"
    ]
    if new:
        parts.append(
            f"{fmt.count(len(new), 'new segment')} appeared ("
            + ", ".join(c.name for c in new)
            + ")"
        )
    if gone:
        parts.append(f"{len(gone)} vanished (" + ", ".join(c.name for c in gone) + ")")
    return "; ".join(parts) + "."


def _segment(
    c: SegmentChange, dictionary: DataDictionary, colors: Mapping[int, str]
) -> ChangedSegmentView:
    moves = sorted(
        ((dictionary.column(m.column), m) for m in c.moves),
        key=lambda t: -abs(t[1].after - t[1].before) / t[1].sd,
    )
    return ChangedSegmentView(
        id=c.id,
        name=c.name,
        color=colors[c.id],
        status=c.status,
        status_text=STATUS_TEXT[c.status],
        before=_share_and_size(c.share_before, c.size_before),
        after=_share_and_size(c.share_after, c.size_after),
        shift=_points(c.share_before, c.share_after),
        distance="–" if c.centre_distance is None else f"{c.centre_distance:.2f} SD",
        moves=tuple(
            MoveRow(
                label=spec.label,
                before=fmt.value(spec, m.before),
                after=fmt.value(spec, m.after),
                delta=_signed(spec, m.after - m.before),
            )
            for spec, m in moves[:TOP_MOVES]
        ),
    )


def _share_and_size(share: float | None, size: int | None) -> str:
    return "–" if share is None or size is None else f"{fmt.percent(share)} ({size:,})"


def _points(before: float | None, after: float | None) -> str:
    if before is None or after is None:
        return "–"
    d = 100 * (after - before)
    return "±0 pts" if round(d) == 0 else f"{'+' if d > 0 else '−'}{abs(d):.0f} pts"


def _signed(spec: ColumnSpec, delta: float) -> str:
    text = fmt.number(abs(delta), digits=1 if spec.type == "ordinal" else None)
    return ("+" if delta >= 0 else "−") + text


def _drift_row(d: Drift, spec: ColumnSpec) -> DriftRow:
    return DriftRow(
        label=spec.label,
        before=fmt.value(spec, d.mean_before),
        after=fmt.value(spec, d.mean_after),
        psi=f"{d.psi:.3f}",
        level=LEVEL_TEXT[d.level],
        css="" if d.level == "stable" else "neg",
    )


def _shift_chart(changes: Changes, colors: Mapping[int, str], units: str) -> str:
    from reportgen.report import (
        change_charts,  # matplotlib: imported when a run has a previous one to compare
    )

    return data_uri(
        change_charts.size_shift(
            [c.name for c in changes.segments],
            [c.share_before for c in changes.segments],
            [c.share_after for c in changes.segments],
            [colors[c.id] for c in changes.segments],
            units=units,
            previous_date=changes.previous_date,
        )
    )


def _migration(
    changes: Changes, mig: Migration, colors: Mapping[int, str], units: str
) -> MigrationView:
    from reportgen.report import change_charts

    names = {c.id: c.name for c in changes.segments}
    date = changes.previous_date

    def label(x: int | str) -> str:
        if x == NEW_ROW:
            return f"Not segmented on {date}"
        if x == GONE_COL:
            return "Not segmented now"
        return (names.get(x) if isinstance(x, int) else None) or f"Segment {x}"

    def color(x: int | str) -> str:
        return colors.get(x, NO_SEGMENT_COLOR) if isinstance(x, int) else NO_SEGMENT_COLOR

    chart = change_charts.migration_matrix(
        mig.counts,
        [label(r) for r in mig.rows],
        [label(c) for c in mig.cols],
        [color(r) for r in mig.rows],
        [color(c) for c in mig.cols],
        units=units,
        previous_date=date,
    )
    new_row = mig.counts[mig.rows.index(NEW_ROW)].sum()
    gone_col = mig.counts[:, mig.cols.index(GONE_COL)].sum()
    return MigrationView(
        chart=data_uri(chart),
        n_both=f"{mig.n_both:,}",
        n_moved=f"{mig.n_moved:,}",
        share_moved=fmt.percent(mig.n_moved / mig.n_both) if mig.n_both else "0 %",
        n_new=f"{int(new_row):,}",
        n_gone=f"{int(gone_col):,}",
        flows=_flows(mig, label),
        n_duplicate_ids=mig.n_duplicate_ids,
    )


def _flows(mig: Migration, label: Callable[[int | str], str]) -> tuple[str, ...]:
    """The largest moves from one segment to another, in words."""
    flows = []
    for i, r in enumerate(mig.rows):
        for j, c in enumerate(mig.cols):
            n = int(mig.counts[i, j])
            if n and isinstance(r, int) and isinstance(c, int) and r != c:
                flows.append((n, f"{n:,} moved from {label(r)} to {label(c)}"))
    flows.sort(key=lambda t: -t[0])
    return tuple(text for _, text in flows[:TOP_FLOWS])
