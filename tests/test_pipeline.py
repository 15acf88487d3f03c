"""The whole pipeline through build_brief: the bundled and real datasets end to end, categorical
features, segments named after a category, ids kept as ids."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from reportgen import build_brief
from tests.conftest import DATA, blobs, pdf_text, shared_dataset, two_group_frame


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
    frame, _ = two_group_frame(200)
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


@pytest.mark.slow
def test_a_re_report_segments_on_the_previous_runs_features(tmp_path):
    """Screening would drop a pure-noise column this month; the previous run segmented on it,
    so the re-report keeps it (and says why) instead of refusing to compare the months."""
    rng = np.random.default_rng(11)
    frame = blobs(n_per=(120, 90, 60), seed=3)
    frame.insert(0, "customer_id", [f"c{i}" for i in range(len(frame))])
    frame["noise"] = rng.normal(50, 5, len(frame)).round(2)
    path = tmp_path / "m.csv"
    frame.to_csv(path, index=False)
    first = build_brief(path, out_dir=tmp_path / "m1", screen_features=False, resamples=3)
    assert "noise" in first.prepared.features
    again = build_brief(path, out_dir=tmp_path / "m2", previous=tmp_path / "m1", resamples=3)
    assert again.prepared.features == first.prepared.features
    assert again.changes is not None
    # without a previous run, screening takes the noise out
    alone = build_brief(path, out_dir=tmp_path / "m3", resamples=3)
    assert "noise" not in alone.prepared.features
