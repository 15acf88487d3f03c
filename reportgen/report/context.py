"""Report structure: turn the stages' results into the plain, already-formatted values the
templates show. No HTML here (the templates own layout), no computation of statistics (the stages
own that). Charts arrive as PNG bytes and leave as data URIs so brief.html is self-contained.

`build_context` returns a `BriefContext`: frozen dataclasses all the way down, one field per part
of the brief. Each field is a template variable of the same name (`render.template_variables`),
and the templates read the values with Jinja's dot syntax (`overview.lead`, `seg.name`).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from reportgen import fmt
from reportgen.analysis.choose_k import INDEX_NAMES, VOTE_RULE, KChoice, KEvidence
from reportgen.analysis.cluster import Segmentation
from reportgen.analysis.naming import NAMING_RULE, SegmentStory, Trait
from reportgen.analysis.prepare import AUTO_IMPUTE_ABOVE, OUTLIER_RSD, SKEW_LIMIT, FeatureStep
from reportgen.analysis.profile import CategoryShare, DescribeField, Profiles, SegmentProfile
from reportgen.analysis.results import Analysis
from reportgen.analysis.stability import (
    QUALITY_RULE,
    STABILITY_RULE,
    Evaluation,
    SegmentStability,
)
from reportgen.io.database import DatabaseTable
from reportgen.io.dictionary import ColumnSpec, DataDictionary
from reportgen.report import alt_text
from reportgen.report.images import data_uri
from reportgen.report.k_tree_context import KTreeView, k_tree_view, runner_up_segments
from reportgen.report.theme import DEFAULT as DEFAULT_THEME
from reportgen.report.theme import Theme, colour_vision_note
from reportgen.report.value_context import ValueView, value_context

if TYPE_CHECKING:
    from reportgen.report.changes import ChangesView
    from reportgen.report.charts import Charts

MAX_DESCRIBE_SHOWN = 6
LEAD_SEGMENTS = 3  # up to this many segments, page 1's lead describes each in a sentence
SUMMARY_FEATURES = 4  # features named on page 1; the appendix lists every one
MAX_CATEGORY_ROWS = 12


@dataclass(frozen=True)
class RunInfo:
    generated_at: str  # ISO 8601, UTC
    date_text: str  # "28 November 2026"
    version: str
    versions: tuple[tuple[str, str], ...]
    seed: int
    title: str


# --------------------------------------------------------------------------- the context's shape


@dataclass(frozen=True)
class DocView:
    """What every page's header and footer says about the document."""

    title: str
    date_text: str
    generated_at: str
    version: str
    source_text: str
    synthetic: bool
    unit: str
    units: str


@dataclass(frozen=True)
class OverviewView:
    """Page 1 (summary.html.j2): the numbers and sentences of the executive summary."""

    k: int
    n_read: str
    n_kept: str
    n_dropped: str
    n_features: int
    feature_list: str  # shortened on page 1 (the appendix lists every feature)
    lead: str
    method_line: str
    drop_line: str
    quality: str
    silhouette: str
    quality_line: str
    stability_line: str
    close_vote: str = ""  # the runner-up k when the vote was close
    n_partial: str = ""  # rows left out of the fit but assigned on the features they have
    has_dictionary: bool = True


@dataclass(frozen=True)
class StabilityView:
    verdict: str
    jaccard: str


@dataclass(frozen=True)
class FeatureRow:
    label: str
    segment: str
    overall: str
    diff: str
    css: str


@dataclass(frozen=True)
class ShareRow:
    value: str
    segment: str
    overall: str
    css: str


@dataclass(frozen=True)
class NumericFieldView:
    label: str
    segment: str
    overall: str
    kind: str = "numeric"


@dataclass(frozen=True)
class CategoryFieldView:
    label: str
    rows: tuple[ShareRow, ...]
    kind: str = "categorical"


FieldView = NumericFieldView | CategoryFieldView


