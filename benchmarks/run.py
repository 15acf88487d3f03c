"""Scale benchmark: `reportgen brief` end to end vs one plain k-means fit on the same matrix.

    python benchmarks/run.py --rows 100000 1000000 --format csv parquet --repeats 3
    python benchmarks/run.py --demo            # the 150-row demo vs importing its libraries
    python benchmarks/run.py --rows 1000000 --stages --before /tmp/old-checkout  # stage table
    python benchmarks/run.py --rows 1000000 --cores 1 2      # the same brief on 1 and 2 cores

For each size and format: generate synthetic customers (an id plus 10 numeric features, 5 planted
segments) under /tmp/reportgen-bench (never committed), run `python -m reportgen brief FILE --out
DIR --quiet` in a subprocess as a user would, and in a separate subprocess time the baseline: one
scikit-learn `KMeans(n_clusters=5, n_init=10)` fit on the very matrix the brief clusters (loaded and
prepared by reportgen, fit timed alone). Prints the median wall time over the repeats, the ratio
brief / baseline and the peak RSS of the brief process (ru_maxrss of that child, from wait4).

`--stages` times each stage in process (the pipeline's stage functions wrapped with a timer, in a
child process), for this checkout and, with `--before DIR` (another checkout's root, put first on
PYTHONPATH), for that one too, alternating in the same run: a table by stage before/after.
At the end the issue-20 targets are printed with PASS/MISS for the sizes that were measured.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(os.environ.get("REPORTGEN_BENCH_DIR", "/tmp/reportgen-bench"))
N_FEATURES = 10
K_TRUE = 5
CHUNK = 1_000_000
# Every library a demo run imports (engine.offload.ANALYSIS_MODULES, PRESENTATION_MODULES).
DEMO_IMPORTS = (
    "import reportgen.pipeline, reportgen.cli, weasyprint, sklearn.cluster, sklearn.metrics, "
    "sklearn.mixture, scipy.stats, scipy.optimize, matplotlib.figure, seaborn, pandas, kneed, "
    "jinja2, threadpoolctl"
)

BASELINE = r"""
import sys, time
from reportgen.io.load import read_table
from reportgen.io.dictionary import resolve_dictionary
from reportgen.analysis.prepare import prepare
from sklearn.cluster import KMeans
table = read_table(sys.argv[1])
prepared = prepare(table.frame, resolve_dictionary(table.frame))
x = prepared.scaled
del table
t = time.perf_counter()
KMeans(n_clusters=5, n_init=10, random_state=0).fit(x)
print(time.perf_counter() - t, x.shape[0], x.shape[1], x.dtype)
"""


# In a child process: build_brief with each stage function wrapped by a timer; prints JSON.
STAGES = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import reportgen.pipeline as p
import reportgen.report.charts as charts
import reportgen.report.render as render
imported = time.perf_counter() - t0
times, order = {}, []
def wrap(mod, name, label):
    if not hasattr(mod, name):
        return
    fn = getattr(mod, name)
    def timed(*a, **k):
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            if label not in times:
                order.append(label)
            times[label] = times.get(label, 0.0) + time.perf_counter() - t
    setattr(mod, name, timed)
for mod, name, label in [
    (p, "_read", "read"), (p, "_dictionary", "dictionary"), (p, "prepare", "prepare"),
    (p, "screen_features", "screen"), (p, "choose_k", "choose k"), (p, "cluster", "final fit"),
    (p, "evaluate", "stability"), (p, "assign_left_out", "assign left out"),
    (p, "profile", "profiles"), (p, "_names", "names"), (charts, "draw_all", "charts"),
    (p, "k_tree", "k tree"), (p, "build_context", "context"),
    (render, "render_all", "PDFs"), (p, "write_workbook", "brief.xlsx"),
    (p, "_model", "model.json"),
]:
    wrap(mod, name, label)
if __name__ == "__main__":
    t = time.perf_counter()
    p.build_brief(sys.argv[1], out_dir=sys.argv[2])
    total = time.perf_counter() - t
    times["import"] = imported
    times["other"] = total - sum(v for k, v in times.items() if k != "import")
    times["total"] = total + imported
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # the second process, once it ended
    cpu = "CPU (all threads, processes)"
    times[cpu] = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    rss = me.ru_maxrss / 1024
    order = ["import", *order, "other", "total", cpu]
    print(json.dumps({"order": order, "times": times, "rss": rss}))
"""
STAGE_FILE = ROOT / "stages_child.py"


