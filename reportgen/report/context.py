"""Report structure: turn the stages' results into the plain, already-formatted values the
templates show. No HTML here (the templates own layout), no computation of statistics (the stages
own that). Charts arrive as PNG bytes and leave as data URIs so brief.html is self-contained.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from reportgen import fmt
from reportgen.analysis.choose_k import INDEX_NAMES, VOTE_RULE, KChoice
from reportgen.analysis.cluster import Segmentation
from reportgen.analysis.naming import NAMING_RULE
from reportgen.analysis.prepare import AUTO_IMPUTE_ABOVE, OUTLIER_RSD, SKEW_LIMIT
from reportgen.analysis.results import Analysis
from reportgen.analysis.stability import QUALITY_RULE, STABILITY_RULE


@dataclass(frozen=True)
class RunInfo:
    generated_at: str  # ISO 8601, UTC
    date_text: str  # "28 November 2026"
    version: str
    versions: tuple[tuple[str, str], ...]
    seed: int
    title: str


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def build_context(
    analysis: Analysis,
    *,
    charts: dict[str, Any],
    colors: tuple[str, ...],
    run: RunInfo,
) -> dict[str, Any]:
    a = analysis
    table, dictionary, prepared, kchoice = a.table, a.dictionary, a.prepared, a.k_choice
    seg, profiles, stories, ev = a.segmentation, a.profiles, a.stories, a.evaluation
    units = dictionary.units
    specs = {f: dictionary.column(f) for f in prepared.features}
    segments = []
    for s, story, color in zip(profiles.segments, stories, colors, strict=True):
        segments.append(
            {
                "id": s.segment_id,
                "name": story.name,
                "slug": story.slug,
                "color": color,
                "size": s.size,
                "share_text": fmt.percent(s.share),
                "size_text": f"{s.size:,} of {profiles.n:,}",
                "headline": story.headline,
                "sentences": story.sentences,
                "angle": story.angle,
                "angle_from_dictionary": story.angle_from_dictionary,
                "traits_chart": data_uri(charts["traits"][s.segment_id])
                if s.segment_id in charts["traits"]
                else None,
                "stability": _stability(ev.of(s.segment_id)),
                "categories": [_describe_field(d) for d in s.categories],
                "features": [
                    {
                        "label": f.label,
                        "segment": fmt.value(specs[f.column], f.segment_mean),
                        "overall": fmt.value(specs[f.column], f.overall_mean),
                        "diff": fmt.signed_sd(f.z),
                        "css": "pos" if f.z >= 0.25 else "neg" if f.z <= -0.25 else "",
                    }
                    for f in s.ranked()
                ],
                "segments_on_categories": bool(s.categories),
                "describe": [_describe_field(d) for d in _most_telling(s.describe, profiles)],
                "describe_hidden": max(0, len(s.describe) - MAX_DESCRIBE_SHOWN),
            }
        )
    labels = [specs[f].label for f in prepared.features]
    feature_list = ", ".join(labels)
    # Page 1 stays one page: long feature lists are shortened there (the appendix has them all).
    short_list = (
        feature_list
        if len(labels) <= SUMMARY_FEATURES
        else ", ".join(labels[:SUMMARY_FEATURES]) + f" and {len(labels) - SUMMARY_FEATURES} more"
    )
    source = dictionary.source or f"{table.path.name} ({prepared.n_read:,} rows)"
    drop_line = (
        f"{prepared.n_dropped:,} of {prepared.n_read:,} rows were left out: "
        + "; ".join(f"{d.rows:,} with {d.reason}" for d in prepared.drops)
        + "."
    )
    method_line = (
        f"{len(labels)} features ({short_list}) were put on a common scale and "
        f"{prepared.n_kept:,} {units} grouped by k-means into {seg.k} segments; "
        + (
            f"k = {seg.k} was set by the analyst."
            if kchoice.method == "user"
            else f"k = {seg.k} was chosen by a vote of four statistical indices."
        )
    )
    lead = f"The {prepared.n_kept:,} {units} fall into {seg.k} segments. " + " ".join(
        f"{story.name} ({fmt.percent(s.share)}) {_lead_phrase(story.traits[0], dictionary)}."
        if story.traits and abs(story.traits[0].effect) >= 0.3
        else f"{story.name} ({fmt.percent(s.share)}) are close to average."
        for s, story in zip(profiles.segments, stories, strict=True)
    )
    if seg.k > LEAD_SEGMENTS:  # the table right below says it segment by segment
        shares = [s.share for s in profiles.segments]
        lead = (
            f"The {prepared.n_kept:,} {units} fall into {seg.k} segments, from "
            f"{fmt.percent(max(shares))} down to {fmt.percent(min(shares))} of {units}; the "
            "table shows what sets each one apart."
        )
    return {
        "doc": {
            "title": run.title,
            "date_text": run.date_text,
            "generated_at": run.generated_at,
            "version": run.version,
            "source_text": source,
            "synthetic": dictionary.synthetic,
            "unit": dictionary.unit,
            "units": units,
        },
        "overview": {
            "k": seg.k,
            "n_read": f"{prepared.n_read:,}",
            "n_kept": f"{prepared.n_kept:,}",
            "n_dropped": f"{prepared.n_dropped:,}",
            "n_features": len(prepared.features),
            "feature_list": short_list,
            "lead": lead,
            "method_line": method_line,
            "drop_line": drop_line,
            "quality": ev.quality,
            "silhouette": "–" if ev.silhouette is None else f"{ev.silhouette:.2f}",
            "quality_line": _quality_line(ev),
            "stability_line": _stability_line(ev, stories),
        },
        "segments": segments,
        "charts": {
            "segment_map": data_uri(charts["segment_map"]),
            "heatmap": data_uri(charts["heatmap"]) if charts.get("heatmap") else None,
            "sizes": data_uri(charts["sizes"]),
            "elbow": data_uri(charts["elbow"]),
        },
        "map": {
            "caption": charts["map_caption"],
            "note": "Dots are moved slightly at random so that identical answers do not hide each "
            "other."
            if any(specs[f].type == "ordinal" for f in prepared.features[:2])
            and len(prepared.features) <= 2
            else "Colours as in every chart and table of this brief.",
        },
        "profile_table": _profile_table(profiles, stories, colors, specs),
        "method": {
            "file": table.path.name,
            "format": {"csv": "CSV", "parquet": "Parquet", "excel": "Excel"}[table.file_format],
            "encoding": table.encoding,
            "delimiter": _delimiter_name(table.delimiter),
            "decimal_comma": list(table.decimal_comma),
            "thousands_comma": list(table.thousands_comma),
            "signs": [{"column": c, "sign": u} for c, u in table.units.items()],
            "sha256_short": table.sha256[:16],
            "n_read": f"{prepared.n_read:,}",
            "n_kept": f"{prepared.n_kept:,}",
            "n_dropped": f"{prepared.n_dropped:,}",
            "drops": [{"reason": d.reason, "rows": f"{d.rows:,}"} for d in prepared.drops],
            "notes": list(dictionary.notes) + list(prepared.notes),
            "columns": [
                {
                    "name": c.name,
                    "label": c.label,
                    "type": c.type,
                    "role": c.role,
                    "reason": c.reason,
                }
                for c in dictionary.columns
            ],
            "steps": [_step(step, specs[step.column]) for step in prepared.steps],
            "policies": {
                "impute_above": fmt.percent(AUTO_IMPUTE_ABOVE),
                "skew": f"{SKEW_LIMIT:g}",
                "outlier": f"{OUTLIER_RSD:g}",
            },
            "index_names": INDEX_NAMES,
            "vote_rule": VOTE_RULE,
            "votes": [
                {"index": INDEX_NAMES[k], "k": "no clear k" if v is None else v}
                for k, v in kchoice.votes.items()
            ],
            "sample_size": f"{kchoice.sample_size:,}",
            "sampled": kchoice.sample_size < prepared.n_kept,
            "min_share": fmt.percent(kchoice.min_share),
            "quality_rule": QUALITY_RULE,
            "stability_rule": STABILITY_RULE,
            "resamples": ev.resamples,
            "stability_sample": f"{ev.sample_size:,}",
            "tests": [
                {
                    "label": t.label,
                    "role": "segments" if t.role == "segment" else "describes",
                    "test": t.test,
                    "p": _p(t.p_value),
                    "effect": f"{t.effect:.2f}",
                    "effect_kind": "Cramér's V" if t.test == "chi-squared" else "max |d|",
                    "separates": t.separates,
                }
                for t in profiles.tests
            ],
            "k": seg.k,
            "k_reason": kchoice.reason,
            "final_below_min": _final_below_min(kchoice, seg, units),
            "k_table": [_evidence_row(e, kchoice) for e in kchoice.evidence],
            "n_init": seg.n_init,
            "start_sample": f"{seg.start_sample:,}"
            if 0 < seg.start_sample < len(seg.labels)
            else None,
            "n_iter": seg.n_iter,
            "seed": seg.seed,
            "naming_rule": NAMING_RULE,
            "versions": [{"name": n, "version": v} for n, v in run.versions],
        },
    }


def _final_below_min(kchoice: KChoice, seg: Segmentation, units: str) -> str | None:
    """The evidence applied the smallest-segment rule; the final fit on all rows can still
    leave a segment under it. Say so rather than let the rule's sentence stand uncorrected."""
    smallest = min(seg.sizes) / max(len(seg.labels), 1)
    if kchoice.method != "vote" or smallest >= kchoice.min_share:
        return None
    share = fmt.percent(smallest, 1)
    return (
        f"On all {len(seg.labels):,} {units} the smallest segment holds {share}, "
        f"below the {fmt.percent(kchoice.min_share)} rule that k = {seg.k} met on the evidence: "
        f"the final fit moved some {units} between segments. Treat that segment as a niche."
    )


