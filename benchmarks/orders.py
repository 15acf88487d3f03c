"""Order-log benchmark: `reportgen.io.orders.customer_features` vs a plain pandas groupby.

    python benchmarks/orders.py                  # 50M lines, ~2M customers (needs ~10+ GB)
    python benchmarks/orders.py --lines 5000000  # smaller runs
    python benchmarks/orders.py --lines 5000000 --repeats 3

Generates a synthetic order log in memory (fixed seed): integer customer ids (one per 25 lines,
skewed so some customers buy far more often), int64 order ids in time order (5 lines per order
on average), datetime64 order dates over two years, float quantities (2 % negative: returns)
and float unit prices (0.1 % zero), and int64 product ids (50,000, skewed). Then, in the same
process, it times `customer_features` (roles given, so inference is timed apart) and the
baseline: one pandas `groupby("customer_id").agg(...)` of the same aggregates (first and last
date, recency, orders nunique, net spend sum, products nunique). It prints both times (median
over the repeats), the ratio, and each step's peak RSS (ru_maxrss, restarted before each step
through /proc/self/clear_refs, so it is the log in memory plus that step's working memory), and
checks that both agree on the customers and their net spend.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reportgen.io.orders import OrderRoles, customer_features, infer_roles  # noqa: E402

SEED = 20111209
LINES_PER_CUSTOMER = 25
LINES_PER_ORDER = 5
PRODUCTS = 50_000
T = TypeVar("T")
ROLES = OrderRoles(
    customer="customer_id",
    date="order_date",
    order="order_id",
    quantity="quantity",
    unit_price="unit_price",
    product="product_id",
)


def generate(lines: int, seed: int = SEED) -> pd.DataFrame:
    """A synthetic order log of `lines` lines, the same for the same seed."""
    rng = np.random.default_rng(seed)
    n_customers = max(lines // LINES_PER_CUSTOMER, 10)
    n_orders = max(lines // LINES_PER_ORDER, 1)
    # Skewed: u**2 puts more orders on low ranks; the permutation hides the rank in the id.
    rank = (n_customers * rng.random(n_orders) ** 2).astype(np.int64)
    customer_of_order = 1_000_000 + rng.permutation(n_customers)[rank]
    seconds = np.sort(rng.integers(0, 730 * 86_400, n_orders))
    date_of_order = np.datetime64("2022-01-01", "ns") + seconds.astype("timedelta64[s]")
    order_of_line = np.sort(rng.integers(0, n_orders, lines))
    quantity = rng.integers(1, 13, lines).astype(np.float64)
    quantity[rng.random(lines) < 0.02] *= -1.0
    price = np.round(rng.lognormal(1.0, 0.8, lines), 2)
    price[rng.random(lines) < 0.001] = 0.0
    product = (PRODUCTS * rng.random(lines) ** 3).astype(np.int64)
    return pd.DataFrame(
        {
            "customer_id": customer_of_order[order_of_line],
            "order_id": 10_000_000 + order_of_line,
            "order_date": date_of_order[order_of_line],
            "quantity": quantity,
            "unit_price": price,
            "product_id": product,
        }
    )


def baseline(frame: pd.DataFrame) -> pd.DataFrame:
    """The plain pandas way: one groupby with the same aggregates."""
    amount = frame["quantity"] * frame["unit_price"]
    grouped = frame.assign(amount=amount).groupby("customer_id", sort=True)
    out = grouped.agg(
        first=("order_date", "min"),
        last=("order_date", "max"),
        orders=("order_id", "nunique"),
        net_spend=("amount", "sum"),
        products=("product_id", "nunique"),
    )
    as_of = frame["order_date"].max().normalize() + pd.Timedelta(days=1)
    out["recency_days"] = (as_of - out["last"].dt.normalize()).dt.days
    return out


def peak_mib() -> float:
    """Peak resident memory of this process (ru_maxrss is KiB on Linux) since the last reset."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> bool:
    """Restart the peak-RSS count at the current RSS (Linux: "5" > /proc/self/clear_refs), so
    each step's peak is its own, not generation's; False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def timed(repeats: int, run: Callable[[], T]) -> tuple[float, list[float], T]:
    """Median wall time of `run()` over the repeats, all times, and the last result."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=50_000_000)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    start = time.perf_counter()
    frame = generate(args.lines)
    made = time.perf_counter() - start
    print(f"generated {len(frame):,} lines in {made:.1f} s; peak RSS {peak_mib():,.0f} MiB")
    start = time.perf_counter()
    inferred = infer_roles(frame).roles
    found = "as expected" if inferred == ROLES else f"unexpected: {inferred}"
    print(f"infer_roles: {time.perf_counter() - start:.2f} s, roles {found}")

    own = reset_peak()
    scope = "during the step, with the log in memory" if own else "of the process so far"
    print(f"RSS with the log in memory: {peak_mib():,.0f} MiB; peak RSS below is {scope}")
    ours, our_runs, summary = timed(args.repeats, lambda: customer_features(frame, ROLES))
    print(f"customer_features: {ours:.2f} s {fmt(our_runs)}; peak RSS {peak_mib():,.0f} MiB")
    reset_peak()
    theirs, their_runs, plain = timed(args.repeats, lambda: baseline(frame))
    print(f"pandas groupby.agg: {theirs:.2f} s {fmt(their_runs)}; peak RSS {peak_mib():,.0f} MiB")
    print(f"ratio customer_features / groupby: {ours / theirs:.2f}")

    features = summary.features
    same_ids = features.index.equals(plain.index)
    gap = float(np.abs(features["net_spend"].to_numpy() - plain["net_spend"].to_numpy()).max())
    print(f"customers {len(features):,} (same ids: {same_ids}); max net-spend gap {gap:.2e}")


def fmt(runs: list[float]) -> str:
    return "(" + ", ".join(f"{t:.2f}" for t in runs) + ")" if len(runs) > 1 else ""


if __name__ == "__main__":
    main()
