"""End to end through the CLI: the demo, a second dataset, every bad-input case, determinism."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from reportgen.cli import app
from tests.conftest import DATA, ROOT, pdf_text

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli-demo")
    result = runner.invoke(
        app, ["demo", "--out", str(out)], env={"SOURCE_DATE_EPOCH": "1764288000"}
    )
    assert result.exit_code == 0, result.output
    assert "Premium-savers" in result.output and "brief.pdf" in result.output
    return out


def test_demo_writes_every_file(demo_dir):
    for name in ["brief.pdf", "brief.html", "assignments.csv", "profiles.csv", "summary.json"]:
        assert (demo_dir / name).stat().st_size > 0, name
    assert not list(demo_dir.glob(".reportgen-staging*"))


def test_demo_pdf_reads_like_the_tutorial(demo_dir):
    pages = [" ".join(p.split()) for p in pdf_text(demo_dir / "brief.pdf")]
    text = " ".join(pages)
    summary = json.loads((demo_dir / "summary.json").read_text())
    names = [s["name"] for s in summary["segments"]]
    assert sorted(names) == ["Agent-seekers", "Premium-savers"]
    # One page for the summary, one for the map/profile, one per segment, appendix.
    assert 5 <= len(pages) <= 8
    assert "Executive summary" in pages[0]
    for s in summary["segments"]:
        share = f"{round(100 * s['share'])} %"
        assert s["name"] in pages[0] and share in pages[0]
        assert any(s["name"] in page and "Suggested marketing angle" in page for page in pages[2:])
    assert "Synthetic example data" in pages[0]
    assert "150 rows read, 148 kept, 2 left out" in text
    assert "no value for 'agent_importance'" in text
    assert "Page 1 of" in pages[0] or "Page 1 of" in text
    assert "k = 2" in text and "Kneedle" in text
    assert re.search(r"rate a local agent nearby \d\.\d / 7 on average", text)


def test_demo_assignments_for_the_crm(demo_dir):
    a = pd.read_csv(demo_dir / "assignments.csv", dtype={"respondent_id": str})
    assert list(a.columns) == [
        "respondent_id",
        "segment_id",
        "segment_name",
        "distance_to_center",
        "features_used",
        "note",
    ]
    # every respondent, in input order; the two with a skipped answer are assigned on the
    # answer they gave, and say so
    assert len(a) == 150 and a["respondent_id"].is_unique
    assert a["respondent_id"].tolist() == sorted(a["respondent_id"])
    assert set(a["segment_name"]) == {"Premium-savers", "Agent-seekers"}
    partial = a[a["features_used"] < 2]
    assert len(partial) == 2 and partial["segment_id"].notna().all()
    assert partial["note"].str.startswith("assigned on 1 of 2 features (no value for").all()
    assert a.loc[a["features_used"] == 2, "note"].isna().all()
    summary = json.loads((demo_dir / "summary.json").read_text())
    assert summary["k"] == 2
    fitted = a[a["features_used"] == 2]
    assert [s["size"] for s in summary["segments"]] == fitted[
        "segment_id"
    ].value_counts().sort_index().tolist()
    assert summary["input"]["sha256"] and summary["settings"]["seed"] == 42
    assert summary["rows"] == {
        "read": 150,
        "kept": 148,
        "dropped": 2,
        "duplicate_ids": 0,
        "drop_reasons": [
            {"reason": "no value for 'premium_importance'", "rows": 1},
            {"reason": "no value for 'agent_importance'", "rows": 1},
        ],
    }
    agent = next(s for s in summary["segments"] if s["name"] == "Agent-seekers")
    assert agent["centroid"]["agent_importance"] > 5 > agent["centroid"]["premium_importance"]


def test_second_dataset_without_dictionary(tmp_path):
    out = tmp_path / "w"
    result = runner.invoke(
        app,
        [
            "brief",
            str(DATA / "wholesale_customers.csv"),
            "--out",
            str(out),
            "--k",
            "3",
            "--title",
            "Wholesale <clients>",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["k"] == 3 and summary["rows"]["kept"] == 440
    assert len({s["name"] for s in summary["segments"]}) == 3
    assert not any("cluster" in s["name"].lower() for s in summary["segments"])
    text = " ".join(" ".join(pdf_text(out / "brief.pdf")).split())
    assert "Wholesale <clients>" in text
    assert "k = 3 was chosen by the analyst" in text
    assert "Fresh" in text and "Detergents paper" in text
    a = pd.read_csv(out / "assignments.csv")
    assert a.columns[0] == "row" and a["row"].tolist() == list(range(1, 441))
    assert "&lt;clients&gt;" in (out / "brief.html").read_text()


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda t: ["brief", str(t / "nope.csv")], "data file not found"),
        (lambda t: ["brief", write(t, "x.docx", "hello")], "unknown file format"),
        (lambda t: ["brief", write(t, "e.csv", "")], "is empty"),
        (lambda t: ["brief", write(t, "p.parquet", "garbage")], "cannot read"),
        (
            lambda t: ["brief", write(t, "t.csv", "name,city\na,b\nc,d\ne,f\n")],
            "no usable numeric column",
        ),
        (
            lambda t: ["brief", str(DATA / "insurance_survey.csv"), "--columns", "nope"],
            "not in the data: nope",
        ),
        (
            lambda t: ["brief", write(t, "s.csv", "a,b\n1,2\n3,4\n5,1\n"), "--k", "5"],
            "fewer than the 5",
        ),
        (lambda t: ["brief", str(DATA / "insurance_survey.csv"), "--k", "1"], "at least 2"),
        (
            lambda t: [
                "brief",
                str(DATA / "insurance_survey.csv"),
                "--dictionary",
                str(t / "no.yaml"),
            ],
            "data dictionary not found",
        ),
        (lambda t: ["brief", str(DATA / "insurance_survey.csv"), "--id-column", "ghost"], "ghost"),
    ],
)
def test_bad_input_one_line_exit_2(tmp_path, make_args, message):
    result = runner.invoke(app, make_args(tmp_path))
    assert result.exit_code == 2, result.output
    out = result.output.strip()
    assert message in out
    assert "Traceback" not in out and len(out.splitlines()) == 1


def test_failed_run_leaves_last_good_brief(demo_dir, tmp_path):
    before = {p.name: p.read_bytes() for p in demo_dir.iterdir() if p.is_file()}
    bad = write(tmp_path, "b.csv", "a,b\n1,x\n")
    result = runner.invoke(app, ["brief", bad, "--out", str(demo_dir)])
    assert result.exit_code == 2
    broken = tmp_path / "tpl"
    broken.mkdir()
    (broken / "method.html.j2").write_text("{{ undefined_thing.x }}")
    result = runner.invoke(
        app,
        [
            "brief",
            str(DATA / "insurance_survey.csv"),
            "--dictionary",
            str(DATA / "insurance_survey.yaml"),
            "--out",
            str(demo_dir),
            "--templates",
            str(broken),
        ],
    )
    assert result.exit_code != 0 and "template error" in result.output
    after = {p.name: p.read_bytes() for p in demo_dir.iterdir() if p.is_file()}
    assert after.keys() == before.keys()
    assert after["summary.json"] == before["summary.json"]
    assert not list(demo_dir.glob(".reportgen-staging*"))


def test_failed_run_creates_no_folder(tmp_path):
    out = tmp_path / "never"
    runner.invoke(app, ["brief", write(tmp_path, "b.csv", "a\nx\n"), "--out", str(out)])
    assert not out.exists()


def test_same_seed_same_everything(tmp_path, demo_dir):
    again = tmp_path / "again"
    result = runner.invoke(
        app, ["demo", "--out", str(again), "--quiet"], env={"SOURCE_DATE_EPOCH": "1764288000"}
    )
    assert result.exit_code == 0 and result.output == ""
    for name in ["assignments.csv", "summary.json", "profiles.csv", "brief.html"]:
        assert (again / name).read_bytes() == (demo_dir / name).read_bytes(), name
    assert pdf_text(again / "brief.pdf") == pdf_text(demo_dir / "brief.pdf")


def test_python_m_reportgen_and_help():
    proc = subprocess.run(
        [sys.executable, "-m", "reportgen", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 0 and "brief" in proc.stdout and "demo" in proc.stdout


def test_every_command_has_help_and_is_in_readme():
    readme = (ROOT / "README.md").read_text()
    for command in app.registered_commands:
        name = command.name or command.callback.__name__
        assert command.callback.__doc__, name
        assert f"reportgen {name}" in readme, name


def _two_group_export(tmp_path, seed: int, header: str, row) -> tuple[dict, str, np.ndarray]:
    """A 200-row export of two groups (spend, visits) written by `row(i, spend, visits)`,
    run through `reportgen brief`: the summary, the brief's text and the spend written."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 2, 200)
    spend = np.exp(rng.normal(6 + 1.5 * g, 0.3)).round(2)
    visits = 3 + 5 * g + rng.normal(0, 0.8, 200)
    lines = [header] + [row(i, s, v) for i, (s, v) in enumerate(zip(spend, visits, strict=True))]
    data = tmp_path / "export.csv"
    data.write_text("\n".join(lines) + "\n")
    res = runner.invoke(app, ["brief", str(data), "--out", str(tmp_path / "o"), "--quiet"])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    text = " ".join(" ".join(pdf_text(tmp_path / "o" / "brief.pdf")).split())
    return summary, text, spend


