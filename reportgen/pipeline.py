"""The pipeline: load → prepare → choose k → cluster → profile → name → chart → render → deliver.

`build_brief(config)` runs every stage in order, passing plain data from one to the next, and
writes the run's files. The CLI is a thin shell over this module. How the run is made faster
(background imports, a second process) is `engine.offload`'s business, not the stages'.
"""

from __future__ import annotations

import os
import platform
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import metadata, resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import pandas as pd

from reportgen.analysis.assign import assign_left_out
from reportgen.analysis.choose_k import KChoice, choose_k
from reportgen.analysis.cluster import Segmentation, cluster
from reportgen.analysis.k_tree import k_tree
from reportgen.analysis.naming import SegmentStory, name_segments
from reportgen.analysis.prepare import PreparedData, prepare
from reportgen.analysis.profile import Profiles, profile
from reportgen.analysis.results import Analysis
from reportgen.analysis.screen import screen_features
from reportgen.analysis.stability import Evaluation, evaluate
from reportgen.analysis.value import (
    RFMMigration,
    ValueAnalysis,
    analyse_value,
    rfm_migration,
    rfm_names,
)
from reportgen.config import BriefConfig
from reportgen.deliver import files
from reportgen.engine import offload
from reportgen.errors import InputError
from reportgen.io.customers import (
    CustomerRows,
    OrderLogSettings,
    customer_rows,
    features_mapping,
)
from reportgen.io.dictionary import DataDictionary, read_dictionary, resolve_dictionary, with_roles
from reportgen.io.sources import open_source
from reportgen.io.starter import starter_dictionary, starter_for_log
from reportgen.progress import Progress, silent
from reportgen.report import render
from reportgen.report.changes import changes_context
from reportgen.report.context import BriefContext, RunInfo, build_context
from reportgen.report.exports import assignments_frame, customer_value_frame, profiles_frame
from reportgen.report.palette import palette_by_id
from reportgen.report.summary import summary_dict
from reportgen.report.theme import DEFAULT as DEFAULT_THEME
from reportgen.report.theme import Theme, load_theme, mail_theme_json
from reportgen.report.workbook import workbook_style, write_workbook
from reportgen.runs import compare
from reportgen.runs.folder import (
    ASSIGNMENTS_DATASET,
    ASSIGNMENTS_FILE,
    BRIEF_HTML,
    BRIEF_PDF,
    BRIEF_XLSX,
    MODEL_FILE,
    PROFILES_FILE,
    SEGMENT_FOLDER,
    SUMMARY_FILE,
    THEME_FILE,
)
from reportgen.runs.model import (
    PreviousRun,
    SavedModel,
    build_model,
    load_model,
    load_previous,
    model_bytes,
)
from reportgen.runs.score import Scored, score
from reportgen.version import __version__

if TYPE_CHECKING:
    from reportgen.pipeline_dask import ClusterRun

VERSIONED = (
    "pandas",
    "numpy",
    "scikit-learn",
    "scipy",
    "matplotlib",
    "seaborn",
    "kneed",
    "jinja2",
    "weasyprint",
)


@dataclass(frozen=True)
class BriefResult:
    """What a run made: every stage's result (in `analysis`) and the files it wrote."""

    config: BriefConfig
    analysis: Analysis
    assignments: pd.DataFrame
    summary: dict[str, Any]
    html: str
    pdf: bytes
    files: dict[str, Path]
    model: dict[str, Any] | None = None
    changes: compare.Changes | None = None

    table = property(lambda self: self.analysis.table)
    dictionary = property(lambda self: self.analysis.dictionary)
    prepared = property(lambda self: self.analysis.prepared)
    k_choice = property(lambda self: self.analysis.k_choice)
    segmentation = property(lambda self: self.analysis.segmentation)
    profiles = property(lambda self: self.analysis.profiles)
    stories = property(lambda self: self.analysis.stories)
    evaluation = property(lambda self: self.analysis.evaluation)

    @property
    def pdf_path(self) -> Path:
        return self.files[BRIEF_PDF]


@dataclass(frozen=True)
class _Continuity:
    """What the previous run hands this one: its model and how this run's segments match it."""

    previous: PreviousRun | None
    matching: compare.Matching | None


@dataclass(frozen=True)
class _Presentation:
    html: str
    pdf: bytes
    segment_pdfs: dict[str, bytes]
    changes: compare.Changes | None
    run: RunInfo
    context: BriefContext | None = None  # what the templates showed (the workbook shows it too)


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


