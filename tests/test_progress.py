"""Progress (reportgen.progress): each stage reported to a callback, drawn on a terminal only, and
nothing shown by the CLI when quiet or not on a terminal."""

from __future__ import annotations

import io

from rich.console import Console
from typer.testing import CliRunner

from reportgen import progress as progress_mod
from reportgen.cli import app
from reportgen.pipeline import build_brief, example_data

runner = CliRunner()


def test_library_reports_each_stage_to_a_progress_callback(tmp_path):
    data, dictionary = example_data()
    stages: list[str] = []
    build_brief(data, dictionary_path=dictionary, out_dir=tmp_path, progress=stages.append)
    assert stages[0].startswith("Reading") and stages[-1] == "Writing files"
    assert any(s.startswith("Choosing k") for s in stages)


def test_terminal_progress_draws_on_a_terminal_and_is_silent_otherwise(monkeypatch):
    with progress_mod.terminal_progress(enabled=False) as report:
        assert report is progress_mod.silent
    buf = io.StringIO()
    monkeypatch.setattr(
        "rich.console.Console",
        lambda **kw: Console(file=buf, force_terminal=True, width=80),
    )
    with progress_mod.terminal_progress(enabled=True) as report:
        report("Choosing k")
    assert "Choosing k" in buf.getvalue()


def test_cli_shows_no_progress_when_quiet_or_not_a_terminal(tmp_path):
    quiet = runner.invoke(app, ["demo", "--out", str(tmp_path / "q"), "--quiet"])
    assert quiet.exit_code == 0 and quiet.output == ""
    plain = runner.invoke(app, ["demo", "--out", str(tmp_path / "p")])  # CliRunner is no TTY
    assert plain.exit_code == 0
    assert "Choosing k" not in plain.output and "\x1b[" not in plain.output
