"""The brief on a Dask cluster (`--engine dask`): the same stages, with the rows on the workers.

What runs where (the brief's method appendix says it too):

- on the cluster, over every row: reading the dataset, the rows that repeat an id (found by a
  hashed bucket search on the id column, `dask_prepare.repeated_rows`), the preparation's
  column statistics (`analysis.dask_prepare`, two passes), the final k-means (Lloyd iterations
  as reductions, `DaskEngine.lloyd_steps`), the per-segment aggregates the profiles are made of
  with the segments' sizes (that pass is Lloyd's last assignment step), the rows left out and
  why, and writing every row's assignment as a Parquet dataset (one file per partition, written
  by the worker that holds it, inside the staged run folder). A brief reads the data 5 + (Lloyd
  iterations) times: the sample (a CSV dataset: one more, to count its rows), the two
  preparation passes, each Lloyd iteration, the profiles, the writing (it needs the segments'
  names, which need the profiles), and the id column once more when there is one;
- here, on a uniform random sample of SAMPLE_ROWS rows drawn on the cluster: the shape of the
  preparation's steps, screening, the choice of k and the k-means++ starts, stability, the rank
  and chi-squared tests, names and charts.

Without `--scheduler` a LocalCluster of LOCAL_WORKERS processes with LOCAL_MEMORY each is
started for the run. Dask is imported only here and in the analysis modules it calls, and only
when this module runs.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import hashlib
import importlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reportgen.analysis.assign import LeftOutAssignment, assign_left_out, assignment_table
from reportgen.analysis.choose_k import choose_k
from reportgen.analysis.cluster import FINAL_FIT_SAMPLE, LLOYD_MAX_ITER, LLOYD_TOL, Segmentation
from reportgen.analysis.dask_engine import (
    DaskEngine,
    Grouped,
    dask_module,
    group_moments,
    merge_grouped,
    reduce_partitions,
    uniform_sample,
)
from reportgen.analysis.dask_prepare import (
    ClusterPrepared,
    duplicate_reason,
    fit_on_cluster,
    marked,
    repeated_rows,
    sample_prepared,
    scale_rules,
    split_repeats,
)
from reportgen.analysis.engine import SegmentAggregates, fit_kmeans, nearest, size_order
from reportgen.analysis.k_tree import k_tree
from reportgen.analysis.naming import name_segments
from reportgen.analysis.prepare import (
    DropReason,
    FeatureStep,
    FittedSteps,
    LeftOut,
    PreparedData,
    apply_steps_rows,
    customer_ids,
    fit_notes,
    fit_steps,
    parse_column,
    prepare,
)
from reportgen.analysis.profile import (
    BLANK,
    MAX_SHOWN_CATEGORIES,
    OTHER,
    CategoryShare,
    Profiles,
    profile,
    vs_rest,
)
from reportgen.analysis.results import Analysis
from reportgen.analysis.screen import screen_features
from reportgen.analysis.stability import evaluate
from reportgen.config import BriefConfig
from reportgen.deliver import files
from reportgen.errors import ConfigError, InputError
from reportgen.io.dictionary import (
    DataDictionary,
    numeric_values,
    read_dictionary,
    resolve_dictionary,
    with_roles,
)
from reportgen.io.load import LoadedTable, file_sha256
from reportgen.progress import Progress
from reportgen.runs.folder import ASSIGNMENTS_DATASET, ASSIGNMENTS_FILE

SAMPLE_ROWS = 100_000  # the sample drawn on the cluster for everything statistical about k
LOCAL_WORKERS = 2
LOCAL_MEMORY = "2GiB"  # per worker of the LocalCluster started without --scheduler
CONNECT_TIMEOUT = 10  # seconds to reach a scheduler (distributed's connect timeout)
CSV_MAX_ROWS = 1_000_000  # up to this many rows assignments.csv is written too
INSTALL_HINT = 'pip install "reportgen[dask]"'


# --------------------------------------------------------------------------------- the cluster


def require_dask() -> None:
    """A one-line error (exit 2) when the optional Dask extra is not installed."""
    try:
        import dask.dataframe  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        raise ConfigError(f"--engine dask needs Dask: {INSTALL_HINT}", "engine") from None


@dataclass
class Session:
    """A connected client and where it is (for the method text)."""

    client: Any
    where: str

    @property
    def workers(self) -> int:
        return len(self.client.scheduler_info().get("workers", {}))


@contextlib.contextmanager
def dask_session(scheduler: str | None) -> Iterator[Session]:
    """A client of the scheduler at `scheduler`, or of a LocalCluster started for the run (and
    stopped after it). A scheduler that cannot be reached within CONNECT_TIMEOUT seconds is a
    one-line InputError."""
    require_dask()
    distributed = importlib.import_module("distributed")
    Client, LocalCluster = distributed.Client, distributed.LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=True)
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(
                f"cannot reach the Dask scheduler at {scheduler} within {CONNECT_TIMEOUT} s "
                f"({type(exc).__name__}); is it running?"
            ) from None
        with client:
            workers = len(client.scheduler_info().get("workers", {}))
            yield Session(client, f"the Dask scheduler at {scheduler} ({workers} workers)")
        return
    cluster = LocalCluster(
        n_workers=LOCAL_WORKERS,
        threads_per_worker=1,
        processes=True,
        memory_limit=LOCAL_MEMORY,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    with cluster, Client(cluster, set_as_default=True) as client:
        yield Session(
            client, f"a local Dask cluster ({LOCAL_WORKERS} workers, {LOCAL_MEMORY} each)"
        )


def dataset_files(location: Path) -> tuple[list[Path], str]:
    """The files of a dataset: a folder (every .parquet/.csv file under it), a glob or one file;
    and their format. Mixed formats or no file at all: InputError."""
    text = str(location)
    if any(ch in text for ch in "*?["):
        found = [Path(p) for p in sorted(glob.glob(text, recursive=True))]
    elif location.is_dir():
        found = sorted(
            p for p in location.rglob("*") if p.is_file() and not p.name.startswith((".", "_"))
        )
    else:
        found = [location] if location.is_file() else []
    kinds = {_format(p) for p in found}
    if not found:
        raise InputError(f"no data files at {location}: name a Parquet folder, a file or a glob")
    if None in kinds or len(kinds) > 1:
        raise InputError(
            f"{location} holds files that are not all Parquet or all CSV "
            f"({', '.join(sorted({p.suffix or p.name for p in found}))})"
        )
    return found, str(kinds.pop())


def _format(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}.get(suffix)


def read_dataset(files_: list[Path], kind: str) -> Any:
    import dask.dataframe as dd

    names = [str(p.resolve()) for p in files_]
    try:
        if kind == "parquet":
            return dd.read_parquet(names, blocksize="64MiB")
        return dd.read_csv(names, blocksize="64MiB", assume_missing=True)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the dataset: {exc}") from None


def parquet_rows(files_: list[Path]) -> int:
    """The rows of a Parquet dataset, from its files' footers (read on the workers): no pass."""
    dask = dask_module()
    return int(sum(dask.compute(*[dask.delayed(_footer_rows)(str(p.resolve())) for p in files_])))