def build_brief(
    data: BriefConfig | Path | str, progress: Progress | None = None, **options: Any
) -> BriefResult:
    """Run the whole pipeline and write the brief's files into the output folder.

    `data` is a BriefConfig, or the data file's path with the config's fields as keywords:
    ``build_brief("customers.csv", k=3, out_dir="out")``. `progress`, if given, is called with the
    name of each stage as it starts (see reportgen.progress); the default reports nothing.
    """
    config = data if isinstance(data, BriefConfig) else BriefConfig.of(data, **options)
    step = progress or silent
    if config.engine == "dask":  # the rows stay on a Dask cluster: reportgen.pipeline_dask
        return _brief_on_dask(config, step)
    imports = offload.BackgroundImports()
    helper: offload.SecondProcess | None = None
    try:
        theme = load_theme(config.theme_path)  # a bad theme stops the run before any work
        # Read the previous run first: a damaged model should stop the run before any work.
        previous = load_previous(config.previous) if config.previous is not None else None
        step(f"Reading {config.data_path.name}")
        # Handed on, not kept: _analyse may replace the table read with the kept rows (which
        # share its numbers), and no reference here may hold the read frame at the memory peak.
        pending = [_read(config)]
        # Started now, the second process imports its libraries while this one works.
        helper = offload.second_process(len(pending[0].table.frame))
        analysis, continuity = _analyse(config, pending.pop(), previous, imports, step)
        imports.wait_late()  # matplotlib, seaborn and WeasyPrint from here on
        return _present_and_publish(config, analysis, continuity, helper, step, theme=theme)
    finally:
        imports.stop()
        if helper is not None:
            helper.shutdown()


def _brief_on_dask(config: BriefConfig, step: Progress) -> BriefResult:
    """`--engine dask`: stages 1-6 on the cluster (pipeline_dask), then the same presentation;
    the workers write every row's assignment into the staged run folder."""
    from reportgen import pipeline_dask

    with pipeline_dask.dask_session(config.scheduler) as session:
        analysis, run = pipeline_dask.analyse(config, session, step)
        return _present_and_publish(config, analysis, _Continuity(None, None), None, step, run)


def _read(config: BriefConfig) -> CustomerRows:
    """Stage 1: the rows, as one row per customer (an order log reduced to its customers)."""
    source = open_source(
        config.data_url or config.data_path,
        config.names,
        skip_rows=config.skip_rows,
        sheet=config.sheet,
        table=config.table,
        query=config.query,
    )
    declared = read_dictionary(config.dictionary_path) if config.dictionary_path else None
    return customer_rows(source.read(), _log_settings(config, declared))


def _log_settings(config: BriefConfig, declared: DataDictionary | None = None) -> OrderLogSettings:
    """How to read the input: the options given, else the data dictionary's input_kind and
    order_log roles, else detection."""
    kind = config.input_kind
    if kind == "auto" and declared is not None and declared.input_kind:
        kind = declared.input_kind
    roles = config.roles or (declared.order_roles if declared is not None else None)
    return OrderLogSettings(
        kind=kind,  # type: ignore[arg-type]  # checked by BriefConfig and the dictionary
        as_of=config.as_of,
        date_format=config.date_format,
        currency=config.currency,
        roles=dict(roles) if roles else None,
    )