@dataclass(frozen=True)
class SegmentView:
    """One segment's page (segment.html.j2), its line on page 1 and its own short brief."""

    id: int
    name: str
    slug: str
    color: str
    size: int
    share_text: str
    size_text: str
    headline: str
    sentences: tuple[str, ...]
    angle: str
    angle_from_dictionary: bool
    traits_chart: str | None  # data URI; None when no numeric feature segments
    stability: StabilityView
    categories: tuple[CategoryFieldView, ...]  # categorical segmentation features
    features: tuple[FeatureRow, ...]  # numeric segmentation features, most telling first
    segments_on_categories: bool
    describe: tuple[FieldView, ...]  # the most telling descriptive fields
    describe_hidden: int  # descriptive fields not shown
    traits_alt: str = ""  # the trait chart's alt text (report/alt_text.py)


@dataclass(frozen=True)
class ChartURIs:
    segment_map: str
    heatmap: str | None
    sizes: str
    elbow: str
    # Alt texts from the charts' own numbers (report/alt_text.py), for screen readers.
    segment_map_alt: str = ""
    heatmap_alt: str = ""
    sizes_alt: str = ""
    elbow_alt: str = ""


@dataclass(frozen=True)
class MapView:
    caption: str
    note: str


@dataclass(frozen=True)
class ProfileRow:
    id: int
    name: str
    color: str
    size: str
    share: str
    cells: tuple[str, ...]  # one per label of the table


@dataclass(frozen=True)
class ProfileOverall:
    size: str
    cells: tuple[str, ...]


@dataclass(frozen=True)
class ProfileTable:
    """The segments side by side: features (and category shares) down, segments across."""

    labels: tuple[str, ...]
    rows: tuple[ProfileRow, ...]
    overall: ProfileOverall
    has_averages: bool
    category_rows: int
    hidden_categories: int


@dataclass(frozen=True)
class SignRow:
    column: str
    sign: str


@dataclass(frozen=True)
class DropRow:
    reason: str
    rows: str


@dataclass(frozen=True)
class ColumnRow:
    name: str
    label: str
    type: str
    role: str
    reason: str


@dataclass(frozen=True)
class StepRow:
    label: str
    kind: str
    treatment: str


@dataclass(frozen=True)
class Policies:
    impute_above: str
    skew: str
    outlier: str


@dataclass(frozen=True)
class VoteRow:
    index: str
    k: int | str


@dataclass(frozen=True)
class TestRow:
    label: str
    role: str
    test: str
    p: str
    effect: str
    effect_kind: str
    separates: bool


@dataclass(frozen=True)
class EvidenceRow:
    k: int
    inertia: str
    silhouette: str
    ch: str
    db: str
    gap: str
    smallest: str
    admissible: bool
    chosen: bool


@dataclass(frozen=True)
class VersionRow:
    name: str
    version: str


@dataclass(frozen=True)
class MethodView:
    """The appendix (method.html.j2): the data, its preparation, the choice of k, the tests."""

    file: str
    format: str
    encoding: str | None
    delimiter: str | None
    decimal_comma: tuple[str, ...]
    thousands_comma: tuple[str, ...]
    signs: tuple[SignRow, ...]
    sha256_short: str
    n_read: str
    n_kept: str
    n_dropped: str
    drops: tuple[DropRow, ...]
    notes: tuple[str, ...]
    columns: tuple[ColumnRow, ...]
    steps: tuple[StepRow, ...]
    policies: Policies
    index_names: dict[str, str]
    vote_rule: str
    votes: tuple[VoteRow, ...]
    sample_size: str
    sampled: bool
    min_share: str
    quality_rule: str
    stability_rule: str
    resamples: int
    stability_sample: str
    tests: tuple[TestRow, ...]
    k: int
    k_reason: str
    final_below_min: str | None
    k_table: tuple[EvidenceRow, ...]
    n_init: int
    start_sample: str | None
    n_iter: int
    seed: int
    naming_rule: str
    versions: tuple[VersionRow, ...]
    init_command: str = ""  # the `reportgen init` line that writes a starter dictionary


