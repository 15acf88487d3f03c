"""model.json: the model is data; damaged, edited or incompatible files are refused in one line."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from reportgen.cli import app
from reportgen.errors import InputError
from reportgen.runs.model import checksum, load_model, model_bytes, parse_model

runner = CliRunner()


@pytest.fixture()
def run_copy(demo_run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(demo_run.config.out_dir, folder)
    return folder


def test_every_brief_saves_a_plain_json_model(demo_run):
    raw = json.loads(demo_run.files["model.json"].read_bytes())
    assert raw["schema"] == "reportgen.runs.model" and raw["schema_version"] == 1
    assert raw["features"] == ["premium_importance", "agent_importance"]
    assert [s["name"] for s in raw["segments"]] == [s.name for s in demo_run.stories]
    first = raw["preprocess"]["steps"][0]
    assert first["column"] == "premium_importance" and first["kind"] == "numeric"
    assert first["transform"] == "none" and first["impute"] is None
    assert raw["input"]["sha256"] == demo_run.table.sha256
    assert raw["dictionary"]["id_column"] == "respondent_id"
    assert "scikit-learn" in raw["versions"] and raw["created_at"].endswith("Z")
    model = load_model(demo_run.config.out_dir)
    # Full float precision: the centres read back are exactly the fitted ones.
    assert np.array_equal(model.centers_scaled, demo_run.segmentation.centers_scaled)
    assert model.steps == demo_run.prepared.steps


def _edit(folder, change):
    path = folder / "model.json"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc, indent=2))


def _refused(folder, *words):
    result = runner.invoke(app, ["score", str(folder.parent / "x.csv"), "--model", str(folder)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    for w in words:
        assert w in result.output
    return result.output


@pytest.fixture()
def data_file(run_copy, demo_run):
    shutil.copy(demo_run.table.path, run_copy.parent / "x.csv")


def test_tampered_model_is_refused_without_traceback(run_copy, data_file):
    _edit(run_copy, lambda d: d["segments"][0].__setitem__("name", "Hacked"))
    _refused(run_copy, "checksum")


def test_tampered_model_is_refused_by_brief_previous(run_copy, demo_run, tmp_path):
    _edit(run_copy, lambda d: d["segments"][0]["center_scaled"].__setitem__(0, 9.0))
    result = runner.invoke(
        app,
        [
            "brief",
            str(demo_run.table.path),
            "--previous",
            str(run_copy),
            "--out",
            str(tmp_path / "new"),
        ],
    )
    assert result.exit_code == 2 and "checksum" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "new").exists()


def test_truncated_model_is_refused(run_copy, data_file):
    path = run_copy / "model.json"
    path.write_bytes(path.read_bytes()[:500])
    _refused(run_copy, "not valid JSON")


def test_newer_schema_is_refused(run_copy, data_file):
    _edit(run_copy, lambda d: d.__setitem__("schema_version", 99))
    _refused(run_copy, "version 99", "newer")


def test_not_a_model_is_refused(run_copy, data_file):
    (run_copy / "model.json").write_text("[1, 2, 3]")
    _refused(run_copy, "not a reportgen model")


def test_missing_model_is_refused(tmp_path):
    (tmp_path / "x.csv").write_text("a\n1\n")
    result = runner.invoke(app, ["score", str(tmp_path / "x.csv"), "--model", str(tmp_path)])
    assert result.exit_code == 2 and "no saved model" in result.output


def _resigned(doc_change, demo_run):
    """Edited AND re-checksummed: the content checks must still refuse it."""
    doc = json.loads(demo_run.files["model.json"].read_bytes())
    doc.pop("checksum")
    doc_change(doc)
    return model_bytes(doc)


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda d: d["segments"][0].__setitem__("center_scaled", ["x", 1]), "finite number"),
        (lambda d: d["preprocess"]["steps"][0].__setitem__("scale", 0), "positive"),
        (
            lambda d: d["preprocess"]["steps"][0].__setitem__("transform", "eval"),
            "unknown transform",
        ),
        (lambda d: d.__setitem__("segments", []), "segments"),
        (lambda d: d["segments"][1].__setitem__("id", d["segments"][0]["id"]), "repeat"),
        (lambda d: d.pop("features"), "features"),
    ],
)
def test_invalid_content_is_refused_even_with_a_valid_checksum(demo_run, change, words):
    with pytest.raises(InputError, match=words):
        parse_model(_resigned(change, demo_run))


def test_nan_is_refused(demo_run):
    text = demo_run.files["model.json"].read_text()
    doc = json.loads(text)
    doc.pop("checksum")
    body = json.dumps(doc).replace('"share": ', '"share": NaN, "x": ', 1)
    with pytest.raises(InputError):
        parse_model(body.encode())
    assert checksum(doc)  # the canonical form of a valid body exists
