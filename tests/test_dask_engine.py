"""`--engine dask` end to end against a real LocalCluster (2 worker processes with nannies): the
brief, the same answers as the in-memory engine, a worker killed mid-run, a scheduler that is
not there, scoring, and the message when Dask is not installed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from reportgen.cli import app

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.slow

ROWS = 200_000
FILES = 4
REPORTGEN = [sys.executable, "-m", "reportgen"]
RUN_TRANSITIONS: list[int] = []  # task transitions the reference run made on the cluster
RUN_READS: list[int] = []  # partitions it read


def _customers(n: int, seed: int = 7) -> pd.DataFrame:
    """Three groups of customers on four skewed amounts, with blanks in two columns."""
    rng = np.random.default_rng(seed)
    group = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    centres = np.array([[20, 200, 3, 40], [45, 1500, 8, 10], [30, 600, 15, 25]], float)
    x = centres[group] * rng.lognormal(0, 0.25, size=(n, 4))
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:07d}" for i in range(n)],
            "age": x[:, 0].round(0),
            "spend": x[:, 1].round(2),
            "visits": x[:, 2].round(0),
            "recency_days": x[:, 3].round(0),
            "region": rng.choice(["North", "South", "East", "West"], n),
            "income": x[:, 1] * 10 + rng.normal(0, 500, n),
        }
    )
    frame.loc[rng.random(n) < 0.02, "visits"] = np.nan
    frame.loc[rng.random(n) < 0.1, "income"] = np.nan
    return frame


@pytest.fixture(scope="session")
def cluster():
    with distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        memory_limit="1GiB",
        dashboard_address=None,
    ) as local:
        yield local


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same rows as a folder of FILES Parquet files and as one file (of the same name, so
    that the briefs' titles agree)."""
    root = tmp_path_factory.mktemp("dask-data")
    frame = _customers(ROWS)
    folder = root / "folder" / "customers.parquet"
    folder.mkdir(parents=True)
    for i, rows in enumerate(np.array_split(np.arange(ROWS), FILES)):
        frame.iloc[rows].to_parquet(folder / f"part-{i}.parquet", index=False)
    whole = root / "customers.parquet"
    frame.to_parquet(whole, index=False)
    return folder, whole


def _brief(args: list[str]) -> None:
    result = CliRunner().invoke(app, ["brief", *args, "--quiet"])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="session")
def runs(cluster, dataset, tmp_path_factory) -> tuple[Path, Path]:
    """One brief per engine on the same rows."""
    folder, whole = dataset
    root = tmp_path_factory.mktemp("dask-runs")
    on_dask, in_memory = root / "dask", root / "memory"
    with distributed.Client(cluster.scheduler_address) as client:
        before, reads = _transitions(client), _partition_reads(client)
        _brief([str(folder), "--engine", "dask", "--scheduler", cluster.scheduler_address,
                "--out", str(on_dask)])  # fmt: skip
        RUN_TRANSITIONS.append(_transitions(client) - before)
        RUN_READS.append(_partition_reads(client) - reads)
    _brief([str(whole), "--out", str(in_memory)])
    return on_dask, in_memory


def _pdf_text(path: Path) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text() for page in PdfReader(path).pages]


def test_brief_on_the_cluster(runs):
    on_dask, _ = runs
    for name in ("brief.pdf", "brief.html", "profiles.csv", "summary.json", "model.json"):
        assert (on_dask / name).is_file(), name
    parts = sorted((on_dask / "assignments").glob("part-*.parquet"))
    assert len(parts) >= 1
    written = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    assert len(written) == ROWS  # every customer, in input order
    assert written["customer_id"].tolist()[:3] == ["C0000000", "C0000001", "C0000002"]
    csv = pd.read_csv(on_dask / "assignments.csv")  # small enough: the CSV too
    assert len(csv) == ROWS
    method = " ".join(_pdf_text(on_dask / "brief.pdf"))
    assert "Engine: Dask" in method
    assert "uniform random sample of" in method
    from openpyxl import load_workbook

    book = load_workbook(on_dask / "brief.xlsx", read_only=True)
    summary = " ".join(str(c) for row in book["Summary"].iter_rows(values_only=True) for c in row)
    assert "customers of the sample drawn on the cluster" in summary  # not "every customer"
    book.close()