@dataclass(frozen=True)
class BriefContext:
    """Everything the templates show, one field per part of the brief."""

    doc: DocView
    overview: OverviewView  # page 1
    segments: tuple[SegmentView, ...]  # one page each, and one short brief each
    charts: ChartURIs
    map: MapView  # "the segments side by side"
    profile_table: ProfileTable
    method: MethodView  # the appendix
    changes: ChangesView | None = None  # "what changed", when the run has a previous one
    value: ValueView | None = None  # what customers are worth, when the input is an order log
    theme: Theme = DEFAULT_THEME  # the brand's look (report/theme.py): logo, colours, footer
    k_tree: KTreeView | None = None  # how the segments split as k grows (method appendix)


# --------------------------------------------------------------------------- building it


def build_context(
    analysis: Analysis,
    *,
    charts: Charts,
    colors: tuple[str, ...],
    run: RunInfo,
    changes: ChangesView | None = None,
    theme: Theme = DEFAULT_THEME,
) -> BriefContext:
    specs = {f: analysis.dictionary.column(f) for f in analysis.prepared.features}
    return BriefContext(
        doc=_doc(analysis, run),
        overview=_overview(analysis, specs),
        segments=_segments(analysis, charts, colors, specs),
        charts=ChartURIs(
            segment_map=data_uri(charts.segment_map),
            heatmap=data_uri(charts.heatmap) if charts.heatmap else None,
            sizes=data_uri(charts.sizes),
            elbow=data_uri(charts.elbow),
            **_chart_alts(analysis, charts),
        ),
        map=_map(analysis, charts, specs),
        profile_table=_profile_table(analysis.profiles, analysis.stories, colors, specs),
        method=_with_theme_note(_method(analysis, run, specs), theme, colors),
        changes=changes,
        value=value_context(analysis, colors),
        k_tree=k_tree_view(
            analysis.k_tree, charts.k_tree, analysis.k_choice, analysis.dictionary.units
        ),
        theme=theme,
    )


def _with_theme_note(method: MethodView, theme: Theme, colors: Sequence[str]) -> MethodView:
    """A theme's own segment colours that colour-vision deficiency would merge: said in the
    appendix (the default palette is checked by the tests instead)."""
    note = colour_vision_note(colors) if theme.segment_colors else ""
    return replace(method, notes=(*method.notes, note)) if note else method


def _chart_alts(a: Analysis, charts: Charts) -> dict[str, str]:
    profiles, stories, units = a.profiles, a.stories, a.dictionary.units
    specs = {f: a.dictionary.column(f) for f in profiles.features}
    return {
        "segment_map_alt": alt_text.segment_map(
            profiles, stories, charts.map_axes, units, charts.map_points
        ),
        "heatmap_alt": alt_text.heatmap(profiles, stories, specs, units) if charts.heatmap else "",
        "sizes_alt": alt_text.sizes(profiles, stories, units),
        "elbow_alt": alt_text.elbow(a.k_choice),
    }


def _doc(a: Analysis, run: RunInfo) -> DocView:
    dictionary, prepared = a.dictionary, a.prepared
    return DocView(
        title=run.title,
        date_text=run.date_text,
        generated_at=run.generated_at,
        version=run.version,
        source_text=dictionary.source or f"{a.table.path.name} ({prepared.n_read:,} rows)",
        synthetic=dictionary.synthetic,
        unit=dictionary.unit,
        units=dictionary.units,
    )


