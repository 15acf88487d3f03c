"""Where a run's rows come from: the input-source seam.

A source turns a location the user names into a `LoadedTable` (a frame plus what the brief says
about where it came from). A file (`FileSource`, see io.load) or a database URL with a table or
a query (`DatabaseSource`, see io.database) today; a Parquet dataset on a distributed engine is
another implementation of `Source`, chosen by `open_source`, and nothing after this stage needs
to know which one ran.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from reportgen.errors import ConfigError
from reportgen.io.database import DatabaseSource, is_database_url
from reportgen.io.load import LoadedTable, read_table

# 'sqlite:///crm.db' after Path() made it 'sqlite:/crm.db': the URL cannot be recovered.
_MANGLED_URL = re.compile(r"^(sqlite|postgres|postgresql)(\+\w+)?:/[^/]", re.IGNORECASE)


class Source(Protocol):
    """Something a run can read its rows from."""

    @property
    def name(self) -> str:
        """How the brief and the logs name the source (never with credentials in it)."""
        ...

    def read(self) -> LoadedTable:
        """Every row, typed; raises InputError with a one-line message when it cannot."""
        ...


@dataclass(frozen=True)
class FileSource:
    """A CSV, TSV, Parquet or Excel file (see io.load)."""

    path: Path
    names: tuple[str, ...] | None = None  # column names for a file without a header row
    # Lines above the header, and the Excel sheet (see io.load.read_table); None: detected.
    skip_rows: int | None = None
    sheet: str | int | None = None

    @property
    def name(self) -> str:
        return self.path.name

    def read(self) -> LoadedTable:
        return read_table(self.path, names=self.names, skip_rows=self.skip_rows, sheet=self.sheet)


def open_source(
    location: str | Path,
    names: tuple[str, ...] | None = None,
    *,
    skip_rows: int | None = None,
    sheet: str | int | None = None,
    table: str | None = None,
    query: str | None = None,
) -> Source:
    """The source for a location given on the command line or to `build_brief`: a database URL
    (`sqlite:///crm.db`, `postgresql://user@host/db`, given as text) with `table` or `query`, or
    a file."""
    if is_database_url(location):
        for setting, value in (("names", names), ("skip_rows", skip_rows), ("sheet", sheet)):
            if value is not None:
                raise ConfigError(f"{setting} applies to files, not to a database", setting)
        return DatabaseSource(str(location), table, query)
    if _MANGLED_URL.match(str(location)):
        raise ConfigError(
            f"{location} looks like a database URL that lost its '//' (pass it as text, not "
            "as a Path)"
        )
    for setting, value in (("table", table), ("query", query)):
        if value is not None:
            raise ConfigError(
                f"{setting} applies to a database URL (sqlite:///crm.db, postgresql://…), "
                f"not to the file {Path(location).name}",
                setting,
            )
    return FileSource(Path(location), names, skip_rows, sheet)
