"""The Dask engine on a dataset larger than its workers' memory, beside the in-memory engine.

    .venv/bin/python benchmarks/dask_engine.py --rows 50_000_000 --workers 2 --memory 1GiB
    .venv/bin/python benchmarks/dask_engine.py --rows 2_000_000 --memory-rows 2_000_000  # quick
    # --ids: a customer_id column (the repeated-ids search); --repeat 3: median of 3 Dask briefs
    # Before/after a change: the same command from a `git worktree` of the old commit, run with
    # cwd and PYTHONPATH set to that worktree (the workers must import the same code).

1. Writes a synthetic Parquet dataset (float64 features, four groups with skewed amounts; with
   --ids a distinct customer_id first) in
   files of --file-rows rows, one file at a time with pyarrow: never the whole table in memory.
   Checks the free disk first.
2. Starts a LocalCluster of --workers processes with --memory each (the nanny restarts a worker
   that passes it) and runs `reportgen brief DATASET --engine dask --scheduler ...` as its own
   process: wall time, each worker's peak resident memory (ru_maxrss, asked of the workers at the
   end, with how many times a worker was restarted), the driver's peak, and the passes over
   the data (partitions read on the cluster, divided by the number of partitions).
3. In the same run, the in-memory engine (`reportgen brief FILE.parquet`) on the first
   --memory-rows rows as one file: its wall time and peak memory; and, at that size, the Dask
   engine too, with the adjusted Rand index between the two and whether k agrees.

Prints one table; the numbers go in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

COLUMNS = 10
REPORTGEN = [sys.executable, "-m", "reportgen"]


def write_dataset(folder: Path, rows: int, file_rows: int, seed: int = 1, ids: bool = False) -> int:
    """`rows` rows of COLUMNS float64 features in files of `file_rows` rows (with `ids`, a
    customer_id column first, every id distinct); bytes written."""
    folder.mkdir(parents=True, exist_ok=True)
    centres = np.random.default_rng(seed).normal(0, 2.5, size=(4, COLUMNS))
    written = 0
    for i, start in enumerate(range(0, rows, file_rows)):
        n = min(file_rows, rows - start)
        rng = np.random.default_rng([seed, i])
        group = rng.choice(4, size=n, p=[0.4, 0.3, 0.2, 0.1])
        x = centres[group] + rng.normal(size=(n, COLUMNS))
        x[:, :3] = np.exp(x[:, :3] / 2)  # amounts: positive, skewed (log-transformed)
        columns = {f"f{j}": x[:, j] for j in range(COLUMNS)}
        if ids:
            text = np.char.add("C", np.arange(start, start + n).astype("U12"))
            columns = {"customer_id": pa.array(text, pa.string()), **columns}
        table = pa.table(columns)
        path = folder / f"part-{i:05d}.parquet"
        pq.write_table(table, path, compression="none")
        written += path.stat().st_size
        del x, table
    return written


def one_file(folder: Path, rows: int, target: Path) -> None:
    """The first `rows` rows of the dataset as one Parquet file, streamed file by file."""
    writer = None
    left = rows
    for path in sorted(folder.glob("*.parquet")):
        if left <= 0:
            break
        table = pq.read_table(path).slice(0, left)
        writer = writer or pq.ParquetWriter(target, table.schema, compression="none")
        writer.write_table(table)
        left -= len(table)
    assert writer is not None
    writer.close()


def remove_run(out: Path) -> None:
    """A published run: OUT is a link to its run folder (deliver/files.py); both go."""
    if out.is_symlink():
        shutil.rmtree(out.resolve(), ignore_errors=True)
        out.unlink()
    else:
        shutil.rmtree(out, ignore_errors=True)


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and the peak resident memory (GiB) of one command (its own rusage)."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"failed: {' '.join(cmd)}\n{err.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss / 2**20


def partition_reads(client: object) -> int:
    """Partitions read so far on the cluster: tasks of the 'read_parquet' prefix that finished
    (every pass over the data reads each partition once; dask keeps nothing between passes)."""

    def reads(dask_scheduler: object) -> int:
        prefixes = dask_scheduler.task_prefixes  # type: ignore[attr-defined]
        return sum(
            dict(p.state_counts).get("memory", 0)
            for name, p in prefixes.items()
            if name.startswith("read_parquet")
        )

    return int(client.run_on_scheduler(reads))  # type: ignore[attr-defined]


def partitions(folder: Path) -> int:
    import dask.dataframe as dd

    return int(dd.read_parquet(str(folder), blocksize="64MiB").npartitions)


def worker_peaks(client: object) -> list[float]:
    def peak() -> float:
        import resource as r

        return r.getrusage(r.RUSAGE_SELF).ru_maxrss / 2**20

    return sorted(client.run(peak).values())  # type: ignore[attr-defined]


def ari(a: Path, b: Path) -> tuple[float, bool]:
    from sklearn.metrics import adjusted_rand_score

    x = pd.read_parquet(a / "assignments", columns=["segment_id"])["segment_id"]
    y = pd.read_csv(b / "assignments.csv", usecols=["segment_id"])["segment_id"]
    ok = x.notna().to_numpy() & y.notna().to_numpy()
    ka = len(json.loads((a / "summary.json").read_text())["segments"])
    kb = len(json.loads((b / "summary.json").read_text())["segments"])
    return float(adjusted_rand_score(x[ok], y[ok])), ka == kb


def lloyd_against_dask_ml(folder: Path, k: int = 4, seed: int = 0) -> None:
    """The final k-means both ways on the same rows and the same start: DaskEngine's Lloyd
    reductions against dask-ml's KMeans (init = the start's centres), on the running cluster."""
    import dask.dataframe as dd
    from dask_ml.cluster import KMeans

    from reportgen.analysis.dask_engine import DaskEngine
    from reportgen.analysis.engine import fit_kmeans

    frame = dd.read_parquet(str(folder), blocksize="64MiB")
    mean, sd = frame.mean().compute(), frame.std().compute()
    scaled = frame.map_partitions(lambda part: (part - mean) / sd)
    start_rows = scaled.head(50_000).to_numpy()
    start = fit_kmeans(start_rows, k, seed, 3).cluster_centers_
    t = time.perf_counter()
    ours = DaskEngine().lloyd(scaled, start, 300, 1e-4)
    ours_s = time.perf_counter() - t
    t = time.perf_counter()
    theirs = KMeans(n_clusters=k, init=start, max_iter=300, tol=1e-4, random_state=seed)
    theirs.fit(scaled.to_dask_array(lengths=True))
    theirs_s = time.perf_counter() - t
    gap = np.abs(np.sort(ours.centers, axis=0) - np.sort(theirs.cluster_centers_, axis=0)).max()
    print(
        f"final k-means on {folder.name}: Lloyd reductions {ours_s:.1f} s ({ours.n_iter} "
        f"iterations), dask-ml KMeans {theirs_s:.1f} s ({theirs.n_iter_} iterations); "
        f"ratio {theirs_s / ours_s:.2f}; largest centre difference {gap:.2e}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=50_000_000)
    p.add_argument("--file-rows", type=int, default=1_000_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--memory", default="1GiB", help="memory limit per worker")
    p.add_argument("--memory-rows", type=int, default=10_000_000, help="in-memory engine's size")
    p.add_argument("--compare-rows", type=int, default=1_000_000, help="both engines' size")
    p.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "reportgen-dask")
    p.add_argument("--keep", action="store_true", help="keep the dataset for another run")
    p.add_argument("--repeat", type=int, default=1, help="dask briefs at --rows (median wall)")
    p.add_argument("--ids", action="store_true", help="a customer_id column (the repeat search)")
    p.add_argument("--lloyd-only", action="store_true", help="only Lloyd against dask-ml")
    args = p.parse_args()
    from distributed import Client, LocalCluster

    need = (args.rows * 1.1 + args.memory_rows + args.compare_rows * 2) * COLUMNS * 8
    free = shutil.disk_usage(args.root.parent).free
    if free < need:
        raise SystemExit(f"{free / 2**30:.1f} GiB free, {need / 2**30:.1f} GiB needed")
    tag = "-ids" if args.ids else ""
    data = args.root / f"data-{args.rows}{tag}"
    if not data.exists():
        started = time.perf_counter()
        size = write_dataset(data, args.rows, args.file_rows, ids=args.ids)
        print(f"wrote {size / 2**30:.2f} GiB in {time.perf_counter() - started:.0f} s")
    size = sum(f.stat().st_size for f in data.glob("*.parquet"))
    large = args.root / f"first-{args.memory_rows}{tag}.parquet"
    if not large.exists():
        one_file(data, args.memory_rows, large)
    # The comparison: the dataset's first files as a dataset (partitions as in the large run:
    # one Parquet row group is one partition, and must fit a worker) and as one file.
    small = args.root / f"first-{args.compare_rows}{tag}.parquet"
    small_dir = args.root / f"first-{args.compare_rows}{tag}"
    if not small.exists():
        one_file(data, args.compare_rows, small)
        small_dir.mkdir(exist_ok=True)
        for path in sorted(data.glob("*.parquet"))[: -(-args.compare_rows // args.file_rows)]:
            shutil.copy(path, small_dir / path.name)
    rows = []
    with (
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            memory_limit=args.memory,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        address = cluster.scheduler_address
        if args.lloyd_only:
            lloyd_against_dask_ml(small_dir)
            return
        pids = set(client.run(os.getpid).values())
        out = args.root / "out-dask"
        cmd = [*REPORTGEN, "brief", str(data), "--engine", "dask", "--scheduler", address]
        walls, drivers = [], []
        read = partition_reads(client)
        for _ in range(args.repeat):
            remove_run(out)  # the previous repeat's run folder (its assignments are large)
            w_, d_ = timed([*cmd, "--out", str(out), "--quiet"])
            walls.append(w_)
            drivers.append(d_)
            print(f"dask brief of {args.rows:,} rows: {w_:.1f} s", flush=True)
        passes = (partition_reads(client) - read) / partitions(data) / args.repeat
        wall, driver = float(np.median(walls)), max(drivers)
        restarts = len(set(client.run(os.getpid).values()) - pids)
        peaks = worker_peaks(client)
        rows.append(("dask", args.rows, size, wall, driver, peaks, restarts, passes))
        print("measured:", rows[-1], flush=True)
        out_small = args.root / "out-dask-small"
        small_cmd = [*REPORTGEN, "brief", str(small_dir), "--engine", "dask", "--scheduler"]
        read = partition_reads(client)
        wall_s, driver_s = timed([*small_cmd, address, "--out", str(out_small), "--quiet"])
        passes = (partition_reads(client) - read) / partitions(small_dir)
        rows.append(
            ("dask", args.compare_rows, small.stat().st_size, wall_s, driver_s, [], 0, passes)
        )
    out_mem = args.root / "out-memory"
    wall_m, peak_m = timed([*REPORTGEN, "brief", str(small), "--out", str(out_mem), "--quiet"])
    rows.append(("memory", args.compare_rows, small.stat().st_size, wall_m, peak_m, [], 0, 0))
    score, same_k = ari(out_small, out_mem)
    out_large = args.root / "out-memory-large"
    wall_l, peak_l = timed([*REPORTGEN, "brief", str(large), "--out", str(out_large), "--quiet"])
    rows.append(("memory", args.memory_rows, large.stat().st_size, wall_l, peak_l, [], 0, 0))
    print(f"\n{args.workers} workers x {args.memory}, {COLUMNS} float64 features")
    print(
        "engine   rows          on disk   wall s   driver peak GiB   worker peaks GiB  restarts"
        "  passes"
    )
    for engine, n, nbytes, w, drv, pk, rs, ps in rows:
        shown = ", ".join(f"{x:.2f}" for x in pk) or "-"
        print(
            f"{engine:<8} {n:>12,} {nbytes / 2**30:>7.2f} GiB {w:>7.1f}   {drv:>15.2f}   "
            f"{shown:>16}  {rs:>8}  {ps:>6.1f}"
        )
    print(
        f"at {args.compare_rows:,} rows: dask / memory wall time {wall_s / wall_m:.2f}; ARI "
        f"{score:.4f}; same k: {same_k}"
    )
    if not args.keep:
        shutil.rmtree(args.root, ignore_errors=True)


if __name__ == "__main__":
    main()