def _analyse(
    config: BriefConfig,
    intake: CustomerRows,
    previous: PreviousRun | None,
    imports: offload.BackgroundImports,
    step: Progress,
) -> tuple[Analysis, _Continuity]:
    """Stages 2-6: prepare, choose k, cluster, check stability, profile and name."""
    table = intake.table
    dictionary = _dictionary(config, intake)
    offload.release_arrow_memory()
    step(f"Preparing {len(table.frame):,} rows")
    prepared = _prepare(table.frame, dictionary)
    offload.release_arrow_memory()
    imports.wait_early()  # scikit-learn from here on
    screening = None
    if config.screen_features and previous is not None:
        # A re-report segments on what the previous run did, so the months compare; a column
        # this month's screening would judge otherwise does not break the series.
        if carried := _previous_screening(dictionary, prepared, previous):
            dictionary = with_roles(dictionary, carried, note=PREVIOUS_SCREENING_NOTE)
            del prepared  # its matrices go before the new ones are made
            prepared = _prepare(table.frame, dictionary)
    elif config.screen_features:
        screening = screen_features(prepared, seed=config.seed, k_max=config.k_max)
        if screening.removed:
            dictionary = with_roles(
                dictionary,
                {c: ("describe", screening.reason(c)) for c in screening.removed},
                note=screening.note() + " Use --keep-all-features to keep them.",
            )
            del prepared  # its matrices go before the new ones are made
            prepared = _prepare(table.frame, dictionary)
    imports.start_late()  # after prepare, the run's memory peak on large tables
    if prepared.n_kept == prepared.n_read:
        # Every row kept: prepared.kept holds the numeric features as views of prepared.values;
        # keeping it instead of the read frame frees the frame's own copies.
        table = replace(table, frame=prepared.kept)
        intake = replace(intake, table=table)  # the read frame is now referenced nowhere
        offload.release_arrow_memory()
    if config.k is not None and prepared.n_kept < config.k:
        raise InputError(
            f"only {prepared.n_kept} usable rows: fewer than the {config.k} segments asked for"
        )
    kchoice, seg, continuity, evaluation = _segment(config, prepared, previous, step)
    rest = assign_left_out(
        table.frame,
        prepared.left_out,
        prepared.steps,
        seg.centers_scaled,
        seg.segment_ids,
        dictionary.id_column,
    )
    step("Profiling segments")
    profiles = profile(prepared, seg, dictionary)
    value = _value(intake, prepared, seg) if intake.all_customers is not None else None
    stories = _names(profiles, dictionary, continuity, value)
    tree = k_tree(prepared, seg, stories, dictionary, seed=config.seed, runner_up=kchoice.runner_up)
    analysis = Analysis(
        table, dictionary, prepared, kchoice, seg, evaluation, profiles, stories, screening
    )
    moves = _rfm_moves(continuity.previous, intake, value)
    bundle = replace(analysis, intake=intake, value=value, rest=rest, rfm_moves=moves, k_tree=tree)
    return bundle, continuity


def _prepare(frame: pd.DataFrame, dictionary: DataDictionary) -> PreparedData:
    """Stage 2 with the read frame handed over: its columns become views of the values as those
    are filled, and the read copies go back to the system at once (prepare's frame_released)."""
    return prepare(frame, dictionary, frame_released=offload.release_arrow_memory)


PREVIOUS_SCREENING_NOTE = (
    "Re-report: the features are the previous run's; columns it did not segment on describe "
    "the segments here too."
)


def _previous_screening(
    dictionary: DataDictionary, prepared: PreparedData, previous: PreviousRun
) -> dict[str, tuple[str, str]]:
    """The role changes that make this run segment on the previous run's features: a column
    that segments here but did not there describes (a column the previous run segmented on and
    this one cannot is left for the comparison to refuse, with its message)."""
    before = set(previous.model.features)
    return {
        f: ("describe", "did not segment in the previous run (kept out, so the runs compare)")
        for f in prepared.features
        if f not in before and not dictionary.column(f).declared
    }


def _rfm_moves(
    previous: PreviousRun | None, intake: CustomerRows, value: ValueAnalysis | None
) -> RFMMigration | None:
    """Moves between RFM groups since the previous run of an order log (matched by id)."""
    if previous is None or previous.rfm_groups is None or value is None:
        return None
    assert intake.all_customers is not None and intake.log is not None
    ids = intake.all_customers[intake.log.roles.customer]
    return rfm_migration(previous.rfm_groups, ids, value.customers.group, value.grid)


def _dictionary(config: BriefConfig, intake: CustomerRows) -> DataDictionary:
    table = intake.table
    declared = read_dictionary(config.dictionary_path) if config.dictionary_path else None
    id_column = config.id_column
    if intake.dictionary is not None:  # an order log: a dictionary describes its features
        declared = declared or intake.dictionary
        id_column = intake.dictionary.id_column
    return resolve_dictionary(
        table.frame,
        declared,
        columns=config.columns,
        id_column=id_column,
        units=table.units,
    )


def _value(intake: CustomerRows, prepared: PreparedData, seg: Segmentation) -> ValueAnalysis:
    """RFM and predicted value for every customer of an order log, with each one's segment
    (-1 for a customer who was not segmented)."""
    assert intake.all_customers is not None
    everyone = intake.all_customers
    ids = everyone[prepared.id_name].astype(str)
    position = pd.Index(prepared.ids.astype(str)).get_indexer(pd.Index(ids))
    labels = np.where(position >= 0, seg.labels[np.maximum(position, 0)], -1).astype(np.int64)
    return analyse_value(everyone, labels, seg.segment_ids)