def _overview(a: Analysis, specs: dict[str, ColumnSpec]) -> OverviewView:
    prepared, seg, ev = a.prepared, a.segmentation, a.evaluation
    labels = [specs[f].label for f in prepared.features]
    # Page 1 stays one page: long feature lists are shortened there (the appendix has them all).
    short_list = (
        ", ".join(labels)
        if len(labels) <= SUMMARY_FEATURES
        else ", ".join(labels[:SUMMARY_FEATURES]) + f" and {len(labels) - SUMMARY_FEATURES} more"
    )
    drop_line = (
        f"{prepared.n_dropped:,} of {prepared.n_read:,} rows were left out of the fit: "
        + "; ".join(f"{d.rows:,} with {d.reason}" for d in prepared.drops)
        + ". "
        + _rest_line(a)
    )
    return OverviewView(
        k=seg.k,
        n_read=f"{prepared.n_read:,}",
        n_kept=f"{prepared.n_kept:,}",
        n_dropped=f"{prepared.n_dropped:,}",
        n_features=len(prepared.features),
        feature_list=short_list,
        lead=_lead(a),
        method_line=_method_line(a, len(labels), short_list),
        drop_line=drop_line,
        quality=ev.quality,
        silhouette="–" if ev.silhouette is None else f"{ev.silhouette:.2f}",
        quality_line=_quality_line(ev),
        stability_line=_stability_line(ev, a.stories),
        close_vote=_close_vote(a, short=True),
        n_partial=f"{a.rest.n_partial:,}" if a.rest is not None and a.rest.n_partial else "",
        has_dictionary=a.dictionary.from_file,
    )


def _method_line(a: Analysis, n_features: int, feature_list: str) -> str:
    seg = a.segmentation
    how = (
        f"k = {seg.k} was set by the analyst."
        if a.k_choice.method == "user"
        else f"k = {seg.k} was chosen by a vote of four statistical indices."
    )
    return (
        f"{n_features} features ({feature_list}) were put on a common scale and "
        f"{a.prepared.n_kept:,} {a.dictionary.units} grouped by k-means into {seg.k} segments; "
        + how
    )


def _file_notes(a: Analysis) -> tuple[str, ...]:
    """How the file was read where it was not a plain table with a header (io.load)."""
    notes = a.intake.table.notes if a.intake is not None else a.table.notes
    if not notes:
        return ()
    return (f"Reading {a.table.path.name}: " + "; ".join(notes) + ".",)


def _sheet_note(a: Analysis) -> tuple[str, ...]:
    """When brief.xlsx cannot hold every customer (Excel's row limit), the brief says so too."""
    from reportgen.report.workbook import customers_truncated, truncation_note

    everyone = a.intake.all_customers if a.intake is not None else None
    rows = len(everyone) if everyone is not None else a.prepared.n_read
    return (truncation_note(rows),) if customers_truncated(rows) else ()


SEGMENTS_NAMED_ON_PAGE_1 = 4  # a runner-up with more segments is listed in the appendix


def _close_vote(a: Analysis, *, short: bool = False) -> str:
    """When the vote was close: the runner-up k and how its segments would split customers
    (`short`, page 1: their names only when there are a few)."""
    kc = a.k_choice
    if not kc.close or kc.runner_up is None:
        return ""
    counted = [v for v in kc.votes.values() if v is not None]
    runner = next((e for e in kc.evidence if e.k == kc.runner_up), None)
    shares = ", ".join(fmt.percent(x) for x in runner.shares) if runner and runner.shares else ""
    split = f" its segments would hold {shares} of {a.dictionary.units}" if shares else ""
    split += " (on the evidence sample)" if split else ""
    if named := runner_up_segments(a.k_tree, kc):
        split = f" its segments would be {named}"
        if short and kc.runner_up > SEGMENTS_NAMED_ON_PAGE_1:
            split = f" its {kc.runner_up} segments are named in the appendix"
    runner_votes, votes = counted.count(kc.runner_up), counted.count(kc.k)
    return (
        f"The vote was close: k = {kc.runner_up} came second ({runner_votes} "
        f"{'vote' if runner_votes == 1 else 'votes'} against {votes});{split}. "
        f"Run with --k {kc.runner_up} to see that brief."
    )


def _rest_line(a: Analysis) -> str:
    """What became of the rows left out of the fit: every row is in assignments.csv."""
    rest = a.rest
    if rest is None or not len(rest.positions):
        return ""
    units = a.dictionary.units
    parts = []
    if rest.n_partial:
        parts.append(
            f"{rest.n_partial:,} of them still have a segment, assigned on the features they "
            "have (nearest segment centre on those features; flagged in assignments.csv)"
        )
    if rest.n_unassigned:
        parts.append(f"{rest.n_unassigned:,} have no segment (listed with the reason)")
    return "; ".join(parts).capitalize() + f". Profiles use the {units} with every value."


