"""Stage 9 — deliver: the run's files, written atomically.

Edge stage. All files of a run are first written into a staging folder next to their destination,
then moved into place with `os.replace` (atomic per file on one file system). A run that fails
before that point leaves the output folder exactly as it was; the last good brief is never
overwritten by a failed run. CSV exports neutralise spreadsheet formulas.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from reportgen.deliver import csvtext
from reportgen.errors import ReportgenError
from reportgen.fmt import neutralise

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
    """The result of `csv_in_background`: the SHA-256 of what was written, once done."""

    sha256: str | None = None


@contextmanager
def csv_in_background(staging: Staging, name: str, frame: pd.DataFrame) -> Iterator[BackgroundCSV]:
    """Stream `frame` as CSV into the staging folder on a thread while the block runs.

    Most of the CSV work is Arrow and numpy kernels, which run without the GIL, so a block of
    pure-Python work (charts, PDFs) and the file share the cores. Leaving the block waits for
    the file, also when the block raises; an error while writing is raised there."""
    job = BackgroundCSV()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with staging.open(name) as fh:
                job.sha256 = write_csv(frame, fh)
        except BaseException as exc:  # raised again in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=write, name=f"reportgen-{name}", daemon=True)
    thread.start()
    try:
        yield job
    finally:
        thread.join()
    if errors:
        raise errors[0]


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


class Staging:
    """Files of one run, written into a staging folder inside the output folder; `staged_outputs`
    moves them into place only when every one was written."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.names: list[str] = []
        self.final: dict[str, Path] = {}  # name -> final path, once moved into place

    @contextmanager
    def open(self, name: str) -> Iterator[BinaryIO]:
        """A binary file to stream one output into (large files never sit in memory whole)."""
        target = self.folder / name
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


@contextmanager
def staged_outputs(out_dir: Path, owned: tuple[str, ...] = ()) -> Iterator[Staging]:
    """Stage files with the yielded `Staging`; on a clean exit move all of them into out_dir
    (`os.replace`, atomic per file), on any error leave out_dir as it was. The final paths are
    in `staging.final` afterwards.

    `owned` names sub-folders that hold only this run's files (e.g. one PDF per segment): once
    the new files are in place, files there that this run did not write (an earlier run's
    segments) are removed, so the folder never mixes two runs."""
    out_dir = Path(out_dir)
    created = not out_dir.exists()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportgenError(f"cannot create output folder {out_dir}: {exc.strerror}") from exc
    if not out_dir.is_dir():
        raise ReportgenError(f"output path {out_dir} exists and is not a folder")
    try:
        folder = Path(tempfile.mkdtemp(prefix=".reportgen-staging-", dir=out_dir))
    except OSError as exc:
        raise ReportgenError(f"cannot write into output folder {out_dir}: {exc.strerror}") from exc
    staging = Staging(folder)
    final = staging.final
    try:
        try:
            yield staging
        except BaseException:
            if created:
                shutil.rmtree(out_dir, ignore_errors=True)
            raise
        for name in staging.names:
            dest = out_dir / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(folder / name, dest)
            final[name] = dest
        _remove_stale(out_dir, owned, set(final.values()))
    except OSError as exc:
        if created and not final:
            shutil.rmtree(out_dir, ignore_errors=True)
        raise ReportgenError(f"cannot write the brief into {out_dir}: {exc.strerror}") from exc
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _remove_stale(out_dir: Path, owned: tuple[str, ...], written: set[Path]) -> None:
    for sub in owned:
        folder = out_dir / sub
        if not folder.is_dir() or folder.is_symlink():
            continue
        for path in folder.iterdir():
            if path.is_file() and not path.is_symlink() and path not in written:
                path.unlink(missing_ok=True)


def write_outputs(out_dir: Path, files: dict[str, bytes]) -> dict[str, Path]:
    """Write {relative name: bytes} into out_dir all-or-nothing; return the final paths."""
    with staged_outputs(out_dir) as staging:
        for name, data in files.items():
            staging.write(name, data)
    return staging.final
