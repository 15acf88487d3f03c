"""Order logs end to end through the CLI: recognised, reduced to one row per customer, segmented,
valued, and every customer exported; numbers reconcile with the log."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from reportgen.cli import app
from tests.conftest import FIXTURES, pdf_text, shared_dataset

runner = CliRunner()
CDNOW_NAMES = "cohort_id,customer,date,cds,amount"


def brief(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["brief", *args, "--quiet", "--resamples", "5"])
    return result.exit_code, result.output


def test_an_order_log_is_briefed_per_customer_and_reconciles(tmp_path):
    log = FIXTURES / "online_retail_sample.csv.gz"
    code, out = brief(str(log), "--out", str(tmp_path / "run"))
    assert code == 0, out
    lines = pd.read_csv(log, dtype={"CustomerID": "string"})
    with_id = lines[lines["CustomerID"].notna()]
    assignments = pd.read_csv(tmp_path / "run" / "assignments.csv")
    # every customer once, ids as whole numbers (not 17850.0)
    assert sorted(assignments["CustomerID"]) == sorted(
        with_id["CustomerID"].astype(float).astype(int).unique()
    )
    assert assignments["CustomerID"].is_unique
    net = (with_id["Quantity"] * with_id["UnitPrice"]).sum()
    assert assignments["net_spend"].sum() == pytest.approx(net, abs=0.01 * len(assignments))
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["input_kind"] == "transactions"
    assert summary["order_log"]["net_revenue"] == pytest.approx(net, abs=0.01)
    no_id = int(lines["CustomerID"].isna().sum())
    ledger = {x["reason"]: x["lines"] for x in summary["order_log"]["set_aside"]}
    assert ledger["no customer id"] == no_id
    text = " ".join(pdf_text(tmp_path / "run" / "brief.pdf"))
    for phrase in ("order log", "What each segment is worth", "RFM", f"{no_id:,}", "of revenue"):
        assert phrase in text
    assert {"R", "F", "M", "rfm_group", "value_12m", "segment_name"} <= set(assignments.columns)
    unsegmented = assignments["segment_id"].isna()
    assert (assignments.loc[unsegmented, "not_segmented_because"].str.len() > 0).all()


def test_a_shuffled_log_gives_the_same_customers_scores_and_segments(tmp_path):
    log = pd.read_csv(FIXTURES / "online_retail_sample.csv.gz", dtype=str, keep_default_na=False)
    shuffled = tmp_path / "shuffled.csv"
    log.sample(frac=1.0, random_state=3).to_csv(shuffled, index=False)
    ordered = tmp_path / "ordered.csv"
    log.to_csv(ordered, index=False)
    assert brief(str(ordered), "--out", str(tmp_path / "a"))[0] == 0
    assert brief(str(shuffled), "--out", str(tmp_path / "b"))[0] == 0
    a = (tmp_path / "a" / "assignments.csv").read_text()
    b = (tmp_path / "b" / "assignments.csv").read_text()
    assert a == b


def test_the_cdnow_sample_reproduces_the_published_bgnbd_fit(tmp_path):
    code, out = brief(
        str(FIXTURES / "cdnow_sample.txt"),
        "--names",
        CDNOW_NAMES,
        "--roles",
        "customer=customer,date=date,amount=amount,order=",
        "--as-of",
        "1997-09-30",
        "--out",
        str(tmp_path / "run"),
    )
    assert code == 0, out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    fit = summary["order_log"]["bgnbd"]
    for name, published in (("r", 0.243), ("alpha", 4.414), ("a", 0.793), ("b", 2.426)):
        assert fit[name] == pytest.approx(published, abs=0.005), name
    assignments = pd.read_csv(tmp_path / "run" / "assignments.csv", dtype={"customer": str})
    assert len(assignments) == 2357 and assignments["customer"].str.len().eq(4).all()  # "0001"


def planted_log(seed: int = 5) -> tuple[pd.DataFrame, dict[str, int]]:
    """Three behaviour groups: frequent big spenders, occasional buyers, lapsed one-timers."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01")
    rows, truth = [], {}
    groups = {0: (300, 14, 200.0, 0), 1: (400, 60, 40.0, 0), 2: (300, 0, 25.0, 300)}
    cid = 1000
    for group, (n, gap, spend, stop) in groups.items():
        for _ in range(n):
            cid += 1
            truth[f"C{cid}"] = group
            day = int(rng.integers(0, 30))
            orders = 1 if gap == 0 else int(rng.integers(8, 14) if gap < 30 else rng.integers(3, 6))
            for k in range(orders):
                when = start + pd.Timedelta(days=day + k * gap + int(stop * 0))
                amount = round(float(rng.gamma(20, spend / 20)), 2)
                rows.append((f"C{cid}", f"O{cid}-{k}", when.strftime("%d/%m/%Y"), amount))
    frame = pd.DataFrame(rows, columns=["customer", "order_id", "order_date", "amount"])
    return frame, truth


def test_planted_behaviour_groups_are_recovered(tmp_path):
    from sklearn.metrics import adjusted_rand_score

    frame, truth = planted_log()
    path = tmp_path / "log.csv"
    frame.to_csv(path, index=False)
    code, out = brief(str(path), "--k", "3", "--out", str(tmp_path / "run"))
    assert code == 0, out
    got = pd.read_csv(tmp_path / "run" / "assignments.csv")
    assert len(got) == len(truth)
    labels = [truth[c] for c in got["customer"]]
    assert adjusted_rand_score(labels, got["segment_id"]) > 0.9