def test_same_answers_as_in_memory(runs):
    from sklearn.metrics import adjusted_rand_score

    on_dask, in_memory = runs
    a = json.loads((on_dask / "summary.json").read_text())
    b = json.loads((in_memory / "summary.json").read_text())
    assert a["segments"] and len(a["segments"]) == len(b["segments"])  # the same k
    da = pd.read_csv(on_dask / "assignments.csv")
    dm = pd.read_csv(in_memory / "assignments.csv")
    assert (da["customer_id"] == dm["customer_id"]).all()
    both = da["segment_id"].notna() & dm["segment_id"].notna()
    assert adjusted_rand_score(da["segment_id"][both], dm["segment_id"][both]) >= 0.99
    pa_, pm = pd.read_csv(on_dask / "profiles.csv"), pd.read_csv(in_memory / "profiles.csv")
    assert list(pa_.columns) == list(pm.columns)
    numbers = pm.select_dtypes("number").columns
    assert np.allclose(pa_[numbers], pm[numbers], rtol=5e-4, atol=0)  # 3 significant figures
    assert list(pa_["segment_name"]) == list(pm["segment_name"])
    # Every page before the method appendix reads the same.
    pages_dask, pages_memory = _pdf_text(on_dask / "brief.pdf"), _pdf_text(in_memory / "brief.pdf")
    method = next(i for i, text in enumerate(pages_dask) if "Engine: Dask" in text)
    assert method >= 3
    assert pages_dask[:method] == pages_memory[:method]