def _spend_means_match(summary: dict, spend: np.ndarray, column: str) -> bool:
    """The segments' average amounts are the file's amounts (not a thousandth of them)."""
    segments = summary["segments"]
    overall = sum(seg["centroid"][column] * seg["size"] for seg in segments) / 200
    return overall == pytest.approx(spend.mean(), rel=0.01)


def test_decimal_comma_export_segments_on_its_amounts(tmp_path):
    """A German-style export (';', '206,29') segments on its amounts and says how it read them."""
    summary, text, spend = _two_group_export(
        tmp_path,
        3,
        "kunde;umsatz;besuche",
        lambda i, s, v: f"K{i:04d};{s:.2f};{v:.1f}".replace(".", ","),
    )
    assert set(summary["features"]) == {"umsatz", "besuche"}
    assert "decimal commas" in text and "umsatz, besuche" in text
    assert _spend_means_match(summary, spend, "umsatz")


def test_thousands_separator_export_reads_amounts_as_thousands(tmp_path):
    """A US-style tab export ('1,234') segments on the amounts, in the right thousands."""
    summary, text, spend = _two_group_export(
        tmp_path, 4, "customer\tspend\tvisits", lambda i, s, v: f"K{i:04d}\t{s:,.0f}\t{v:.1f}"
    )
    assert set(summary["features"]) == {"spend", "visits"}
    assert "thousands separators" in text and "1,234 = 1234" in text
    assert _spend_means_match(summary, spend.round(), "spend")


