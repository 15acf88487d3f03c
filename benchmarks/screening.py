"""Which features does screening move out, and why? (issue 15 item 4)

    python benchmarks/screening.py                  # shared real tables + synthetic suite
    python benchmarks/screening.py --seeds 3        # fewer synthetic tables per family

The rule is judged on two kinds of table together:

- the shared real tables (/work/shared/datasets, read as the brief reads them, no dictionary):
  what is screened, with `Screening.reason` — the appendix's words — before and after;
- a seeded synthetic suite with the truth known per column: planted segments, planted pure
  noise (normal, uniform, a random 1-5 answer), planted skewed-but-real features (a credit limit
  and payments that follow balance and purchases but not the segments, as on the public
  credit-card table of issue 15), a column that holds groups on its own ('tier'), zero-inflated
  spend and an exact copy. A noise column should go, a real one stay, a copy go as a copy.

"Before" is the rule as it was at commit BEFORE (loaded from git), "after" the working tree's.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from reportgen.analysis import screen as after_module  # noqa: E402
from reportgen.analysis.prepare import PreparedData, prepare  # noqa: E402
from reportgen.io.customers import customer_rows  # noqa: E402
from reportgen.io.dictionary import resolve_dictionary  # noqa: E402
from reportgen.io.sources import open_source  # noqa: E402

BEFORE = "fd22a1d"  # the last commit with the rule issue 15 item 4 replaced
SHARED = Path("/work/shared/datasets")
REAL = (
    ("wholesale_customers", "wholesale_customers/wholesale_customers.csv", None),
    ("marketing_campaign", "marketing_campaign/marketing_campaign.csv", None),
    ("telco_churn", "telco_churn/telco_customer_churn.csv", None),
    ("online_retail (log)", "online_retail/online_retail.csv.gz", None),
    (
        "cdnow_sample (log)",
        "cdnow_sample/CDNOW_sample.txt",
        ("cohort_id", "customer", "date", "cds", "amount"),
    ),
)


def before_module() -> ModuleType | None:
    """screen.py as it was at BEFORE, imported under another name (None without git)."""
    try:
        text = subprocess.run(
            ["git", "show", f"{BEFORE}:reportgen/analysis/screen.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / "screen_before.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("screen_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["screen_before"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def prepared_real(location: Path, names: tuple[str, ...] | None) -> PreparedData:
    rows = customer_rows(open_source(location, names).read())
    declared = rows.dictionary
    dictionary = resolve_dictionary(
        rows.table.frame,
        declared,
        id_column=declared.id_column if declared else None,
        units=rows.table.units,
    )
    return prepare(rows.table.frame, dictionary)


# ------------------------------------------------------------------------- synthetic suite


@dataclass(frozen=True)
class Planted:
    family: str
    seed: int
    frame: pd.DataFrame
    noise: frozenset[str]  # should be screened as noise
    copies: frozenset[str]  # should be screened as a repeat


def _segments(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    shares = rng.dirichlet(np.full(k, 3.0))
    shares = np.maximum(shares, 0.08)
    return rng.choice(k, size=n, p=shares / shares.sum())


def card_table(seed: int, n: int = 3_000) -> Planted:
    """A credit-card usage table: segments differ on purchases, their frequency and cash
    advances; balance, credit limit and payments have real, skewed spread and follow each other
    and purchases, but not the segments."""
    rng = np.random.default_rng(seed)
    g = _segments(rng, n, 3)
    centre = np.array([[5.0, 0.2, 6.5], [7.5, 0.8, 2.0], [6.0, 0.5, 4.0]])[g]
    balance = rng.lognormal(7, 0.9, n)
    purchases = np.exp(centre[:, 0] + 0.5 * rng.normal(size=n))
    frame = pd.DataFrame(
        {
            "PURCHASES": purchases.round(2),
            "PURCHASES_FREQUENCY": np.clip(centre[:, 1] + 0.1 * rng.normal(size=n), 0, 1),
            "CASH_ADVANCE": np.exp(centre[:, 2] + 0.6 * rng.normal(size=n)).round(2),
            "BALANCE": balance.round(2),
            "CREDIT_LIMIT": np.exp(0.6 * np.log(balance) + rng.normal(4.0, 0.45, n)).round(-2),
            "PAYMENTS": (0.3 * balance + 0.4 * purchases) * rng.lognormal(0, 0.5, n),
            "RANDOM_SCORE": rng.normal(600, 50, n).round(0),
            "CARD_NUMBER_DIGITS": rng.uniform(0, 10_000, n).round(0),
        }
    )
    return Planted(
        "card", seed, frame, frozenset({"RANDOM_SCORE", "CARD_NUMBER_DIGITS"}), frozenset()
    )


def survey_table(seed: int, n: int = 1_500) -> Planted:
    """A 1-5 survey of 8 items and 4 segments, two items answered at random."""
    rng = np.random.default_rng(seed)
    g = _segments(rng, n, 4)
    profile = rng.uniform(1.5, 4.5, size=(4, 6))[g]
    items = {f"Q{j + 1}": profile[:, j] + 0.8 * rng.normal(size=n) for j in range(6)}
    items["Q7"] = rng.integers(1, 6, n).astype(float)
    items["Q8"] = 3 + rng.normal(size=n)
    frame = pd.DataFrame({c: np.clip(np.rint(v), 1, 5).astype(int) for c, v in items.items()})
    return Planted("survey", seed, frame, frozenset({"Q7", "Q8"}), frozenset())


def retail_table(seed: int, n: int = 2_000) -> Planted:
    """Spend, visits and age with segments; zero-inflated online spend (non-buyers are a group);
    a 'tier' column unrelated to the rest that splits customers 30/70 on its own; spend again in
    another currency; a normal noise column."""
    rng = np.random.default_rng(seed)
    g = _segments(rng, n, 3)
    centre = np.array([[5.0, 4.0, 35.0], [6.5, 9.0, 50.0], [4.5, 2.0, 62.0]])[g]
    spend = np.exp(centre[:, 0] + 0.4 * rng.normal(size=n))
    online = np.where(rng.random(n) < 0.35, 0.0, np.exp(4 + 0.8 * rng.normal(size=n)))
    frame = pd.DataFrame(
        {
            "spend_eur": spend.round(2),
            "visits": np.maximum(0, centre[:, 1] + 1.5 * rng.normal(size=n)).round(1),
            "age": np.rint(centre[:, 2] + 6 * rng.normal(size=n)),
            "online_spend": online.round(2),
            "tier": np.where(rng.random(n) < 0.3, 60.0, 20.0) + 3 * rng.normal(size=n),
            "spend_usd": (spend * 1.08).round(2),
            "noise": rng.normal(100, 25, n).round(2),
        }
    )
    return Planted("retail", seed, frame, frozenset({"noise"}), frozenset({"spend_usd"}))


def weak_table(seed: int, n: int = 800) -> Planted:
    """Few features, small n: one real feature with two groups, two related measures, a
    uniform and a normal noise column."""
    rng = np.random.default_rng(seed)
    g = rng.random(n) < 0.5
    base = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "tenure": np.where(g, 2.0, 6.0) + rng.normal(size=n),
            "orders": np.exp(1.5 + 0.5 * base + 0.3 * rng.normal(size=n)).round(0),
            "items": np.exp(2.5 + 0.5 * base + 0.3 * rng.normal(size=n)).round(0),
            "uniform": rng.uniform(0, 1, n),
            "normal": rng.normal(size=n),
        }
    )
    return Planted("weak", seed, frame, frozenset({"uniform", "normal"}), frozenset())


FAMILIES: tuple[Callable[[int], Planted], ...] = (
    card_table,
    survey_table,
    retail_table,
    weak_table,
)


def planted_prepared(p: Planted) -> PreparedData:
    return prepare(p.frame, resolve_dictionary(p.frame, None))


# ------------------------------------------------------------------------------ the report


def describe(module: ModuleType, prepared: PreparedData) -> dict[str, str]:
    s = module.screen_features(prepared, seed=42)
    return {c: s.reason(c) for c in s.removed}


def score(p: Planted, removed: dict[str, str]) -> Counter[str]:
    out: Counter[str] = Counter()
    for c in p.frame.columns:
        gone = c in removed
        if c in p.copies:
            out["copies removed"] += gone and "repeats" in removed[c]
        elif c in p.noise:
            out["noise removed"] += gone
        else:
            out["real removed (wrong)"] += gone
    out["noise planted"] += len(p.noise)
    out["copies planted"] += len(p.copies)
    out["real planted"] += len(p.frame.columns) - len(p.noise) - len(p.copies)
    return out


def real_section(before: ModuleType | None) -> None:
    print("## Real tables (no dictionary)\n")
    for name, file, names in REAL:
        if not (SHARED / file).exists():
            print(f"- {name}: not found, skipped")
            continue
        prepared = prepared_real(SHARED / file, names)
        rules = [("before", before), ("after", after_module)] if before else []
        print(f"- **{name}** ({prepared.n_kept:,} rows, {len(prepared.features)} features)")
        for label, module in rules or [("after", after_module)]:
            removed = describe(module, prepared)
            shown = "; ".join(f"{c}: {r}" for c, r in removed.items()) or "nothing screened"
            print(f"  - {label}: {shown}")


def synthetic_section(before: ModuleType | None, seeds: int) -> None:
    print(f"\n## Synthetic suite ({len(FAMILIES)} families × {seeds} seeds, truth per column)\n")
    totals = {"before": Counter[str](), "after": Counter[str]()}
    for family in FAMILIES:
        for seed in range(500, 500 + seeds):
            p = family(seed)
            prepared = planted_prepared(p)
            for label, module in (("before", before), ("after", after_module)):
                if module is None:
                    continue
                removed = describe(module, prepared)
                totals[label] += score(p, removed)
                wrong = [c for c in removed if c not in p.noise | p.copies]
                missed = [c for c in p.noise if c not in removed]
                print(
                    f"- {p.family} seed {seed} {label}: screened {sorted(removed) or '-'}"
                    + (f"; WRONGLY {wrong}" if wrong else "")
                    + (f"; noise kept {missed}" if missed else "")
                )
    print(
        "\n| rule | noise removed | real removed (wrong) | copies removed |\n|---|---:|---:|---:|"
    )
    for label, t in totals.items():
        if t:
            print(
                f"| {label} | {t['noise removed']}/{t['noise planted']} | "
                f"{t['real removed (wrong)']}/{t['real planted']} | "
                f"{t['copies removed']}/{t['copies planted']} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="synthetic tables per family")
    args = parser.parse_args()
    before = before_module()
    real_section(before)
    synthetic_section(before, args.seeds)


if __name__ == "__main__":
    main()
