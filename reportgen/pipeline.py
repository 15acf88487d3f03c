"""The pipeline: load → prepare → choose k → cluster → profile → name → chart → render → deliver.

`build_brief(config)` runs every stage in order, passing plain data from one to the next, and
writes the run's files. The CLI is a thin shell over this module.
"""

from __future__ import annotations

import hashlib
import os
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import pandas as pd

from . import __version__, change_charts, charts, compare, deliver, render
from .choose_k import KChoice, choose_k
from .cluster import Segmentation, cluster
from .config import BriefConfig
from .dictionary import DataDictionary, read_dictionary, resolve_dictionary
from .errors import InputError
from .load import LoadedTable, read_table
from .model import MODEL_FILE, PreviousRun, build_model, load_previous, model_bytes
from .naming import SegmentStory, name_segments
from .prepare import PreparedData, prepare
from .profile import Profiles, profile
from .report import RunInfo, build_context
from .report_changes import changes_context

VERSIONED = ("pandas", "numpy", "scikit-learn", "scipy", "matplotlib", "seaborn", "kneed",
             "jinja2", "weasyprint")
OUTPUT_FILES = ("brief.pdf", "brief.html", "assignments.csv", "profiles.csv", "summary.json",
                "model.json")


@dataclass(frozen=True)
class BriefResult:
    config: BriefConfig
    table: LoadedTable
    dictionary: DataDictionary
    prepared: PreparedData
    k_choice: KChoice
    segmentation: Segmentation
    profiles: Profiles
    stories: tuple[SegmentStory, ...]
    assignments: pd.DataFrame
    summary: dict[str, Any]
    html: str
    pdf: bytes
    files: dict[str, Path]
    model: dict[str, Any] | None = None
    changes: compare.Changes | None = None

    @property
    def pdf_path(self) -> Path:
        return self.files["brief.pdf"]


def example_data() -> tuple[Path, Path]:
    """The bundled insurance survey and its data dictionary."""
    root = Path(str(resources.files("reportgen.data")))
    return root / "insurance_survey.csv", root / "insurance_survey.yaml"


def package_versions() -> tuple[tuple[str, str], ...]:
    out = [("python", platform.python_version())]
    for name in VERSIONED:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            continue
    return tuple(out)


