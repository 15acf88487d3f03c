"""Database readers: which one reportgen keeps, measured (issue 18).

    python benchmarks/database.py                       # 1M rows, SQLite and PostgreSQL, 3 runs
    python benchmarks/database.py --rows 200000 --repeats 1 --dialect sqlite

Generates one synthetic customer table (fixed seed: an int64 id, 8 float features with ~1 %
NULLs, an integer count, a region as text, a signup date), writes it into an SQLite file and into
a table of a throw-away PostgreSQL cluster (tests/pg_server.py: initdb into /tmp, a loopback
port), and writes its CSV export beside them. Then each candidate reads every row in a child
process of its own, so that its peak RSS (ru_maxrss from wait4) is its own:

- `adbc`: the ADBC driver (adbc-driver-sqlite / adbc-driver-postgresql), record batches into
  one Arrow table;
- `connectorx`: connectorx.read_sql(return_type="arrow");
- `sqlalchemy+pandas`: pandas.read_sql over SQLAlchemy in chunks of 100,000 rows, concatenated
  (SQLite through the standard library's sqlite3, PostgreSQL through psycopg 3);
- `reportgen`: the product, `DatabaseSource(url, table=...).read()`: ADBC, hashing and the
  CSV-like typing, to the frame the brief analyses;
- `csv file (baseline)`: the product's file reader (`io.load.read_table`) on the CSV export of
  the same rows: what a run costs today, with a manual export;
- `imports only`: the same libraries imported and nothing read (the RSS floor).

Prints the median of the repeats per candidate, each raw reader's time against ADBC's, the
product against the CSV baseline, and the peak RSS next to the size of the rows in Arrow.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

SEED = 18
TABLE = "customers"
PG_PASSWORD = "bench"  # the throw-away cluster's superuser, over TCP
CANDIDATES = ("imports only", "adbc", "connectorx", "sqlalchemy+pandas", "reportgen", "csv file")


def generate(rows: int):  # -> pyarrow.Table
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(SEED)
    columns = {"customer_id": pa.array(np.arange(1, rows + 1, dtype=np.int64))}
    for j in range(8):
        values = rng.lognormal(3 + j * 0.2, 1.0, rows).round(2)
        mask = rng.random(rows) < 0.01
        columns[f"feature_{j}"] = pa.array(values, mask=mask)
    columns["orders"] = pa.array(rng.poisson(6, rows).astype(np.int64))
    regions = np.array(["North", "South", "East", "West", "City"])
    columns["region"] = pa.array(regions[rng.integers(0, 5, rows)])
    days = np.datetime64("2015-01-01") + rng.integers(0, 3650, rows).astype("timedelta64[D]")
    columns["signup"] = pa.array(days, pa.date32())
    return pa.table(columns)


def write_sqlite(table, path: Path) -> None:
    import adbc_driver_sqlite.dbapi as sqlite

    path.unlink(missing_ok=True)
    with sqlite.connect(str(path)) as conn:
        with conn.cursor() as cur:
            cur.adbc_ingest(TABLE, table, mode="create")
        conn.commit()


def write_csv(table, path: Path) -> None:
    from pyarrow import csv

    csv.write_csv(table, path)


# ----------------------------------------------------------------------------- the children


def child(candidate: str, url: str, csv_path: str) -> dict:
    """Read every row with one candidate; the time of the read alone (imports done first)."""
    import pandas as pd
    import pyarrow as pa

    sql = f"SELECT * FROM {TABLE}"
    sqlite = url.startswith("sqlite")
    plain = url.replace("sqlite:///", "") if sqlite else url
    if candidate == "adbc":
        if sqlite:
            import adbc_driver_sqlite.dbapi as driver
        else:
            import adbc_driver_postgresql.dbapi as driver  # type: ignore[no-redef]
    elif candidate == "connectorx":
        import connectorx as cx
    elif candidate == "sqlalchemy+pandas":
        import sqlalchemy
    elif candidate == "reportgen":
        import adbc_driver_postgresql.dbapi  # noqa: F401  (imported inside read(): not timed)
        import adbc_driver_sqlite.dbapi  # noqa: F401

        from reportgen.io.database import DatabaseSource
    elif candidate == "csv file":
        from reportgen.io.load import read_table
    started = time.perf_counter()
    rows, arrow_bytes = 0, 0
    if candidate == "adbc":
        with driver.connect(plain) as conn, conn.cursor() as cur:
            cur.execute(sql)
            table = cur.fetch_arrow_table()
        rows, arrow_bytes = table.num_rows, table.nbytes
    elif candidate == "connectorx":
        cx_url = f"sqlite://{plain}" if sqlite else url
        table = cx.read_sql(cx_url, sql, return_type="arrow")
        if isinstance(table, pa.RecordBatchReader):
            table = table.read_all()
        rows, arrow_bytes = table.num_rows, table.nbytes
    elif candidate == "sqlalchemy+pandas":
        engine_url = url if sqlite else url.replace("postgresql://", "postgresql+psycopg://")
        engine = sqlalchemy.create_engine(engine_url)
        with engine.connect() as conn:
            frame = pd.concat(pd.read_sql(sql, conn, chunksize=100_000), ignore_index=True)
        rows = len(frame)
    elif candidate == "reportgen":
        # As a user runs it: the password from REPORTGEN_DB_PASSWORD (set by the parent).
        frame = DatabaseSource(url.replace(f":{PG_PASSWORD}@", "@"), table=TABLE).read().frame
        rows = len(frame)
    elif candidate == "csv file":
        frame = read_table(csv_path).frame
        rows = len(frame)
    return {"seconds": time.perf_counter() - started, "rows": rows, "arrow_bytes": arrow_bytes}


def run_child(candidate: str, url: str, csv_path: Path) -> tuple[float, int, int]:
    """(seconds, rows, peak RSS in KiB) of one child run."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REPORTGEN_DB_PASSWORD": PG_PASSWORD}
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", candidate, "--url", url, "--csv", str(csv_path)],
        stdout=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{candidate} failed on {url.split('@')[-1]}")
    result = json.loads(out)
    return result["seconds"], result["rows"], usage.ru_maxrss


