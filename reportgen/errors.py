"""The library's own error types. The CLI maps each to a one-line message and an exit code."""

from __future__ import annotations


class ReportgenError(Exception):
    """A problem the user can fix (bad input, bad option). Message is one line, no traceback."""

    exit_code = 2


class InputError(ReportgenError):
    """The data file or the data dictionary cannot be used as given."""


class ConfigError(ReportgenError):
    """A setting or combination of settings is invalid.

    `setting` names the BriefConfig field the message starts with ("k must be at least 2"), so
    the CLI can name its own flag instead ("--k must be at least 2") and a Python caller is told
    about the argument it passed, not an option it never used."""

    def __init__(self, message: str, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


class RenderError(ReportgenError):
    """The brief could not be rendered (template or PDF engine failure)."""

    exit_code = 1