def _footer_rows(path: str) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def _without_repeats(
    data: Any, sample: pd.DataFrame, where: np.ndarray, dictionary: DataDictionary, n_rows: int
) -> tuple[Any, pd.DataFrame, int]:
    """With an id column: the rows that repeat an earlier row's id found on the cluster
    (`dask_prepare.repeated_rows`), marked in the dataset so that every pass leaves them out
    (counted under prepare's reason), and left out of the sample. Returns the marked dataset,
    the sample and how many rows repeat an id."""
    if not dictionary.id_column:
        return data, sample, 0
    repeats = repeated_rows(data, dictionary.id_column, n_rows)
    count = sum(len(r) for r in repeats.values())
    if not count:
        return data, sample, 0
    drawn = pd.MultiIndex.from_arrays([where[:, 0], where[:, 1]])
    flagged = pd.MultiIndex.from_arrays(
        [np.repeat(list(repeats), [len(r) for r in repeats.values()]),
         np.concatenate(list(repeats.values()))]
    )  # fmt: skip
    keep = ~drawn.isin(flagged)
    return marked(data, repeats), sample.loc[keep].reset_index(drop=True), count


def apply_rows(
    place: Placement, part: pd.DataFrame
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, tuple[DropReason, ...], LeftOut]:
    """`apply_steps_rows` on a partition, its repeated ids left out first (as `prepare` leaves
    them out before any other rule, so such a row counts under that reason only). Returns the
    partition (without the mark), the model matrix of the rows kept, which rows are kept, the
    drops and the rows left out (every row not kept, in order, with its reason)."""
    part, repeat = split_repeats(part)
    if repeat is None or not repeat.any():
        matrix, usable, drops, left_out = apply_steps_rows(part, place.steps, place.rules)
        return part, matrix[usable], usable, drops, left_out
    keep = np.flatnonzero(~repeat)
    matrix, sub_usable, sub_drops, sub_left = apply_steps_rows(
        part.iloc[keep], place.steps, place.rules
    )
    usable = np.zeros(len(part), dtype=bool)
    usable[keep[sub_usable]] = True
    reason = duplicate_reason(str(place.id_column))
    drops = (DropReason(reason, int(repeat.sum())), *sub_drops)
    positions = np.concatenate([np.flatnonzero(repeat), keep[sub_left.positions]])
    reasons = np.array((reason,) * int(repeat.sum()) + sub_left.reasons, dtype=object)
    partial = np.concatenate([np.zeros(int(repeat.sum()), dtype=bool), sub_left.partial])
    order = np.argsort(positions, kind="stable")
    left_out = LeftOut(positions[order], tuple(reasons[order].tolist()), partial[order])
    return part, matrix[sub_usable], usable, drops, left_out


