"""Stage 9 — deliver: the run's files, published whole.

Edge stage. A run's output folder OUT is a symbolic link to a folder of that run's own:

    OUT -> .OUT.runs/20260601T060000123456Z-4242/      (brief.pdf, model.json, segments/, ...)

`staged_outputs` writes every file of a run into `.OUT.runs/ID.partial/` (each file fsynced),
renames it to `.OUT.runs/ID/` when complete, and switches OUT to it in one rename (a new link
beside OUT, `os.replace`d onto it, the parent folder fsynced). A reader of OUT therefore sees
the previous complete run or the new complete run, never a mix: after a crash, `kill -9`, a power
cut or Ctrl-C at any moment, and with two runs into OUT at once. All of it lives beside OUT, on
OUT's file system (which must let reportgen write there), so no file ever crosses a device.

- One run at a time per OUT: an `flock` on `.OUT.runs/.lock` (the kernel drops it when its
  process dies, so a killed run never leaves a stale lock); a second run waits up to
  `LOCK_WAIT` seconds (`REPORTGEN_LOCK_WAIT`), then refuses, naming the pid that holds it.
- The previous run's folder is kept until the next switch (a reader that opened it keeps
  reading); older ones, and the folders of killed runs, are removed by the next run.
- Files in OUT that are not a run's own outputs (a user's notes, the send log and outbox written
  by `reportgen email`) are copied into each new run before the switch: they stay in OUT.
- An OUT that is a real folder written by an earlier reportgen is converted once (it becomes the
  previous run, exchanged for the link in one `renameat2(RENAME_EXCHANGE)` where Linux offers
  it); a folder that does not look like a run is refused, never touched.

`write_outputs` is the simpler tool for single files into an ordinary folder (`score --out`,
`init`): each file is written beside its destination and renamed over it. CSV exports
neutralise spreadsheet formulas.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import io
import json
import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from reportgen.deliver import csvtext
from reportgen.errors import ReportgenError
from reportgen.fmt import neutralise
from reportgen.runs.folder import (
    MODEL_FILE,
    OUTPUT_FILES,
    SEGMENT_FOLDER,
    SEND_LOG_LOCK,
    SUMMARY_FILE,
    published_run,
    runs_folder,
)

CSV_CHUNK_ROWS = 200_000


def csv_chunks(frame: pd.DataFrame, chunk_rows: int = CSV_CHUNK_ROWS) -> Iterator[bytes]:
    """The frame as CSV (formulas neutralised), in pieces of at most `chunk_rows` rows: the text
    of a 10M-row table is never held whole. Joined, the pieces are exactly `csv_bytes(frame)`.

    Columns of text, integers and floats are turned into CSV text by Arrow kernels (`csvtext`,
    byte for byte pandas' output, ten times faster); a frame with any other column (or a single
    column, where csv quotes an empty row) is written by pandas."""
    header = [neutralise(str(c)) for c in frame.columns]
    arrow = all(csvtext.handles(frame.iloc[:, i]) for i in range(frame.shape[1]))
    if frame.shape[1] >= 2 and arrow:
        head = io.StringIO()
        csv.writer(head, lineterminator="\n").writerow(header)
        yield head.getvalue().encode("utf-8")
        for start in range(0, len(frame), chunk_rows):
            part = frame.iloc[start : start + chunk_rows]
            yield csvtext.rows_text(
                [csvtext.column_text(part.iloc[:, i]) for i in range(part.shape[1])]
            )
        return
    yield from _pandas_csv_chunks(frame, header, chunk_rows)


def _pandas_csv_chunks(frame: pd.DataFrame, header: list[str], chunk_rows: int) -> Iterator[bytes]:
    for start in range(0, max(len(frame), 1), chunk_rows):
        safe = frame.iloc[start : start + chunk_rows].copy()
        safe.columns = header
        for col in safe.columns:
            if safe[col].dtype == object or pd.api.types.is_string_dtype(safe[col]):
                safe[col] = safe[col].map(neutralise)
        buf = io.StringIO()
        safe.to_csv(buf, index=False, header=start == 0, lineterminator="\n", float_format="%.6g")
        yield buf.getvalue().encode("utf-8")


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return b"".join(csv_chunks(frame))


def write_csv(frame: pd.DataFrame, fh: BinaryIO) -> str:
    """Stream the frame as CSV into an open binary file; return the SHA-256 of what was written."""
    digest = hashlib.sha256()
    for chunk in csv_chunks(frame):
        digest.update(chunk)
        fh.write(chunk)
    return digest.hexdigest()


class BackgroundCSV:
    """The result of `in_background`: the SHA-256 of what was written, once the block is left."""

    sha256: str | None = None


@contextmanager
def in_background(write: Callable[[], str | None], name: str) -> Iterator[BackgroundCSV]:
    """Run `write` (it returns the SHA-256 of what it wrote) on a thread while the block runs.

    Most of the CSV work is Arrow and numpy kernels, which run without the GIL, so a block of
    pure-Python work (charts, PDFs) and the file share the cores. Leaving the block waits for
    the writer, also when the block raises; an error while writing is raised there."""
    job = BackgroundCSV()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"reportgen-{name}") as pool:
        done = pool.submit(write)
        yield job  # leaving the pool's block waits for the writer, whatever the block did
    job.sha256 = done.result()


def csv_in_background(
    staging: Staging, name: str, frame: pd.DataFrame
) -> AbstractContextManager[BackgroundCSV]:
    """Stream `frame` as CSV into the staging folder while the block runs (`in_background`)."""

    def write() -> str:
        with staging.open(name) as fh:
            return write_csv(frame, fh)

    return in_background(write, name)


def json_bytes(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False, default=_json_default) + "\n").encode()


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


LOCK_WAIT = 600.0  # seconds a run waits for another run into the same OUT before refusing
LOCK_WAIT_ENV = "REPORTGEN_LOCK_WAIT"
LOCK_FILE = ".lock"  # in .OUT.runs/
PARTIAL = ".partial"  # a run folder still being written
BEFORE = "-before"  # ID-before: what a converted OUT held before run ID
LEGACY_STAGING = ".reportgen-staging-"  # what reportgen before run folders staged inside OUT
_RUN_NAMES = frozenset(OUTPUT_FILES) | {SEGMENT_FOLDER}


class Staging:
    """Files of one run, written into the run's own folder (`.OUT.runs/ID.partial/`);
    `staged_outputs` publishes them together, once every one was written."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.names: list[str] = []
        self.final: dict[str, Path] = {}  # name -> path through OUT, once published

    @contextmanager
    def open(self, name: str) -> Iterator[BinaryIO]:
        """A binary file to stream one output into (large files never sit in memory whole)."""
        target = self.folder / _relative(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if name not in self.names:
            self.names.append(name)

    def write(self, name: str, data: bytes) -> None:
        with self.open(name) as fh:
            fh.write(data)


def _relative(name: str) -> str:
    parts = Path(name).parts
    if not parts or Path(name).is_absolute() or ".." in parts:
        raise ReportgenError(f"not a file name inside a run folder: {name!r}")
    return name


@dataclass(frozen=True)
class _Publication:
    out: Path  # the link, absolute
    shown: str  # OUT as the caller named it
    run: Path  # this run's folder once complete: .OUT.runs/ID
    had_previous: bool
    started: float  # time.monotonic()


_publications: list[_Publication] = []  # this process's, oldest first


def interruption_note(since: float) -> str | None:
    """What OUT holds now, for the last `staged_outputs` begun at or after `since` (a
    `time.monotonic()` value), read from the file system (so true even if the interruption hit
    the switch itself); None if none began after `since`."""
    recent = [p for p in _publications if p.started >= since]
    if not recent:
        return None
    pub = recent[-1]
    if published_run(pub.out) == pub.run:
        return f"{pub.shown} holds the new run, complete"
    if pub.had_previous:
        return f"{pub.shown} is untouched: it still holds the previous run, complete"
    return f"nothing was written ({pub.shown} was not created)"


def published_folder(out_dir: Path | str) -> Path | None:
    """The run folder OUT's link names now (`.OUT.runs/ID`), or None if OUT is not one."""
    try:
        return published_run(_publish_path(Path(out_dir)))
    except (ReportgenError, OSError):
        return None


@contextmanager
def staged_outputs(
    out_dir: Path, owned: tuple[str, ...] = (), *, wait: float | None = None
) -> Iterator[Staging]:
    """Write the files of one run with the yielded `Staging`; on a clean exit publish all of
    them as OUT in one switch, on any error (or interruption) leave OUT as it was. The final
    paths (through OUT) are in `staging.final` afterwards.

    `owned` names sub-folders that hold only this run's files (e.g. one PDF per segment): they
    are never carried over from the previous run, like the run's own files. Waits up to `wait`
    seconds (default `LOCK_WAIT`, or `REPORTGEN_LOCK_WAIT`) for another run into OUT."""
    shown = str(out_dir)
    out = _publish_path(Path(out_dir))
    wait = _lock_wait() if wait is None else wait
    _previous(out, shown)  # refuse a folder that is not a run now, not after the work
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportgenError(f"cannot create output folder {shown}: {exc.strerror}") from exc
    runs = runs_folder(out)
    started = time.monotonic()
    run_id = _new_id()
    with contextlib.ExitStack() as stack:
        try:
            lock = stack.enter_context(_Lock.held(runs, shown, wait))
            _check_symlinks(out, shown)
            previous, legacy = _previous(out, shown)
            _clean_leftovers(out, runs, previous, legacy)
            had_previous = previous is not None and (not legacy or any(previous.iterdir()))
            # Recorded before the run's folder exists: an interruption from here on is told
            # what OUT holds (a folder made and not yet recorded would read "nothing written").
            _publications.append(_Publication(out, shown, runs / run_id, had_previous, started))
        except OSError as exc:
            raise ReportgenError(_cannot(shown, exc)) from exc
        staging = Staging(runs / (run_id + PARTIAL))
        try:
            try:
                # Made inside the block that removes it: an interruption right after the
                # mkdir leaves no folder behind either.
                staging.folder.mkdir()
                yield staging
            except OSError as exc:
                raise ReportgenError(_cannot(shown, exc)) from exc
            try:
                keep = _publish(staging, out, run_id, previous, legacy, owned, shown, wait)
            except OSError as exc:
                raise ReportgenError(_cannot(shown, exc)) from exc
        except BaseException:
            if published_run(out) != runs / run_id:  # not switched: as if it never ran
                _remove(runs / (run_id + PARTIAL))
                _remove(runs / run_id)
                if previous is None:
                    lock.drop_if_empty()
            raise
        staging.final.update({name: Path(out_dir) / name for name in staging.names})
        _retain(runs, keep)


def _cannot(shown: str, exc: OSError) -> str:
    return f"cannot write the brief into {shown}: {exc.strerror or exc}"


def _new_id() -> str:
    """A run folder's name: when it began (sortable, UTC) and by which process."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}Z-{os.getpid()}"


def _stamp(name: str) -> str:
    return name.split("-", 1)[0]


def _lock_wait() -> float:
    text = os.environ.get(LOCK_WAIT_ENV, "").strip()
    if not text:
        return LOCK_WAIT
    try:
        return max(0.0, float(text))
    except ValueError:
        raise ReportgenError(
            f"{LOCK_WAIT_ENV} must be a number of seconds (got {text!r})"
        ) from None


def _publish_path(out_dir: Path) -> Path:
    """OUT as an absolute path, after following links of the user's own (`reports/latest`): the
    link that is switched is the one reportgen made (or will make)."""
    out = Path(os.path.abspath(out_dir))
    for _ in range(40):
        if not out.is_symlink() or published_run(out) is not None:
            if not out.name:
                raise ReportgenError(f"cannot publish a run as {out_dir}: name a folder below it")
            return out
        out = Path(os.path.abspath(out.parent / os.readlink(out)))
    raise ReportgenError(f"cannot publish into {out_dir}: too many levels of symbolic links")


def _previous(out: Path, shown: str) -> tuple[Path | None, bool]:
    """(what OUT holds now, whether it is a real folder of an earlier reportgen)."""
    target = published_run(out)
    if target is not None:
        return (target if target.is_dir() else None), False
    if not os.path.lexists(out):
        return None, False
    if out.is_dir() and not out.is_symlink():
        if not _looks_like_run(out):
            raise ReportgenError(
                f"{shown} is a folder that does not look like a reportgen run (no {SUMMARY_FILE}"
                f" or {MODEL_FILE}); reportgen replaces its output folder whole, so it leaves "
                "this one alone: choose a new or empty --out"
            )
        return out, True
    raise ReportgenError(f"output path {shown} exists and is not a folder")


def _looks_like_run(folder: Path) -> bool:
    """Empty, or holding a run's own files (also an earlier reportgen's run cut short while it
    moved its files in, which may lack summary.json and model.json)."""
    names = {e.name for e in os.scandir(folder) if not e.name.startswith(LEGACY_STAGING)}
    return not names or bool(names & _RUN_NAMES)


class _Lock:
    """`flock` on `.OUT.runs/.lock`, holding the pid of the run that has it. The kernel releases
    it when the process ends, however it ends."""

    def __init__(self, runs: Path, fh: BinaryIO | None):
        self.runs = runs
        self.fh = fh

    @classmethod
    @contextmanager
    def held(cls, runs: Path, shown: str, wait: float) -> Iterator[_Lock]:
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock; one run at a time is the caller's business
            runs.mkdir(exist_ok=True)
            yield cls(runs, None)
            return
        path = runs / LOCK_FILE
        deadline = time.monotonic() + wait
        for _ in range(1000):
            runs.mkdir(exist_ok=True)
            try:
                fh = open(path, "a+b")  # noqa: SIM115 - closed below, when the run is over
            except FileNotFoundError:  # the folder was just removed by a run that failed
                continue
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                if time.monotonic() >= deadline:
                    waited = f"; waited {wait:.0f} s" if wait >= 1 else ""
                    raise ReportgenError(
                        f"another reportgen run is writing {shown} (pid {_holder(path)})"
                        f"{waited}; try again when it has finished"
                    ) from None
                time.sleep(0.2)
                continue
            try:  # the file we locked is still the lock file (not one removed meanwhile)
                now, mine = os.stat(path), os.fstat(fh.fileno())
                same = (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino)
            except FileNotFoundError:
                same = False
            if not same:
                fh.close()
                continue
            with fh:
                fh.truncate(0)
                fh.write(f"{os.getpid()}\n".encode())
                fh.flush()
                yield cls(runs, fh)
            return
        raise ReportgenError(f"cannot lock {path}")

    def drop_if_empty(self) -> None:
        """The runs folder holds nothing but the lock: remove both (while still locked, so a run
        waiting for the old lock file notices and makes a new one)."""
        try:
            if any(name != LOCK_FILE for name in os.listdir(self.runs)):
                return
            if self.fh is not None:
                os.unlink(self.runs / LOCK_FILE)
            os.rmdir(self.runs)
        except OSError:
            pass


def _holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def _check_symlinks(out: Path, shown: str) -> None:
    """Publishing switches a link: find out now, not after the work, if links cannot be made."""
    probe = out.parent / f".{out.name}.switch-{os.getpid()}-probe"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(probe)
    try:
        os.symlink(probe.name, probe)
    except (NotImplementedError, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.ENOSYS):
            raise
        raise ReportgenError(
            f"cannot publish {shown}: symbolic links cannot be made in {out.parent} ({exc}); "
            "reportgen publishes a run by switching a link to it: choose --out on a file "
            "system that has them"
        ) from exc
    os.unlink(probe)


def _clean_leftovers(out: Path, runs: Path, previous: Path | None, legacy: bool) -> None:
    """Under the lock: what killed runs left behind. The folders still being written (*.partial)
    and complete folders newer than the published one (killed just before the switch) are
    removed; so are links to be switched that never were, and the staging folders of
    reportgen versions before run folders."""
    current = previous.name if previous is not None and not legacy else None
    for entry in os.scandir(runs):
        name = entry.name
        if name in (LOCK_FILE, current):
            continue
        if name.endswith(PARTIAL) or (current is not None and _stamp(name) > _stamp(current)):
            _remove(Path(entry.path))
    for entry in os.scandir(out.parent):
        if not entry.name.startswith(f".{out.name}.switch-"):
            continue
        if entry.is_dir(follow_symlinks=False):
            # A converted folder caught between its exchange with the link and its move: its
            # user files were carried into the published run already; it becomes an old run.
            name = f"{current}{BEFORE}" if current else f"{_new_id()}{BEFORE}"
            if not (runs / name).exists():
                os.rename(entry.path, runs / name)
                continue
        _remove(Path(entry.path))
    if legacy and previous is not None:
        for entry in os.scandir(previous):
            if entry.name.startswith(LEGACY_STAGING):
                _remove(Path(entry.path))


def _publish(
    staging: Staging,
    out: Path,
    run_id: str,
    previous: Path | None,
    legacy: bool,
    owned: tuple[str, ...],
    shown: str,
    wait: float,
) -> set[str]:
    """Complete the run's folder and switch OUT to it; return the run folders to keep."""
    runs = runs_folder(out)
    complete = runs / run_id
    with _send_log_held(previous, shown, wait):
        if previous is not None:
            _carry_over(previous, staging.folder, staging.names, owned)
        _sync_tree(staging.folder)
        os.rename(staging.folder, complete)
        staging.folder = complete
        _fsync_dir(runs)
        link = out.parent / f".{out.name}.switch-{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(link)
        os.symlink(f"{runs.name}/{run_id}", link)
        before = f"{run_id}{BEFORE}"
        if not legacy:
            os.replace(link, out)
        elif _exchange(link, out):  # one step: OUT is the link, `link` the old folder
            os.rename(link, runs / before)
        else:  # no atomic exchange here: for a moment, once per folder, OUT is absent
            os.rename(out, runs / before)
            os.replace(link, out)
        _fsync_dir(out.parent)
        _fsync_dir(runs)
    if legacy:
        return {run_id, before}
    if previous is not None:
        return {run_id, previous.name}
    done = sorted((p.name for p in runs.iterdir() if p.is_dir() and p.name != run_id), key=_stamp)
    return {run_id, *done[-1:]}


