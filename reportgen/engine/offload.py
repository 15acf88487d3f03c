"""The run's speed machinery, in one place: background imports, a second process for drawing and
layout, and giving Arrow's freed memory back. Only the pipeline uses this module; the stages
accept a standard `concurrent.futures.Executor` (or none) and never learn where it runs.

Why a process and not a thread: Matplotlib's drawing and WeasyPrint's layout are pure Python and
hold the GIL, so two threads cannot draw or lay out at once. The second process is a
`ProcessPoolExecutor` with one worker, started with `spawn` (a clean interpreter: no copy of the
table the parent holds) and an initializer that imports the drawing libraries while the parent
reads, prepares and clusters. Its tasks are the same module-level functions the parent would
call, with plain arguments (numbers, strings, paths): the executor's pickles pass only between
this process and its own child, never to or from a file.

The second process is an optimisation, never a second source of truth: a task that fails there
for any reason other than its own error (the process died, could not start, or did not answer
within `TASK_TIMEOUT`) is run again in this process, with the same result.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

R = TypeVar("R")

# Tasks that have not answered after this long are given up on and run here. Ten segment briefs
# take a few seconds on a slow laptop.
TASK_TIMEOUT = 120.0
# Rows up to which a second process is used. Above, the run's memory peak matters more than the
# second or so it saves (see benchmarks/README.md).
SECOND_PROCESS_UPTO = 4_000_000
# What the second process imports at start, while the parent works.
DRAWING_MODULES = ("reportgen.report.charts", "reportgen.report.render", "weasyprint")
# Imported on a background thread from the start of a run: the analysis libraries at once (first
# needed after the table is read), the drawing libraries once the data is prepared.
ANALYSIS_MODULES = (
    "sklearn.cluster",
    "sklearn.metrics",
    "sklearn.mixture",
    "scipy.stats",
    "scipy.optimize",
    "kneed",
    "threadpoolctl",
)
PRESENTATION_MODULES = (
    "reportgen.report.charts",
    "reportgen.report.change_charts",
    "seaborn",
    "weasyprint",
)


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _warm_up(modules: tuple[str, ...]) -> None:
    """Initializer of the second process. Ctrl-C is the parent's to handle: it ends this process
    itself, so the child does not print a traceback of its own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in modules:
        with contextlib.suppress(Exception):  # the task that needs it reports the error
            importlib.import_module(name)


class _Fallback(Future[Any]):
    """A future from the second process that, if the process fails it, runs the task here."""

    def __init__(self, remote: Future[Any] | None, task: Callable[[], Any], timeout: float) -> None:
        super().__init__()
        self._remote, self._task, self._timeout = remote, task, timeout

    def result(self, timeout: float | None = None) -> Any:
        if not self.done():
            try:
                if self._remote is None:
                    raise BrokenProcessPool("no second process")
                self.set_result(self._remote.result(timeout=self._timeout))
            except (BrokenProcessPool, TimeoutError, OSError, EOFError):
                self.set_result(self._task())
            except BaseException as exc:  # the task's own error, as it would be raised here
                self.set_exception(exc)
        return super().result()


class SecondProcess(Executor):
    """One spawned worker process; `submit` returns futures that fall back to this process."""

    def __init__(self, modules: tuple[str, ...] = DRAWING_MODULES, timeout: float = TASK_TIMEOUT):
        self.timeout = timeout
        self._pool: ProcessPoolExecutor | None = None
        try:
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_warm_up,
                initargs=(modules,),
            )
            # Start the process now, not at the first task, with Ctrl-C blocked: the child
            # inherits the mask across exec, so a Ctrl-C while it imports reaches only the
            # parent (which ends the child) and never prints a traceback of the child's own.
            with _sigint_blocked():
                self._pool.submit(os.getpid)
        except (OSError, RuntimeError):
            self._pool = None

    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Future[R]:
        remote = None
        if self._pool is not None:
            with contextlib.suppress(BrokenProcessPool, RuntimeError):
                remote = self._pool.submit(fn, *args, **kwargs)
        return _Fallback(remote, lambda: fn(*args, **kwargs), self.timeout)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """End the process at once: its work is either taken or no longer wanted."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        # Python 3.14 has ProcessPoolExecutor.kill_workers(); before it, the processes are only
        # reachable here. Killing them spares a run that failed early the wait for the child's
        # imports, and a finished run the child's teardown of matplotlib and WeasyPrint.
        for proc in list(getattr(pool, "_processes", {}).values()):
            with contextlib.suppress(OSError, AttributeError):
                proc.kill()
        pool.shutdown(wait=wait, cancel_futures=True)


def second_process(rows: int) -> SecondProcess | None:
    """A second process for a table of `rows` rows, when there is a second core and the table
    is small enough that the process's memory does not matter."""
    if (os.cpu_count() or 1) < 2 or rows > SECOND_PROCESS_UPTO:
        return None
    return SecondProcess()


class BackgroundImports:
    """The heavy libraries, imported in order on one background thread: ANALYSIS_MODULES at once,
    PRESENTATION_MODULES after `start_late()`.

    The pipeline waits for a group (`wait_early`, `wait_late`) before the first stage that uses
    it, instead of importing the same modules from two threads at once: an import interrupted by
    Ctrl-C while another thread waits on the import lock can hang the process, and Python 3.11
    can raise a deadlock error on concurrent circular imports. Waiting on an event is always
    interruptible. A failed import is left for the stage that needs the library to raise."""

    def __init__(self) -> None:
        self._early = threading.Event()
        self._late = threading.Event()
        self._go_late = threading.Event()
        self._stopped = False
        threading.Thread(target=self._work, name="reportgen-imports", daemon=True).start()

    def _work(self) -> None:
        try:
            _import_all(ANALYSIS_MODULES)
        finally:
            self._early.set()
        self._go_late.wait()
        try:
            if not self._stopped:
                _import_all(PRESENTATION_MODULES)
        finally:
            self._late.set()

    def wait_early(self) -> None:
        self._early.wait()

    def start_late(self) -> None:
        self._go_late.set()

    def wait_late(self) -> None:
        self.start_late()
        self._late.wait()

    def stop(self) -> None:
        """The run is over: import nothing more (a run that failed before the charts)."""
        self._stopped = True
        self._go_late.set()


def _import_all(names: Iterable[str]) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the stage that needs it reports the error
            return


def release_arrow_memory() -> None:
    """Give pyarrow's freed memory back to the system: its allocator keeps the buffers that
    reading and text work freed, and the run's peak memory would include them."""
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        return
    pa.default_memory_pool().release_unused()
