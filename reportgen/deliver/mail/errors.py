"""The email stage's two errors, in a module of their own so that every part of the package can
raise them without importing the package's `__init__` (which imports every part)."""

from __future__ import annotations

from reportgen.errors import InputError, ReportgenError


class MailError(InputError):
    """The run folder, the recipients file or an email option cannot be used (exit code 2)."""


class SendLogError(ReportgenError):
    """A message went out but could not be recorded: stop before sending more (exit code 1)."""

    exit_code = 1
