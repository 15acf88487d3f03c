"""The second-core worker (reportgen.engine.worker): a real child process, never a mock.

It must give exactly what the pipeline would have made itself, fail over to in-process work when
it breaks, and never outlive a run."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import pdf_text

from reportgen import pipeline
from reportgen.engine import worker as worker_mod
from reportgen.engine.worker import Worker
from reportgen.report import charts, render

TRAIT = {
    "z": [0.8, -1.25, 0.1],
    "feature_labels": ["Spend", "Visits", "Tenure <b>"],
    "value_texts": ["£1,200 vs £900", "3.1 vs 5.0", "4 yr vs 4 yr"],
    "color": "#0072b2",
    "units": "customers",
}
HTML = "<html><body><h1>Segment brief</h1><p>Premium-savers: 53 % of customers.</p></body></html>"


@pytest.fixture
def answers(monkeypatch):
    """What every worker job of the test answered (None: the work was redone in process). A
    test that means to exercise the worker asserts it really answered, not only that the
    in-process fallback produced the same files."""
    seen: dict = {}  # job -> its answer (close() asks every job again)
    real = worker_mod.Job.result

    def result(self, timeout=None):
        got = real(self, timeout)
        seen.setdefault(self, got)
        return got

    monkeypatch.setattr(worker_mod.Job, "result", result)

    class Answers:
        def __len__(self):
            return len(seen)

        def __getitem__(self, i):
            return list(seen.values())[i]

        def __iter__(self):
            return iter(seen.values())

    return Answers()


@pytest.fixture
def worker():
    w = Worker()
    assert w.proc is not None
    yield w
    w.close()


def test_trait_charts_from_the_worker_are_byte_for_byte_the_ones_drawn_here(worker):
    other = {**TRAIT, "z": [-0.3, 2.0, 0.0], "color": "#d55e00"}
    got = worker.submit("trait_bars", [TRAIT, other]).result()
    assert got == [charts.trait_bars(**TRAIT), charts.trait_bars(**other)]


def test_pdfs_from_the_worker_read_as_the_ones_rendered_here(worker):
    got = worker.submit("pdf", [HTML, HTML.replace("53", "47")], user_dir=None).result()
    assert got is not None and len(got) == 2
    assert pdf_text(got[0]) == pdf_text(render.html_to_pdf(HTML))
    assert "47 %" in pdf_text(got[1])[0]


def test_a_failed_request_gives_none_and_the_worker_goes_on(worker, tmp_path):
    # A missing template folder is a RenderError in the worker: the caller redoes the work here
    # (and gets the real error message there).
    missing = str(tmp_path / "nope")
    assert worker.submit("pdf", [HTML], user_dir=missing).result() is None
    assert worker.submit("trait_bars", [TRAIT]).result() == [charts.trait_bars(**TRAIT)]


def test_unknown_operations_are_refused_before_anything_is_sent(worker):
    with pytest.raises(ValueError, match="unknown worker operation"):
        worker.submit("exec", ["print(1)"])


def test_the_worker_refuses_unknown_operations_that_reach_it():
    proc = subprocess.run(
        [sys.executable, "-P", "-m", "reportgen.engine.worker"],
        input=_message(json.dumps({"op": "exec"}).encode()),
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0
    header = json.loads(worker_mod.read_message(io.BytesIO(proc.stdout)))
    assert header["ok"] is False and "unknown worker operation" in header["error"]


def test_a_dead_worker_means_the_work_is_done_here(tmp_path):
    (tmp_path / "brief.html.j2").write_text("<h1>Main brief</h1>")
    (tmp_path / "segment_brief.html.j2").write_text("<h1>Brief for {{ seg.name }}</h1>")
    context = {
        "segments": [{"slug": "savers", "name": "Savers"}, {"slug": "seekers", "name": "Seekers"}]
    }
    w = Worker()
    w.proc.kill()
    w.proc.wait()
    try:
        assert w.submit("trait_bars", [TRAIT]).result() is None
        html, pdf, segments = render.render_all(context, tmp_path, worker=w)
    finally:
        w.close()
    assert w.proc is None
    assert "Main brief" in pdf_text(pdf)[0]
    assert list(segments) == ["segments/savers.pdf", "segments/seekers.pdf"]
    assert "Brief for Seekers" in pdf_text(segments["segments/seekers.pdf"])[0]


def test_a_live_worker_renders_the_segment_briefs_of_a_user_template_folder(
    worker, tmp_path, answers
):
    (tmp_path / "brief.html.j2").write_text("<h1>Main brief</h1>")
    (tmp_path / "segment_brief.html.j2").write_text("<h1>Brief for {{ seg.name }}</h1>")
    context = {"segments": [{"slug": "savers", "name": "Savers"}]}
    _, _, segments = render.render_all(context, tmp_path, worker=worker)
    assert "Brief for Savers" in pdf_text(segments["segments/savers.pdf"])[0]
    assert len(answers) == 1 and answers[0] is not None  # the worker rendered it


def test_close_stops_a_busy_worker_at_once():
    w = Worker()
    proc = w.proc
    w.submit("pdf", [HTML * 400] * 20, user_dir=None)
    started = time.perf_counter()
    w.close()
    assert time.perf_counter() - started < 10
    assert proc.returncode is not None  # reaped: no zombie left behind


def test_an_idle_worker_ends_when_its_input_ends():
    w = Worker()
    proc = w.proc
    assert w.submit("trait_bars", [TRAIT]).result()
    w.close()
    assert proc.returncode == 0


def test_messages_cut_short_are_errors_not_results():
    whole = _message(b"hello")
    assert worker_mod.read_message(io.BytesIO(whole)) == b"hello"
    assert worker_mod.read_message(io.BytesIO(b"")) is None
    with pytest.raises(EOFError):
        worker_mod.read_message(io.BytesIO(whole[:-1]))
    with pytest.raises(EOFError):
        worker_mod.read_message(io.BytesIO(whole[:3]))


def test_a_brief_with_and_without_the_worker_is_the_same(tmp_path, monkeypatch, answers):
    data, dictionary = pipeline.example_data()
    with_worker = pipeline.build_brief(data, dictionary_path=dictionary, out_dir=tmp_path / "a")
    assert len(answers) == 2 and all(a is not None for a in answers)  # charts, then PDFs
    monkeypatch.setattr(pipeline, "_start_worker", lambda workers: None)
    alone = pipeline.build_brief(data, dictionary_path=dictionary, out_dir=tmp_path / "b")
    assert pdf_text(with_worker.pdf) == pdf_text(alone.pdf)
    assert with_worker.html == alone.html  # the charts are embedded: same PNG bytes
    for name in ("segments/premium-savers.pdf", "segments/agent-seekers.pdf"):
        assert pdf_text(tmp_path / "a" / name) == pdf_text(tmp_path / "b" / name)


def test_importing_the_pipeline_leaves_the_heavy_libraries_to_the_background():
    # They are imported on a thread while the table is read (pipeline.EARLY_IMPORTS); a module
    # that imported one at its top would put it back on the run's critical path.
    imports = "reportgen.pipeline, reportgen.cli, reportgen.engine.worker"
    heavy = ("sklearn", "scipy", "kneed", "matplotlib", "seaborn", "weasyprint")
    assert _loaded_after(imports, heavy) == []


def test_the_worker_never_imports_from_the_current_folder(tmp_path, monkeypatch):
    (tmp_path / "weasyprint.py").write_text("raise SystemExit('a stray module was imported')\n")
    monkeypatch.chdir(tmp_path)
    w = Worker()
    try:
        assert w.submit("trait_bars", [TRAIT]).result() == [charts.trait_bars(**TRAIT)]
    finally:
        w.close()


def test_the_worker_process_loads_no_data_libraries():
    # What the worker imports (reportgen.engine.worker.main) and no more: pandas, SciPy, seaborn and
    # scikit-learn would add ~130 MB to every run and ~0.3 s to the worker's start.
    imports = (
        "reportgen.engine.worker, reportgen.report.charts, reportgen.report.render, weasyprint"
    )
    heavy = ("pandas", "pyarrow", "scipy", "seaborn", "sklearn")
    assert _loaded_after(imports, heavy) == []


@pytest.mark.parametrize(("upto", "used"), [(10**9, True), (0, False)])
def test_the_worker_is_used_up_to_worker_upto_rows(tmp_path, monkeypatch, upto, used, answers):
    # Started right after reading (before prepare), so that it imports while this process works;
    # above WORKER_UPTO rows not at all (at 10M its ~110 MB took the run over 3.2 GB).
    calls = []
    real_start, real_prepare = pipeline._start_worker, pipeline.prepare

    def start(workers):
        calls.append("worker")
        return real_start(workers)

    def prepare(*args, **kwargs):
        calls.append("prepare")
        return real_prepare(*args, **kwargs)

    monkeypatch.setattr(pipeline, "WORKER_UPTO", upto)
    monkeypatch.setattr(pipeline, "_start_worker", start)
    monkeypatch.setattr(pipeline, "prepare", prepare)
    data, dictionary = pipeline.example_data()
    result = pipeline.build_brief(data, dictionary_path=dictionary, out_dir=tmp_path)
    assert calls.count("worker") == (1 if used else 0)
    if used:
        assert calls.index("worker") < calls.index("prepare")
        assert len(answers) == 2 and all(a is not None for a in answers)
    else:
        assert len(answers) == 0
    assert "Premium-savers" in pdf_text(tmp_path / "segments" / "premium-savers.pdf")[0]
    assert result.pdf.startswith(b"%PDF")


def _message(data: bytes) -> bytes:
    buf = io.BytesIO()
    worker_mod.write_message(buf, data)
    return buf.getvalue()


def _loaded_after(imports: str, heavy: tuple[str, ...]) -> list[str]:
    """Which of `heavy` a fresh Python has loaded after `import <imports>`."""
    code = f"import sys, {imports}\nprint(json.dumps([m for m in {heavy!r} if m in sys.modules]))"
    out = subprocess.run(
        [sys.executable, "-c", "import json\n" + code], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


# ----------------------------------------------------------------- workers that misbehave
# Stand-in child processes (real processes on real pipes) that break the protocol in one way
# each: every case must end in None (the caller does the work), promptly, with nothing left.

ANSWER_GARBAGE = (
    "import sys; sys.stdout.write('not a length at all'); sys.stdout.flush(); sys.stdin.read()"
)
ANSWER_A_LIST = (
    "import sys, json; sys.stdin.buffer.read(8); "
    "d = json.dumps([1]).encode(); sys.stdout.buffer.write(len(d).to_bytes(8, 'big') + d); "
    "sys.stdout.flush(); sys.stdin.read()"
)
NEVER_ANSWER = "import sys, time; sys.stdin.buffer.read(8); time.sleep(600)"
DIE_MID_ANSWER = (
    "import sys, json; sys.stdin.buffer.read(8); "
    "d = json.dumps({'ok': True, 'count': 1}).encode(); "
    "sys.stdout.buffer.write(len(d).to_bytes(8, 'big') + d + (5).to_bytes(8, 'big') + b'ab')"
)
WRONG_COUNT = (
    "import sys, json; sys.stdin.buffer.read(8); "
    "d = json.dumps({'ok': True, 'count': 2}).encode(); "
    "sys.stdout.buffer.write(len(d).to_bytes(8, 'big') + d); sys.stdout.flush(); sys.stdin.read()"
)


@pytest.mark.parametrize("script", [ANSWER_GARBAGE, ANSWER_A_LIST, DIE_MID_ANSWER, WRONG_COUNT])
def test_a_garbled_answer_means_the_work_is_done_here(script):
    w = Worker(command=[sys.executable, "-c", script])
    proc = w.proc
    try:
        assert w.submit("trait_bars", [TRAIT]).result() is None
        assert w.broken
        assert w.submit("trait_bars", [TRAIT]).result() is None  # not asked again
    finally:
        w.close()
    assert proc.returncode is not None


def test_a_worker_that_never_answers_is_given_up_on_and_killed():
    w = Worker(command=[sys.executable, "-c", NEVER_ANSWER])
    proc = w.proc
    try:
        assert w.submit("trait_bars", [TRAIT]).result(timeout=1.0) is None
        assert w.broken and proc.poll() is not None
    finally:
        w.close()


def test_a_worker_never_used_is_stopped_at_once():
    # A run that fails before the charts (a bad dictionary, say) must not wait for the worker
    # to finish importing matplotlib and WeasyPrint before it can exit.
    w = Worker()
    proc = w.proc
    w.close()
    assert proc.returncode == -signal.SIGKILL


def test_what_a_library_prints_in_the_worker_does_not_garble_its_answers():
    root = str(Path(worker_mod.__file__).resolve().parents[1])
    noisy = (
        "import sys; sys.path.insert(0, sys.argv[1]); import reportgen.report.charts as c; "
        "real = c.trait_bars; "
        "c.trait_bars = lambda **k: (print('a library says hello'), real(**k))[1]; "
        "from reportgen.engine.worker import main; sys.exit(main())"
    )
    w = Worker(command=[sys.executable, "-c", noisy, root])
    try:
        assert w.submit("trait_bars", [TRAIT]).result() == [charts.trait_bars(**TRAIT)]
    finally:
        w.close()


def test_the_worker_runs_the_reportgen_this_process_runs(tmp_path, monkeypatch):
    # Not whatever `python -m` would find first: another checkout or an older install.
    other = tmp_path / "other" / "reportgen"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text("raise SystemExit('the wrong reportgen')\n")
    monkeypatch.setenv("PYTHONPATH", str(other.parent))
    w = Worker()
    try:
        assert w.submit("trait_bars", [TRAIT]).result() == [charts.trait_bars(**TRAIT)]
    finally:
        w.close()


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
        assert "interrupted" in err and "Traceback" not in err
        assert not (tmp_path / "out" / "brief.pdf").exists()
    deadline = time.monotonic() + 5
    while _session_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _session_members(proc.pid) == []


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
