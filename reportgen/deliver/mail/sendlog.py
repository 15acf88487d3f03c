"""The send log: what has been delivered, so that a failed batch is resumed by running it again.

Every accepted message is appended to `send-log.jsonl` in the run folder and fsynced before the
next one is sent. A message is identified by a stable key (see compose.message_key) and the log
records which addresses have it; a rerun sends each key only to addresses that do not have it
yet: no duplicates, nothing lost. (Delivery is at-least-once: if the connection drops after the
server took a message but before it said so, the rerun sends that one message again.)
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from reportgen.deliver.mail.errors import MailError

Status = Literal["sent", "skipped", "failed", "written"]


class SendLog:
    """JSON lines, one per message the server accepted; appended and fsynced one by one."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def delivered(self) -> dict[str, set[str]]:
        """Message key -> addresses (lower case) that already have it."""
        out: dict[str, set[str]] = {}
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return out
        # Line by line from the bytes: a line cut short by a crash (mid-character, or the zeros
        # a power cut can leave at the end of a file) spoils that line only.
        for line in data.split(b"\n"):
            try:
                rec = json.loads(line.decode("utf-8"))
                if rec.get("status") == "sent":
                    out.setdefault(rec["key"], set()).update(a.lower() for a in rec["to"])
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # a torn line: that message counts as not delivered, and is sent again
        return out

    def append(self, record: dict[str, Any]) -> None:
        """Add one record and fsync it: once this returns, a crash cannot lose it."""
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with open(self.path, "a+b") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell():  # start on a fresh line even after a torn write
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    line = "\n" + line
            fh.write(line.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One sender per run folder at a time: two at once would both send the same messages."""
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock, the log still prevents sequential duplicates
            yield
            return
        # (for the run folder's send log: runs.folder.SEND_LOG_LOCK, which publishing a new run
        # waits for before it copies the log into the new run folder)
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            fh = open(lock_path, "a")  # noqa: SIM115 - closed below, after the batch
        except OSError as exc:
            raise MailError(
                f"cannot write the send log in {self.path.parent}: {exc.strerror}"
            ) from exc
        with fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                raise MailError(
                    f"another `reportgen email` is sending from {self.path.parent}"
                ) from exc
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


@dataclass(frozen=True)
class Outcome:
    label: str
    recipients: tuple[str, ...]
    status: Status
    detail: str = ""
    path: Path | None = None  # the .eml file of a dry run


@dataclass(frozen=True)
class EmailReport:
    outcomes: tuple[Outcome, ...]
    dry_run: bool
    unaddressed: tuple[str, ...]  # segments nobody receives
    log_path: Path
    outbox: Path | None = None

    def count(self, status: Status) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def ok(self) -> bool:
        return self.count("failed") == 0