def test_forcing_a_table_reads_the_lines_as_rows(tmp_path):
    frame, _ = planted_log()
    path = tmp_path / "log.csv"
    frame.head(300).to_csv(path, index=False)
    code, out = brief(str(path), "--input-kind", "customers", "--out", str(tmp_path / "run"))
    assert code == 0, out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["input_kind"] == "customers" and summary["order_log"] is None


@pytest.mark.parametrize(
    ("csv", "message"),
    [
        ("customer,amount\nA,1\nA,2\nB,3\n", "no date column"),
        ("customer,day,amount\nA,soon,1\nA,later,2\nB,never,3\n", "date"),
        ("customer,day,amount\nA,2024-01-01,0\nA,2024-01-02,0\nB,2024-01-03,0\n", "amount"),
        ("customer,day,amount\nA,2024-01-01,5\nA,2024-01-02,6\nA,2024-01-03,7\n", "customer"),
    ],
)
def test_bad_logs_are_refused_in_one_line(tmp_path, csv, message):
    path = tmp_path / "log.csv"
    path.write_text(csv)
    code, out = brief(str(path), "--input-kind", "transactions", "--out", str(tmp_path / "o"))
    assert code == 2, out
    assert message in out.lower() and "Traceback" not in out and "unexpected" not in out
    assert len(out.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_a_date_column_in_two_formats_is_read_with_a_note(tmp_path):
    frame, _ = planted_log()
    iso = pd.to_datetime(frame["order_date"], format="%d/%m/%Y").dt.strftime("%Y-%m-%d")
    frame["order_date"] = frame["order_date"].where(frame.index % 2 == 0, iso)
    path = tmp_path / "log.csv.gz"
    with gzip.open(path, "wt") as fh:
        frame.to_csv(fh, index=False)
    code, out = brief(str(path), "--out", str(tmp_path / "run"))
    assert code == 0, out
    got = pd.read_csv(tmp_path / "run" / "assignments.csv")
    assert len(got) == frame["customer"].nunique()


def test_the_full_online_retail_log(tmp_path):
    path = shared_dataset("online_retail", "online_retail.csv.gz")
    code, out = brief(str(path), "--out", str(tmp_path / "run"))
    assert code == 0, out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    log = summary["order_log"]
    assert log["customers"] == 4372
    assert {x["reason"]: x["lines"] for x in log["set_aside"]}["no customer id"] == 135080
    assignments = pd.read_csv(tmp_path / "run" / "assignments.csv")
    assert len(assignments) == 4372 and assignments["CustomerID"].is_unique
    assert assignments["net_spend"].sum() == pytest.approx(log["net_revenue"], abs=1.0)


def test_score_reduces_a_new_log_to_customers_with_the_runs_roles(tmp_path):
    log = FIXTURES / "online_retail_sample.csv.gz"
    assert brief(str(log), "--out", str(tmp_path / "run"))[0] == 0
    out = tmp_path / "scored.csv"
    result = runner.invoke(
        app, ["score", str(log), "--model", str(tmp_path / "run"), "--out", str(out), "-q"]
    )
    assert result.exit_code == 0, result.output
    brief_rows = pd.read_csv(tmp_path / "run" / "assignments.csv")
    scored = pd.read_csv(out)
    assert scored["CustomerID"].tolist() == brief_rows["CustomerID"].tolist()  # every customer
    both = brief_rows["segment_id"].notna()
    assert (scored.loc[both, "segment_id"] == brief_rows.loc[both, "segment_id"]).all()


def test_a_re_report_of_a_log_says_who_moved_between_rfm_groups(tmp_path):
    log = str(FIXTURES / "online_retail_sample.csv.gz")
    keep = "--keep-all-features"
    assert brief(log, "--as-of", "2011-09-30", keep, "--out", str(tmp_path / "m1"))[0] == 0
    code, out = brief(log, keep, "--previous", str(tmp_path / "m1"), "--out", str(tmp_path / "m2"))
    assert code == 0, out
    text = " ".join(pdf_text(tmp_path / "m2" / "brief.pdf"))
    assert "How customers moved between RFM groups" in text
    assert "customers moved from" in text


def test_the_data_dictionary_can_say_it_is_an_order_log_and_name_its_columns(tmp_path):
    dictionary = tmp_path / "cdnow.yaml"
    dictionary.write_text(
        "input_kind: transactions\n"
        "order_log:\n"
        "  roles: {customer: customer, date: date, amount: amount, order: ''}\n"
        "columns:\n"
        "  customer: {role: id}\n"
        "  recency_days: {role: segment, label: Days since last purchase}\n"
        "  orders: {role: segment, label: Orders}\n"
        "  net_spend: {role: segment, label: Net spend, unit: USD}\n"
    )
    code, out = brief(
        str(FIXTURES / "cdnow_sample.txt"),
        "--names",
        CDNOW_NAMES,
        "--dictionary",
        str(dictionary),
        "--out",
        str(tmp_path / "run"),
    )
    assert code == 0, out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["input_kind"] == "transactions"
    assert summary["features"] == ["recency_days", "orders", "net_spend"]
    assert summary["order_log"]["roles"]["customer"] == "customer"


def test_a_starter_dictionary_for_a_log_records_its_roles(tmp_path):
    import yaml

    target = tmp_path / "log.yaml"
    made = runner.invoke(
        app, ["init", str(FIXTURES / "online_retail_sample.csv.gz"), "-o", str(target)]
    )
    assert made.exit_code == 0, made.output
    raw = yaml.safe_load(target.read_text())
    assert raw["input_kind"] == "transactions"
    assert raw["order_log"]["roles"]["customer"] == "CustomerID"