def dataset_sha256(files_: list[Path]) -> str:
    """SHA-256 over the sorted (name, SHA-256) of every file, hashed on the workers."""
    dask = dask_module()
    digests = dask.compute(*[dask.delayed(file_sha256)(p.resolve()) for p in files_])
    lines = "".join(f"{p.name} {d}\n" for p, d in zip(files_, digests, strict=True))
    return hashlib.sha256(lines.encode()).hexdigest()


# --------------------------------------------------------------------------------- per partition


def model_rows(
    steps: tuple[FeatureStep, ...], rules: dict[str, tuple[float, float]], part: pd.DataFrame
) -> pd.DataFrame:
    """The model matrix of the rows the steps keep (what k-means sees)."""
    part, repeat = split_repeats(part)
    if repeat is not None:
        part = part.loc[~repeat]
    matrix, usable, _, _ = apply_steps_rows(part, steps, rules)
    columns = [c for s in steps for c in s.model_columns]
    return pd.DataFrame(matrix[usable], columns=columns)


@dataclass(frozen=True)
class PartSummary:
    """What one partition (or a merge of several) tells the driver after the final fit."""

    grouped: Grouped
    categories: dict[str, dict[str, np.ndarray]]  # column -> value as read -> rows per segment
    drops: dict[str, int]
    rows: list[int]  # rows per partition, in partition order
    partial: int
    unassigned: int
    sizes: np.ndarray  # rows per centre (the rows the fit kept)
    inertia: float  # their squared distances to the nearest centre, summed


@dataclass(frozen=True)
class Placement:
    """What every partition needs to place its rows: the fitted steps and centres."""

    steps: tuple[FeatureStep, ...]
    rules: dict[str, tuple[float, float]]
    centers: np.ndarray
    segment_ids: tuple[int, ...]
    id_column: str | None
    describe: tuple[str, ...] = ()  # numeric descriptive columns profiled on every row
    categories: tuple[str, ...] = ()  # category columns counted per segment on every row


def _units(kept: pd.DataFrame, place: Placement) -> np.ndarray:
    """The numeric features in the data's units (filled in), then the descriptive numbers."""
    cols = []
    for s in place.steps:
        if s.kind == "categorical":
            continue
        raw = parse_column(kept[s.column], s.kind, s).values.to_numpy(dtype=float)
        cols.append(np.where(np.isnan(raw), s.impute, raw) if s.impute is not None else raw)
    cols += [numeric_values(kept[c]).to_numpy(dtype=float) for c in place.describe]
    return np.column_stack(cols) if cols else np.zeros((len(kept), 0))


def summarise_part(place: Placement, part: pd.DataFrame) -> PartSummary:
    part, matrix, usable, drops, left_out = apply_rows(place, part)
    positions, distances = nearest(matrix, place.centers)
    kept = part.loc[usable]
    grouped = group_moments(_units(kept, place), positions, len(place.segment_ids))
    categories = {
        c: _count_values(kept[c], positions, len(place.segment_ids)) for c in place.categories
    }
    rest = assign_left_out(
        part, left_out, place.steps, place.centers, place.segment_ids, place.id_column
    )
    return PartSummary(
        grouped,
        categories,
        {d.reason: d.rows for d in drops},
        [len(part)],
        rest.n_partial,
        rest.n_unassigned,
        np.bincount(positions, minlength=len(place.centers)).astype(np.int64),
        float((distances**2).sum()),
    )