def _lead(a: Analysis) -> str:
    """Page 1's first paragraph: a sentence per segment, or (with many) the range of sizes."""
    profiles, stories, units = a.profiles, a.stories, a.dictionary.units
    n_kept, k = a.prepared.n_kept, a.segmentation.k
    if k > LEAD_SEGMENTS:  # the table right below says it segment by segment
        shares = [s.share for s in profiles.segments]
        return (
            f"The {n_kept:,} {units} fall into {k} segments, from "
            f"{fmt.percent(max(shares))} down to {fmt.percent(min(shares))} of {units}; the "
            "table shows what sets each one apart."
        )
    return f"The {n_kept:,} {units} fall into {k} segments. " + " ".join(
        f"{story.name} ({fmt.percent(s.share)}) {_lead_phrase(story.traits[0], a.dictionary)}."
        if story.traits and abs(story.traits[0].effect) >= 0.3
        else f"{story.name} ({fmt.percent(s.share)}) are close to average."
        for s, story in zip(profiles.segments, stories, strict=True)
    )


def _map(a: Analysis, charts: Charts, specs: dict[str, ColumnSpec]) -> MapView:
    features = a.prepared.features
    jittered = any(specs[f].type == "ordinal" for f in features[:2]) and len(features) <= 2
    return MapView(
        caption=charts.map_caption,
        note="Dots are moved slightly at random so that identical answers do not hide each other."
        if jittered
        else "Colours as in every chart and table of this brief.",
    )


def _segments(
    a: Analysis, charts: Charts, colors: Sequence[str], specs: dict[str, ColumnSpec]
) -> tuple[SegmentView, ...]:
    profiles, ev = a.profiles, a.evaluation
    return tuple(
        _segment(s, story, color, charts, profiles, ev.of(s.segment_id), specs, a.dictionary.units)
        for s, story, color in zip(profiles.segments, a.stories, colors, strict=True)
    )


def _segment(
    s: SegmentProfile,
    story: SegmentStory,
    color: str,
    charts: Charts,
    profiles: Profiles,
    stability: SegmentStability,
    specs: dict[str, ColumnSpec],
    units: str = "customers",
) -> SegmentView:
    trait_png = charts.traits.get(s.segment_id)
    return SegmentView(
        id=s.segment_id,
        name=story.name,
        slug=story.slug,
        color=color,
        size=s.size,
        share_text=fmt.percent(s.share),
        size_text=f"{s.size:,} of {profiles.n:,}",
        headline=story.headline,
        sentences=story.sentences,
        angle=story.angle,
        angle_from_dictionary=story.angle_from_dictionary,
        traits_chart=data_uri(trait_png) if trait_png is not None else None,
        stability=StabilityView(verdict=stability.verdict, jaccard=f"{stability.jaccard:.2f}"),
        categories=tuple(_category_field(d) for d in s.categories),
        features=tuple(
            FeatureRow(
                label=f.label,
                segment=fmt.value(specs[f.column], f.segment_mean),
                overall=fmt.value(specs[f.column], f.overall_mean),
                diff=fmt.signed_sd(f.z),
                css="pos" if f.z >= 0.25 else "neg" if f.z <= -0.25 else "",
            )
            for f in s.ranked()
        ),
        segments_on_categories=bool(s.categories),
        describe=tuple(_describe_field(d) for d in _most_telling(s.describe, profiles)),
        describe_hidden=max(0, len(s.describe) - MAX_DESCRIBE_SHOWN),
        traits_alt=alt_text.traits(s, story, specs, units) if trait_png is not None else "",
    )


def _most_telling(fields: Sequence[DescribeField], profiles: Profiles) -> list[DescribeField]:
    """The descriptive fields that differ most across segments (largest effect), at most six."""
    effect = {t.column: t.effect for t in profiles.tests if t.role == "describe"}
    ranked = sorted(fields, key=lambda d: -effect.get(d.column, 0.0))
    keep = {d.column for d in ranked[:MAX_DESCRIBE_SHOWN]}
    return [d for d in fields if d.column in keep]