def test_scoring_on_the_cluster(cluster, dataset, runs, tmp_path):
    on_dask, in_memory = runs
    folder, _ = dataset
    out = tmp_path / "scored"
    result = CliRunner().invoke(
        app,
        ["score", str(folder), "--model", str(on_dask), "--engine", "dask",
         "--scheduler", cluster.scheduler_address, "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    scored = pd.concat(
        [pd.read_parquet(p) for p in sorted((out / "assignments").glob("*.parquet"))],
        ignore_index=True,
    )
    brief = pd.read_csv(on_dask / "assignments.csv")
    assert len(scored) == ROWS
    assert (scored["segment_id"].fillna(-1).to_numpy() == brief["segment_id"].fillna(-1)).all()
    # model.json keeps its format: the in-memory score reads the Dask run's model.
    one = CliRunner().invoke(app, ["score", str(folder / "part-0.parquet"), "-m", str(on_dask)])
    assert one.exit_code == 0, one.output


def test_a_killed_worker_changes_nothing(cluster, dataset, runs, tmp_path):
    """SIGKILL one worker process while the run works: its nanny starts a new one, Dask
    recomputes the partitions it held, and the run writes the same assignments. (The reference
    run's k is given and the bootstrap skipped: neither changes the assignments or profiles.)"""
    on_dask, _ = runs
    folder, _ = dataset
    with distributed.Client(cluster.scheduler_address) as client:
        pids = list(client.run(os.getpid).values())
    k = len(json.loads((on_dask / "summary.json").read_text())["segments"])
    out = tmp_path / "out"
    run = subprocess.Popen(
        [*REPORTGEN, "brief", str(folder), "--engine", "dask", "--scheduler",
         cluster.scheduler_address, "--out", str(out), "--quiet", "--k", str(k),
         "--resamples", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    killed = threading.Event()
    at_kill: list[int] = []
    client = distributed.Client(cluster.scheduler_address)
    before = _transitions(client)

    def kill_when_working() -> None:
        # Mid-run: once the run's own tasks are under way on the cluster (the sample is drawn
        # and the preparation's passes run), well before its last pass.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and run.poll() is None:
            if (now := _transitions(client)) - before > RUN_TRANSITIONS[0] * 0.3:
                at_kill.append(now)
                os.kill(pids[0], signal.SIGKILL)
                killed.set()
                return
            time.sleep(0.1)

    watcher = threading.Thread(target=kill_when_working)
    watcher.start()
    try:
        _, stderr = run.communicate(timeout=300)
        watcher.join()
        after = _transitions(client)
        workers = client.run(os.getpid)
    finally:
        client.close()
    assert killed.is_set(), "the run ended before a worker could be killed"
    assert run.returncode == 0, stderr
    assert after - at_kill[0] > RUN_TRANSITIONS[0] * 0.3  # the run went on working after it
    assert pids[0] not in workers.values() and len(workers) == 2  # the nanny started another
    assert (out / "assignments.csv").read_bytes() == (on_dask / "assignments.csv").read_bytes()
    assert (out / "profiles.csv").read_bytes() == (on_dask / "profiles.csv").read_bytes()


def _transitions(client) -> int:
    """Task state transitions the scheduler has made so far (a measure of work done)."""
    return int(client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.transition_counter))


def _partition_reads(client) -> int:
    """Partitions read on the cluster so far (a pass over the data reads each once)."""

    def reads(dask_scheduler) -> int:
        return sum(
            dict(p.state_counts).get("memory", 0)
            for name, p in dask_scheduler.task_prefixes.items()
            if name.startswith("read_parquet")
        )

    return int(client.run_on_scheduler(reads))


def test_passes_over_the_data(runs, dataset):
    """The sample, the ids, the preparation's two passes, one per Lloyd iteration, the profiles
    (with the sizes) and the writing: nothing else reads the data."""
    import re

    import dask.dataframe as dd

    on_dask, _ = runs
    folder, _ = dataset
    text = " ".join(_pdf_text(on_dask / "brief.pdf"))
    lloyd = int(re.search(r"Final k-means: (\d+) Lloyd iterations", text).group(1))
    parts = dd.read_parquet(str(folder), blocksize="64MiB").npartitions
    assert RUN_READS[0] / parts == 1 + 1 + 2 + lloyd + 1 + 1


def test_unreachable_scheduler_is_one_line(dataset, tmp_path):
    folder, _ = dataset
    out = tmp_path / "out"
    started = time.monotonic()
    result = subprocess.run(
        [*REPORTGEN, "brief", str(folder), "--engine", "dask", "--scheduler",
         "tcp://127.0.0.1:9", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in lines[0]
    assert time.monotonic() - started < 60
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_without_dask_installed(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    result = CliRunner().invoke(
        app, ["brief", str(tmp_path / "x.parquet"), "--engine", "dask", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert 'pip install "reportgen[dask]"' in result.output


def test_dask_is_imported_only_for_the_dask_engine():
    code = "import sys, reportgen.cli, reportgen.pipeline; print('dask' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


# ------------------------------------------------------------------------------ the fit's passes


def _fit_frame(n: int = 60_000, seed: int = 3) -> pd.DataFrame:
    """Skewed amounts (logged, capped), blanks filled in, a column with outliers to cap, a
    rating, a yes/no column and a date."""
    rng = np.random.default_rng(seed)
    frame = _customers(n, seed)
    frame["score"] = rng.normal(50, 5, n)
    far = rng.random(n) < 0.004  # a few far out: capped
    frame.loc[far, "score"] = 50 + rng.choice([-1, 1], far.sum()) * rng.uniform(40, 90, far.sum())
    frame["member"] = rng.choice([0.0, 1.0], n, p=[0.3, 0.7])
    frame.loc[rng.random(n) < 0.15, "member"] = None
    frame["joined"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 900, n), "D")
    frame["basket"] = rng.lognormal(3, 1, n).round(2)  # filled in, then logged
    frame.loc[rng.random(n) < 0.12, "basket"] = np.nan
    return frame


FIT_COLUMNS = ("age", "spend", "visits", "recency_days", "income", "score", "member", "joined",
               "basket")  # fmt: skip


def _cluster_fit(frame: pd.DataFrame, sample: pd.DataFrame, folder: Path, columns=FIT_COLUMNS):
    import dask
    import dask.dataframe as dd

    from reportgen.analysis.dask_prepare import fit_on_cluster
    from reportgen.analysis.prepare import fit_steps
    from reportgen.io.dictionary import resolve_dictionary

    dictionary = resolve_dictionary(frame, None, columns=columns, id_column=None, units={})
    for i, rows in enumerate(np.array_split(np.arange(len(frame)), 5)):
        frame.iloc[rows].to_parquet(folder / f"part-{i}.parquet", index=False)
    data = dd.read_parquet(str(folder))
    reads = _PartitionReads()
    with dask.config.set(scheduler="synchronous"), reads:
        fitted = fit_on_cluster(data, dictionary, fit_steps(sample, dictionary), sample, len(frame))
    return fitted, fit_steps(frame, dictionary), reads.count / data.npartitions


class _PartitionReads:
    """Counts the tasks that produce a partition of the input (a pass reads each once)."""

    def __init__(self) -> None:
        from dask.callbacks import Callback

        self.count = 0
        self.callback = Callback(pretask=self._task)

    def _task(self, key, dask, state) -> None:
        name = key[0] if isinstance(key, tuple) else key
        self.count += str(name).startswith("read_parquet")

    def __enter__(self):
        self.callback.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.callback.__exit__(*exc)


def _same_steps(on_cluster, in_memory) -> None:
    assert [s.column for s in on_cluster.steps] == [s.column for s in in_memory.steps]
    for a, b in zip(on_cluster.steps, in_memory.steps, strict=True):
        assert (a.kind, a.transform, a.capped, a.imputed) == (
            b.kind,
            b.transform,
            b.capped,
            b.imputed,
        ), a.column
        assert a.reference_date == b.reference_date, a.column
        # Order statistics (and what follows from them) digit for digit; moments to rounding.
        assert (a.impute, a.clip_low, a.clip_high) == (b.impute, b.clip_low, b.clip_high), a.column
        for name in ("mean", "scale"):
            x, y = getattr(a, name), getattr(b, name)
            assert x == pytest.approx(y, rel=1e-9, abs=1e-12), (a.column, name, x, y)


def test_fit_on_cluster_matches_the_in_memory_fit(tmp_path):
    frame = _fit_frame()
    sample = frame.sample(12_000, random_state=1)
    on_cluster, in_memory, passes = _cluster_fit(frame, sample, tmp_path)
    assert passes == 2  # the moments and medians; the MADs, caps and scaler
    assert any(s.capped for s in in_memory.steps) and any(s.imputed for s in in_memory.steps)
    assert any(s.transform == "log1p" and s.imputed for s in in_memory.steps)
    assert {s.kind for s in in_memory.steps if s.imputed} == {"numeric", "binary"}
    assert any(s.kind == "date" for s in in_memory.steps)
    _same_steps(on_cluster, in_memory)


def test_fit_on_cluster_exact_when_the_sample_misleads(tmp_path):
    """A sample from one end of every column: its windows miss the medians and MADs, and the
    fallbacks (bracketing, a pass for the capped values) give the same numbers."""
    frame = _fit_frame()
    sample = frame.nsmallest(12_000, "spend")
    sample = sample[sample["joined"] < "2025-06-01"]  # the latest dates are every row's
    on_cluster, in_memory, passes = _cluster_fit(frame, sample, tmp_path)
    assert passes > 4  # bracketing and the capped values' pass
    from reportgen.analysis.prepare import fit_steps
    from reportgen.io.dictionary import resolve_dictionary

    dictionary = resolve_dictionary(frame, None, columns=FIT_COLUMNS, id_column=None, units={})
    (shape,) = [s for s in fit_steps(sample, dictionary).steps if s.kind == "date"]
    (every,) = [s for s in in_memory.steps if s.kind == "date"]
    assert shape.reference_date < every.reference_date  # the cluster moved it forward
    _same_steps(on_cluster, in_memory)


# ------------------------------------------------------------------------------ repeated ids


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_repeated_ids_left_out_as_in_memory(cluster, tmp_path, kind):
    """Ids repeated within a file and across files: the cluster leaves out the same rows as the
    in-memory engine (the first in file order kept), lists them in assignments.csv with the
    same note, counts them in the brief, and every row is still in the assignments. A Parquet
    folder, and a glob of CSV files (counted in a pass of its own: no footers)."""
    frame = _customers(12_000, seed=11)
    rng = np.random.default_rng(5)
    later = rng.choice(np.arange(3_000, 12_000), 400, replace=False)
    frame.loc[later, "customer_id"] = (
        frame["customer_id"].iloc[rng.integers(0, 3_000, 400)].to_numpy()
    )
    frame.loc[later[:50], "customer_id"] = (
        " " + frame.loc[later[:50], "customer_id"] + " "
    )  # trimmed
    folder = tmp_path / "data" / "customers"
    folder.mkdir(parents=True)
    for i, rows in enumerate(np.array_split(np.arange(len(frame)), 3)):
        part = frame.iloc[rows]
        if kind == "csv":
            part.to_csv(folder / f"part-{i}.csv", index=False)
        else:
            part.to_parquet(folder / f"part-{i}.parquet", index=False)
    whole = tmp_path / f"customers.{kind}"
    frame.to_csv(whole, index=False) if kind == "csv" else frame.to_parquet(whole, index=False)
    dataset = folder / "part-*.csv" if kind == "csv" else folder
    on_dask, in_memory = tmp_path / "dask", tmp_path / "memory"
    fixed = ["--k", "3", "--resamples", "0", "--id-column", "customer_id"]
    _brief([str(dataset), "--engine", "dask", "--scheduler", cluster.scheduler_address,
            "--out", str(on_dask), *fixed])  # fmt: skip
    _brief([str(whole), "--out", str(in_memory), *fixed])
    da = pd.read_csv(on_dask / "assignments.csv", keep_default_na=False)
    dm = pd.read_csv(in_memory / "assignments.csv", keep_default_na=False)
    assert len(da) == len(frame) == len(dm)
    repeated = dm["note"].str.contains("duplicate id in 'customer_id'")
    assert repeated.sum() == 400
    assert (da["note"] == dm["note"]).all()
    assert (da["segment_id"] == "").equals(dm["segment_id"] == "")
    text = " ".join(_pdf_text(on_dask / "brief.pdf"))
    assert "400 rows repeat an id seen earlier" in text


def _repeats_frame() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    ids = pd.Series([f"K{i}" for i in rng.integers(0, 3_000, 5_000)], dtype=object)
    ids[rng.random(5_000) < 0.05] = "  "  # blank ids never repeat
    ids[::97] = " " + ids[::97] + " "  # compared trimmed
    return pd.DataFrame({"customer_id": ids, "x": rng.normal(size=5_000)})


def _cluster_repeats(frame: pd.DataFrame) -> np.ndarray:
    """repeated_rows on 6 partitions, as one boolean per row of `frame`."""
    import dask
    import dask.dataframe as dd

    from reportgen.analysis.dask_prepare import repeated_rows

    data = dd.from_pandas(frame, npartitions=6, sort=False)
    with dask.config.set(scheduler="synchronous"):
        found = repeated_rows(data, "customer_id", len(frame))
    sizes = [len(p) for p in data.to_delayed() for p in [p.compute()]]
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    flags = np.zeros(len(frame), dtype=bool)
    for part, rows in found.items():
        flags[offsets[part] + rows] = True
    return flags


@pytest.mark.parametrize("collide", [False, True])
def test_repeated_rows_are_prepares_repeats(monkeypatch, collide):
    """The rows the cluster finds are the rows `prepare.repeated_ids` finds in the whole table,
    also when every id shares one hash (the text decides, not the hash)."""
    from reportgen.analysis.prepare import repeated_ids

    frame = _repeats_frame()
    if collide:
        monkeypatch.setattr(
            pd.util,
            "hash_pandas_object",
            lambda s, index=False: pd.Series(np.zeros(len(s), np.uint64)),
        )
    expected = repeated_ids(frame["customer_id"])
    assert expected.sum() > 1_000
    assert (_cluster_repeats(frame) == expected).all()


def test_too_many_repeated_ids_is_one_line(monkeypatch):
    from reportgen.analysis import dask_prepare
    from reportgen.errors import InputError

    monkeypatch.setattr(dask_prepare, "MAX_REPEATS", 10)
    with pytest.raises(InputError, match="remove the repeats from the dataset"):
        _cluster_repeats(_repeats_frame())


def test_fit_on_cluster_with_ties(tmp_path):
    """Whole-number columns: the sample's window around a median (or MAD) lies within one
    value, so the pass only counts (nothing gathered however many rows share the value), and
    the fit is still the in-memory one, in two passes."""
    from reportgen.analysis.dask_prepare import sample_window

    rng = np.random.default_rng(8)
    n = 60_000
    frame = pd.DataFrame(
        {
            "rating": rng.choice([1.0, 2.0, 3.0, 4.0, 5.0], n, p=[0.1, 0.2, 0.4, 0.2, 0.1]),
            "visits": rng.poisson(3, n).astype(float),
            "spend": rng.lognormal(4, 0.5, n).round(2),
        }
    )
    frame.loc[rng.random(n) < 0.12, "visits"] = np.nan  # filled in with the median
    sample = frame.sample(40_000, random_state=2)
    window = sample_window(sample["rating"].to_numpy(), n)
    assert window is not None and window.point and window.low == 3.0
    on_cluster, in_memory, passes = _cluster_fit(frame, sample, tmp_path, columns=None)
    assert passes == 2
    assert any(s.imputed for s in in_memory.steps)
    _same_steps(on_cluster, in_memory)


# ------------------------------------------------------------------------------ the Engine seam


def test_dask_engine_matches_the_in_memory_engine():
    """The `Engine` protocol's methods over a Dask dataframe (the brief uses lloyd_steps and
    the windows instead, so they are checked here): the same column statistics and the same
    Lloyd result as InMemoryEngine."""
    import dask
    import dask.dataframe as dd

    from reportgen.analysis.dask_engine import DaskEngine
    from reportgen.analysis.engine import InMemoryEngine

    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"a": rng.lognormal(2, 1, 30_000), "b": rng.normal(0, 3, 30_000)})
    frame.loc[rng.random(30_000) < 0.1, "a"] = np.nan
    data = dd.from_pandas(frame, npartitions=4, sort=False)
    with dask.config.set(scheduler="synchronous"):
        ours = DaskEngine().column_stats(data, ["a", "b"])
        theirs = InMemoryEngine().column_stats(frame, ["a", "b"])
        for name in ("count", "blanks"):
            assert (getattr(ours, name) == getattr(theirs, name)).all(), name
        for name in ("mean", "sd", "skew", "median", "mad"):
            assert np.allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-12), name
        assert np.allclose(ours.quantiles, theirs.quantiles, rtol=1e-12)
        x = frame[["b"]].assign(c=rng.normal(size=30_000)).fillna(0.0)
        start = x.to_numpy()[:3]
        lazy = DaskEngine().lloyd(dd.from_pandas(x, npartitions=4, sort=False), start, 50, 1e-4)
    eager = InMemoryEngine().lloyd(x.to_numpy(), start, 50, 1e-4)
    assert lazy.sizes == eager.sizes and lazy.n_iter == eager.n_iter
    assert np.allclose(lazy.centers, eager.centers, rtol=1e-9)
    assert lazy.inertia == pytest.approx(eager.inertia, rel=1e-9)
