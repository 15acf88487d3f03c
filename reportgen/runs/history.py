"""History: the past runs in a reports folder, read from the run folders themselves.

Edge stage (reads files). Every folder under REPORTS_DIR (one level down, and REPORTS_DIR itself)
that holds a `model.json` is a run; the run folders are the store, so there is no database to keep
in step with them. A damaged model is listed with its reason, not skipped in silence.

A run published by reportgen is a link `NAME -> .NAME.runs/ID` (see `runs/folder.py`): it is
listed as the run NAME (the hidden `.NAME.runs/` folders, which also keep the run before it, are
not runs of their own). Other symlinks (such as `latest -> 2026-05`) are listed once, as a
pointer to the run they name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from reportgen.errors import InputError, ReportgenError
from reportgen.runs.folder import MODEL_FILE, published_run
from reportgen.runs.model import load_model


@dataclass(frozen=True)
class PastRun:
    folder: Path
    created_at: str | None
    date_text: str | None
    input_file: str | None
    k: int | None
    segments: tuple[tuple[int, str, int, float], ...]  # (id, name, size, share)
    previous: str | None  # created_at of the run it was compared with
    problem: str | None = None  # why the model could not be read

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class History:
    runs: tuple[PastRun, ...]  # oldest first; damaged ones last
    pointers: dict[str, str]  # symlink name -> folder name it points to


def read_history(reports_dir: Path | str) -> History:
    root = Path(reports_dir)
    if not root.is_dir():
        raise InputError(f"reports folder not found: {root}")
    entries = sorted(root.iterdir())
    folders = [p for p in entries if _is_run_folder(p)]
    candidates = [root, *folders]
    names = {p.name for p in folders}
    pointers = {
        p.name: _pointer_target(p, names)
        for p in entries
        if p.is_symlink() and p not in folders and (p / MODEL_FILE).exists()
    }
    runs = []
    for folder in candidates:
        if not (folder / MODEL_FILE).exists():
            continue
        try:
            m = load_model(folder)
        except ReportgenError as exc:
            runs.append(PastRun(folder, None, None, None, None, (), None, problem=str(exc)))
            continue
        prev = m.raw.get("previous")
        runs.append(
            PastRun(
                folder=folder,
                created_at=m.created_at,
                date_text=m.date_text,
                input_file=m.input_file,
                k=m.k,
                segments=tuple((s.id, s.name, s.size, s.share) for s in m.segments),
                previous=prev.get("created_at") if isinstance(prev, dict) else None,
            )
        )
    runs.sort(key=lambda r: (not r.ok, r.created_at or "", r.folder.name))
    return History(tuple(runs), pointers)


def _is_run_folder(path: Path) -> bool:
    """A real folder, or the link reportgen publishes a run as."""
    if path.is_symlink():
        return published_run(path) is not None
    return path.is_dir()


def _pointer_target(link: Path, names: set[str]) -> str:
    """The run a pointer names, following links one at a time (`latest -> 2026-05`, itself a
    link to `.2026-05.runs/ID`, names 2026-05)."""
    here = os.path.abspath(link.parent)
    path = link
    for _ in range(40):
        try:
            target = Path(os.path.abspath(path.parent / os.readlink(path)))
        except OSError:
            break
        if str(target.parent) == here and target.name in names:
            return target.name
        path = target
    return link.resolve().name


def history_lines(history: History, root: Path) -> list[str]:
    """The history as plain text lines for the terminal."""
    if not history.runs:
        return [f"no runs in {root} (a run is a folder with {MODEL_FILE})"]
    by_target: dict[str, list[str]] = {}
    for name, target in history.pointers.items():
        by_target.setdefault(target, []).append(name)
    lines = []
    for r in history.runs:
        label = "." if r.folder == root else r.folder.name
        marks = by_target.get(r.folder.name, [])
        tag = f"  [{', '.join(marks)}]" if marks else ""
        if not r.ok:
            lines.append(f"{label}  DAMAGED: {r.problem}")
            continue
        lines.append(f"{label}  {r.created_at}  {r.input_file}  k={r.k}{tag}")
        for sid, name, size, share in r.segments:
            lines.append(f"    {sid}. {name}  {100 * share:.0f} % ({size:,})")
    return lines
