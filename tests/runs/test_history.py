"""reportgen history: past runs listed from the run folders."""

from __future__ import annotations

import os
import shutil

from typer.testing import CliRunner

from reportgen.cli import app
from reportgen.runs.history import read_history

runner = CliRunner()


def test_history_lists_runs_oldest_first_with_latest_pointer(periods, tmp_path):
    root = tmp_path / "reports"
    root.mkdir()
    for month in (1, 2, 3):
        shutil.copytree(periods["runs"][month].config.out_dir, root / f"2026-0{month}")
    os.symlink("2026-03", root / "latest")
    (root / "notes").mkdir()  # not a run: ignored
    shutil.copytree(root / "2026-01", root / "broken")
    (root / "broken" / "model.json").write_text("{}")
    history = read_history(root)
    names = [r.folder.name for r in history.runs]
    assert names == ["2026-01", "2026-02", "2026-03", "broken"]
    assert history.pointers == {"latest": "2026-03"}
    assert [r.k for r in history.runs[:3]] == [3, 3, 3]
    assert history.runs[1].previous == history.runs[0].created_at
    result = runner.invoke(app, ["history", str(root)])
    assert result.exit_code == 0
    assert "2026-03" in result.output and "[latest]" in result.output
    assert "DAMAGED" in result.output and "customers-2.csv" in result.output
    first = periods["runs"][1].stories[0].name
    assert first in result.output


def test_history_of_missing_folder_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["history", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "not found" in result.output
    assert "Traceback" not in result.output


def test_monthly_script_moves_latest_only_after_success(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from tests.conftest import ROOT, make_period

    reportgen = Path(sys.executable).parent / "reportgen"
    data = tmp_path / "customers.csv"
    make_period(1)[0].to_csv(data, index=False)
    reports = tmp_path / "reports"
    env = dict(os.environ, REPORTGEN=str(reportgen), MONTH="2026-01")
    script = str(ROOT / "scripts" / "monthly.sh")
    ok = subprocess.run(
        [script, str(data), str(reports), "--k", "3", "--k-max", "3"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    assert os.readlink(reports / "latest") == "2026-01"
    env["MONTH"] = "2026-02"
    bad = subprocess.run(
        [script, str(tmp_path / "missing.csv"), str(reports)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "not found" in bad.stderr
    assert os.readlink(reports / "latest") == "2026-01"
