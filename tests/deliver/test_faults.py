"""Faults, for real: `reportgen demo` processes killed (SIGKILL, SIGTERM, SIGINT) at moments
timed by watching the file system, two runs into one folder at once, a read-only folder and a
full disk. No mock of the file system: after each, OUT must resolve to one complete run whose
files agree with each other, and the next run must complete and clean up what was left."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from reportgen.report.summary import read_summary
from reportgen.runs.folder import OUTPUT_FILES, published_run, runs_folder
from reportgen.runs.model import load_model
from tests.conftest import pdf_text

EPOCH = 1764288000  # the session's demo brief (conftest); each run here is some days later
DAY = 86400


def good_run(demo_run, parent: Path) -> Path:
    """`parent/out`: a published copy of the session's demo brief (k = 2)."""
    source = published_run(demo_run.config.out_dir)
    assert source is not None, "the demo brief is published as a link to its run folder"
    out = parent / "out"
    runs = runs_folder(out)
    runs.mkdir(parents=True)
    shutil.copytree(source, runs / source.name, symlinks=True)
    os.symlink(f"{runs.name}/{source.name}", out)
    return out


def assert_complete(out: Path) -> tuple[str, str]:
    """OUT is one whole run: every file there, from the same run. Returns (its run folder's
    name, its created_at)."""
    target = published_run(out)
    assert target is not None and target.is_dir(), f"{out} does not name a run folder"
    assert not target.name.endswith(".partial")
    for name in OUTPUT_FILES:
        assert (out / name).stat().st_size > 0, name
    model = load_model(out)  # its checksum holds: model.json is whole
    summary = read_summary(out)
    csv = (out / "assignments.csv").read_bytes()
    assert model.raw["assignments_sha256"] == hashlib.sha256(csv).hexdigest()
    assert summary.generated_at == model.created_at
    assert [s.name for s in summary.segments] == [s.name for s in model.segments]
    assert sorted(p.name for p in (out / "segments").iterdir()) == sorted(
        Path(s.brief).name for s in summary.segments
    )
    for s in summary.segments:
        assert s.name in " ".join(pdf_text(out / s.brief)), s.brief
    pdf = (out / "brief.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and pdf.rstrip().endswith(b"%%EOF")
    assert model.date_text in pdf_text(pdf)[0]
    html = (out / "brief.html").read_text()
    assert html.rstrip().endswith("</html>") and model.date_text in html
    profiles = (out / "profiles.csv").read_text().splitlines()  # header, segments, all
    assert [row.split(",")[1] for row in profiles[1:-1]] == [s.name for s in model.segments]
    return target.name, model.created_at


class Run:
    """`reportgen demo --out OUT --k 3` as a process of its own, dated `day` days later."""

    def __init__(self, out: Path, day: int, logs: Path) -> None:
        env = dict(os.environ, SOURCE_DATE_EPOCH=str(EPOCH + day * DAY))
        env["REPORTGEN_LOCK_WAIT"] = "300"
        self.log = logs / f"stderr-{day}.txt"  # a file, not a pipe: see finish()
        with open(self.log, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "reportgen", "demo", "--out", str(out), "--k", "3", "-q"],
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=env,
                start_new_session=True,  # its own session: what it started is ended with it
            )
        self.pid = self.proc.pid

    def finish(self, timeout: float = 300) -> str:
        """Wait for the run to end; return its standard error (from a file: a pipe would stay
        open as long as the helpers below). A run killed with SIGKILL or SIGTERM leaves its
        helper processes (the drawing worker, multiprocessing's resource tracker) behind: they
        are ended here, by their session."""
        try:
            self.proc.wait(timeout)
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
            self.proc.wait()
        return self.log.read_text()

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode


