"""The names of the files in a run folder: the one place every writer and reader takes them from.

A published output folder OUT is a symbolic link `OUT -> .OUT.runs/ID`: every run writes a
complete folder of its own under `.OUT.runs/` (beside OUT, on the same file system) and the link
is switched to it in one rename (see `deliver/files.py`). `runs_folder` and `published_run` are
the one place that layout is spelled.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePath

BRIEF_PDF = "brief.pdf"
BRIEF_HTML = "brief.html"
ASSIGNMENTS_FILE = "assignments.csv"
PROFILES_FILE = "profiles.csv"
SUMMARY_FILE = "summary.json"
MODEL_FILE = "model.json"
BRIEF_XLSX = "brief.xlsx"  # the workbook (report/workbook.py)
THEME_FILE = "theme.json"  # a themed run's look, for the emails (report/theme.py)
SEGMENT_FOLDER = "segments"
ASSIGNMENTS_DATASET = "assignments"  # --engine dask: the Parquet dataset the workers write
SEND_LOG = "send-log.jsonl"
SEND_LOG_LOCK = SEND_LOG + ".lock"  # held by `reportgen email` while it sends
OUTBOX = "outbox"

OUTPUT_FILES = (
    BRIEF_PDF,
    BRIEF_HTML,
    ASSIGNMENTS_FILE,
    PROFILES_FILE,
    SUMMARY_FILE,
    MODEL_FILE,
    BRIEF_XLSX,
    THEME_FILE,
)

RUNS_SUFFIX = ".runs"


def segment_brief_name(slug: str) -> str:
    """Where a segment's own brief lives inside the run folder."""
    return f"{SEGMENT_FOLDER}/{slug}.pdf"


def runs_folder(out: Path) -> Path:
    """The folder beside OUT that holds its runs' own folders: `.OUT.runs`."""
    return out.parent / f".{out.name}{RUNS_SUFFIX}"


def published_run(path: Path) -> Path | None:
    """If `path` is a link reportgen published (`OUT -> .OUT.runs/ID`), the run folder it names
    (which may be missing if someone deleted it); otherwise (a folder, a file, a link of the
    user's own, nothing) None."""
    try:
        target = os.readlink(path)
    except (OSError, ValueError):
        return None
    parts = PurePath(target).parts
    if len(parts) == 2 and parts[0] == runs_folder(path).name and not parts[1].startswith("."):
        return path.parent / parts[0] / parts[1]
    return None