def _names(
    profiles: Profiles,
    dictionary: DataDictionary,
    continuity: _Continuity,
    value: ValueAnalysis | None,
) -> tuple[SegmentStory, ...]:
    """Segment names: a previous run's names first, then (for order logs) the RFM group that
    dominates a segment, then names from the segments' traits."""
    matching = continuity.matching
    kept = dict(matching.kept_names) if matching else {}
    groups = rfm_names(value) if value is not None else {}
    preferred = {**{i: g for i, g in groups.items() if g not in kept.values()}, **kept}
    stories = name_segments(profiles, dictionary, keep_names=preferred or None)
    if not groups:
        return stories
    actions = {g.name: g.action for g in value.grid.groups} if value else {}
    return tuple(
        replace(s, angle=actions[s.name]) if groups.get(s.segment_id) == s.name else s
        for s in stories
    )


def _segment(
    config: BriefConfig, prepared: PreparedData, previous: PreviousRun | None, step: Progress
) -> tuple[KChoice, Segmentation, _Continuity, Evaluation]:
    """Choose k on a sample, fit on every row, keep the previous run's ids, check stability."""
    step("Choosing k (evidence on a sample)")
    kchoice = choose_k(prepared.scaled, **config.k_options())
    step(f"Fitting k-means, k = {kchoice.k}, on all {prepared.n_kept:,} rows")
    seg = cluster(prepared.scaled, k=kchoice.k, seed=config.seed, n_init=config.n_init)
    matching = None
    if previous is not None:
        matching = compare.match_segments(previous.model, prepared, seg)
        seg = compare.relabel(seg, matching.mapping)
    step("Checking stability (bootstrap on a sample)")
    evaluation = evaluate(prepared.scaled, seg, seed=config.seed, resamples=config.resamples)
    return kchoice, seg, _Continuity(previous, matching), evaluation


def _present_and_publish(
    config: BriefConfig,
    a: Analysis,
    continuity: _Continuity,
    executor: Executor | None,
    step: Progress,
    cluster: ClusterRun | None = None,
    *,
    theme: Theme | None = None,
) -> BriefResult:
    """Stages 7-9: charts, HTML and PDFs, then every file staged and published together."""
    theme = theme if theme is not None else load_theme(config.theme_path)
    if cluster is not None:  # the workers write every row; here the sample's rows
        assignments = assignments_frame(a.prepared, a.segmentation, a.stories)
    elif a.value is not None:
        assignments = customer_value_frame(a)
    else:
        assignments = assignments_frame(a.prepared, a.segmentation, a.stories, a.rest)
    # assignments.csv is streamed into the staging folder in chunks by a background thread while
    # the charts and PDFs are drawn (its kernels run without the GIL, the drawing is pure
    # Python); its SHA-256 goes into model.json.
    owned = (SEGMENT_FOLDER, *(cluster.owned if cluster is not None else ()))
    with files.staged_outputs(config.out_dir, owned=owned) as staging:
        writing = (
            cluster.assignments_in_background(staging)
            if cluster is not None
            else files.csv_in_background(staging, ASSIGNMENTS_FILE, assignments)
        )
        with writing as csv_job:
            view = _view(config, a, continuity, executor, step, theme)

            def workbook() -> None:  # its rows' XML is Arrow and zlib work, beside the layout
                with staging.open(BRIEF_XLSX) as fh:
                    _write_workbook(fh, a, view, assignments, theme, cluster is not None)

            with files.in_background(workbook, BRIEF_XLSX):
                shown = _render(config, view, executor, step)
            step("Writing files")
        offload.release_arrow_memory()  # the CSV and workbook text was built in Arrow buffers
        summary = summary_dict(config, a, shown.run)
        model = _model(a, continuity, shown.run, csv_job.sha256)
        outputs = {
            BRIEF_PDF: shown.pdf,
            BRIEF_HTML: shown.html.encode("utf-8"),
            PROFILES_FILE: files.csv_bytes(profiles_frame(a.profiles, a.stories)),
            SUMMARY_FILE: files.json_bytes(summary),
            MODEL_FILE: model_bytes(model),
            **shown.segment_pdfs,
        }
        outputs[THEME_FILE] = files.json_bytes(mail_theme_json(theme))  # for `reportgen email`
        if config.pdf_archive:  # laid out now that the files it carries exist
            outputs[BRIEF_PDF] = _archive_pdf(config, staging.folder, outputs, shown)
        for name, data in outputs.items():
            staging.write(name, data)
    return BriefResult(
        config=config,
        analysis=a,
        assignments=assignments,
        summary=summary,
        html=shown.html,
        pdf=outputs[BRIEF_PDF],
        files=staging.final,
        model=model,
        changes=shown.changes,
    )