# --------------------------------------------------------------------------- data


ID_KIND = {"ids": "text"}  # --ids: "C00000042" or 42 (the table used integer ids)


def generate(n: int, fmt: str) -> Path:
    """Write n synthetic customers (chunked, so 10M rows never sit in memory as text)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    ROOT.mkdir(parents=True, exist_ok=True)
    integer = ID_KIND["ids"] == "integer"
    path = ROOT / f"customers_{n}{'_intid' if integer else ''}.{fmt}"
    if path.exists():
        return path
    tmp = path.with_suffix(path.suffix + ".part")
    rng = np.random.default_rng(20240601)
    centres = rng.uniform(-3, 3, size=(K_TRUE, N_FEATURES))
    shares = np.array([0.32, 0.25, 0.18, 0.15, 0.10])
    # Each feature in its own units: (mean, sd) of the planted group noise.
    units = [
        (45, 6),
        (8, 2),
        (120, 30),
        (3, 0.6),
        (20, 5),
        (1_000, 150),
        (60, 12),
        (5, 1.5),
        (300, 40),
        (12, 3),
    ]
    writer = None
    try:
        for start in range(0, n, CHUNK):
            m = min(CHUNK, n - start)
            group = rng.choice(K_TRUE, size=m, p=shares)
            z = centres[group] + rng.normal(size=(m, N_FEATURES))
            number = np.arange(start, start + m) + 100_001
            cols = {
                "customer_id": pa.array(number)
                if integer
                else pa.array(
                    np.char.add("C", np.char.zfill((number - 100_001).astype(str), 8)).astype(
                        object
                    )
                )
            }
            for j, (mu, sd) in enumerate(units):
                cols[f"f{j + 1:02d}"] = pa.array(np.round(mu + sd * z[:, j], 2))
            batch = pa.table(cols)
            if writer is None:
                writer = (
                    pq.ParquetWriter(tmp, batch.schema)
                    if fmt == "parquet"
                    else pacsv.CSVWriter(tmp, batch.schema)
                )
            writer.write_table(batch)
    finally:
        if writer is not None:
            writer.close()
    tmp.rename(path)
    return path


# --------------------------------------------------------------------------- measuring


def run_measured(cmd: list[str]) -> tuple[float, float, str, float]:
    """(wall seconds, peak RSS in MB, stdout, peak RSS of the process and its children together
    in MB) of one child process. The first is the kernel's (wait4: the larger of the process and
    its largest child); the last is sampled from /proc every 20 ms (the brief's worker process
    runs beside it), so it can miss a peak shorter than that."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tree = {"peak_kb": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            pids = [proc.pid] + _children(proc.pid)
            tree["peak_kb"] = max(tree["peak_kb"], sum(_rss_kb(p) for p in pids))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    done.set()
    sampler.join()
    out = proc.stdout.read()
    err = proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-2000:]}")
    return wall, usage.ru_maxrss / 1024, out, tree["peak_kb"] / 1024


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def bench_size(n: int, fmt: str, repeats: int, baseline_repeats: int) -> dict:
    path = generate(n, fmt)
    out = ROOT / f"out_{n}_{fmt}"
    briefs = [
        run_measured(
            [sys.executable, "-m", "reportgen", "brief", str(path), "--out", str(out), "--quiet"]
        )
        for _ in range(repeats)
    ]
    fits = []
    for _ in range(baseline_repeats):
        _, _, text, _ = run_measured([sys.executable, "-c", BASELINE, str(path)])
        fits.append(float(text.split()[0]))
    brief_s = statistics.median(b[0] for b in briefs)
    fit_s = statistics.median(fits)
    return {
        "rows": n,
        "format": fmt,
        "brief_s": brief_s,
        "briefs": [round(b[0], 1) for b in briefs],
        "fit_s": fit_s,
        "fits": [round(f, 2) for f in fits],
        "ratio": brief_s / fit_s,
        "rss_mb": max(b[1] for b in briefs),
        "tree_mb": max(b[3] for b in briefs),
        "raw_mb": n * N_FEATURES * 8 / 1e6,
        "file_mb": path.stat().st_size / 1e6,
    }