def _describe_field(d: DescribeField) -> FieldView:
    if d.kind == "numeric":
        return NumericFieldView(
            label=d.label, segment=fmt.number(d.segment_mean), overall=fmt.number(d.overall_mean)
        )
    return _category_field(d)


def _category_field(d: DescribeField) -> CategoryFieldView:
    return CategoryFieldView(label=d.label, rows=tuple(_share_row(s) for s in d.shares))


def _share_row(s: CategoryShare) -> ShareRow:
    # Green marks a group at least 1.25x as common in the segment, unless it is a sliver of it.
    telling = bool(s.overall_share) and s.lift >= 1.25 and s.segment_share >= 0.05
    return ShareRow(
        value=s.value,
        segment=fmt.percent(s.segment_share),
        overall=fmt.percent(s.overall_share),
        css="pos" if telling else "",
    )


def _quality_line(ev: Evaluation) -> str:
    if ev.silhouette is None:
        return "Quality could not be measured (a single segment in the sample)."
    meaning = {
        "good": "the segments are well separated",
        "fair": "the segments are real but overlap: customers near a border could go either way",
        "poor": "the data has little natural grouping; treat the segments as a convenient "
        "split of a continuum, not as distinct groups",
    }[ev.quality]
    return f"Quality: {ev.quality} (average silhouette {ev.silhouette:.2f}): {meaning}."


def _stability_line(ev: Evaluation, stories: Sequence[SegmentStory]) -> str:
    names = {s.segment_id: s.name for s in stories}
    shaky = [
        f"{names[s.segment_id]} is {s.verdict} (Jaccard {s.jaccard:.2f})"
        for s in ev.stability
        if s.verdict != "stable"
    ]
    if ev.resamples == 0:
        return "Stability was not measured (--resamples 0)."
    if not shaky:
        return (
            f"Stability: every segment is stable — it reappears in {ev.resamples} re-runs on "
            "resampled data (Jaccard ≥ 0.75)."
        )
    them = "it" if len(shaky) == 1 else "them"
    return "Stability: " + "; ".join(shaky) + f" — check before acting on {them}."


def _lead_phrase(trait: Trait, dictionary: DataDictionary) -> str:
    if trait.category is not None:
        return (
            f"more often have {fmt.lower_first(trait.label)} “{trait.category}” "
            f"({trait.segment_value} vs {trait.overall_value})"
        )
    spec = dictionary.column(trait.column)
    if (spec.high if trait.direction == "high" else spec.low).words:
        return trait.phrase
    more = "more" if trait.direction == "high" else "less"
    label = fmt.lower_first(trait.label)
    return f"stand out by {more} {label} ({trait.segment_value} vs {trait.overall_value})"


# --------------------------------------------------------------------------- the profile table


def _profile_table(
    profiles: Profiles,
    stories: Sequence[SegmentStory],
    colors: Sequence[str],
    specs: dict[str, ColumnSpec],
) -> ProfileTable:
    """Segments across, features down: numeric averages in their units, then the shares of
    each category of a categorical segmentation feature ("Region: East"). With more than
    MAX_CATEGORY_ROWS categories, only those that name or lead some segment are shown."""
    labels = [specs[f].label for f in profiles.features]
    cells = [
        [fmt.value(specs[f.column], f.segment_mean) for f in s.features] for s in profiles.segments
    ]
    overall = [
        fmt.value(specs[f], m)
        for f, m in zip(profiles.features, profiles.overall_mean, strict=True)
    ]
    rows = _category_rows(profiles)
    all_rows = len(rows)
    if len(rows) > MAX_CATEGORY_ROWS:
        leads = {(t.column, t.category) for story in stories for t in story.traits if t.category}
        rows = [r for r in rows if r[0] in leads]
    for _, label, shares, overall_share in rows:
        labels.append(label)
        for seg_cells, share in zip(cells, shares, strict=True):
            seg_cells.append(fmt.percent(share))
        overall.append(fmt.percent(overall_share))
    return ProfileTable(
        labels=tuple(labels),
        rows=tuple(
            ProfileRow(
                id=s.segment_id,
                name=story.name,
                color=color,
                size=f"{s.size:,}",
                share=fmt.percent(s.share),
                cells=tuple(seg_cells),
            )
            for s, story, color, seg_cells in zip(
                profiles.segments, stories, colors, cells, strict=True
            )
        ),
        overall=ProfileOverall(size=f"{profiles.n:,}", cells=tuple(overall)),
        has_averages=bool(profiles.features),
        category_rows=len(rows),
        hidden_categories=all_rows - len(rows),
    )


