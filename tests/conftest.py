"""Shared fixtures. Tests never need ../shared: bundled data lives in data/ and tests/fixtures/."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pypdf import PdfReader

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED = ROOT.parent / "shared" / "datasets"


@pytest.fixture(autouse=True)
def _reproducible_time(monkeypatch):
    # Fixed run time, so the same input gives byte-for-byte the same text.
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764288000")


def pdf_text(path_or_bytes) -> list[str]:
    """Text of every page of a PDF (pypdf), for content checks; never compare bytes."""
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    reader = PdfReader(io.BytesIO(data))
    return [page.extract_text() or "" for page in reader.pages]


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """The demo brief, built once per test session through the library."""
    import os

    from reportgen import build_demo

    os.environ["SOURCE_DATE_EPOCH"] = "1764288000"
    out = tmp_path_factory.mktemp("demo")
    return build_demo(out)


def shared_dataset(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not available (../shared is absent on a fresh clone)")
    return path


# --------------------------------------------------------------------------- re-reporting periods
# Three synthetic months with known movement. Segments A, B, C sit far apart (spend in EUR,
# visits per month), so k-means recovers them exactly and every count below is known:
#   month 1: A 120, B 100, C 80 customers.
#   month 2: 40 of A's customers now look like B; 10 of C's left; 15 new customers join C.
#   month 3: C has vanished (its customers left); a new segment D of 60 customers appears.
CENTRES = {"A": (100.0, 2.0), "B": (500.0, 10.0), "C": (100.0, 20.0), "D": (900.0, 30.0)}
MOVED = 40


def _rows(rng, ids, where):
    import numpy as np

    spend, visits = CENTRES[where]
    n = len(ids)
    return {
        "customer_id": list(ids),
        "spend_eur": np.round(rng.normal(spend, 10.0, n), 2),
        "visits": np.round(rng.normal(visits, 1.0, n), 2),
        "region": rng.choice(["North", "South"], n),
    }


def make_period(month: int):
    """(frame, {customer_id: true group}) for month 1, 2 or 3."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(100 + month)
    a = [f"C{i:04d}" for i in range(1, 121)]
    b = [f"C{i:04d}" for i in range(121, 221)]
    c = [f"C{i:04d}" for i in range(221, 301)]
    new_c = [f"C{i:04d}" for i in range(301, 316)]
    d = [f"C{i:04d}" for i in range(401, 461)]
    if month == 1:
        groups = {"A": a, "B": b, "C": c}
    elif month == 2:
        groups = {"A": a[MOVED:], "B": a[:MOVED] + b, "C": c[10:] + new_c}
    else:
        groups = {"A": a[MOVED:], "B": a[:MOVED] + b, "D": d}
    parts = [pd.DataFrame(_rows(rng, ids, g)) for g, ids in groups.items()]
    frame = pd.concat(parts, ignore_index=True)
    truth = {i: g for g, ids in groups.items() for i in ids}
    return frame, truth


@pytest.fixture(scope="session")
def periods(tmp_path_factory):
    """Three monthly briefs in reports/2026-01..03, each with --previous the month before."""
    import os

    from reportgen import build_brief

    os.environ["SOURCE_DATE_EPOCH"] = "1764288000"
    root = tmp_path_factory.mktemp("reports")
    runs, truths, data = {}, {}, {}
    previous = None
    for month in (1, 2, 3):
        frame, truth = make_period(month)
        path = root / f"customers-{month}.csv"
        frame.to_csv(path, index=False)
        os.environ["SOURCE_DATE_EPOCH"] = str(1764288000 + month * 31 * 86400)
        runs[month] = build_brief(
            path, k=3, k_max=4, out_dir=root / f"2026-0{month}", previous=previous, n_init=4
        )
        previous = runs[month].config.out_dir
        truths[month], data[month] = truth, path
    os.environ["SOURCE_DATE_EPOCH"] = "1764288000"
    return {"root": root, "runs": runs, "truth": truths, "data": data}


# --------------------------------------------------------------------------- small frames
def blobs(n_per=(40, 30, 20), seed=0):
    """Three blobs far apart (spend around 2000, 3000 and 2000; visits around 20, 20 and 30)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    centers = [(0, 0), (10, 0), (0, 10)]
    rows = []
    for (cx, cy), n in zip(centers, n_per, strict=True):
        pts = rng.normal((cx, cy), 0.8, size=(n, 2))
        rows.append(pts)
    x = np.vstack(rows)
    return pd.DataFrame({"spend": x[:, 0] * 100 + 2000, "visits": x[:, 1] + 20})


def two_group_frame(n=400, seed=0):
    """(frame, group): two groups apart on spend (log-normal) and visits, a plan that follows the
    group, and a join date; columns id, spend, visits, plan, joined."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    g = rng.integers(0, 2, n)
    return pd.DataFrame(
        {
            "id": [f"c{i}" for i in range(n)],
            "spend": np.exp(rng.normal(4 + 2 * g, 0.4)).round(2),
            "visits": (5 + 6 * g + rng.normal(0, 1, n)).round(1),
            "plan": np.where(g == 1, "Gold", "Basic"),
            "joined": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 700, n), "D"),
        }
    ), g
