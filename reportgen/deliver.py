"""Stage 9 — deliver: the run's files, written atomically.

Edge stage. All files of a run are first written into a staging folder next to their destination,
then moved into place with `os.replace` (atomic per file on one file system). A run that fails
before that point leaves the output folder exactly as it was; the last good brief is never
overwritten by a failed run. CSV exports neutralise spreadsheet formulas.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import ReportgenError

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "|", "%")


def neutralise(value: Any) -> Any:
    """Prefix text that a spreadsheet would run as a formula with a single quote (OWASP)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_bytes(frame: pd.DataFrame) -> bytes:
    safe = frame.copy()
    safe.columns = [neutralise(str(c)) for c in safe.columns]
    for col in safe.columns:
        if safe[col].dtype == object or pd.api.types.is_string_dtype(safe[col]):
            safe[col] = safe[col].map(neutralise)
    buf = io.StringIO()
    safe.to_csv(buf, index=False, lineterminator="\n", float_format="%.6g")
    return buf.getvalue().encode("utf-8")


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


def write_outputs(out_dir: Path, files: dict[str, bytes]) -> dict[str, Path]:
    """Write {relative name: bytes} into out_dir all-or-nothing; return the final paths."""
    out_dir = Path(out_dir)
    created = not out_dir.exists()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportgenError(f"cannot create output folder {out_dir}: {exc.strerror}") from exc
    if not out_dir.is_dir():
        raise ReportgenError(f"output path {out_dir} exists and is not a folder")
    try:
        staging = Path(tempfile.mkdtemp(prefix=".reportgen-staging-", dir=out_dir))
    except OSError as exc:
        raise ReportgenError(f"cannot write into output folder {out_dir}: {exc.strerror}") from exc
    final: dict[str, Path] = {}
    try:
        for name, data in files.items():
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        for name in files:
            dest = out_dir / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / name, dest)
            final[name] = dest
    except OSError as exc:
        if created and not final:
            shutil.rmtree(out_dir, ignore_errors=True)
        raise ReportgenError(f"cannot write the brief into {out_dir}: {exc.strerror}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final
