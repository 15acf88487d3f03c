"""The second core for stages 7 and 8: a child process that draws charts and lays out PDFs.

Matplotlib's drawing and WeasyPrint's layout are pure Python and hold the GIL, so threads cannot
do two of them at once: on a large table the brief spent about 1.3 s drawing charts and 2 s
rendering PDFs on one core while the other waited. With a second core the pipeline starts this
worker as soon as the data is read (up to 4M rows; above, memory matters more); it imports
matplotlib and WeasyPrint while this process prepares and clusters the data, later draws the
segments' trait charts while this process draws the others, and lays out the segment briefs
while this process lays out the main brief.

The pipes carry plain bytes, no pickles: every message is an 8-byte big-endian length and its
bytes. A request is one JSON message naming an operation from `OPERATIONS` and its items; the
answer is a JSON header ({"ok": true, "count": n} or {"ok": false, "error": "..."}) and n
result messages, one per item in request order. End of input ends the worker.

The worker is an optimisation, never a second source of truth: it runs the same functions on the
same JSON-exact inputs, and if it cannot start or fails for any reason `Job.result()` returns None
and the caller does the work itself (slower, same result; a real template or rendering error is
then raised there, with the usual message).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

LENGTH_BYTES = 8
MAX_MESSAGE = 1 << 30  # no chart, brief or request comes near a GiB; more means a garbled pipe
OPERATIONS = ("trait_bars", "pdf")
STOP_TIMEOUT = 5.0  # seconds to wait for an idle worker to exit before it is killed
# A job that has not answered after this long is given up on (the worker is killed and the work
# done in process). Five segment briefs take about a second; ten on a slow laptop a few.
JOB_TIMEOUT = 120.0
# The worker imports reportgen from the folder this process imported it from (not whatever
# `python -m` would find), with -P: never from the current folder (a stray weasyprint.py there).
BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from reportgen.engine.worker import main; sys.exit(main())"
)


def write_message(stream: IO[bytes], data: bytes) -> None:
    stream.write(len(data).to_bytes(LENGTH_BYTES, "big"))
    stream.write(data)


def read_message(stream: IO[bytes]) -> bytes | None:
    """The next message, or None at a clean end of input. A message cut short raises EOFError;
    a length beyond MAX_MESSAGE (stray bytes where a length should be) raises ValueError."""
    head = stream.read(LENGTH_BYTES)
    if not head:
        return None
    if len(head) < LENGTH_BYTES:
        raise EOFError("message length cut short")
    size = int.from_bytes(head, "big")
    if size > MAX_MESSAGE:
        raise ValueError(f"message of {size} bytes: not a worker message")
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("message cut short")
    return data


class Job:
    """One request in flight: sent and answered on a thread while the caller goes on."""

    def __init__(self, worker: Worker, request: dict[str, Any] | None) -> None:
        self._worker = worker
        self._result: list[bytes] | None = None
        self._thread: threading.Thread | None = None
        proc = worker.proc
        if request is None or proc is None:
            return
        self._thread = threading.Thread(
            target=self._talk, args=(proc, request), name="reportgen-worker", daemon=True
        )
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _talk(self, proc: subprocess.Popen[bytes], request: dict[str, Any]) -> None:
        try:
            assert proc.stdin is not None and proc.stdout is not None
            write_message(proc.stdin, json.dumps(request).encode("utf-8"))
            proc.stdin.flush()
            head = read_message(proc.stdout)
            if head is None:
                raise EOFError("the worker ended without an answer")
            header = json.loads(head)
            if not isinstance(header, dict):
                raise ValueError("not a worker answer")
            if not header.get("ok"):
                return  # the request failed there (an error it reported); the worker goes on
            if int(header["count"]) != len(request["items"]):
                raise ValueError("not one answer per item")
            out = []
            for _ in range(len(request["items"])):
                data = read_message(proc.stdout)
                if data is None:
                    raise EOFError("the worker ended mid-answer")
                out.append(data)
            self._result = out
        except Exception:  # noqa: BLE001 - whatever went wrong, the caller does the work itself
            self._worker.broken = True

    def result(self, timeout: float | None = None) -> list[bytes] | None:
        """The results in request order, or None: the worker failed or took longer than
        `timeout` (default JOB_TIMEOUT) seconds; do the work here."""
        if self._thread is not None:
            self._thread.join(JOB_TIMEOUT if timeout is None else timeout)
            if self._thread.is_alive():
                self._worker.broken = True
                self._worker.kill()  # ends the pipe, so the thread ends too
                self._thread.join()
                self._result = None
            self._thread = None
        return self._result


class Worker:
    """A child Python running `main` below; one request at a time.

    `command` replaces the child's command line (tests use it to stand in a misbehaving one)."""

    def __init__(self, command: list[str] | None = None) -> None:
        import reportgen

        self.broken = False
        self._jobs: list[Job] = []
        root = str(Path(reportgen.__file__).resolve().parents[1])
        try:
            self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
                command or [sys.executable, "-P", "-c", BOOT, root],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except OSError:
            self.proc = None

    def submit(self, op: str, items: list[Any], **options: Any) -> Job:
        """Start `op` on each of `items` in the worker; `.result()` waits for one answer per item.
        Send the next request only after the previous job's result was taken."""
        if op not in OPERATIONS:
            raise ValueError(f"unknown worker operation {op!r}")
        request = {"op": op, "items": list(items), **options}
        job = Job(self, None if self.broken else request)
        self._jobs.append(job)
        return job

    def kill(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.kill()

    def close(self) -> None:
        """End the worker: politely when it answered every request (it exits at once), by force
        when it was never used (it may still be importing: a run that failed early), when a job
        is still running (a run that failed half-way) or when it failed."""
        proc = self.proc
        if proc is None:
            return
        used = bool(self._jobs)
        if not used or self.broken or any(job.running for job in self._jobs):
            self.kill()
        else:
            try:
                proc.stdin.close()  # type: ignore[union-attr]
                proc.wait(timeout=STOP_TIMEOUT)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()
        for job in self._jobs:
            job.result()
        proc.wait()
        self.proc = None
        for stream in (proc.stdin, proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:  # unsent bytes to a worker that died: nothing left to deliver
                pass


def handle(request: dict[str, Any]) -> list[bytes]:
    """Run one request here (in the worker process); the functions the pipeline itself uses."""
    op = request.get("op")
    if op == "trait_bars":
        from reportgen.report import charts

        return [charts.trait_bars(**item) for item in request["items"]]
    if op == "pdf":
        from reportgen.report import render

        user_dir = Path(request["user_dir"]) if request["user_dir"] else None
        return [render.html_to_pdf(html, user_dir) for html in request["items"]]
    raise ValueError(f"unknown worker operation {op!r}")


def main() -> int:
    # The answers get a private copy of stdout; anything a library prints goes to stderr instead
    # of into the middle of an answer.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    inp = sys.stdin.buffer
    # Import first: this is what the worker does while the parent prepares and clusters.
    from reportgen.report import render  # noqa: F401

    render.preload()
    while True:
        try:
            raw = read_message(inp)
        except (EOFError, ValueError):
            return 1
        if raw is None:
            # Nothing is pending (every answer was flushed): skip the interpreter's teardown of
            # matplotlib and WeasyPrint, which kept the parent waiting about 0.3 s.
            os._exit(0)
        try:
            results = handle(json.loads(raw))
            header: dict[str, Any] = {"ok": True, "count": len(results)}
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which redoes the work
            results, header = [], {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
        write_message(out, json.dumps(header).encode("utf-8"))
        for data in results:
            write_message(out, data)
        out.flush()


if __name__ == "__main__":
    sys.exit(main())