def test_one_feature_table_gets_a_strip_map(tmp_path):
    """With a single segmentation feature the map is one strip per segment (this crashed)."""
    rng = np.random.default_rng(6)
    visits = np.concatenate([rng.normal(3, 0.8, 150), rng.normal(8, 0.8, 150)])
    lines = ["kunde;besuche"] + [
        f"K{i:04d};{v:.1f}".replace(".", ",") for i, v in enumerate(visits)
    ]
    data = tmp_path / "one.csv"
    data.write_text("\n".join(lines) + "\n")
    res = runner.invoke(app, ["brief", str(data), "--out", str(tmp_path / "o"), "--quiet"])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["features"] == ["besuche"] and summary["k"] == 2
    text = " ".join(" ".join(pdf_text(tmp_path / "o" / "brief.pdf")).split())
    assert "placed by the one segmentation feature" in text


def test_quiet_is_quiet_and_ten_customers_are_not_nine_segments(tmp_path):
    """Repeated rows make bootstrap resamples with fewer distinct points than k: scikit-learn's
    warning must not reach a --quiet terminal. A 10-row table is at most 2 segments."""
    rows = ["region,plan", "N,a", "N,a", "S,b", "S,b"]
    data = tmp_path / "dupes.csv"
    data.write_text("\n".join(rows) + "\n")
    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "reportgen", "brief", str(data), "--out", str(out), "--quiet"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "" and res.stderr == ""
    small = tmp_path / "ten.csv"
    rng = np.random.default_rng(1)
    pd.DataFrame(
        {"name": list("ABCDEFGHIJ"), "spend": np.arange(10) * 10.0 + rng.random(10)}
    ).to_csv(small, index=False)
    res = runner.invoke(app, ["brief", str(small), "--out", str(tmp_path / "t"), "--quiet"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "t" / "summary.json").read_text())["k"] == 2