def _exchange(a: Path, b: Path) -> bool:
    """Swap two names in one step (Linux `renameat2(RENAME_EXCHANGE)`); False where the system
    cannot."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    renameat2.argtypes += [ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


@contextmanager
def _send_log_held(previous: Path | None, shown: str, wait: float) -> Iterator[None]:
    """While a `reportgen email` sends from the previous run (it holds the send log's lock),
    wait: the send log is carried over whole, with every message it records."""
    lock_path = previous / SEND_LOG_LOCK if previous is not None else None
    if lock_path is None or not lock_path.exists():
        yield
        return
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(lock_path, "a") as fh:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ReportgenError(
                        f"a `reportgen email` is still sending from {shown}; run the brief "
                        "again when it has finished"
                    ) from None
                time.sleep(0.2)
        yield


def _carry_over(previous: Path, folder: Path, written: list[str], owned: tuple[str, ...]) -> None:
    """Copy what the previous run folder holds besides a run's own files (a user's notes, the
    send log, the outbox) into the new one, so that OUT keeps them."""
    skip = _RUN_NAMES | set(owned) | {Path(name).parts[0] for name in written}
    for entry in os.scandir(previous):
        if entry.name in skip or entry.name.startswith(LEGACY_STAGING):
            continue
        dest = folder / entry.name
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), dest)
        elif entry.is_dir():
            shutil.copytree(entry.path, dest, symlinks=True, copy_function=_copy_synced)
        else:
            _copy_synced(entry.path, dest)


def _copy_synced(src: str | Path, dest: str | Path) -> None:
    shutil.copy2(src, dest)
    with open(dest, "rb+") as fh:
        os.fsync(fh.fileno())


def _sync_tree(folder: Path) -> None:
    for dirpath, _, _ in os.walk(folder, topdown=False):
        _fsync_dir(Path(dirpath))


def _fsync_dir(path: Path) -> None:
    """Make a folder's entries durable (a rename is on disk once its folder is fsynced)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # not possible here (e.g. Windows): the rename is as durable as it gets
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def _retain(runs: Path, keep: set[str]) -> None:
    """After the switch: only the new run and the one before it stay (a reader that opened the
    previous run reads on); best effort, the run is published whatever happens here."""
    try:
        entries = list(os.scandir(runs))
    except OSError:
        return
    for entry in entries:
        if entry.name != LOCK_FILE and entry.name not in keep:
            _remove(Path(entry.path))


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


