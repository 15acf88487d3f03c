"""summary.json: the run's results as plain data, its writer and its reader side by side.

`SCHEMA_VERSION` rises whenever a key that a reader relies on changes; `read_summary` accepts the
versions it knows (a summary written before versions existed reads as version 1).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from reportgen.analysis.choose_k import KChoice
from reportgen.analysis.results import Analysis
from reportgen.analysis.screen import SCREEN_RULE, Screening
from reportgen.analysis.stability import QUALITY_RULE, STABILITY_RULE
from reportgen.config import BriefConfig
from reportgen.errors import InputError
from reportgen.io.database import source_fields
from reportgen.report.context import RunInfo
from reportgen.runs.folder import SUMMARY_FILE, segment_brief_name
from reportgen.version import __version__

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,80}")


# ------------------------------------------------------------------------------------- writer


def summary_dict(config: BriefConfig, a: Analysis, run: RunInfo) -> dict[str, Any]:
    """Everything a reader of the run needs, as JSON-ready data."""
    table, prepared = a.table, a.prepared
    return {
        "schema_version": SCHEMA_VERSION,
        "reportgen_version": __version__,
        "generated_at": run.generated_at,
        "title": run.title,
        "input": {
            "file": table.path.name,
            "format": table.file_format,
            "sha256": table.sha256,
            "encoding": table.encoding,
            "delimiter": table.delimiter,
            **source_fields(table),  # a database: its URL (no password), table or query
        },
        "rows": {
            "read": prepared.n_read,
            "kept": prepared.n_kept,
            "dropped": prepared.n_dropped,
            "drop_reasons": [{"reason": d.reason, "rows": d.rows} for d in prepared.drops],
            "duplicate_ids": prepared.duplicate_ids,
        },
        "features": list(prepared.features),
        "screening": _screening(a.screening) if a.screening is not None else None,
        "id_column": a.dictionary.id_column,
        "columns": [
            {"name": c.name, "role": c.role, "type": c.type, "label": c.label, "reason": c.reason}
            for c in a.dictionary.columns
        ],
        "k": a.segmentation.k,
        "k_choice": _k_choice(a.k_choice, min(a.segmentation.sizes) / max(prepared.n_kept, 1)),
        "quality": {
            "silhouette": _round(a.evaluation.silhouette),
            "verdict": a.evaluation.quality,
            "rule": QUALITY_RULE,
        },
        "stability": {
            "resamples": a.evaluation.resamples,
            "sample_size": a.evaluation.sample_size,
            "rule": STABILITY_RULE,
        },
        "feature_tests": _feature_tests(a),
        "segments": _segments(a),
        "overall_mean": {
            f: round(m, 6)
            for f, m in zip(a.profiles.features, a.profiles.overall_mean, strict=True)
        },
        "metrics": {"inertia": round(a.segmentation.inertia, 6), "n_iter": a.segmentation.n_iter},
        "preprocessing": [asdict(step) for step in prepared.steps],
        "settings": _settings(config),
        "versions": dict(run.versions),
        "input_kind": a.intake.kind if a.intake is not None else "customers",
        "order_log": _order_log(a),
    }


def _screening(s: Screening) -> dict[str, Any]:
    return {
        "r2": {c: round(v, 4) for c, v in s.r2.items()},
        "r2_all_features": {c: round(v, 4) for c, v in (s.r2_all or {}).items()},
        "r2_linear": {c: round(v, 4) for c, v in (s.r2_linear or {}).items()},
        "one_normal_curve": list(s.one_curve),
        "screened_out": list(s.noise),
        "copies": {c: {"repeats": f, "r": round(r, 4)} for c, (f, r) in s.copies.items()},
        "rule": SCREEN_RULE,
    }


def _k_choice(kchoice: KChoice, final_smallest_share: float) -> dict[str, Any]:
    return {
        "method": kchoice.method,
        "reason": kchoice.reason,
        "elbow_knee": kchoice.knee,
        "votes": kchoice.votes,
        "min_share": kchoice.min_share,
        "final_smallest_share": _round(final_smallest_share),
        "sample_size": kchoice.sample_size,
        "evidence": [
            {
                "k": e.k,
                "inertia": _round(e.inertia),
                "silhouette": _round(e.silhouette),
                "calinski_harabasz": _round(e.calinski_harabasz),
                "davies_bouldin": _round(e.davies_bouldin),
                "gap": _round(e.gap),
                "gap_se": _round(e.gap_se),
                "smallest_share": _round(e.min_share),
                "admissible": e.admissible,
            }
            for e in kchoice.evidence
        ],
    }


def _feature_tests(a: Analysis) -> list[dict[str, Any]]:
    return [
        {
            "column": t.column,
            "role": t.role,
            "test": t.test,
            "statistic": _round(t.statistic),
            "p_value": float(f"{t.p_value:.4g}"),
            "effect": _round(t.effect),
            "separates_segments": t.separates,
        }
        for t in a.profiles.tests
    ]


def _segments(a: Analysis) -> list[dict[str, Any]]:
    seg, ev, columns = a.segmentation, a.evaluation, a.prepared.model_columns
    out = []
    for pos, (s, story) in enumerate(zip(a.profiles.segments, a.stories, strict=True)):
        centre = zip(columns, seg.centers_scaled[pos], strict=True)
        out.append(
            {
                "id": s.segment_id,
                "name": story.name,
                "slug": story.slug,
                "size": s.size,
                "share": round(s.share, 6),
                "headline": story.headline,
                "angle": story.angle,
                "centroid": {f.column: round(f.segment_mean, 6) for f in s.features},
                "center_scaled": {c: round(float(v), 6) for c, v in centre},
                "difference_sd": {f.column: round(f.z, 4) for f in s.features},
                "effect_size_vs_rest": {f.column: round(f.d, 4) for f in s.features},
                "category_shares": {
                    c.column: {x.value: round(x.segment_share, 6) for x in c.shares}
                    for c in s.categories
                },
                "stability": {
                    "jaccard": round(ev.of(s.segment_id).jaccard, 4),
                    "verdict": ev.of(s.segment_id).verdict,
                },
            }
        )
    return out


def _order_log(a: Analysis) -> dict[str, Any] | None:
    """An order log's totals, ledger, RFM groups and value per segment (None for a table)."""
    if a.intake is None or a.intake.log is None or a.value is None:
        return None
    log, value = a.intake.log, a.value
    model = value.model
    return {
        "reason": a.intake.reason,
        "roles": {k: v for k, v in vars(log.roles).items() if v is not None},
        "lines_read": log.lines_read,
        "lines_used": log.lines_used,
        "customers": log.customers,
        "orders": log.orders,
        "gross_revenue": round(log.gross_revenue, 2),
        "returned_revenue": round(log.returned_revenue, 2),
        "net_revenue": round(log.net_revenue, 2),
        "as_of": f"{log.as_of:%Y-%m-%d}",
        "currency": log.currency,
        "set_aside": [
            {"reason": x.reason, "lines": x.lines, "customers": x.customers, "action": x.action}
            for x in log.set_aside
        ],
        "not_segmented": 0 if a.intake.excluded is None else len(a.intake.excluded),
        "bgnbd": vars(model.bgnbd) if model.bgnbd else None,
        "gamma_gamma": vars(model.gamma_gamma) if model.gamma_gamma else None,
        "model_problem": model.problem,
        "model_warnings": list(model.warnings),
        "rfm_groups": {
            str(name): {k: _round(float(v)) for k, v in row.items()}
            for name, row in value.groups.to_dict(orient="index").items()
        },
        "segments": [
            {
                "id": sv.segment_id,
                "customers": sv.customers,
                "revenue": round(sv.revenue, 2),
                "revenue_share": _round(sv.revenue_share),
                "value_12m": _round(sv.value_12m, 2),
                "rfm_groups": sv.groups,
                "dominant_rfm_group": sv.dominant_group,
            }
            for sv in value.segments
        ],
    }