def bench_demo(repeats: int) -> dict:
    imports = [run_measured([sys.executable, "-c", DEMO_IMPORTS])[0] for _ in range(repeats)]
    demos = [
        run_measured(
            [sys.executable, "-m", "reportgen", "demo", "--out", str(ROOT / "out_demo"), "--quiet"]
        )[0]
        for _ in range(repeats)
    ]
    imp, demo = statistics.median(imports), statistics.median(demos)
    return {
        "import_s": imp,
        "demo_s": demo,
        "ratio": demo / imp,
        "imports": [round(x, 2) for x in imports],
        "demos": [round(x, 2) for x in demos],
    }


def stage_times(path: Path, out: Path, tree: Path | None) -> dict:
    """One in-process run of the brief with each stage timed (see STAGES); `tree`: the checkout
    to run instead of this one."""
    STAGE_FILE.write_text(STAGES)
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    proc = subprocess.run(
        [sys.executable, str(STAGE_FILE), str(path), str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"stage run failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_stages(n: int, fmt: str, repeats: int, before: Path | None) -> None:
    """The table by stage: medians of `repeats` runs, this checkout and `before` alternating."""
    path = generate(n, fmt)
    trees: list[tuple[str, Path | None]] = [("after", None)]
    if before is not None:
        trees.insert(0, ("before", before))
    runs: dict[str, list[dict]] = {label: [] for label, _ in trees}
    for _ in range(repeats):
        for label, tree in trees:
            runs[label].append(stage_times(path, ROOT / f"out_stages_{n}_{fmt}_{label}", tree))
    last = ("other", "total", "CPU (all threads, processes)")
    order = [name for name in runs["after"][0]["order"] if name not in last]
    for label, _ in trees:
        order += [n for n in runs[label][0]["order"] if n not in order and n not in last]
    order += list(last)
    print(f"\nstages, {n:,} rows {fmt} (in process, medians of {repeats}; seconds)")
    head = "".join(f"{label:>10}" for label, _ in trees)
    print(f"{'stage':<30}{head}" + ("     after/before" if before is not None else ""))
    for name in order:
        med = [
            statistics.median(r["times"].get(name, 0.0) for r in runs[label]) for label, _ in trees
        ]
        ratio = f"{med[-1] / med[0]:>17.2f}" if before is not None and med[0] > 0.005 else ""
        print(f"{name:<30}" + "".join(f"{m:>10.2f}" for m in med) + ratio)
    rss = [max(r["rss"] for r in runs[label]) for label, _ in trees]
    print(f"{'peak RSS (MiB)':<30}" + "".join(f"{m:>10.0f}" for m in rss), flush=True)


def bench_cores(n: int, fmt: str, cores: list[int], repeats: int) -> dict[int, float]:
    """The same brief pinned to the first `c` cores (taskset), median wall time per count."""
    path = generate(n, fmt)
    out: dict[int, float] = {}
    for c in cores:
        cpus = ",".join(str(i) for i in range(c))
        cmd = ["taskset", "-c", cpus, sys.executable, "-m", "reportgen", "brief", str(path)]
        cmd += ["--out", str(ROOT / f"out_cores_{c}"), "--quiet"]
        out[c] = statistics.median(run_measured(cmd)[0] for _ in range(repeats))
        print(f"{n:,} rows {fmt} on {c} core(s): {out[c]:.1f} s", flush=True)
    return out


def import_time(repeats: int) -> float:
    return statistics.median(
        run_measured([sys.executable, "-c", DEMO_IMPORTS])[0] for _ in range(repeats)
    )


def print_targets(results: list[dict], demo: dict | None, imports: float | None) -> None:
    """Issue 20's targets for the sizes measured in this run, PASS or MISS and by how much."""
    by = {(r["rows"], r["format"]): r for r in results}
    lines = []

    def verdict(name: str, value: float, limit: float, unit: str = "") -> None:
        ok = value <= limit
        miss = "" if ok else f" (missed by {value / limit - 1:.0%})"
        lines.append(
            f"{'PASS' if ok else 'MISS'}  {name}: {value:.2f}{unit} <= {limit:.2f}{unit}{miss}"
        )

    if imports is not None and (100_000, "parquet") in by:
        verdict("100k brief / library imports", by[(100_000, "parquet")]["brief_s"] / imports, 1.8)
    if demo is not None:
        verdict("demo / library imports", demo["ratio"], 1.8)
    for fmt in ("parquet", "csv"):
        if (1_000_000, fmt) in by:
            verdict(f"1M {fmt} brief / KMeans fit", by[(1_000_000, fmt)]["ratio"], 2.2)
    if (10_000_000, "parquet") in by:
        r = by[(10_000_000, "parquet")]
        verdict("10M parquet brief / KMeans fit", r["ratio"], 1.3)
        verdict("10M peak RSS", r["rss_mb"] * 2**20 / 1e9, 2.8, " GB")
    sizes = [(1_000_000, "parquet"), (3_000_000, "parquet"), (10_000_000, "parquet")]
    if all(s in by for s in sizes):
        t1, t3, t10 = (by[s]["brief_s"] for s in sizes)
        early, late = (t3 - t1) / 2, (t10 - t3) / 7
        verdict("marginal s per million, 3M->10M / 1M->3M", late / early, 1.2)
    if lines:
        print("\ntargets (issue 20):", *lines, sep="\n  ", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--format", nargs="+", default=["parquet"], choices=["csv", "parquet"])
    parser.add_argument("--repeats", type=int, default=3, help="brief runs per size (median)")
    parser.add_argument("--baseline-repeats", type=int, default=3)
    parser.add_argument("--demo", action="store_true", help="also time the demo vs its imports")
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument("--stages", action="store_true", help="also the table by stage")
    parser.add_argument("--before", type=Path, help="checkout root to compare stages with")
    parser.add_argument("--cores", type=int, nargs="*", help="1M brief pinned to N cores")
    parser.add_argument("--ids", choices=["text", "integer"], default="text")
    args = parser.parse_args(argv)
    ID_KIND["ids"] = args.ids
    ROOT.mkdir(parents=True, exist_ok=True)
    if args.generate_only:
        for n in args.rows:
            for fmt in args.format:
                print(generate(n, fmt))
        return
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, data in {ROOT}", flush=True)
    if args.rows:
        print(
            f"{'rows':>11} {'format':>7} {'file MB':>8} {'brief s':>8} {'KMeans s':>9} "
            f"{'ratio':>6} {'peak RSS MB':>12} {'RSS/raw':>8} {'+worker MB':>11}  "
            "runs (brief | fit)",
            flush=True,
        )
    results = []
    for n in args.rows:
        for fmt in args.format:
            r = bench_size(n, fmt, args.repeats, args.baseline_repeats)
            results.append(r)
            print(
                f"{r['rows']:>11,} {r['format']:>7} {r['file_mb']:>8.0f} {r['brief_s']:>8.1f} "
                f"{r['fit_s']:>9.2f} {r['ratio']:>6.2f} {r['rss_mb']:>12.0f} "
                f"{r['rss_mb'] / r['raw_mb']:>8.2f} {r['tree_mb']:>11.0f}  "
                f"{r['briefs']} | {r['fits']}",
                flush=True,
            )
    demo = None
    if args.demo:
        demo = r = bench_demo(args.repeats)
        print(
            f"demo: {r['demo_s']:.2f} s vs importing its libraries {r['import_s']:.2f} s -> "
            f"ratio {r['ratio']:.2f}  (runs {r['demos']} | {r['imports']})",
            flush=True,
        )
    imports = demo["import_s"] if demo else None
    if imports is None and any(r["rows"] == 100_000 for r in results):
        imports = import_time(args.repeats)
        print(f"importing the brief's libraries: {imports:.2f} s", flush=True)
    if args.stages:
        for n in args.rows:
            for fmt in args.format:
                bench_stages(n, fmt, args.repeats, args.before)
    if args.cores:
        bench_cores(1_000_000, args.format[0], args.cores, args.repeats)
    print_targets(results, demo, imports)


if __name__ == "__main__":
    main()
