"""reportgen score: new rows against a saved brief, without refitting."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from reportgen.cli import app
from reportgen.runs.model import load_model
from reportgen.runs.score import score

runner = CliRunner()


def test_scoring_a_runs_own_input_reproduces_its_assignments(demo_run, tmp_path):
    out = tmp_path / "scored.csv"
    result = runner.invoke(
        app,
        [
            "score",
            str(demo_run.table.path),
            "--model",
            str(demo_run.config.out_dir),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == demo_run.files["assignments.csv"].read_bytes()
    assert "2 of" not in result.output or "not scored" in result.output


def test_scoring_reproduces_carried_over_ids(periods, tmp_path):
    for month in (2, 3):
        run = periods["runs"][month]
        scored = score(load_model(run.config.out_dir), pd.read_csv(periods["data"][month]))
        pd.testing.assert_frame_equal(
            scored.assignments.astype(str).reset_index(drop=True),
            run.assignments.astype(str).reset_index(drop=True),
        )


def test_rows_with_blanks_are_scored_on_the_features_they_have_and_flagged(demo_run):
    scored = score(load_model(demo_run.config.out_dir), demo_run.table.frame)
    assert scored.n_read == 150 and scored.n_scored == 150 and scored.n_unscored == 0
    assert scored.n_partial == 2
    assert any("partial data" in n for n in scored.notes())
    partial = scored.assignments[scored.assignments["features_used"] < 2]
    assert len(partial) == 2 and partial["note"].str.contains("no value for").all()


def test_scoring_a_runs_own_input_reproduces_every_row_of_its_assignments(demo_run):
    from reportgen.deliver.files import csv_bytes

    scored = score(load_model(demo_run.config.out_dir), demo_run.table.frame)
    own = (demo_run.config.out_dir / "assignments.csv").read_bytes()
    assert csv_bytes(scored.assignments) == own


def test_extra_columns_are_ignored_with_a_note(demo_run, tmp_path):
    frame = demo_run.table.frame.copy()
    frame["loyalty_card"] = "yes"
    path = tmp_path / "new.csv"
    frame.to_csv(path, index=False)
    result = runner.invoke(app, ["score", str(path), "--model", str(demo_run.config.out_dir)])
    assert result.exit_code == 0
    assert "loyalty_card" in result.output
    assert "respondent_id,segment_id,segment_name,distance_to_center" in result.output


def test_missing_feature_column_is_a_clear_error(demo_run, tmp_path):
    frame = demo_run.table.frame.drop(columns=["agent_importance"])
    path = tmp_path / "new.csv"
    frame.to_csv(path, index=False)
    result = runner.invoke(app, ["score", str(path), "--model", str(demo_run.config.out_dir)])
    assert result.exit_code == 2
    assert "agent_importance" in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_new_customers_land_in_the_right_segment(periods):
    run = periods["runs"][1]
    new = pd.DataFrame(
        {"customer_id": ["N1", "N2"], "spend_eur": [505.0, 98.0], "visits": [9.5, 21.0]}
    )
    scored = score(load_model(run.config.out_dir), new).assignments
    by_name = {s.segment_id: s.name for s in run.stories}
    b_id = run.assignments.loc[run.assignments.customer_id == "C0150", "segment_id"].iloc[0]
    c_id = run.assignments.loc[run.assignments.customer_id == "C0250", "segment_id"].iloc[0]
    assert list(scored.segment_id) == [b_id, c_id]
    assert list(scored.segment_name) == [by_name[b_id], by_name[c_id]]


def test_unseen_category_is_scored_and_counted(tmp_path):
    import numpy as np
    import yaml

    from reportgen import build_brief

    rng = np.random.default_rng(1)
    g = rng.integers(0, 2, 300)
    frame = pd.DataFrame(
        {
            "id": [f"c{i}" for i in range(300)],
            "visits": (5 + 6 * g + rng.normal(0, 1, 300)).round(1),
            "plan": np.where(g == 1, "Gold", "Basic"),
        }
    )
    frame.to_csv(tmp_path / "fit.csv", index=False)
    spec = {"id_column": "id", "columns": {"plan": {"role": "segment", "type": "categorical"}}}
    (tmp_path / "d.yaml").write_text(yaml.safe_dump(spec))
    build_brief(tmp_path / "fit.csv", dictionary_path=tmp_path / "d.yaml", out_dir=tmp_path / "o")
    new = frame.head(5).assign(plan=["Gold", "Platinum", "Platinum", "=cmd()", "Basic"])
    result = score(load_model(tmp_path / "o"), new)
    assert result.n_scored == 5  # still scored, on the other features
    (note,) = [n for n in result.notes() if "never saw" in n]
    assert note.startswith("3 row(s) have a 'plan' value") and "'Platinum'" in note