_CategoryRow = tuple[tuple[str, str], str, list[float], float]


def _category_rows(profiles: Profiles) -> list[_CategoryRow]:
    """Per category of each categorical segmentation feature: its (column, value) key, its
    label, its share in each segment and its share overall."""
    rows: list[_CategoryRow] = []
    for j, field in enumerate(profiles.segments[0].categories if profiles.segments else ()):
        for share in field.shares:
            per_segment = [s.categories[j].shares for s in profiles.segments]
            rows.append(
                (
                    (field.column, share.value),
                    f"{field.label}: {share.value}",
                    [_share_of(shares, share.value) for shares in per_segment],
                    share.overall_share,
                )
            )
    return rows


def _share_of(shares: Sequence[CategoryShare], value: str) -> float:
    return next((s.segment_share for s in shares if s.value == value), 0.0)


# --------------------------------------------------------------------------- the appendix


def _method(a: Analysis, run: RunInfo, specs: dict[str, ColumnSpec]) -> MethodView:
    table, dictionary, prepared, kchoice = a.table, a.dictionary, a.prepared, a.k_choice
    seg, ev = a.segmentation, a.evaluation
    return MethodView(
        file=table.path.name,
        format={"csv": "CSV", "parquet": "Parquet", "excel": "Excel", "database": "database"}[
            table.file_format
        ],
        encoding=table.encoding,
        delimiter=_delimiter_name(table.delimiter),
        decimal_comma=tuple(table.decimal_comma),
        thousands_comma=tuple(table.thousands_comma),
        signs=tuple(SignRow(column=c, sign=u) for c, u in table.units.items()),
        sha256_short=table.sha256[:16],
        n_read=f"{prepared.n_read:,}",
        n_kept=f"{prepared.n_kept:,}",
        n_dropped=f"{prepared.n_dropped:,}",
        drops=tuple(DropRow(reason=d.reason, rows=f"{d.rows:,}") for d in prepared.drops),
        notes=_file_notes(a) + tuple(dictionary.notes) + tuple(prepared.notes) + _sheet_note(a),
        columns=tuple(
            ColumnRow(name=c.name, label=c.label, type=c.type, role=c.role, reason=c.reason)
            for c in dictionary.columns
        ),
        steps=tuple(_step(step, specs[step.column]) for step in prepared.steps),
        policies=Policies(
            impute_above=fmt.percent(AUTO_IMPUTE_ABOVE),
            skew=f"{SKEW_LIMIT:g}",
            outlier=f"{OUTLIER_RSD:g}",
        ),
        index_names=dict(INDEX_NAMES),
        vote_rule=VOTE_RULE,
        votes=tuple(
            VoteRow(index=INDEX_NAMES[k], k="no clear k" if v is None else v)
            for k, v in kchoice.votes.items()
        ),
        sample_size=f"{kchoice.sample_size:,}",
        sampled=kchoice.sample_size < prepared.n_kept,
        min_share=fmt.percent(kchoice.min_share),
        quality_rule=QUALITY_RULE,
        stability_rule=STABILITY_RULE,
        resamples=ev.resamples,
        stability_sample=f"{ev.sample_size:,}",
        tests=_tests(a.profiles),
        k=seg.k,
        k_reason=kchoice.reason + (" " + k_note if (k_note := _close_vote(a)) else ""),
        final_below_min=_final_below_min(kchoice, seg, dictionary.units),
        k_table=tuple(_evidence_row(e, kchoice) for e in kchoice.evidence),
        n_init=seg.n_init,
        start_sample=f"{seg.start_sample:,}" if 0 < seg.start_sample < sum(seg.sizes) else None,
        n_iter=seg.n_iter,
        seed=seg.seed,
        naming_rule=NAMING_RULE,
        versions=tuple(VersionRow(name=n, version=v) for n, v in run.versions),
        init_command=_init_command(a),
    )


