"""Publishing a run (reportgen.deliver.files.staged_outputs): OUT is a link to a complete run
folder of its own, switched in one rename; the lock, the leftovers of killed runs, converting an
older reportgen's folder, files that are not the run's own, and what an interruption left."""

from __future__ import annotations

import errno
import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reportgen.deliver import files
from reportgen.deliver.mail import SendLog
from reportgen.errors import ReportgenError
from reportgen.runs.folder import SEND_LOG, SEND_LOG_LOCK, published_run, runs_folder
from reportgen.runs.history import history_lines, read_history


def publish(out: Path, contents: dict[str, bytes], **kwargs) -> files.Staging:
    with files.staged_outputs(out, owned=("segments",), **kwargs) as staging:
        for name, data in contents.items():
            staging.write(name, data)
    return staging


def run_names(out: Path) -> list[str]:
    return sorted(p.name for p in runs_folder(out).iterdir() if p.name != files.LOCK_FILE)


def test_out_becomes_a_link_to_a_complete_run_folder(tmp_path):
    out = tmp_path / "out"
    staging = publish(out, {"brief.pdf": b"%PDF-1", "segments/a.pdf": b"%PDF-a"})
    target = published_run(out)
    assert out.is_symlink() and target is not None and target.is_dir()
    assert os.readlink(out) == f".out.runs/{target.name}"  # relative: the tree can be moved
    assert (out / "brief.pdf").read_bytes() == b"%PDF-1"
    assert staging.final == {
        "brief.pdf": out / "brief.pdf",
        "segments/a.pdf": out / "segments/a.pdf",
    }
    assert run_names(out) == [target.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.runs", "out"]
    assert files.published_folder(out) == target


def test_each_run_replaces_the_last_whole_and_one_earlier_run_is_kept(tmp_path):
    out = tmp_path / "out"
    targets = []
    for i in range(3):
        publish(out, {"brief.pdf": b"run %d" % i, f"segments/s{i}.pdf": b"%PDF"})
        targets.append(published_run(out).name)
        # every file of the run, and only those: no segment of an earlier run beside them
        assert (out / "brief.pdf").read_bytes() == b"run %d" % i
        assert [p.name for p in (out / "segments").iterdir()] == [f"s{i}.pdf"]
    assert len(set(targets)) == 3
    assert run_names(out) == sorted(targets[1:])  # the current run and the one before it


def test_a_failed_run_changes_nothing(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), files.staged_outputs(out) as staging:
        staging.write("brief.pdf", b"new")
        raise RuntimeError("render failed")
    assert os.listdir(tmp_path) == []  # no OUT, and nothing beside it either
    publish(out, {"brief.pdf": b"old"})
    before = os.readlink(out)
    with pytest.raises(RuntimeError), files.staged_outputs(out) as staging:
        staging.write("brief.pdf", b"new")
        raise RuntimeError("render failed")
    assert os.readlink(out) == before and (out / "brief.pdf").read_bytes() == b"old"
    assert len(run_names(out)) == 1  # the failed run's folder is gone


def test_a_run_that_writes_fewer_files_never_shows_the_last_runs_files(tmp_path):
    out = tmp_path / "out"
    publish(out, {"brief.pdf": b"1", "model.json": b"{}", "segments/a.pdf": b"%PDF"})
    publish(out, {"brief.pdf": b"2"})
    assert sorted(os.listdir(out)) == ["brief.pdf"]


def test_files_that_are_not_the_runs_own_stay_in_out(tmp_path):
    out = tmp_path / "out"
    publish(out, {"brief.pdf": b"1"})
    (out / "notes.txt").write_text("the user's own file")
    SendLog(out / SEND_LOG).append({"status": "sent", "key": "k1", "to": ["a@example.com"]})
    (out / "outbox").mkdir()
    (out / "outbox" / "m.eml").write_text("dry run")
    publish(out, {"brief.pdf": b"2"})
    assert (out / "notes.txt").read_text() == "the user's own file"
    assert SendLog(out / SEND_LOG).delivered() == {"k1": {"a@example.com"}}
    assert (out / "outbox" / "m.eml").read_text() == "dry run"
    assert (out / "brief.pdf").read_bytes() == b"2"


def test_an_older_reportgens_folder_is_converted_once(tmp_path):
    out = tmp_path / "out"
    (out / "segments").mkdir(parents=True)
    (out / "model.json").write_text("old model")
    (out / "segments" / "old.pdf").write_bytes(b"%PDF old")
    (out / "notes.txt").write_text("mine")
    (out / ".reportgen-staging-abc123").mkdir()  # left by a killed run of that version
    (out / ".reportgen-staging-abc123" / "brief.pdf").write_bytes(b"half")
    publish(out, {"brief.pdf": b"new", "model.json": b"new model", "segments/new.pdf": b"%PDF"})
    assert out.is_symlink()
    assert sorted(os.listdir(out)) == ["brief.pdf", "model.json", "notes.txt", "segments"]
    assert os.listdir(out / "segments") == ["new.pdf"]
    current = published_run(out).name
    kept = runs_folder(out) / f"{current}{files.BEFORE}"  # the old folder, whole, as the previous
    assert (kept / "model.json").read_text() == "old model"
    assert not any(p.name.startswith(".reportgen-staging") for p in kept.iterdir())
    publish(out, {"brief.pdf": b"newer"})
    assert run_names(out) == sorted([current, published_run(out).name])


def test_conversion_without_an_atomic_exchange_still_ends_converted(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "_exchange", lambda a, b: False)
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text("{}")
    publish(out, {"summary.json": b'{"new": 1}'})
    assert out.is_symlink() and (out / "summary.json").read_bytes() == b'{"new": 1}'
    assert len(run_names(out)) == 2


def test_an_empty_folder_is_taken_and_a_foreign_one_refused(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    publish(empty, {"brief.pdf": b"1"})
    assert empty.is_symlink()
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "thesis.docx").write_text("years of work")
    with pytest.raises(ReportgenError, match="does not look like a reportgen run"):
        publish(foreign, {"brief.pdf": b"1"})
    assert os.listdir(foreign) == ["thesis.docx"] and not foreign.is_symlink()
    assert not runs_folder(foreign).exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ReportgenError, match="exists and is not a folder"):
        publish(tmp_path / "file", {"brief.pdf": b"1"})