@dataclass(frozen=True)
class _View:
    """What the documents show: the template context (with the charts) and the comparison."""

    context: BriefContext
    changes: compare.Changes | None
    run: RunInfo


def _write_workbook(
    fh: BinaryIO,
    a: Analysis,
    view: _View,
    assignments: pd.DataFrame,
    theme: Theme,
    sampled: bool,
) -> None:
    """brief.xlsx from the same view as the PDF (a cluster run's Customers sheet: the sample)."""
    note = (
        f"The Customers sheet lists the {len(assignments):,} customers of the sample drawn on "
        f"the cluster; every customer's segment is in {ASSIGNMENTS_DATASET}/."
        if sampled
        else None
    )
    style = workbook_style(theme)
    write_workbook(fh, a, view.context, assignments, view.changes, style, note)


def _render(
    config: BriefConfig, view: _View, executor: Executor | None, step: Progress
) -> _Presentation:
    step("Rendering the PDF")
    html, pdf, segment_pdfs = render.render_all(
        view.context, config.template_dir, executor, main_pdf=not config.pdf_archive
    )
    return _Presentation(html, pdf, segment_pdfs, view.changes, view.run, view.context)


def _view(
    config: BriefConfig,
    a: Analysis,
    continuity: _Continuity,
    executor: Executor | None,
    step: Progress,
    theme: Theme = DEFAULT_THEME,
) -> _View:
    """Stage 7: the charts, the comparison with the previous run, the template context."""
    previous, matching = continuity.previous, continuity.matching
    old_ids = {s.id for s in previous.model.segments} if previous else set()
    palette = palette_by_id(set(a.segmentation.segment_ids) | old_ids, theme.segment_colors)
    colors = tuple(palette[i] for i in a.segmentation.segment_ids)
    step("Drawing charts")
    from reportgen.report import charts  # imported in the background meanwhile (offload)

    font = str(theme.font_path) if theme.font_path else None
    with charts.theme_font(theme.font_family, font):  # a theme's font: drawn in this process
        images = charts.draw_all(
            a.prepared,
            a.segmentation,
            a.profiles,
            a.stories,
            a.k_choice,
            a.dictionary,
            colors,
            seed=config.seed,
            executor=None if theme.font_family else executor,
            tree=a.k_tree,
        )
    run = _run_info(config, a)
    changes = None
    changes_view = None
    with charts.theme_font(theme.font_family, font):  # the change and value charts too
        if previous is not None and matching is not None:
            prepared, seg, profiles, stories = a.prepared, a.segmentation, a.profiles, a.stories
            changes = compare.compare_runs(previous, matching, prepared, seg, profiles, stories)
            changes_view = changes_context(changes, a.dictionary, palette, a.dictionary.units)
        context = build_context(
            a, charts=images, colors=colors, run=run, changes=changes_view, theme=theme
        )
    return _View(context, changes, run)


def _archive_pdf(
    config: BriefConfig, folder: Path, outputs: dict[str, bytes], shown: _Presentation
) -> bytes:
    """brief.pdf as PDF/A-3b carrying assignments.csv (as streamed into the run folder),
    profiles.csv and model.json: byte for byte the files published beside it."""
    carried = {ASSIGNMENTS_FILE: (folder / ASSIGNMENTS_FILE).read_bytes()}
    carried |= {name: outputs[name] for name in (PROFILES_FILE, MODEL_FILE)}
    when = datetime.fromisoformat(shown.run.generated_at.replace("Z", "+00:00"))
    attachments = [render.Attachment(name, data, ARCHIVED[name]) for name, data in carried.items()]
    return render.archive_pdf(shown.html, attachments, config.template_dir, created=when)