def _init_command(a: Analysis) -> str:
    """`reportgen init` for this run's input: the file, or the database URL (never with a
    password) and its table or query."""
    table = a.intake.table if a.intake is not None else a.table
    if isinstance(table, DatabaseTable):  # quoted: a URL with '&', a table name with spaces
        where = f"--table {shlex.quote(table.table_name)}" if table.table_name else "--query QUERY"
        return f"reportgen init {shlex.quote(table.url)} {where}"
    return f"reportgen init {shlex.quote(a.table.path.name)}"


def _tests(profiles: Profiles) -> tuple[TestRow, ...]:
    return tuple(
        TestRow(
            label=t.label,
            role="segments" if t.role == "segment" else "describes",
            test=t.test,
            p=_p(t.p_value),
            effect=f"{t.effect:.2f}",
            effect_kind="Cramér's V" if t.test == "chi-squared" else "max |d|",
            separates=t.separates,
        )
        for t in profiles.tests
    )


def _final_below_min(kchoice: KChoice, seg: Segmentation, units: str) -> str | None:
    """The evidence applied the smallest-segment rule; the final fit on all rows can still
    leave a segment under it. Say so rather than let the rule's sentence stand uncorrected."""
    # sizes, not labels: on a Dask run the labels here are the sample's, the sizes every row's
    smallest = min(seg.sizes) / max(sum(seg.sizes), 1)
    if kchoice.method != "vote" or smallest >= kchoice.min_share:
        return None
    share = fmt.percent(smallest, 1)
    return (
        f"On all {sum(seg.sizes):,} {units} the smallest segment holds {share}, "
        f"below the {fmt.percent(kchoice.min_share)} rule that k = {seg.k} met on the evidence: "
        f"the final fit moved some {units} between segments. Treat that segment as a niche."
    )


def _delimiter_name(delimiter: str | None) -> str | None:
    names = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "vertical bars"}
    return names.get(delimiter, repr(delimiter)) if delimiter else None


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _step(step: FeatureStep, spec: ColumnSpec) -> StepRow:
    kind = {
        "numeric": spec.type or "numeric",
        "binary": "yes/no (0/1)",
        "date": "date → days before latest",
        "categorical": "categories (one-hot)",
    }[step.kind]
    treatment: list[str] = []
    if step.transform == "log1p":
        treatment.append("log(1 + x)")
    if step.imputed:
        treatment.append(f"{step.imputed:,} missing filled with {fmt.number(step.impute)}")
    if step.capped:
        treatment.append(f"{step.capped:,} outliers capped")
    if step.kind == "categorical":
        treatment.append(f"{len(step.categories)} categories, weight 1/√{1 / step.weight**2:.2f}")
    else:
        treatment.append("standardised")
    return StepRow(label=spec.label, kind=kind, treatment="; ".join(treatment))


def _num(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x:,.{digits}f}"


def _evidence_row(e: KEvidence, kchoice: KChoice) -> EvidenceRow:
    return EvidenceRow(
        k=e.k,
        inertia=fmt.number(e.inertia),
        silhouette=_num(e.silhouette),
        ch=_num(e.calinski_harabasz, 0),
        db=_num(e.davies_bouldin),
        gap=_num(e.gap),
        smallest=_share_vs_rule(e.min_share, kchoice.min_share),
        admissible=e.admissible,
        chosen=e.k == kchoice.k,
    )


def _share_vs_rule(share: float, rule: float) -> str:
    """The share as a percentage; below the rule, with as many decimals (up to 2) as it takes to
    print below it: not a red "5 %" next to a 5 % rule for 4.95 %."""
    digits = 0
    while share < rule and digits < 2 and round(100 * share, digits) >= round(100 * rule, digits):
        digits += 1
    return fmt.percent(share, digits)