def test_a_users_own_link_is_followed_to_the_folder_it_names(tmp_path):
    out = tmp_path / "2026-05"
    publish(out, {"brief.pdf": b"may"})
    os.symlink("2026-05", tmp_path / "latest")
    publish(tmp_path / "latest", {"brief.pdf": b"may, again"})
    assert os.readlink(tmp_path / "latest") == "2026-05"  # the user's link is left as it was
    assert (out / "brief.pdf").read_bytes() == b"may, again"


def test_leftovers_of_killed_runs_are_removed_by_the_next_run(tmp_path):
    out = tmp_path / "out"
    publish(out, {"brief.pdf": b"1"})
    publish(out, {"brief.pdf": b"2"})
    current, previous = published_run(out).name, run_names(out)[0]
    runs = runs_folder(out)
    (runs / "20000101T000000000000Z-1.partial").mkdir()  # killed while writing
    (runs / "20000101T000000000000Z-1.partial" / "brief.pdf").write_bytes(b"half")
    (runs / "99990101T000000000000Z-2").mkdir()  # killed after completing, before the switch
    os.symlink(".out.runs/99990101T000000000000Z-2", tmp_path / ".out.switch-2")
    os.symlink("probe", tmp_path / ".out.switch-3-probe")
    with files.staged_outputs(out) as staging:
        # removed before the new run writes anything; the current and previous runs are kept
        assert run_names(out) == sorted([current, previous, staging.folder.name])
        assert sorted(p.name for p in tmp_path.iterdir()) == [".out.runs", "out"]
        staging.write("brief.pdf", b"3")
    assert run_names(out) == sorted([current, published_run(out).name])


def _lock_holder(out, *, seconds: float, write_pid: bool) -> subprocess.Popen:
    """Another process holding the run folder's lock for `seconds` (writing its pid into the
    lock file, as a reportgen run does, when `write_pid`); it prints 'locked' once it holds it."""
    pid = "f.truncate(0); f.write(b'%d' % os.getpid()); f.flush()\n" if write_pid else ""
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            "f = open(sys.argv[1], 'a+b'); fcntl.flock(f, fcntl.LOCK_EX)\n"
            + pid
            + "print('locked', flush=True); time.sleep(float(sys.argv[2]))",
            str(runs_folder(out) / files.LOCK_FILE),
            str(seconds),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )


