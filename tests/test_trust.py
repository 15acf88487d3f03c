"""Issue 3: k by evidence, quality, stability, data policies, statistical profiles, real data."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from reportgen import build_brief
from reportgen.analysis.choose_k import choose_k
from reportgen.analysis.cluster import cluster
from reportgen.analysis.prepare import prepare
from reportgen.analysis.profile import profile
from reportgen.analysis.stability import evaluate, quality_verdict, stability_verdict
from reportgen.io.dictionary import dictionary_from_mapping, resolve_dictionary
from tests.conftest import DATA, pdf_text, shared_dataset
from tests.synthetic import SUITE_KS, recover


def test_synthetic_suite_recovers_k_and_segments():
    """Known structure, k = 2..8, unequal sizes, mixed units, skew, noise and a category."""
    results = [(k, *recover(k, 100 + i)) for i, k in enumerate(SUITE_KS)]
    right = sum(found == k for k, found, _, _ in results)
    mean_ari = float(np.mean([ari for _, _, ari, _ in results]))
    print(f"right k: {right}/10, mean ARI {mean_ari:.3f}", [r[:3] for r in results])
    # Measured: 9/10 right, mean ARI 0.947 (target 9/10, 0.9). Table 2 is nested groups: two
    # close pairs far apart, where every index prefers the coarser split (docs/choosing-k.md).
    assert right >= 9
    assert mean_ari >= 0.9
    assert all("noise" in screened for _, _, _, screened in results)


def _frame(n=400, seed=0):
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


def test_policies_are_applied_and_counted():
    frame, _ = _frame()
    frame["joined"] = frame["joined"].dt.strftime("%d-%m-%Y")
    frame.loc[:59, "visits"] = None  # 15 % missing -> filled in with the median
    frame.loc[399, "id"] = "c0"  # a repeated id -> the repeat is left out
    frame.loc[5, "spend"] = 1e9  # one extreme value -> capped for clustering
    spec = {
        "id_column": "id",
        "columns": {
            "id": {"role": "id"},
            "spend": {},
            "visits": {},
            "plan": {"role": "segment", "type": "categorical"},
            "joined": {"role": "segment", "type": "date"},
        },
    }
    d = resolve_dictionary(frame, dictionary_from_mapping(spec))
    p = prepare(frame, d)
    steps = {s.column: s for s in p.steps}
    assert p.duplicate_ids == 1 and p.n_kept == 399
    assert any(r.reason.startswith("duplicate id") for r in p.drops)
    assert steps["visits"].imputed == 60 and steps["visits"].impute is not None
    assert steps["spend"].transform == "log1p" and steps["spend"].capped == 1
    assert steps["joined"].kind == "date" and steps["joined"].reference_date
    plan = steps["plan"]
    block = p.scaled[:, [p.model_columns.index(c) for c in plan.model_columns]]
    assert block.var(axis=0).sum() == pytest.approx(0.25)  # half a numeric feature's spread
    assert any("filled in" in n for n in p.notes) and any("log-transformed" in n for n in p.notes)
    assert p.values[5, list(p.numeric_features).index("spend")] == 1e9  # profiles keep real values


def test_a_group_far_out_is_not_capped():
    rng = np.random.default_rng(1)
    spend = np.concatenate([rng.normal(100, 5, 900), rng.normal(1000, 20, 100)])
    frame = pd.DataFrame({"spend": spend, "visits": rng.normal(5, 1, 1000)})
    p = prepare(frame, resolve_dictionary(frame))
    assert all(s.capped == 0 for s in p.steps)


def test_quality_and_stability_verdicts():
    rng = np.random.default_rng(2)
    blobs = np.vstack([rng.normal(c, 0.3, (150, 2)) for c in [(0, 0), (5, 0), (0, 5)]])
    noise = rng.uniform(0, 1, (450, 2))
    for x, expected in [(blobs, "good"), (noise, None)]:
        frame = pd.DataFrame(x, columns=["a", "b"])
        p = prepare(frame, resolve_dictionary(frame))
        seg = cluster(p.scaled, k=3, seed=0)
        ev = evaluate(p.scaled, seg, seed=0, resamples=10)
        if expected:
            assert ev.quality == "good"
            assert all(s.verdict == "stable" and s.jaccard > 0.9 for s in ev.stability)
        else:
            assert ev.quality in ("poor", "fair") and ev.silhouette < 0.5
    assert quality_verdict(0.2) == "poor" and quality_verdict(0.3) == "fair"
    assert stability_verdict(0.8) == "stable" and stability_verdict(0.65) == "doubtful"
    assert stability_verdict(0.4) == "unstable"


def test_min_share_keeps_tiny_segments_out():
    rng = np.random.default_rng(3)
    x = np.vstack([rng.normal(0, 1, (500, 2)), rng.normal(30, 0.5, (8, 2))])
    choice = choose_k(x, k=None, k_max=6, seed=0, min_share=0.05)
    # Every split isolates the 8 far-away customers (1.6 %): no k may win, and the brief says so.
    assert all(not e.admissible for e in choice.evidence if e.min_share < 0.05)
    assert all(v is None for v in choice.votes.values())
    assert "No index found a clear best k" in choice.reason


def test_profiles_have_effect_sizes_and_tests():
    frame, g = _frame()
    frame["noise"] = np.random.default_rng(9).normal(size=len(frame))
    frame["region"] = np.random.default_rng(8).choice(["N", "S"], len(frame))
    spec = {
        "columns": {
            "spend": {},
            "visits": {},
            "noise": {"role": "describe"},
            "region": {"role": "describe", "type": "categorical"},
        }
    }
    d = resolve_dictionary(frame, dictionary_from_mapping(spec))
    p = prepare(frame, d)
    seg = cluster(p.scaled, k=2, seed=0)
    prof = profile(p, seg, d)
    tests = {t.column: t for t in prof.tests}
    assert tests["visits"].separates and tests["visits"].p_value < 1e-6
    assert not tests["noise"].separates and not tests["region"].separates
    assert tests["region"].test == "chi-squared"
    top = prof.segments[0].ranked()[0]
    assert abs(top.d) > 2 and top.rest_mean == pytest.approx(
        p.values[seg.labels != 1, list(p.numeric_features).index(top.column)].mean()
    )


def test_wholesale_example_brief(tmp_path):
    result = build_brief(
        DATA / "wholesale_customers.csv",
        dictionary_path=DATA / "wholesale_customers.yaml",
        out_dir=tmp_path,
        resamples=10,
    )
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["features"] == [
        "Fresh",
        "Milk",
        "Grocery",
        "Frozen",
        "Detergents_Paper",
        "Delicassen",
    ]
    assert {"Channel", "Region"} <= {
        c["name"] for c in summary["columns"] if c["role"] == "describe"
    }
    assert summary["quality"]["verdict"] in ("poor", "fair", "good")
    assert all(s["stability"]["verdict"] for s in summary["segments"])
    assert set(summary["k_choice"]["votes"]) == {
        "elbow",
        "silhouette",
        "calinski_harabasz",
        "davies_bouldin",
        "gap",
    }
    text = " ".join(" ".join(pdf_text(result.pdf_path)).split())
    assert "Choice of the number of segments" in text and "Gap" in text
    assert "log(1 + x)" in text  # skewed spend was log-transformed, and the brief says so
    assert "Quality:" in text and "Stability" in text
    assert "Grocery stockers" in text


@pytest.mark.parametrize(
    ("folder", "name", "expect"),
    [
        ("marketing_campaign", "marketing_campaign.csv", "Income"),
        ("telco_churn", "telco_customer_churn.csv", "TotalCharges"),
    ],
)
def test_real_datasets_run_cleanly(tmp_path, folder, name, expect):
    path = shared_dataset(folder, name)
    result = build_brief(path, out_dir=tmp_path, resamples=5, k_max=6)
    s = result.summary
    assert s["rows"]["dropped"] == sum(r["rows"] for r in s["rows"]["drop_reasons"])
    assert any(expect in r["reason"] for r in s["rows"]["drop_reasons"])  # blanks counted
    assert not any("cluster" in seg["name"].lower() for seg in s["segments"])
    constant = [c["name"] for c in s["columns"] if c["reason"].startswith("constant")]
    if folder == "marketing_campaign":
        assert constant == ["Z_CostContact", "Z_Revenue"]
        dates = [c for c in s["columns"] if c["type"] == "date"]
        assert [c["name"] for c in dates] == ["Dt_Customer"]


def test_categorical_segmentation_feature_end_to_end(tmp_path):
    """A category that segments (declared, or a table of categories only) renders a brief."""
    rng = np.random.default_rng(4)
    g = rng.integers(0, 2, 120)
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(120)],
            "spend": (100 + 300 * g + rng.normal(0, 20, 120)).round(1),
            "plan": np.where(rng.random(120) < 0.9, np.where(g == 1, "Gold", "Basic"), "Basic"),
        }
    )
    path = tmp_path / "c.csv"
    frame.to_csv(path, index=False)
    spec = tmp_path / "d.yaml"
    spec.write_text("columns:\n  customer_id: {role: id}\n  spend: {}\n  plan: {role: segment}\n")
    result = build_brief(path, dictionary_path=spec, out_dir=tmp_path / "o", k=2, resamples=3)
    assert result.prepared.categorical_features == ("plan",)
    assert "Gold" in " ".join(pdf_text(result.pdf_path))
    cats = tmp_path / "cats.csv"
    frame[["customer_id", "plan"]].assign(region=rng.choice(["N", "S"], 120)).to_csv(
        cats, index=False
    )
    only = build_brief(cats, out_dir=tmp_path / "o2", k=2, resamples=3)
    assert set(only.prepared.categorical_features) == {"plan", "region"}


def test_segments_formed_by_a_category_are_named_after_it(tmp_path):
    """One categorical feature: each segment is one region and says so in its name, headline
    and sentences, instead of 'Close to average' three times."""
    rng = np.random.default_rng(6)
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(1, 301),
            "spend": rng.normal(100, 20, 300).round(2),
            "region": rng.choice(["East", "North", "South"], 300, p=[0.4, 0.3, 0.3]),
        }
    )
    path = tmp_path / "r.csv"
    frame.to_csv(path, index=False)
    result = build_brief(path, columns=["region"], out_dir=tmp_path / "o", k=3, resamples=3)
    names = sorted(s.name for s in result.stories)
    assert names == ["Region: East", "Region: North", "Region: South"]
    east = next(s for s in result.stories if s.name == "Region: East")
    share = (frame["region"] == "East").mean()
    assert east.headline == f"region: East (100 % vs {100 * share:.0f} % on average)"
    assert "100 % of them have region “East”" in " ".join(east.sentences)
    text = " ".join(pdf_text(result.pdf_path))
    assert "Close to average" not in text and "Region: North" in text
    assert "Region: east" not in text  # the summary table keeps the category's capital
    # The profile table has a row per region: East is 100 % of segment East, 0 % elsewhere.
    assert re.search(r"Region: East 100 % 0 % 0 % \d+ %", text)
    assert (
        "Profile: segments' category shares" in text
        and "averages" not in text.split("Profile")[1][:40]
    )
    shares = pd.read_csv(tmp_path / "o" / "profiles.csv").set_index("segment_name")
    assert shares.loc["Region: East", "region = East"] == 1.0
    assert shares.loc["All", "region = East"] == pytest.approx(share)


def test_id_with_a_repeat_stays_the_id_and_float_ids_lose_dot_zero(tmp_path):
    frame, _ = _frame(200)
    frame = frame.drop(columns=["joined", "plan"])
    frame["customer_id"] = np.arange(1001, 1201, dtype=float)
    frame.loc[7, "customer_id"] = 1001.0  # a repeat
    frame = frame.drop(columns=["id"])
    path = tmp_path / "ids.parquet"
    frame.to_parquet(path)
    result = build_brief(path, out_dir=tmp_path / "o", k=2, resamples=3)
    assert result.dictionary.id_column == "customer_id"
    assert "customer_id" not in result.prepared.features
    assert result.prepared.duplicate_ids == 1
    ids = pd.read_csv(tmp_path / "o" / "assignments.csv", dtype=str)["customer_id"]
    assert ids.iloc[0] == "1001" and not ids.str.endswith(".0").any()


def test_inferred_rating_range_is_not_a_scale_or_a_drop_rule():
    frame = pd.DataFrame({"price": ["2", "3", "4", "5", "6"] * 10, "agent": ["3", "4"] * 25})
    d = resolve_dictionary(frame)
    assert d.column("price").type == "ordinal" and not d.column("price").is_scale


@pytest.mark.parametrize("k", [6, 8])
def test_page_one_stays_one_page_with_many_segments_and_features(tmp_path, k):
    """No dictionary, many segments, eleven CRM-style columns: page 1 must not spill over."""
    rng = np.random.default_rng(5)
    group = rng.integers(0, 6, 1200)
    frame = pd.DataFrame({"ID": [f"c{i}" for i in range(1200)]})
    for j, name in enumerate(
        ["MntWines", "MntFruits", "MntMeat", "NumWebPurchases", "NumStorePurchases",
         "NumDealsPurchases", "Recency", "Income", "Kidhome", "Teenhome", "Complain"]
    ):  # fmt: skip
        frame[name] = (10 * j + 8 * ((group + j) % 6) + rng.normal(0, 1, 1200)).round(1)
    csv = tmp_path / "crm.csv"
    frame.to_csv(csv, index=False)
    result = build_brief(csv, out_dir=tmp_path / "out", k=k, resamples=4)
    pages = [" ".join(p.split()) for p in pdf_text(result.pdf_path)]
    assert "How these segments were found" in pages[0]
    assert "Suggested marketing angles" in pages[0]
    assert "and 7 more" in pages[0]  # the feature list is shortened; the appendix has all 11
    assert "Spend on wines" in " ".join(pages)  # "MntWines" is spelled out
