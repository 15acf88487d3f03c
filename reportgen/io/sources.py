"""Where a run's rows come from: the input-source seam.

A source turns a location the user names into a `LoadedTable` (a frame plus what the brief says
about where it came from). Files are the one kind today; a database URL or a Parquet dataset on a
distributed engine is another implementation of `Source`, chosen by `open_source`, and nothing
after this stage needs to know which one ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from reportgen.io.load import LoadedTable, read_table


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
) -> Source:
    """The source for a location given on the command line or to `build_brief`."""
    return FileSource(Path(location), names, skip_rows, sheet)
