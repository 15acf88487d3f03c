"""The run's speed machinery (reportgen.engine.offload): a real spawned process, never a mock.

It must give exactly what this process would have made, fall back to this process when it
breaks, and never outlive a run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reportgen import pipeline
from reportgen.engine import offload
from reportgen.report import charts, render
from tests.conftest import pdf_text

TRAIT = {
    "z": [0.8, -1.25, 0.1],
    "feature_labels": ["Spend", "Visits", "Tenure <b>"],
    "value_texts": ["£1,200 vs £900", "3.1 vs 5.0", "4 yr vs 4 yr"],
    "color": "#0072b2",
    "units": "customers",
}
HTML = "<html><body><h1>Segment brief</h1><p>Premium-savers: 53 % of customers.</p></body></html>"


@pytest.fixture
def second():
    pool = offload.SecondProcess()
    yield pool
    pool.shutdown()


def child_pid() -> int:
    return os.getpid()


def sleep_then(seconds: float, value: int) -> int:
    time.sleep(seconds)
    return value


def hang_unless_in(pid: int, value: int) -> int:
    """Hangs in any process but `pid`: a second process that stopped answering."""
    if os.getpid() != pid:
        time.sleep(60)
    return value


def fail() -> None:
    raise ValueError("the task's own error")


def test_trait_charts_from_the_second_process_are_byte_for_byte_the_ones_drawn_here(second):
    assert second.submit(charts.trait_bars, **TRAIT).result() == charts.trait_bars(**TRAIT)
    assert second.submit(child_pid).result() != os.getpid()  # it really ran over there


def test_pdfs_from_the_second_process_read_as_the_ones_rendered_here(second):
    there = second.submit(render.html_to_pdf, HTML, None).result()
    assert pdf_text(there) == pdf_text(render.html_to_pdf(HTML))


def test_a_tasks_own_error_is_raised_as_here(second):
    with pytest.raises(ValueError, match="own error"):
        second.submit(fail).result()


def test_a_killed_process_means_the_work_is_done_here(second):
    pid = second.submit(child_pid).result()
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.3)
    assert second.submit(child_pid).result() == os.getpid()
    assert second.submit(charts.trait_bars, **TRAIT).result() == charts.trait_bars(**TRAIT)


def test_a_task_that_never_answers_is_given_up_on_and_done_here():
    pool = offload.SecondProcess(timeout=1.0)
    try:
        started = time.monotonic()
        assert pool.submit(hang_unless_in, os.getpid(), 7).result() == 7
        assert time.monotonic() - started < 30  # given up on after 1 s and run here
    finally:
        pool.shutdown()


def test_shutdown_ends_a_busy_process_at_once():
    pool = offload.SecondProcess()
    pid = pool.submit(child_pid).result()
    pool.submit(sleep_then, 30, 1)
    started = time.monotonic()
    pool.shutdown()
    assert time.monotonic() - started < 5
    assert not _alive(pid)


PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import probe
from reportgen.engine import offload
from reportgen.report import charts
if __name__ == "__main__":
    pool = offload.SecondProcess()
    pool.submit(charts.trait_bars, **json.loads(sys.argv[2])).result()
    print(json.dumps(pool.submit(probe.loaded, ("pandas", "pyarrow", "scipy", "sklearn")).result()))
    pool.shutdown()
"""


def test_the_second_process_loads_no_data_libraries(tmp_path):
    # It draws and lays out; pandas, SciPy and scikit-learn would only cost it memory and start.
    # A script of its own: this test module imports the pipeline, and the child would too.
    (tmp_path / "probe.py").write_text(
        "import sys\n\ndef loaded(names):\n    return [m for m in names if m in sys.modules]\n"
    )
    (tmp_path / "main.py").write_text(PROBE)
    argv = [sys.executable, str(tmp_path / "main.py"), str(tmp_path), json.dumps(TRAIT)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []


def test_a_brief_with_and_without_the_second_process_is_the_same(tmp_path, monkeypatch):
    data, dictionary = pipeline.example_data()
    used = []
    real = offload.second_process

    def counted(rows):
        pool = real(rows)
        used.append(pool)
        return pool

    monkeypatch.setattr(offload, "second_process", counted)
    with_it = pipeline.build_brief(data, dictionary_path=dictionary, out_dir=tmp_path / "a")
    assert used and used[0] is not None
    monkeypatch.setattr(offload, "second_process", lambda rows: None)
    alone = pipeline.build_brief(data, dictionary_path=dictionary, out_dir=tmp_path / "b")
    assert pdf_text(with_it.pdf) == pdf_text(alone.pdf)
    assert with_it.html == alone.html  # the charts are embedded: same PNG bytes
    for name in ("segments/premium-savers.pdf", "segments/agent-seekers.pdf"):
        assert pdf_text(tmp_path / "a" / name) == pdf_text(tmp_path / "b" / name)


def test_no_second_process_above_its_row_limit():
    assert offload.second_process(offload.SECOND_PROCESS_UPTO + 1) is None


def test_importing_the_pipeline_leaves_the_heavy_libraries_to_the_background():
    # They are imported on a thread while the table is read (offload.ANALYSIS_MODULES); a module
    # that imported one at its top would put it back on the run's critical path.
    imports = "reportgen.pipeline, reportgen.cli"
    heavy = ("sklearn", "scipy", "kneed", "matplotlib", "seaborn", "weasyprint")
    code = (
        f"import json, sys, {imports}\nprint(json.dumps([m for m in {heavy} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []


@pytest.mark.parametrize("after", [0.8, 2.0])
def test_ctrl_c_ends_a_run_at_once_and_leaves_no_process(tmp_path, after):
    proc = subprocess.Popen(
        [sys.executable, "-m", "reportgen", "demo", "--out", str(tmp_path / "out")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own session: whatever it starts can be found afterwards
    )
    time.sleep(after)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode in (130, 0), err  # 0: it had finished before the signal
    if proc.returncode == 130:
        # Nothing printed only when the signal came while Python itself was starting.
        assert "Traceback" not in err and (not err or "interrupted" in err)
        assert not (tmp_path / "out" / "brief.pdf").exists()
    deadline = time.monotonic() + 5
    while _session_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _session_members(proc.pid) == []


def _alive(pid: int) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        if state == "Z":
            return False
        time.sleep(0.1)
    return True


def _session_members(sid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members