def run_time() -> datetime:
    """Now, or SOURCE_DATE_EPOCH when set (reproducible builds: same input, same text)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), tz=UTC)
    return datetime.now(tz=UTC).replace(microsecond=0)


def assignments_frame(prepared: PreparedData, seg: Segmentation,
                      stories: tuple[SegmentStory, ...]) -> pd.DataFrame:
    names = {s.segment_id: s.name for s in stories}
    return pd.DataFrame(
        {
            prepared.id_name: prepared.ids.to_numpy(),
            "segment_id": seg.labels,
            "segment_name": [names[i] for i in seg.labels],
            "distance_to_center": seg.distances.round(6),
        }
    )


def profiles_frame(profiles: Profiles, stories: tuple[SegmentStory, ...]) -> pd.DataFrame:
    table = profiles.table()
    names = [s.name for s in stories] + ["All"]
    table.insert(1, "segment_name", names)
    return table


def summary_dict(config: BriefConfig, table: LoadedTable, dictionary: DataDictionary,
                 prepared: PreparedData, kchoice: KChoice, seg: Segmentation, profiles: Profiles,
                 stories: tuple[SegmentStory, ...], run: RunInfo) -> dict[str, Any]:
    return {
        "reportgen_version": __version__,
        "generated_at": run.generated_at,
        "title": run.title,
        "input": {
            "file": table.path.name,
            "format": table.file_format,
            "sha256": table.sha256,
            "encoding": table.encoding,
            "delimiter": table.delimiter,
        },
        "rows": {
            "read": prepared.n_read,
            "kept": prepared.n_kept,
            "dropped": prepared.n_dropped,
            "drop_reasons": [{"reason": d.reason, "rows": d.rows} for d in prepared.drops],
            "duplicate_ids": prepared.duplicate_ids,
        },
        "features": list(prepared.features),
        "id_column": dictionary.id_column,
        "columns": [
            {"name": c.name, "role": c.role, "type": c.type, "label": c.label, "reason": c.reason}
            for c in dictionary.columns
        ],
        "k": seg.k,
        "k_choice": {
            "method": kchoice.method,
            "reason": kchoice.reason,
            "elbow_knee": kchoice.knee,
            "evidence": [{"k": e.k, "inertia": round(e.inertia, 6)} for e in kchoice.evidence],
        },
        "segments": [
            {
                "id": s.segment_id,
                "name": story.name,
                "slug": story.slug,
                "size": s.size,
                "share": round(s.share, 6),
                "headline": story.headline,
                "angle": story.angle,
                "centroid": {f.column: round(f.segment_mean, 6) for f in s.features},
                "center": {
                    f: round(float(v), 6)
                    for f, v in zip(prepared.features, seg.centers[pos], strict=True)
                },
                "difference_sd": {f.column: round(f.z, 4) for f in s.features},
            }
            for pos, (s, story) in enumerate(zip(profiles.segments, stories, strict=True))
        ],
        "overall_mean": {
            f: round(m, 6) for f, m in zip(profiles.features, profiles.overall_mean, strict=True)
        },
        "metrics": {"inertia": round(seg.inertia, 6), "n_iter": seg.n_iter},
        "scaling": {
            "method": "standardise (z-score)",
            "mean": dict(zip(prepared.features, prepared.scaling.mean, strict=True)),
            "scale": dict(zip(prepared.features, prepared.scaling.scale, strict=True)),
        },
        "settings": {
            "seed": config.seed,
            "k_requested": config.k,
            "k_max": config.k_max,
            "n_init": config.n_init,
            "algorithm": "k-means (scikit-learn KMeans, k-means++ initialisation)",
            "columns_requested": list(config.columns) if config.columns else None,
            "dictionary": config.dictionary_path.name if config.dictionary_path else None,
        },
        "versions": dict(run.versions),
    }


def build_brief(data: BriefConfig | Path | str, **options: Any) -> BriefResult:
    """Run the whole pipeline and write the brief's files into the output folder.

    `data` is a BriefConfig, or the data file's path with the config's fields as keywords:
    ``build_brief("customers.csv", k=3, out_dir="out")``.
    """
    config = data if isinstance(data, BriefConfig) else BriefConfig(data_path=Path(data), **options)
    # Read the previous run first: a damaged model should stop the run before any work.
    previous = load_previous(config.previous) if config.previous is not None else None
    table = read_table(config.data_path)
    declared = read_dictionary(config.dictionary_path) if config.dictionary_path else None
    dictionary = resolve_dictionary(
        table.frame, declared, columns=config.columns, id_column=config.id_column
    )
    prepared = prepare(table.frame, dictionary)
    if config.k is not None and prepared.n_kept < config.k:
        raise InputError(
            f"only {prepared.n_kept} usable rows: fewer than the {config.k} segments asked for"
        )
    kchoice = choose_k(
        prepared.scaled, k=config.k, k_max=config.k_max, seed=config.seed, n_init=config.n_init
    )
    seg = cluster(prepared.scaled, prepared.scaling, k=kchoice.k, seed=config.seed,
                  n_init=config.n_init)
    seg, matching = carry_over_segments(previous, prepared, seg)
    profiles = profile(prepared, seg, dictionary)
    stories = name_segments(profiles, dictionary,
                            keep_names=matching.kept_names if matching else None)
    palette = segment_palette(seg, previous)
    colors = tuple(palette[i] for i in seg.segment_ids)
    images = charts.draw_all(prepared, seg, profiles, stories, kchoice, dictionary, colors,
                             seed=config.seed)
    now = run_time()
    run = RunInfo(
        generated_at=now.isoformat().replace("+00:00", "Z"),
        date_text=f"{now.day} {now:%B %Y}",
        version=__version__,
        versions=package_versions(),
        seed=config.seed,
        title=config.title or dictionary.title or f"Customer segments in {table.path.name}",
    )
    context = build_context(
        table=table, dictionary=dictionary, prepared=prepared, kchoice=kchoice, seg=seg,
        profiles=profiles, stories=stories, charts=images, colors=colors, run=run,
    )
    changes = None
    if previous is not None and matching is not None:
        changes = compare.compare_runs(previous, matching, prepared, seg, profiles, stories)
        context["changes"] = changes_context(changes, dictionary, palette, dictionary.units)
    html = render.render_html(context, config.template_dir)
    pdf = render.html_to_pdf(html, config.template_dir)
    assignments = assignments_frame(prepared, seg, stories)
    assignments_csv = deliver.csv_bytes(assignments)
    summary = summary_dict(config, table, dictionary, prepared, kchoice, seg, profiles, stories, run)
    model = build_model(
        run=run, table=table, dictionary=dictionary, prepared=prepared, seg=seg,
        profiles=profiles, stories=stories,
        assignments_sha256=hashlib.sha256(assignments_csv).hexdigest(),
        next_segment_id=matching.next_segment_id if matching else None,
        previous=previous.model if previous else None,
    )
    files = deliver.write_outputs(
        config.out_dir,
        {
            "brief.pdf": pdf,
            "brief.html": html.encode("utf-8"),
            "assignments.csv": assignments_csv,
            "profiles.csv": deliver.csv_bytes(profiles_frame(profiles, stories)),
            "summary.json": deliver.json_bytes(summary),
            MODEL_FILE: model_bytes(model),
        },
    )
    return BriefResult(
        config=config, table=table, dictionary=dictionary, prepared=prepared, k_choice=kchoice,
        segmentation=seg, profiles=profiles, stories=stories, assignments=assignments,
        summary=summary, html=html, pdf=pdf, files=files, model=model, changes=changes,
    )


def carry_over_segments(
    previous: PreviousRun | None, prepared: PreparedData, seg: Segmentation
) -> tuple[Segmentation, compare.Matching | None]:
    """Give segments that match the previous run's their previous ids (and later names)."""
    if previous is None:
        return seg, None
    matching = compare.match_segments(previous.model, prepared, seg)
    return compare.relabel(seg, matching.mapping), matching


def segment_palette(seg: Segmentation, previous: PreviousRun | None) -> dict[int, str]:
    """Segment id -> colour; ids of the previous run included, so a vanished one has its colour."""
    ids = set(seg.segment_ids) | ({s.id for s in previous.model.segments} if previous else set())
    ordered = sorted(ids)
    return dict(zip(ordered, change_charts.colors_by_id(ordered, max(ordered)), strict=True))


def build_demo(out_dir: Path | str = "reportgen-out", **overrides: Any) -> BriefResult:
    data, dictionary = example_data()
    return build_brief(BriefConfig(data_path=data, dictionary_path=dictionary,
                                   out_dir=Path(out_dir), **overrides))