# ----------------------------------------------------------------------------- the parent


def measure(dialect: str, url: str, csv_path: Path, repeats: int, rows: int) -> dict[str, dict]:
    results: dict[str, dict] = {}
    for candidate in CANDIDATES:
        if candidate == "imports only":
            times, rss = [0.0], [run_child("imports only", url, csv_path)[2]]
        else:
            times, rss = [], []
            for _ in range(repeats):
                seconds, got, peak = run_child(candidate, url, csv_path)
                if got != rows:
                    raise RuntimeError(f"{candidate} read {got} rows, not {rows}")
                times.append(seconds)
                rss.append(peak)
        results[candidate] = {"median": statistics.median(times), "runs": times, "rss": max(rss)}
        print(
            f"  {dialect:<10} {candidate:<18} {statistics.median(times):7.2f} s  "
            f"({', '.join(f'{t:.2f}' for t in times)})  peak RSS {max(rss) / 1024:,.0f} MiB",
            flush=True,
        )
    return results


def report(dialect: str, results: dict[str, dict], arrow_mib: float) -> None:
    adbc = results["adbc"]["median"]
    floor = results["imports only"]["rss"] / 1024
    print(f"\n{dialect}: the rows take {arrow_mib:,.0f} MiB in Arrow; RSS floor {floor:,.0f} MiB")
    print("| candidate | median (s) | runs | / adbc | peak RSS (MiB) | above floor |")
    print("|---|---:|---|---:|---:|---:|")
    for name, r in results.items():
        if name == "imports only":
            continue
        rss = r["rss"] / 1024
        print(
            f"| {name} | {r['median']:.2f} | {', '.join(f'{t:.2f}' for t in r['runs'])} | "
            f"{r['median'] / adbc:.2f} | {rss:,.0f} | {rss - floor:,.0f} |"
        )
    ratio = results["reportgen"]["median"] / results["csv file"]["median"]
    print(f"reportgen from {dialect} / reportgen from the CSV export: {ratio:.2f}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dialect", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--child")
    parser.add_argument("--url")
    parser.add_argument("--csv")
    parser.add_argument("--prepare")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.url, args.csv)))
        return
    if args.prepare:
        prepare(args.rows, Path(args.prepare), args.url)
        return
    # The parent stays small: a child's ru_maxrss counts the pages it shared with the parent
    # before exec, so the rows are generated and written by a child of their own.
    work = Path(tempfile.mkdtemp(prefix="reportgen-dbbench-"))
    server = None
    pg_url = ""
    if args.dialect in ("postgresql", "both"):
        import pg_server

        reason = pg_server.unavailable()
        if reason:
            print(f"PostgreSQL skipped: {reason}")
        else:
            server = pg_server.start()
            server.psql(f"ALTER ROLE postgres PASSWORD '{PG_PASSWORD}'; CREATE DATABASE bench;")
            pg_url = server.url("bench", "postgres", PG_PASSWORD)
    try:
        subprocess.run(
            [sys.executable, __file__, "--rows", str(args.rows), "--prepare", str(work)]
            + (["--url", pg_url] if pg_url else []),
            check=True,
        )
        arrow_mib = json.loads((work / "size.json").read_text())["arrow_bytes"] / (1 << 20)
        csv_path = work / "customers.csv"
        if args.dialect in ("sqlite", "both"):
            url = f"sqlite:///{work / 'crm.db'}"
            report("SQLite", measure("SQLite", url, csv_path, args.repeats, args.rows), arrow_mib)
        if pg_url:
            results = measure("PostgreSQL", pg_url, csv_path, args.repeats, args.rows)
            report("PostgreSQL", results, arrow_mib)
    finally:
        if server is not None:
            server.stop()


def prepare(rows: int, work: Path, pg_url: str | None) -> None:
    """The table, its CSV export, the SQLite file and (given its URL) the PostgreSQL table."""
    import adbc_driver_postgresql.dbapi as postgresql

    table = generate(rows)
    write_csv(table, work / "customers.csv")
    write_sqlite(table, work / "crm.db")
    if pg_url:
        with postgresql.connect(pg_url) as conn:
            with conn.cursor() as cur:
                cur.adbc_ingest(TABLE, table, mode="create")
            conn.commit()
    (work / "size.json").write_text(json.dumps({"arrow_bytes": table.nbytes}))
    print(
        f"{rows:,} rows, {table.num_columns} columns, {table.nbytes / (1 << 20):,.0f} MiB in Arrow"
    )


if __name__ == "__main__":
    main()