def write_outputs(out_dir: Path, files: dict[str, bytes]) -> dict[str, Path]:
    """Write {relative name: bytes} into an ordinary folder (`score --out`, `init`); return the
    final paths. Each file is written beside its destination, fsynced and renamed over it: a
    reader sees the old file or the new one, never half of one; a failure before the renames
    changes nothing. (A run's set of files is published whole by `staged_outputs`.)"""
    out_dir = Path(out_dir)
    created = not out_dir.exists()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportgenError(f"cannot create output folder {out_dir}: {exc.strerror}") from exc
    if not out_dir.is_dir():
        raise ReportgenError(f"output path {out_dir} exists and is not a folder")
    temps: list[tuple[Path, Path, str]] = []
    final: dict[str, Path] = {}
    try:
        for name, data in files.items():
            dest = out_dir / _relative(name)
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
            temps.append((tmp, dest, name))
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        for tmp, dest, name in temps:
            os.replace(tmp, dest)
            final[name] = dest
        for folder in {dest.parent for _, dest, _ in temps}:
            _fsync_dir(folder)
    except BaseException as exc:
        for tmp, _, _ in temps:
            _remove(tmp)
        if created and not final:
            shutil.rmtree(out_dir, ignore_errors=True)
        if isinstance(exc, OSError):
            raise ReportgenError(f"cannot write into {out_dir}: {exc.strerror}") from exc
        raise
    return final