MAX_DESCRIBE_SHOWN = 6
LEAD_SEGMENTS = 3  # up to this many segments, page 1's lead describes each in a sentence
SUMMARY_FEATURES = 4  # features named on page 1; the appendix lists every one


def _most_telling(fields, profiles) -> list:
    """The descriptive fields that differ most across segments (largest effect), at most six."""
    effect = {t.column: t.effect for t in profiles.tests if t.role == "describe"}
    ranked = sorted(fields, key=lambda d: -effect.get(d.column, 0.0))
    keep = {d.column for d in ranked[:MAX_DESCRIBE_SHOWN]}
    return [d for d in fields if d.column in keep]


def _describe_field(d) -> dict[str, Any]:
    if d.kind == "numeric":
        return {
            "label": d.label,
            "kind": "numeric",
            "segment": fmt.number(d.segment_mean),
            "overall": fmt.number(d.overall_mean),
        }
    return {
        "label": d.label,
        "kind": "categorical",
        "rows": [
            {
                "value": s.value,
                "segment": fmt.percent(s.segment_share),
                "overall": fmt.percent(s.overall_share),
                "css": "pos"
                if s.overall_share and s.lift >= 1.25 and s.segment_share >= 0.05
                else "",
            }
            for s in d.shares
        ],
    }


