"""Report structure: turn the stages' results into the plain, already-formatted values the
templates show. No HTML here (the templates own layout), no computation of statistics (the stages
own that). Charts arrive as PNG bytes and leave as data URIs so brief.html is self-contained.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from . import fmt
from .choose_k import KChoice
from .cluster import Segmentation
from .dictionary import DataDictionary
from .load import LoadedTable
from .naming import NAMING_RULE, SegmentStory
from .prepare import PreparedData
from .profile import Profiles


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
    *,
    table: LoadedTable,
    dictionary: DataDictionary,
    prepared: PreparedData,
    kchoice: KChoice,
    seg: Segmentation,
    profiles: Profiles,
    stories: tuple[SegmentStory, ...],
    charts: dict[str, Any],
    colors: tuple[str, ...],
    run: RunInfo,
) -> dict[str, Any]:
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
                "traits_chart": data_uri(charts["traits"][s.segment_id]),
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
                "describe": [_describe_field(d) for d in s.describe],
            }
        )
    feature_list = ", ".join(specs[f].label for f in prepared.features)
    source = dictionary.source or f"{table.path.name} ({prepared.n_read:,} rows)"
    drop_line = (
        f"{prepared.n_dropped:,} of {prepared.n_read:,} rows were left out: "
        + "; ".join(f"{d.rows:,} with {d.reason}" for d in prepared.drops)
        + "."
    )
    method_line = (
        f"{len(prepared.features)} features ({feature_list}) were put on a common scale and "
        f"{prepared.n_kept:,} {units} grouped by k-means into {seg.k} segments; "
        + (
            f"k = {seg.k} was set by the analyst."
            if kchoice.method == "user"
            else f"k = {seg.k} was chosen by the elbow method."
        )
    )
    lead = f"The {prepared.n_kept:,} {units} fall into {seg.k} segments. " + " ".join(
        f"{story.name} ({fmt.percent(s.share)}) {story.traits[0].phrase}."
        if story.traits and abs(story.traits[0].z) >= 0.25
        else f"{story.name} ({fmt.percent(s.share)}) are close to average."
        for s, story in zip(profiles.segments, stories, strict=True)
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
            "feature_list": feature_list,
            "lead": lead,
            "method_line": method_line,
            "drop_line": drop_line,
        },
        "segments": segments,
        "charts": {
            "segment_map": data_uri(charts["segment_map"]),
            "heatmap": data_uri(charts["heatmap"]),
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
        "profile_table": {
            "labels": [specs[f].label for f in prepared.features],
            "rows": [
                {
                    "name": story.name,
                    "color": color,
                    "size": f"{s.size:,}",
                    "share": fmt.percent(s.share),
                    "cells": [fmt.value(specs[f.column], f.segment_mean) for f in s.features],
                }
                for s, story, color in zip(profiles.segments, stories, colors, strict=True)
            ],
            "overall": {
                "size": f"{profiles.n:,}",
                "cells": [
                    fmt.value(specs[f], m)
                    for f, m in zip(prepared.features, profiles.overall_mean, strict=True)
                ],
            },
        },
        "method": {
            "file": table.path.name,
            "format": {"csv": "CSV", "parquet": "Parquet", "excel": "Excel"}[table.file_format],
            "encoding": table.encoding,
            "delimiter": _delimiter_name(table.delimiter),
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
            "scaling": [
                {"label": specs[f].label, "mean": fmt.number(m), "sd": fmt.number(sd)}
                for f, m, sd in zip(
                    prepared.features, prepared.scaling.mean, prepared.scaling.scale, strict=True
                )
            ],
            "k": seg.k,
            "k_reason": kchoice.reason,
            "k_table": [{"k": e.k, "inertia": fmt.number(e.inertia)} for e in kchoice.evidence],
            "n_init": seg.n_init,
            "n_iter": seg.n_iter,
            "seed": seg.seed,
            "naming_rule": NAMING_RULE,
            "versions": [{"name": n, "version": v} for n, v in run.versions],
        },
    }


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
