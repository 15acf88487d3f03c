"""Progress reporting: the pipeline names each stage as it starts; who listens decides the display.

`build_brief(..., progress=...)` takes any callable `progress(stage: str)`. The library default is
`silent` (library users see nothing). The CLI passes a rich spinner on stderr, only when stderr is
a terminal and --quiet is not given. The line is transient: it is gone when the run ends, and
only a run of more than a second leaves a one-line "done in" note.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Progress(Protocol):
    def __call__(self, stage: str) -> None: ...


def silent(stage: str) -> None:
    """The default: report nothing."""


@contextmanager
def terminal_progress(enabled: bool | None = None) -> Iterator[Progress]:
    """A progress callback that shows the current stage with a spinner and elapsed time on stderr.

    Enabled only when stderr is a terminal (pass `enabled` to override); otherwise yields `silent`.
    """
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield silent
        return
    from rich.console import Console
    from rich.progress import Progress as RichProgress
    from rich.progress import SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    bar = RichProgress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    started = time.perf_counter()
    state: dict[str, TaskID] = {}

    def report(stage: str) -> None:
        task = state.get("task")
        if task is None:
            state["task"] = bar.add_task(stage, total=None)
        else:
            bar.update(task, description=stage)

    with bar:
        yield report
    elapsed = time.perf_counter() - started
    if elapsed > 1.0:
        console.print(f"[dim]done in {elapsed:.1f} s[/dim]")
