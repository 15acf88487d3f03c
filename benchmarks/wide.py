"""Wide tables: wall time and peak memory of `reportgen brief` against a stated budget.

    python benchmarks/wide.py                       # every case below
    python benchmarks/wide.py --cases 2000x100000   # one case (COLUMNSxROWS)

Issue 16 item 2: memory must stay bounded however wide the input is. Each case writes a
synthetic table (an integer id plus COLUMNS numeric columns drawn around 4 planted groups) under
/tmp/reportgen-bench (never committed), runs the brief in a subprocess exactly as a user would,
and reports its wall time, exit code, first line of error output and peak RSS (ru_maxrss of the
child, from wait4).

The budget (stated here and in benchmarks/README.md): peak RSS <= 3 x the input matrix (rows x
columns x 8 bytes: the table as read, the values in units and the scaled matrix) + 700 MiB (the
libraries, charts and PDF layout of a brief), and at most 600 s. A table the product refuses
(more columns than io.load.MAX_COLUMNS, more segmentation columns than
prepare.MAX_SEGMENT_FEATURES) must be refused with a one-line error (exit code 2) within the same
budget. Each case prints PASS or FAIL against it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(os.environ.get("REPORTGEN_BENCH_DIR", "/tmp/reportgen-bench"))
FIXED_MIB = 700
MATRIX_COPIES = 3
TIME_LIMIT_S = 600
# (columns, rows, format): the two cases, then the widest tables the product segments.
CASES = [
    (2_000, 100_000, "parquet"),
    (1_500, 60, "csv"),
    (1_000, 60, "csv"),
    (500, 60, "csv"),
    (100, 100_000, "parquet"),
    (100, 60, "csv"),
]


def generate(columns: int, rows: int, fmt: str) -> Path:
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    ROOT.mkdir(parents=True, exist_ok=True)
    path = ROOT / f"wide_{columns}x{rows}.{fmt}"
    if path.exists():
        return path
    rng = np.random.default_rng(columns * 7 + rows)
    group = rng.integers(0, 4, rows)
    centres = rng.normal(size=(4, columns)) * 2
    data = {"customer_id": pa.array(np.arange(1, rows + 1))}
    for j in range(columns):  # column by column: never a second copy of the whole table
        data[f"m{j:04d}"] = pa.array(np.round(centres[group, j] + rng.normal(size=rows), 3))
    table = pa.table(data)
    tmp = path.with_suffix(".part")
    if fmt == "parquet":
        pq.write_table(table, tmp)
    else:
        pacsv.write_csv(table, tmp)
    tmp.rename(path)
    return path


def run_case(columns: int, rows: int, fmt: str) -> dict:
    # Written by a child process: a brief forked from a parent that held the table would start
    # with the parent's resident pages counted in its ru_maxrss.
    path = ROOT / f"wide_{columns}x{rows}.{fmt}"
    if not path.exists():
        script = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import wide; "
        script += f"wide.generate({columns}, {rows}, {fmt!r})"
        subprocess.run([sys.executable, "-c", script], check=True)
    out = ROOT / f"out_wide_{columns}x{rows}"
    cmd = [sys.executable, "-m", "reportgen", "brief", str(path), "--out", str(out), "--quiet"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except KeyboardInterrupt:
        proc.kill()
        raise
    wall = time.perf_counter() - start
    err = (proc.stderr.read() if proc.stderr else "").strip().splitlines()
    code = os.waitstatus_to_exitcode(status)
    matrix_mib = rows * columns * 8 / 2**20
    budget = MATRIX_COPIES * matrix_mib + FIXED_MIB
    rss = usage.ru_maxrss / 1024
    clean = code == 0 or (code == 2 and len(err) == 1)
    ok = clean and rss <= budget and wall <= TIME_LIMIT_S
    return {
        "case": f"{columns:,} columns x {rows:,} rows ({fmt})",
        "wall": wall,
        "code": code,
        "message": err[-1] if err else "",
        "rss": rss,
        "budget": budget,
        "verdict": "PASS" if ok else "FAIL",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", help="COLUMNSxROWS[:csv|parquet] (default: all)")
    args = parser.parse_args(argv)
    cases = CASES
    if args.cases:
        cases = []
        for text in args.cases:
            size, _, fmt = text.partition(":")
            columns, rows = (int(v) for v in size.split("x"))
            cases.append((columns, rows, fmt or "parquet"))
    print(
        f"budget: peak RSS <= {MATRIX_COPIES} x matrix + {FIXED_MIB} MiB, wall <= "
        f"{TIME_LIMIT_S} s; refusals must be one line with exit code 2",
        flush=True,
    )
    for columns, rows, fmt in cases:
        r = run_case(columns, rows, fmt)
        print(
            f"{r['verdict']}  {r['case']}: {r['wall']:.1f} s, exit {r['code']}, peak RSS "
            f"{r['rss']:.0f} MiB (budget {r['budget']:.0f})"
            + (f"\n      {r['message'][:160]}" if r["code"] else ""),
            flush=True,
        )


if __name__ == "__main__":
    main()
