"""`reportgen init`: a starter dictionary that, unchanged, gives the same brief as none."""

from __future__ import annotations

import yaml
from typer.testing import CliRunner

from reportgen.cli import app
from tests.conftest import DATA, FIXTURES, pdf_text

runner = CliRunner()


def _same_brief_with_and_without(tmp_path, data) -> None:
    starter = tmp_path / "starter.yaml"
    made = runner.invoke(app, ["init", str(data), "--out", str(starter)])
    assert made.exit_code == 0, made.output
    assert "Starter dictionary written" in made.output
    plain = runner.invoke(app, ["brief", str(data), "--out", str(tmp_path / "a"), "--quiet"])
    declared = runner.invoke(
        app,
        ["brief", str(data), "--dictionary", str(starter), "--out", str(tmp_path / "b"), "-q"],
    )
    assert plain.exit_code == 0 and declared.exit_code == 0, declared.output
    for name in ("assignments.csv", "profiles.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    # the appendix gives the same reason for each column's role, not "declared"
    words = [" ".join(pdf_text(tmp_path / run / "brief.pdf")).split() for run in ("a", "b")]
    for reason in ("declared", "numbers", "codes:"):
        assert words[0].count(reason) == words[1].count(reason)


def test_a_starter_dictionary_unchanged_gives_the_same_segments(tmp_path):
    _same_brief_with_and_without(tmp_path, DATA / "wholesale_customers.csv")
    raw = yaml.safe_load((tmp_path / "starter.yaml").read_text())
    assert set(raw["columns"]) == {
        "Channel",
        "Region",
        "Fresh",
        "Milk",
        "Grocery",
        "Frozen",
        "Detergents_Paper",
        "Delicassen",
    }
    text = (tmp_path / "starter.yaml").read_text()
    assert "# high:" in text and "# low:" in text  # word slots to fill in
    assert raw["columns"]["Region"]["why"].startswith("3 whole-number codes")  # the reason


def test_a_starter_for_an_order_log_describes_its_customer_features(tmp_path):
    _same_brief_with_and_without(tmp_path, FIXTURES / "online_retail_sample.csv.gz")
    raw = yaml.safe_load((tmp_path / "starter.yaml").read_text())
    assert raw["id_column"] == "CustomerID"
    assert raw["columns"]["recency_days"]["high"]["name"] == "Lapsed buyers"


def test_init_keeps_an_existing_file_unless_forced(tmp_path):
    target = tmp_path / "mine.yaml"
    target.write_text("keep me\n")
    data = str(DATA / "wholesale_customers.csv")
    refused = runner.invoke(app, ["init", data, "--out", str(target)])
    assert refused.exit_code == 2 and "exists" in refused.output
    assert target.read_text() == "keep me\n"
    assert runner.invoke(app, ["init", data, "--out", str(target), "--force"]).exit_code == 0
    assert "columns:" in target.read_text()
