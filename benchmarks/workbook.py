"""What brief.xlsx adds to a run: the workbook's time inside real briefs, against the whole brief,
against XlsxWriter writing the same Customers rows cell by cell, and against assignments.csv.

    python benchmarks/workbook.py [--rows 100000 1000000] [--repeats 3]

Synthetic customers (an id plus 6 numeric features, 4 planted segments) are written as Parquet
under /tmp/reportgen-bench; each repeat runs `build_brief` in this process with
`pipeline.write_workbook` wrapped by a timer, so the workbook is timed exactly where the run
writes it (all of its sheets: XlsxWriter in constant_memory mode, the Customers rows spliced in
from Arrow text). Baselines on the same frame: XlsxWriter's own `write_number`/`write_string`
for every Customers cell (constant_memory, the documented way), and the CSV writer the run
uses for assignments.csv (`deliver.files.write_csv`). Medians of the repeats.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reportgen import pipeline
from reportgen.deliver.files import write_csv

ROOT = Path("/tmp/reportgen-bench")


def make_data(rows: int) -> Path:
    path = ROOT / f"workbook-{rows}.parquet"
    if path.exists():
        return path
    ROOT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    group = rng.integers(0, 4, rows)
    centres = rng.normal(0, 3, (4, 6))
    x = centres[group] + rng.normal(0, 1, (rows, 6))
    frame = pd.DataFrame({f"f{j}": x[:, j] * (10**j) for j in range(6)})
    frame.insert(0, "customer_id", [f"C{i:08d}" for i in range(rows)])
    frame.to_parquet(path, index=False)
    return path


def cell_by_cell(frame: pd.DataFrame) -> None:
    """The baseline: the same rows through XlsxWriter's public cell API, one call a cell."""
    import xlsxwriter

    book = xlsxwriter.Workbook(io.BytesIO(), {"constant_memory": True})
    sheet = book.add_worksheet("Customers")
    columns = [frame[c].tolist() for c in frame.columns]
    for r in range(min(len(frame), 1_048_575)):
        for c, values in enumerate(columns):
            v = values[r]
            if isinstance(v, str):
                sheet.write_string(r + 1, c, v)
            elif v is not None and v == v:
                sheet.write_number(r + 1, c, v)
    book.close()


def one(data: Path) -> dict[str, float]:
    timings: dict[str, float] = {}
    original = pipeline.write_workbook

    def timed(*args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        original(*args, **kwargs)
        timings["workbook"] = time.perf_counter() - started
        frame = args[3]
        started = time.perf_counter()
        write_csv(frame, io.BytesIO())
        timings["csv"] = time.perf_counter() - started
        started = time.perf_counter()
        cell_by_cell(frame)
        timings["cells"] = time.perf_counter() - started

    pipeline.write_workbook = timed  # type: ignore[assignment]
    try:
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            pipeline.build_brief(data, out_dir=Path(out) / "brief", k=4, resamples=5)
            # The baselines ran inside the brief's timer: they are not part of the brief.
            total = time.perf_counter() - started
            timings["brief"] = total - timings["csv"] - timings["cells"]
    finally:
        pipeline.write_workbook = original  # type: ignore[assignment]
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(
        "rows | brief (s) | workbook (s) | share of brief | cell by cell (s) | "
        "workbook / cell by cell | assignments.csv (s)"
    )
    for rows in args.rows:
        data = make_data(rows)
        runs = [one(data) for _ in range(args.repeats)]
        brief = statistics.median(r["brief"] for r in runs)
        book = statistics.median(r["workbook"] for r in runs)
        csv = statistics.median(r["csv"] for r in runs)
        cells = statistics.median(r["cells"] for r in runs)
        print(
            f"{rows:,} | {brief:.2f} | {book:.2f} | {100 * book / brief:.0f} % | {cells:.2f} | "
            f"{book / cells:.2f} | {csv:.2f}"
        )


if __name__ == "__main__":
    main()