def _settings(config: BriefConfig) -> dict[str, Any]:
    return {
        "seed": config.seed,
        "k_requested": config.k,
        "k_max": config.k_max,
        "n_init": config.n_init,
        "min_share": config.min_share,
        "resamples": config.resamples,
        "algorithm": "k-means (scikit-learn KMeans, k-means++ initialisation)",
        "columns_requested": list(config.columns) if config.columns else None,
        "dictionary": config.dictionary_path.name if config.dictionary_path else None,
    }


def _round(x: float | None, digits: int = 6) -> float | None:
    return None if x is None else round(float(x), digits)


# ------------------------------------------------------------------------------------- reader


@dataclass(frozen=True)
class RunSegment:
    id: int
    name: str
    slug: str
    size: int
    share: float
    headline: str
    angle: str
    revenue_share: float | None = None  # order logs: the segment's share of net revenue

    @property
    def brief(self) -> str:
        return segment_brief_name(self.slug)


@dataclass(frozen=True)
class RunSummary:
    """What the delivery stages need from a run folder, read from its summary.json."""

    folder: Path
    title: str
    generated_at: str
    n_kept: int
    run_hash: str  # sha256 of summary.json: identifies this run's results
    segments: tuple[RunSegment, ...]

    @property
    def date_text(self) -> str:
        try:
            when = datetime.fromisoformat(self.generated_at.replace("Z", "+00:00"))
        except ValueError:
            return self.generated_at
        return f"{when.day} {when:%B %Y}"

    def segment(self, segment_id: int) -> RunSegment:
        return next(s for s in self.segments if s.id == segment_id)


def read_summary(run_dir: Path | str) -> RunSummary:
    """The run folder's summary, checked: a version this reader knows, every key it needs, and
    slugs that cannot point outside the folder."""
    folder = Path(run_dir)
    path = folder / SUMMARY_FILE
    if not path.is_file():
        raise InputError(f"{folder} is not a reportgen run folder: no {SUMMARY_FILE}")
    raw = path.read_bytes()
    try:
        data = json.loads(raw)
        version = int(data.get("schema_version", 1))
        revenue = {
            int(s["id"]): s.get("revenue_share")
            for s in (data.get("order_log") or {}).get("segments", [])
        }
        segments = tuple(_run_segment(s, revenue.get(int(s["id"]))) for s in data["segments"])
        title, generated_at = str(data["title"]), str(data["generated_at"])
        n_kept = int(data["rows"]["kept"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{path} is not a reportgen summary: {exc}") from exc
    if version not in READABLE_VERSIONS:
        raise InputError(f"{path} has summary version {version}; this reportgen reads 1 and 2")
    for s in segments:
        # The slug becomes a path inside the run folder: never let it point elsewhere.
        if not SLUG_RE.fullmatch(s.slug):
            raise InputError(f"{path}: segment {s.id} has an unsafe slug {s.slug!r}")
    run_hash = hashlib.sha256(raw).hexdigest()
    return RunSummary(folder, title, generated_at, n_kept, run_hash, segments)


def _run_segment(s: dict[str, Any], revenue_share: Any = None) -> RunSegment:
    return RunSegment(
        id=int(s["id"]),
        name=str(s["name"]),
        slug=str(s["slug"]),
        size=int(s["size"]),
        share=float(s["share"]),
        headline=str(s["headline"]),
        angle=str(s["angle"]),
        revenue_share=float(revenue_share) if revenue_share is not None else None,
    )