def _delimiter_name(delimiter: str | None) -> str | None:
    names = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "vertical bars"}
    return names.get(delimiter, repr(delimiter)) if delimiter else None


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _quality_line(ev) -> str:
    if ev.silhouette is None:
        return "Quality could not be measured (a single segment in the sample)."
    meaning = {
        "good": "the segments are well separated",
        "fair": "the segments are real but overlap: customers near a border could go either way",
        "poor": "the data has little natural grouping; treat the segments as a convenient "
        "split of a continuum, not as distinct groups",
    }[ev.quality]
    return f"Quality: {ev.quality} (average silhouette {ev.silhouette:.2f}): {meaning}."


def _stability_line(ev, stories) -> str:
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


def _stability(s) -> dict[str, str]:
    return {"verdict": s.verdict, "jaccard": f"{s.jaccard:.2f}"}


def _step(step, spec) -> dict[str, str]:
    kind = {
        "numeric": spec.type or "numeric",
        "binary": "yes/no (0/1)",
        "date": "date → days before latest",
        "categorical": "categories (one-hot)",
    }[step.kind]
    treatment = []
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
    return {"label": spec.label, "kind": kind, "treatment": "; ".join(treatment)}


def _evidence_row(e, kchoice) -> dict[str, Any]:
    def num(x, d=2):
        return "–" if x is None else f"{x:,.{d}f}"

    return {
        "k": e.k,
        "inertia": fmt.number(e.inertia),
        "silhouette": num(e.silhouette),
        "ch": num(e.calinski_harabasz, 0),
        "db": num(e.davies_bouldin),
        "gap": num(e.gap),
        "smallest": _share_vs_rule(e.min_share, kchoice.min_share),
        "admissible": e.admissible,
        "chosen": e.k == kchoice.k,
    }


def _share_vs_rule(share: float, rule: float) -> str:
    """The share as a percentage; below the rule, with as many decimals (up to 2) as it takes to
    print below it: not a red "5 %" next to a 5 % rule for 4.95 %."""
    digits = 0
    while share < rule and digits < 2 and round(100 * share, digits) >= round(100 * rule, digits):
        digits += 1
    return fmt.percent(share, digits)


MAX_CATEGORY_ROWS = 12


def _profile_table(profiles, stories, colors, specs) -> dict:
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
    rows = []  # (label, per-segment shares, overall share)
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
    all_rows = len(rows)
    if len(rows) > MAX_CATEGORY_ROWS:
        leads = {(t.column, t.category) for story in stories for t in story.traits if t.category}
        rows = [r for r in rows if r[0] in leads]
    for _, label, shares, overall_share in rows:
        labels.append(label)
        for seg_cells, share in zip(cells, shares, strict=True):
            seg_cells.append(fmt.percent(share))
        overall.append(fmt.percent(overall_share))
    return {
        "labels": labels,
        "rows": [
            {
                "id": s.segment_id,
                "name": story.name,
                "color": color,
                "size": f"{s.size:,}",
                "share": fmt.percent(s.share),
                "cells": seg_cells,
            }
            for s, story, color, seg_cells in zip(
                profiles.segments, stories, colors, cells, strict=True
            )
        ],
        "overall": {"size": f"{profiles.n:,}", "cells": overall},
        "has_averages": bool(profiles.features),
        "category_rows": len(rows),
        "hidden_categories": all_rows - len(rows),
    }


def _share_of(shares, value: str) -> float:
    return next((s.segment_share for s in shares if s.value == value), 0.0)


def _lead_phrase(trait, dictionary) -> str:
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
