"""The library's own error types. The CLI maps each to a one-line message and an exit code."""

from __future__ import annotations


class ReportgenError(Exception):
    """A problem the user can fix (bad input, bad option). Message is one line, no traceback."""

    exit_code = 2


class InputError(ReportgenError):
    """The data file or the data dictionary cannot be used as given."""


class ConfigError(ReportgenError):
    """An option or combination of options is invalid."""


class RenderError(ReportgenError):
    """The brief could not be rendered (template or PDF engine failure)."""

    exit_code = 1