def _count_values(column: pd.Series, positions: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Rows per segment position of each value (as text, blank as profile's BLANK)."""
    text = column.astype("string").fillna(BLANK).to_numpy(dtype=object)
    values, codes = np.unique(text, return_inverse=True)
    table = np.zeros((len(values), k), dtype=np.int64)
    np.add.at(table, (codes, positions), 1)
    return {str(v): table[i] for i, v in enumerate(values)}


def merge_summaries(parts: list[PartSummary]) -> PartSummary:
    drops: dict[str, int] = {}
    for p in parts:
        for reason, rows in p.drops.items():
            drops[reason] = drops.get(reason, 0) + rows
    categories: dict[str, dict[str, np.ndarray]] = {}
    for p in parts:
        for column, counts in p.categories.items():
            into = categories.setdefault(column, {})
            for value, per_segment in counts.items():
                into[value] = into[value] + per_segment if value in into else per_segment
    return PartSummary(
        merge_grouped([p.grouped for p in parts]),
        categories,
        drops,
        [r for p in parts for r in p.rows],
        sum(p.partial for p in parts),
        sum(p.unassigned for p in parts),
        np.sum([p.sizes for p in parts], axis=0),
        float(sum(p.inertia for p in parts)),
    )


def assignment_part(
    place: Placement, names: dict[int, str], id_name: str, offset: int, part: pd.DataFrame
) -> pd.DataFrame:
    """assignments.csv's rows for one partition: `assignment_table` as the brief builds it,
    row numbers counted from `offset`."""
    part, matrix, usable, _, left_out = apply_rows(place, part)
    positions, distances = nearest(matrix, place.centers)
    kept = np.flatnonzero(usable)
    if place.id_column:
        ids = customer_ids(part[place.id_column].iloc[kept]).reset_index(drop=True)
    else:
        ids = pd.Series(kept + 1 + offset, name="row")
    rest = assign_left_out(
        part, left_out, place.steps, place.centers, place.segment_ids, place.id_column
    )
    n_features = len(place.steps)
    labels = np.asarray(place.segment_ids)[positions]
    table = assignment_table(ids, id_name, labels, names, distances, n_features, kept, rest)
    if not place.id_column:
        table[id_name] = np.arange(1, len(table) + 1) + offset
    return table


def write_part(folder: str, index: int, table: pd.DataFrame) -> int:
    """One Parquet file of the dataset, written whole or not at all (a temporary name, fsync,
    rename): a task run again after a lost worker writes the same file again."""
    target = os.path.join(folder, f"part-{index:05d}.parquet")
    temporary = target + f".{os.getpid()}.tmp"
    table.to_parquet(temporary, index=False)
    with open(temporary, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(temporary, target)
    return len(table)


def _dataset_files(folder: Path) -> list[str]:
    """The dataset's files, once every task is done; a temporary file a killed worker left
    behind is removed (its task ran again elsewhere and wrote the file whole)."""
    for leftover in folder.glob("*.tmp"):
        leftover.unlink(missing_ok=True)
    return sorted(p.name for p in folder.glob("part-*.parquet"))


def _write_assignments(
    place: Placement,
    names: dict[int, str],
    id_name: str,
    offset: int,
    folder: str,
    index: int,
    part: pd.DataFrame,
) -> int:
    return write_part(folder, index, assignment_part(place, names, id_name, offset, part))


# --------------------------------------------------------------------------------- the run


@dataclass
class ClusterRun:
    """The dataset on the cluster and what the run fitted: enough to write every row's
    assignment from the workers (`assignments_in_background`)."""

    data: Any
    place: Placement
    rows: list[int]
    id_name: str
    names: dict[int, str] = field(default_factory=dict)
    owned: tuple[str, ...] = (ASSIGNMENTS_DATASET,)

    def assignments_in_background(
        self, staging: files.Staging
    ) -> contextlib.AbstractContextManager[files.BackgroundCSV]:
        """The workers write the Parquet dataset (and, for a small table, assignments.csv is
        written from it) on a thread while the block draws and renders."""
        return files.in_background(lambda: self.write_assignments(staging), "assignments")

    def write_assignments(self, staging: files.Staging) -> str | None:
        dask = dask_module()
        folder = (staging.folder / ASSIGNMENTS_DATASET).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        offsets = np.concatenate([[0], np.cumsum(self.rows)[:-1]]).astype(int)
        tasks = [
            dask.delayed(_write_assignments)(
                self.place, self.names, self.id_name, int(offsets[i]), str(folder), i, p
            )
            for i, p in enumerate(self.data.to_delayed())
        ]
        dask.compute(*tasks)
        names = _dataset_files(folder)
        staging.names.extend(f"{ASSIGNMENTS_DATASET}/{n}" for n in names)
        if sum(self.rows) > CSV_MAX_ROWS:
            return None
        table = pd.concat([pd.read_parquet(folder / n) for n in names], ignore_index=True)
        with staging.open(ASSIGNMENTS_FILE) as fh:
            return files.write_csv(table, fh)


@dataclass(frozen=True)
class _Read:
    """The dataset on the cluster and what the run learnt before k: its sample (without the
    repeated ids), the dictionary, screening and the steps fitted on every row."""

    found: list[Path]
    kind: str
    data: Any  # marked with the repeated ids when there are any
    sample: pd.DataFrame
    n_rows: int
    duplicates: int
    dictionary: DataDictionary
    screening: Any
    fitted: FittedSteps


def _read_and_fit(config: BriefConfig, session: Session, step: Progress) -> _Read:
    """Stages 1-2: the sample, the dictionary, the repeated ids, screening, the fitted steps."""
    found, kind = dataset_files(config.data_path)
    data = read_dataset(found, kind)
    step(f"Drawing a {SAMPLE_ROWS:,}-row sample on {session.where}")
    total = parquet_rows(found) if kind == "parquet" else None
    sample, n_rows, where = uniform_sample(data, SAMPLE_ROWS, config.seed, total)
    if not len(sample):
        raise InputError(f"{config.data_path} holds no rows")
    declared = read_dictionary(config.dictionary_path) if config.dictionary_path else None
    dictionary = resolve_dictionary(
        sample, declared, columns=config.columns, id_column=config.id_column, units={}
    )
    data, sample, duplicates = _without_repeats(data, sample, where, dictionary, n_rows)
    dictionary, screening, shape = _screened(config, sample, dictionary)
    step(f"Column statistics of {n_rows:,} rows on the cluster")
    fitted = fit_on_cluster(data, dictionary, shape, sample, n_rows)
    return _Read(found, kind, data, sample, n_rows, duplicates, dictionary, screening, fitted)


def _profiles_pass(r: _Read, seg: Segmentation) -> tuple[Segmentation, PartSummary, Placement]:
    """Every row to its nearest final centre on the cluster, aggregated per segment: the sizes
    (so the segments' numbering), the profiles' numbers, the rows left out."""
    describe, categories = _described_columns(r.dictionary, r.sample, r.fitted.steps)
    place = Placement(
        r.fitted.steps,
        scale_rules(r.fitted),
        seg.centers_scaled,
        seg.segment_ids,
        r.dictionary.id_column,
        describe,
        categories,
    )
    summary = reduce_partitions(r.data, functools.partial(summarise_part, place), merge_summaries)
    return _in_size_order(seg, summary, place)


def analyse(config: BriefConfig, session: Session, step: Progress) -> tuple[Analysis, ClusterRun]:
    """Stages 1-6 with the rows on the cluster (see the module's docstring)."""
    _check_supported(config)
    r = _read_and_fit(config, session, step)
    data, sample, n_rows, dictionary, fitted = r.data, r.sample, r.n_rows, r.dictionary, r.fitted
    provisional = sample_prepared(
        sample, dictionary, fitted, n_read=n_rows, n_kept=n_rows, drops=(), notes=()
    )
    step("Choosing k (evidence on the sample)")
    kchoice = choose_k(provisional.scaled, **config.k_options())
    step(f"Fitting k-means, k = {kchoice.k}, on every row on the cluster")
    seg, start_rows = _final_fit(config, r, provisional.scaled, kchoice.k)
    step("Profiling segments on the cluster")
    seg, summary, place = _profiles_pass(r, seg)
    describe = place.describe
    drops = tuple(DropReason(reason, rows) for reason, rows in summary.drops.items())
    n_kept = int(summary.sizes.sum())
    notes = fit_notes(fitted, r.duplicates) + _method_notes(
        session, len(sample), seg, start_rows, n_kept
    )
    prepared = sample_prepared(
        sample, dictionary, fitted, n_read=n_rows, n_kept=n_kept, drops=drops, notes=notes
    )
    prepared = replace(prepared, duplicate_ids=r.duplicates)
    local = _on_sample(seg, prepared.scaled)
    step("Checking stability (bootstrap on the sample)")
    evaluation = evaluate(prepared.scaled, local, seed=config.seed, resamples=config.resamples)
    profiles = full_profiles(
        profile(prepared, local, dictionary),
        summary.grouped,
        seg,
        prepared.numeric_features,
        describe,
        summary.categories,
    )
    stories = name_segments(profiles, dictionary)
    tree = k_tree(
        _plain(prepared),
        local,
        stories,
        dictionary,
        seed=config.seed,
        runner_up=kchoice.runner_up,
    )
    table = LoadedTable(
        frame=sample, path=config.data_path, file_format=r.kind, sha256=dataset_sha256(r.found)
    )
    rest = _rest_counts(summary.partial, summary.unassigned)
    analysis = Analysis(
        table,
        dictionary,
        prepared,
        kchoice,
        replace(local, sizes=seg.sizes),  # the sample's labels (charts), every row's sizes
        evaluation,
        profiles,
        stories,
        r.screening,
        rest=rest,
        k_tree=tree,
    )
    run = ClusterRun(data, place, summary.rows, prepared.id_name)
    run.names = {s.segment_id: s.name for s in stories}
    return analysis, run


def _plain(prepared: ClusterPrepared) -> PreparedData:
    """The sample as a `PreparedData` of its own rows (for stages that count what they hold)."""
    return PreparedData(**{f.name: getattr(prepared, f.name) for f in fields(PreparedData)})


def _check_supported(config: BriefConfig) -> None:
    if config.data_url is not None:
        raise ConfigError("--engine dask reads a Parquet or CSV dataset, not a database", "engine")
    if config.previous is not None:
        raise ConfigError("--previous is not available with --engine dask yet", "previous")
    if config.input_kind == "transactions":
        raise ConfigError(
            "order logs are not available with --engine dask yet: reduce the log to one row per "
            "customer first",
            "input_kind",
        )
    if config.names or config.skip_rows or config.sheet:
        raise ConfigError("--names, --skip-rows and --sheet do not apply to a dataset", "names")


def _screened(
    config: BriefConfig, sample: pd.DataFrame, dictionary: DataDictionary
) -> tuple[DataDictionary, Any, FittedSteps]:
    """Screening on the sample (as the in-memory run screens on its own sample), then the shape
    of the steps fitted on the sample."""
    screening = None
    if config.screen_features:
        screening = screen_features(
            prepare(sample, dictionary), seed=config.seed, k_max=config.k_max
        )
        if screening.removed:
            dictionary = with_roles(
                dictionary,
                {c: ("describe", screening.reason(c)) for c in screening.removed},
                note=screening.note() + " Use --keep-all-features to keep them.",
            )
    return dictionary, screening, fit_steps(sample, dictionary)


def _final_fit(
    config: BriefConfig, r: _Read, sample: np.ndarray, k: int
) -> tuple[Segmentation, int]:
    """k-means++ starts on up to FINAL_FIT_SAMPLE sample rows (as `cluster.cluster` does), then
    Lloyd on every row on the cluster from the best start's centres."""
    steps, rules = r.fitted.steps, scale_rules(r.fitted)
    scaled = r.data.map_partitions(
        functools.partial(model_rows, steps, rules),
        meta=pd.DataFrame({c: pd.Series(dtype=float) for s in steps for c in s.model_columns}),
    )
    rows = min(FINAL_FIT_SAMPLE, len(sample))
    rng = np.random.default_rng(config.seed)
    idx = np.sort(rng.choice(len(sample), size=rows, replace=False))
    start = fit_kmeans(sample[idx], k, config.seed, config.n_init).cluster_centers_
    centres, n_iter = DaskEngine().lloyd_steps(scaled, start, LLOYD_MAX_ITER, LLOYD_TOL)
    seg = Segmentation(
        k=k,
        labels=np.zeros(0, dtype=np.intp),
        distances=np.zeros(0),
        centers_scaled=centres,  # in the start's order until the profiles' pass counts them
        sizes=(0,) * k,
        inertia=0.0,
        n_init=config.n_init,
        n_iter=n_iter,
        seed=config.seed,
        start_sample=rows,
    )
    return seg, rows


def _in_size_order(
    seg: Segmentation, summary: PartSummary, place: Placement
) -> tuple[Segmentation, PartSummary, Placement]:
    """The segments numbered largest first (`engine.size_order`, as every fit numbers them),
    from the sizes the profiles' pass counted at the final centres: that pass is also Lloyd's
    last assignment step, so the centres need no pass of their own."""
    order = size_order(seg.centers_scaled, summary.sizes)
    g = summary.grouped
    grouped = replace(g, n=g.n[order], mean=g.mean[order], m2=g.m2[order])
    categories = {
        column: {value: rows[order] for value, rows in counts.items()}
        for column, counts in summary.categories.items()
    }
    centres = seg.centers_scaled[order]
    sizes = tuple(int(summary.sizes[j]) for j in order)
    seg = replace(seg, centers_scaled=centres, sizes=sizes, inertia=summary.inertia)
    summary = replace(summary, grouped=grouped, categories=categories, sizes=summary.sizes[order])
    return seg, summary, replace(place, centers=centres)


def _on_sample(seg: Segmentation, scaled: np.ndarray) -> Segmentation:
    """The final centres applied to the sample (the rule every row follows on the cluster)."""
    positions, distances = nearest(scaled, seg.centers_scaled)
    sizes = tuple(int(s) for s in np.bincount(positions, minlength=seg.k))
    return replace(seg, labels=positions + 1, distances=distances, sizes=sizes)


def _described_columns(
    dictionary: DataDictionary, sample: pd.DataFrame, steps: tuple[FeatureStep, ...]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The descriptive columns profiled as numbers on every row (yes/no columns too, for their
    test), and the columns counted per segment and value (descriptive categories and yes/no
    columns, categorical features). Dates stay the sample's."""
    present = [c for c in dictionary.describe_columns if c in sample.columns]
    types = {c: dictionary.column(c).type for c in present}
    numbers = tuple(c for c in present if types[c] in ("numeric", "ordinal", "binary"))
    counted = tuple(c for c in present if types[c] not in ("numeric", "ordinal", "date"))
    return numbers, counted + tuple(s.column for s in steps if s.kind == "categorical")


def _rest_counts(partial: int, unassigned: int) -> LeftOutAssignment:
    """The rows left out of the fit, as counts (their rows are in the assignments dataset)."""
    n = partial + unassigned
    return LeftOutAssignment(
        positions=np.zeros(n, dtype=np.intp),
        ids=pd.Series([], dtype="string"),
        segment_ids=np.r_[np.zeros(partial), -np.ones(unassigned)].astype(np.int64),
        distances=np.zeros(n),
        features_used=np.zeros(n, dtype=np.int64),
        reasons=("",) * n,
    )


def _method_notes(
    session: Session, sample_rows: int, seg: Segmentation, start_rows: int, n_kept: int
) -> tuple[str, ...]:
    return (
        f"Engine: Dask, on {session.where}. On the cluster, over "
        "every row: the preparation's column statistics (counts, blanks, means, SDs, skewness "
        "from exact moments; medians and MADs exact, from every value near where the sample "
        "puts them), repeated ids (the first row in file order kept), the final k-means, the "
        "segments' sizes, means, SDs and effect sizes (per-segment aggregates), and every row's "
        f"assignment (written by the workers as a Parquet dataset, {ASSIGNMENTS_DATASET}/).",
        f"On a uniform random sample of {sample_rows:,} rows drawn on the cluster: the choice of "
        "k, the k-means++ starts, stability, the rank and chi-squared tests, the blank policy and "
        "the categories' levels, names and charts.",
        f"Final k-means: {seg.n_iter} Lloyd iterations on all {n_kept:,} rows on the cluster, "
        f"from the best of {seg.n_init} k-means++ starts on {start_rows:,} sample rows.",
    )


def full_profiles(
    sample: Profiles,
    grouped: Grouped,
    seg: Segmentation,
    numeric: tuple[str, ...],
    describe: tuple[str, ...],
    categories: dict[str, dict[str, np.ndarray]],
) -> Profiles:
    """The sample's profiles with every number that aggregates give taken from every row:
    sizes, shares, means, SDs, effect sizes (and the tests' effects); the tests' statistics and
    p-values and the category shares stay the sample's."""
    ids = seg.segment_ids
    width = len(numeric)
    features = grouped.aggregates(ids, slice(0, width))
    per_column = {
        c: grouped.aggregates(ids, slice(width + i, width + i + 1)) for i, c in enumerate(describe)
    }
    n = int(features.n.sum()) if width else int(sum(seg.sizes))
    segments = tuple(
        replace(
            sp,
            size=int(features.n[pos]),
            share=float(features.n[pos]) / n,
            features=tuple(_feature(f, features, i, pos) for i, f in enumerate(sp.features)),
            describe=tuple(_described(d, per_column, categories, pos) for d in sp.describe),
            categories=tuple(_described(d, per_column, categories, pos) for d in sp.categories),
        )
        for pos, sp in enumerate(sample.segments)
    )
    moments = {c: features.moments(i) for i, c in enumerate(numeric)}
    moments.update({c: a.moments(0) for c, a in per_column.items()})
    tests = tuple(_retest(t, moments, categories, len(ids)) for t in sample.tests)
    return replace(
        sample,
        segments=segments,
        overall_mean=tuple(float(x) for x in features.overall_mean),
        overall_sd=tuple(float(x) for x in features.overall_sd),
        n=n,
        tests=tests,
    )


def _feature(f: Any, agg: SegmentAggregates, i: int, pos: int) -> Any:
    m, rest, d = vs_rest(agg.moments(i), pos)
    mean, sd = float(agg.overall_mean[i]), float(agg.overall_sd[i])
    z = float((m - mean) / sd) if sd else 0.0
    if d == 0.0 and z != 0.0:
        d = z
    return replace(f, segment_mean=m, overall_mean=mean, overall_sd=sd, z=z, rest_mean=rest, d=d)


def _described(
    d: Any,
    per_column: dict[str, SegmentAggregates],
    categories: dict[str, dict[str, np.ndarray]],
    pos: int,
) -> Any:
    if d.kind == "categorical" and d.column in categories:
        return replace(d, shares=_shares(categories[d.column], pos))
    agg = per_column.get(d.column)
    if agg is None or d.kind != "numeric":
        return d
    counts, means, _ = agg.moments(0)
    segment = float(means[pos]) if counts[pos] else None
    overall = float(agg.overall_mean[0]) if counts.sum() else None
    return replace(d, segment_mean=segment, overall_mean=overall)


def _shares(counts: dict[str, np.ndarray], pos: int) -> tuple[CategoryShare, ...]:
    """profile._describe's shares from every row's counts: values trimmed (blank as BLANK), the
    MAX_SHOWN_CATEGORIES most common (ties alphabetically), the rest as OTHER."""
    trimmed: dict[str, np.ndarray] = {}
    for value, rows in counts.items():
        key = value.strip() or BLANK
        trimmed[key] = trimmed[key] + rows if key in trimmed else rows
    order = sorted(trimmed, key=lambda v: (-int(trimmed[v].sum()), v))
    shown = order[:MAX_SHOWN_CATEGORIES]
    grouped = {v: trimmed[v] for v in shown}
    rest = [trimmed[v] for v in order[MAX_SHOWN_CATEGORIES:]]
    if rest:
        grouped[OTHER] = grouped.get(OTHER, 0) + np.sum(rest, axis=0)
    total = sum(int(r.sum()) for r in grouped.values())
    in_segment = sum(int(r[pos]) for r in grouped.values())
    listed = shown + ([OTHER] if rest and OTHER not in shown else [])
    return tuple(
        CategoryShare(
            v,
            float(grouped[v][pos]) / in_segment if in_segment else 0.0,
            float(grouped[v].sum()) / total if total else 0.0,
        )
        for v in listed
    )


def _chi_squared(counts: dict[str, np.ndarray]) -> tuple[float, float, float] | None:
    """profile's chi-squared test of segment x value, on every row's counts."""
    from scipy import stats

    table = np.array([rows for rows in counts.values() if rows.sum() > 0]).T
    table = table[table.sum(axis=1) > 0] if table.size else table
    if table.ndim != 2 or table.shape[0] < 2 or table.shape[1] < 2:
        return None
    chi2, p, _, _ = stats.chi2_contingency(table)
    v = float(np.sqrt(chi2 / (table.sum() * (min(table.shape) - 1))))
    return float(chi2), float(p), v


def _retest(
    t: Any, moments: dict[str, Any], categories: dict[str, dict[str, np.ndarray]], k: int
) -> Any:
    if t.test == "chi-squared" and t.column in categories:
        found = _chi_squared(categories[t.column])
        if found is None:
            return t
        chi2, p, v = found
        return replace(t, statistic=chi2, p_value=p, effect=v, separates=p < 0.05 and v >= 0.1)
    if t.test != "Kruskal–Wallis" or t.column not in moments:
        return t
    effect = max(abs(vs_rest(moments[t.column], g)[2]) for g in range(k))
    return replace(t, effect=float(effect), separates=bool(t.p_value < 0.05 and effect >= 0.2))


# --------------------------------------------------------------------------------- score


@dataclass(frozen=True)
class _ScoreCounts:
    read: int
    unscored: int


def _score_part(
    saved: Any, id_name: str | None, folder: str, index: int, offset: int, part: pd.DataFrame
) -> _ScoreCounts:
    from reportgen.runs.score import score

    result = score(saved, part)
    table = result.assignments
    if id_name is None:  # row numbers of the whole dataset, not of the partition
        table["row"] = np.arange(1, len(table) + 1) + offset
    write_part(folder, index, table)
    return _ScoreCounts(result.n_read, result.n_unscored)


def score_dataset(
    data: Path, model: Path, out: Path, scheduler: str | None
) -> tuple[int, int, int, Path]:
    """`score --engine dask`: every row of the dataset DATA through the saved model on the
    workers (`runs.score.score` per partition: the brief's own rules), written as a Parquet
    dataset into the folder OUT, published like a run folder. Returns (rows read, rows scored,
    k, the dataset's folder)."""
    dask = dask_module()
    from reportgen.runs.model import load_model

    saved = load_model(model)
    found, kind = dataset_files(data)
    with dask_session(scheduler):
        frame = read_dataset(found, kind)
        missing = [c for c in saved.features if c not in frame.columns]
        if saved.id_column and saved.id_column not in frame.columns:
            missing.append(saved.id_column)
        if missing:
            raise InputError(f"the data lacks column(s) the model needs: {', '.join(missing)}")
        rows = [int(n) for n in dask.compute(*[dask.delayed(len)(p) for p in frame.to_delayed()])]
        offsets = np.concatenate([[0], np.cumsum(rows)[:-1]]).astype(int)
        id_name = None if saved.id_column else "row"
        with files.staged_outputs(out, owned=(ASSIGNMENTS_DATASET,)) as staging:
            folder = (staging.folder / ASSIGNMENTS_DATASET).resolve()
            folder.mkdir(parents=True)
            tasks = [
                dask.delayed(_score_part)(saved, id_name, str(folder), i, int(offsets[i]), p)
                for i, p in enumerate(frame.to_delayed())
            ]
            counts = dask.compute(*tasks)
            staging.names.extend(f"{ASSIGNMENTS_DATASET}/{n}" for n in _dataset_files(folder))
    read = sum(c.read for c in counts)
    return read, read - sum(c.unscored for c in counts), saved.k, out / ASSIGNMENTS_DATASET