def test_a_second_run_waits_for_the_first_or_refuses_naming_its_pid(tmp_path):
    out = tmp_path / "out"
    publish(out, {"brief.pdf": b"1"})
    holder = _lock_holder(out, seconds=1.5, write_pid=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        busy = rf"another reportgen run is writing .*pid {holder.pid}"
        with pytest.raises(ReportgenError, match=busy):
            publish(out, {"brief.pdf": b"2"}, wait=0)
        assert (out / "brief.pdf").read_bytes() == b"1"
        started = time.monotonic()
        publish(out, {"brief.pdf": b"3"}, wait=30)  # waits until the holder is done
        assert time.monotonic() - started > 0.3
        assert (out / "brief.pdf").read_bytes() == b"3"
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_wait_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(files.LOCK_WAIT_ENV, "soon")
    with pytest.raises(ReportgenError, match="REPORTGEN_LOCK_WAIT must be a number"):
        publish(tmp_path / "out", {"brief.pdf": b"1"})


def test_a_send_in_progress_is_waited_for_before_its_log_is_carried_over(tmp_path):
    out = tmp_path / "out"
    publish(out, {"brief.pdf": b"1"})
    log = SendLog(out / SEND_LOG)
    log.append({"status": "sent", "key": "k1", "to": ["a@example.com"]})
    with log.locked():  # as `reportgen email` holds it for its batch
        with pytest.raises(ReportgenError, match="still sending"):
            publish(out, {"brief.pdf": b"2"}, wait=0)
        assert (out / "brief.pdf").read_bytes() == b"1"
        assert (published_run(out) / SEND_LOG_LOCK).exists()
    publish(out, {"brief.pdf": b"2"}, wait=0)
    assert SendLog(out / SEND_LOG).delivered() == {"k1": {"a@example.com"}}


def test_without_symbolic_links_the_run_is_refused_before_the_work(tmp_path, monkeypatch):
    def no_links(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "symlink", no_links)
    with (
        pytest.raises(ReportgenError, match="symbolic links cannot be made"),
        files.staged_outputs(tmp_path / "out"),
    ):
        raise AssertionError("the block must not run")
    assert not (tmp_path / "out").exists()


def test_the_interruption_note_says_what_out_holds(tmp_path):
    out = tmp_path / "out"
    since = time.monotonic()
    assert files.interruption_note(since) is None  # nothing began: nothing was written
    with pytest.raises(KeyboardInterrupt), files.staged_outputs(out) as staging:
        staging.write("brief.pdf", b"1")
        raise KeyboardInterrupt
    assert files.interruption_note(since) == f"nothing was written ({out} was not created)"
    publish(out, {"brief.pdf": b"1"})
    since = time.monotonic()
    with pytest.raises(KeyboardInterrupt), files.staged_outputs(out) as staging:
        raise KeyboardInterrupt
    assert files.interruption_note(since) == (
        f"{out} is untouched: it still holds the previous run, complete"
    )
    since = time.monotonic()
    publish(out, {"brief.pdf": b"2"})  # interrupted just after the switch: the new run stands
    assert files.interruption_note(since) == f"{out} holds the new run, complete"


def test_unsafe_names_are_refused(tmp_path):
    with pytest.raises(ReportgenError, match="not a file name"):
        publish(tmp_path / "out", {"../escape.txt": b"x"})
    assert not (tmp_path / "escape.txt").exists()


def test_history_lists_published_runs_by_their_names(tmp_path, demo_run):
    model = (demo_run.config.out_dir / "model.json").read_bytes()
    reports = tmp_path / "reports"
    for month in ("2026-04", "2026-05"):
        publish(reports / month, {"model.json": model})
    publish(reports / "2026-05", {"model.json": model})  # a rerun: two folders behind 2026-05
    os.symlink("2026-05", reports / "latest")
    history = read_history(reports)
    assert [r.folder.name for r in history.runs] == ["2026-04", "2026-05"]
    assert all(r.ok for r in history.runs)
    assert history.pointers == {"latest": "2026-05"}
    lines = history_lines(history, reports)
    assert lines[0].startswith("2026-04  ") and "[latest]" in lines[len(lines) // 2]
    assert not any(line.startswith(".") for line in lines)


def test_write_outputs_replaces_single_files_in_an_ordinary_folder(tmp_path):
    target = tmp_path / "scored.csv"
    target.write_text("old")
    (tmp_path / "other.txt").write_text("left alone")
    files.write_outputs(tmp_path, {"scored.csv": b"new"})
    assert target.read_bytes() == b"new"
    assert sorted(os.listdir(tmp_path)) == ["other.txt", "scored.csv"]  # no temp file, no link
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_send_log_tolerates_a_line_torn_mid_character_and_zeros_after_a_power_cut(tmp_path):
    log = SendLog(tmp_path / SEND_LOG)
    log.append({"status": "sent", "key": "k1", "to": ["a@example.com"], "subject": "Größe"})
    record = '{"status": "sent", "key": "k2", "to": ["b@example.com"], "subject": "Größe"}'
    torn = record.encode()[: record.encode().index("ö".encode()) + 1]  # half of a character
    with open(log.path, "ab") as fh:
        fh.write(torn)
    assert log.delivered() == {"k1": {"a@example.com"}}
    log.append({"status": "sent", "key": "k3", "to": ["c@example.com"]})
    with open(log.path, "ab") as fh:
        fh.write(b"\0" * 512)
    assert log.delivered() == {"k1": {"a@example.com"}, "k3": {"c@example.com"}}
    log.append({"status": "sent", "key": "k4", "to": ["d@example.com"]})
    assert set(log.delivered()) == {"k1", "k3", "k4"}


def test_the_lock_is_released_when_its_holder_is_killed(tmp_path):
    out = tmp_path / "out"
    publish(out, {"brief.pdf": b"1"})
    holder = _lock_holder(out, seconds=60, write_pid=False)
    assert holder.stdout.readline().strip() == "locked"
    with open(runs_folder(out) / files.LOCK_FILE, "a+b") as fh, pytest.raises(BlockingIOError):
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    holder.kill()  # SIGKILL: no chance to clean up
    holder.wait()
    publish(out, {"brief.pdf": b"2"}, wait=0)
    assert (out / "brief.pdf").read_bytes() == b"2"