def when(run: Run, found: Callable[[], bool], timeout: float = 300) -> bool:
    """Poll the file system until `found()`; False if the run ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found():
            return True
        if run.proc.poll() is not None:
            return False
        time.sleep(0.002)
    raise AssertionError("the moment never came")


def partial(out: Path, pid: int, name: str | None = None) -> Callable[[], bool]:
    """The run of process `pid` has begun its folder (and written `name` into it)."""

    def found() -> bool:
        folders = list(runs_folder(out).glob(f"*-{pid}.partial"))
        return bool(folders) and (name is None or (folders[0] / name).exists())

    return found


def left_by_others(out: Path, pid: int) -> list[str]:
    """Folders of runs other than `pid` that are not complete."""
    mine = f"-{pid}.partial"
    return [p.name for p in runs_folder(out).glob("*.partial") if not p.name.endswith(mine)]


def test_runs_killed_at_any_moment_leave_one_complete_run_and_two_at_once_clean_up(
    demo_run, tmp_path
):
    reports = tmp_path / "reports"
    out = good_run(demo_run, reports)
    current, created = assert_complete(out)
    runs = runs_folder(out)
    moments = [
        (signal.SIGKILL, "its folder appears"),  # the work has begun: seconds before the end
        (signal.SIGINT, "its folder appears"),  # Ctrl-C there
        (signal.SIGTERM, "brief.pdf is written"),  # the files are being written: just before
        (signal.SIGKILL, "OUT was switched"),  # the new run is published: while cleaning up
    ]
    for day, (sig, moment) in enumerate(moments, start=1):
        proc = Run(out, day, tmp_path)
        try:
            if moment == "its folder appears":
                found = partial(out, proc.pid)
            elif moment == "brief.pdf is written":
                found = partial(out, proc.pid, "brief.pdf")
            else:
                found = lambda before=current: published_run(out) != runs / before  # noqa: E731
            reached = when(proc, found)
            # whatever killed runs left is removed before a new run writes anything
            assert left_by_others(out, proc.pid) == []
            if reached:
                os.kill(proc.pid, sig)
        finally:
            err = proc.finish()
        now, now_created = assert_complete(out)
        if proc.returncode == 0:  # it finished before the signal came: the new run, whole
            assert moment != "its folder appears", "the run should still have been working"
            assert now != current
        else:
            assert proc.returncode == (130 if sig == signal.SIGINT else -sig), err
        if moment == "its folder appears":  # long before the switch: the previous run, untouched
            assert (now, now_created) == (current, created), sig
        if moment == "OUT was switched":
            assert now != current
        if sig == signal.SIGINT:
            assert err.strip() == (
                f"reportgen: error: interrupted; {out} is untouched: it still holds the "
                "previous run, complete"
            )
            assert not partial(out, proc.pid)()  # it removed its own folder
        current, created = now, now_created

    # Two runs into the same folder at once: the second waits for the first; each is published
    # whole, the last one stands, and everything the killed runs left behind is gone.
    first, second = Run(out, 10, tmp_path), Run(out, 11, tmp_path)
    errors = [first.finish(), second.finish()]
    assert [first.returncode, second.returncode] == [0, 0], errors
    now, now_created = assert_complete(out)
    assert now_created[:10] in (
        time.strftime("%Y-%m-%d", time.gmtime(EPOCH + 10 * DAY)),
        time.strftime("%Y-%m-%d", time.gmtime(EPOCH + 11 * DAY)),
    )
    kept = sorted(p.name for p in runs_folder(out).iterdir() if p.name != ".lock")
    assert len(kept) == 2 and now in kept  # the run before it is kept for readers still on it
    assert {name.rsplit("-", 1)[1] for name in kept} == {str(first.pid), str(second.pid)}
    assert sorted(p.name for p in reports.iterdir()) == [".out.runs", "out"]


def _mount_tmpfs(folder: Path, size: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


def _umount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_a_read_only_folder_is_one_line_and_exit_2_and_the_run_stays(demo_run, tmp_path):
    parent = tmp_path / "ro"
    if os.geteuid() == 0:  # root writes through permissions: make the file system read-only
        _mount_tmpfs(parent, "8m")
    else:
        parent.mkdir()
    try:
        out = good_run(demo_run, parent)
        before = assert_complete(out)
        if os.geteuid() == 0:
            subprocess.run(["mount", "-o", "remount,ro", str(parent)], check=True)
        else:
            parent.chmod(0o555)
        proc = Run(out, 1, tmp_path)
        err = proc.finish()
        assert proc.returncode == 2, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("reportgen: error: cannot write the brief")
        assert "Read-only file system" in lines[0] or "Permission denied" in lines[0]
        assert assert_complete(out) == before
    finally:
        if os.geteuid() == 0:
            _umount(parent)
        else:
            parent.chmod(0o755)


def test_a_full_disk_is_one_line_and_the_previous_run_stays_whole(demo_run, tmp_path):
    parent = tmp_path / "small"
    _mount_tmpfs(parent, "3m")
    try:
        out = good_run(demo_run, parent)
        before = assert_complete(out)
        room = os.statvfs(parent)
        free = room.f_bavail * room.f_frsize
        (parent / "filler").write_bytes(b"\0" * max(0, free - 256 * 1024))  # 256 KiB left
        proc = Run(out, 1, tmp_path)
        err = proc.finish()
        assert proc.returncode == 2, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "No space left on device" in lines[0], err
        assert assert_complete(out) == before
        assert not list(runs_folder(out).glob("*.partial"))  # the failed run removed its folder
    finally:
        _umount(parent)