ARCHIVED = {
    ASSIGNMENTS_FILE: "Every customer with their segment (the CRM file)",
    PROFILES_FILE: "Segment averages in the data's units",
    MODEL_FILE: "The fitted model: preparation steps and segment centres",
}


def _run_info(config: BriefConfig, a: Analysis) -> RunInfo:
    now = run_time()
    return RunInfo(
        generated_at=now.isoformat().replace("+00:00", "Z"),
        date_text=f"{now.day} {now:%B %Y}",
        version=__version__,
        versions=package_versions(),
        seed=config.seed,
        title=config.title or a.dictionary.title or f"Customer segments in {a.table.path.name}",
    )


def _model(
    a: Analysis, continuity: _Continuity, run: RunInfo, csv_sha256: str | None
) -> dict[str, Any]:
    previous, matching = continuity.previous, continuity.matching
    return build_model(
        run=run,
        table=a.table,
        dictionary=a.dictionary,
        prepared=a.prepared,
        seg=a.segmentation,
        profiles=a.profiles,
        stories=a.stories,
        assignments_sha256=csv_sha256,
        next_segment_id=matching.next_segment_id if matching else None,
        previous=previous.model if previous else None,
        order_roles=_roles_of(a),
    )


def _roles_of(a: Analysis) -> dict[str, str] | None:
    if a.intake is None or a.intake.log is None:
        return None
    return {k: v for k, v in vars(a.intake.log.roles).items() if v is not None}


def score_data(
    data: Path | str,
    model: Path | str,
    *,
    names: tuple[str, ...] | None = None,
    skip_rows: int | None = None,
    sheet: str | int | None = None,
    as_of: str | None = None,
    table: str | None = None,
    query: str | None = None,
) -> tuple[SavedModel, Scored]:
    """Assign the rows of DATA to a saved run's segments. When the run read an order log, DATA
    is a log too: it is reduced to one row per customer with the run's column roles (recency
    measured to `as_of`, default the day after the new log's last date) and every customer is
    scored. DATA may be a database URL (given as text) with `table` or `query` (io.database)."""
    saved = load_model(model)
    source = open_source(data, names, skip_rows=skip_rows, sheet=sheet, table=table, query=query)
    rows = source.read()
    roles = saved.order_roles
    if roles is None:
        return saved, score(saved, rows.frame)
    settings = OrderLogSettings(kind="transactions", roles=roles, as_of=as_of)
    intake = customer_rows(rows, settings)
    assert intake.all_customers is not None
    return saved, score(saved, intake.all_customers)


def write_starter_dictionary(
    data: Path | str,
    out: Path | str | None = None,
    names: tuple[str, ...] | None = None,
    overwrite: bool = False,
    *,
    skip_rows: int | None = None,
    sheet: str | int | None = None,
    table: str | None = None,
    query: str | None = None,
) -> Path:
    """Write a starter data dictionary for DATA (see io.starter): `out`, or DATA's name with
    .yaml in the current folder (a database's: its table's, or for a query the database's).
    An existing file is kept unless `overwrite`."""
    source = open_source(data, names, skip_rows=skip_rows, sheet=sheet, table=table, query=query)
    rows = source.read()
    intake = customer_rows(rows)
    target = Path(out) if out is not None else Path(source.name.split(".")[0] + ".yaml")
    if target.exists() and not overwrite:
        raise InputError(f"{target} exists: choose another --out, or --force to replace it")
    if intake.log is not None:
        features = tuple(intake.table.frame.columns)
        mapping = features_mapping(intake.log.roles.customer, intake.log.currency, features)
        roles = {k: v for k, v in vars(intake.log.roles).items() if v is not None}
        mapping = {"input_kind": "transactions", "order_log": {"roles": roles}, **mapping}
        text = starter_for_log(mapping, rows.path.name)
    else:
        dictionary = resolve_dictionary(intake.table.frame, units=rows.units)
        text = starter_dictionary(dictionary, rows.path.name)
    files.write_outputs(
        target.parent if str(target.parent) else Path("."), {target.name: text.encode()}
    )
    return target


def build_demo(
    out_dir: Path | str = "reportgen-out", progress: Progress | None = None, **overrides: Any
) -> BriefResult:
    data, dictionary = example_data()
    return build_brief(
        BriefConfig(data_path=data, dictionary_path=dictionary, out_dir=Path(out_dir), **overrides),
        progress=progress,
    )
