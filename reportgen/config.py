"""One config object flows through every stage; the random seed lives here."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from reportgen.errors import ConfigError

DEFAULT_OUT = Path("reportgen-out")
MAX_SKIP_ROWS = 1000  # lines above a header that `skip_rows` can skip
# A database URL (io.database reads it); a Path would turn its '//' into '/'.
DATABASE_URL = re.compile(r"^(sqlite|postgres|postgresql)(\+[a-z0-9_]+)?://", re.IGNORECASE)


def _without_password(url: str) -> str:
    """Only for data_path, which names the source in progress lines: io.database parses URLs."""
    # To the last '@': a password written with a raw '/' or '@' in it (which io.database
    # refuses) must not show either; cutting too much of a display name costs nothing.
    return re.sub(r"(://[^:/@]*):.*@", r"\1@", url)


@dataclass(frozen=True)
class BriefConfig:
    """Everything a brief run needs to know, validated once at construction."""

    data_path: Path
    dictionary_path: Path | None = None
    columns: tuple[str, ...] | None = None
    id_column: str | None = None
    k: int | None = None
    k_max: int = 10
    k_min: int = 2
    seed: int = 42
    title: str | None = None
    out_dir: Path = DEFAULT_OUT
    quiet: bool = True
    n_init: int = 10
    min_share: float = 0.05  # smallest admissible segment when choosing k
    resamples: int = 20  # bootstrap re-runs for the stability check
    screen_features: bool = True  # move pure-noise features out of the segmentation
    template_dir: Path | None = None
    previous: Path | None = None  # a previous run's folder: keep its segment ids, report changes
    # Reading the input: column names for a file without a header row, and how an order log
    # (one row per order line) is recognised and turned into one row per customer.
    names: tuple[str, ...] | None = None
    input_kind: str = "auto"  # "auto", "customers" or "transactions"
    as_of: str | None = None  # YYYY-MM-DD: recency and tenure are measured to this day
    date_format: str | None = None  # strptime codes for the log's dates, e.g. "%d/%m/%Y"
    currency: str | None = None  # the currency to keep from a log that mixes several
    roles: tuple[tuple[str, str], ...] | None = None  # (role, column) overrides for a log
    # Lines above the header to skip (title or note lines), counting every line from the top;
    # None: recognised by the reader. And the sheet of an Excel workbook: its name, or its
    # number counting from 1; None: the first sheet that holds a table.
    skip_rows: int | None = None
    sheet: str | int | None = None
    # Reading a database instead: `data_path` given as a URL (sqlite:///crm.db,
    # postgresql://user@host/db) is kept here as written (a password in it is used, never shown:
    # io.database) and data_path becomes the URL without it; the rows of `table` or of `query`.
    data_url: str | None = field(default=None, repr=False)
    table: str | None = None
    query: str | None = None
    # The deliverables' form: brief.pdf as PDF/A-3b carrying assignments.csv, profiles.csv and
    # model.json; and a brand theme (YAML, report/theme.py) for every document.
    pdf_archive: bool = False
    theme_path: Path | None = None
    # Where the rows are: "memory" (this process) or "dask" (a Dask cluster: the scheduler's
    # address, or None for a LocalCluster started for the run; reportgen.pipeline_dask).
    engine: str = "memory"
    scheduler: str | None = None

    @classmethod
    def of(cls, location: str | Path, **options: Any) -> BriefConfig:
        """The config for reading `location`: a file, or a database URL given as text."""
        if isinstance(location, str) and DATABASE_URL.match(location.strip()):
            url = location.strip()
            return cls(data_path=Path(_without_password(url)), data_url=url, **options)
        return cls(data_path=Path(location), **options)

    def k_options(self) -> dict[str, Any]:
        """The settings of the choice of k (`analysis.choose_k`), on either engine."""
        return {
            "k": self.k,
            "k_max": self.k_max,
            "k_min": self.k_min,
            "seed": self.seed,
            "n_init": self.n_init,
            "min_share": self.min_share,
        }

    def __post_init__(self) -> None:
        if isinstance(self.data_path, str) and DATABASE_URL.match(self.data_path.strip()):
            object.__setattr__(self, "data_url", self.data_path.strip())
            object.__setattr__(self, "data_path", Path(_without_password(self.data_url or "")))
        if self.previous is not None:
            object.__setattr__(self, "previous", Path(self.previous))
        object.__setattr__(self, "data_path", Path(self.data_path))
        object.__setattr__(self, "out_dir", Path(self.out_dir))
        if self.dictionary_path is not None:
            object.__setattr__(self, "dictionary_path", Path(self.dictionary_path))
        if self.template_dir is not None:
            object.__setattr__(self, "template_dir", Path(self.template_dir))
        if self.theme_path is not None:
            object.__setattr__(self, "theme_path", Path(self.theme_path))
        if self.engine not in ("memory", "dask"):
            raise ConfigError(f"engine must be memory or dask (got {self.engine!r})", "engine")
        if self.scheduler is not None and self.engine != "dask":
            raise ConfigError("scheduler needs --engine dask", "scheduler")
        if self.columns is not None:
            cols = tuple(c.strip() for c in self.columns if c and c.strip())
            if not cols:
                raise ConfigError(
                    "columns is empty: name at least one column to segment on", "columns"
                )
            object.__setattr__(self, "columns", cols)
        self._check_reading()
        if self.k is not None and self.k < 2:
            raise ConfigError(
                f"k must be at least 2 (got {self.k}): one segment is no segmentation", "k"
            )
        if not 2 <= self.k_min <= self.k_max:
            raise ConfigError(
                f"k_min must be between 2 and k_max ({self.k_max}) (got {self.k_min})", "k_min"
            )
        if self.k_max < 2:
            raise ConfigError(f"k_max must be at least 2 (got {self.k_max})", "k_max")
        if self.k is not None and self.k > 50:
            raise ConfigError(f"k {self.k} is too many segments for a brief (at most 50)", "k")
        if self.k_max > 50:
            raise ConfigError(f"k_max {self.k_max} is too large (at most 50)", "k_max")
        if not 0 <= self.min_share < 0.5:
            raise ConfigError(
                f"min_share must be between 0 and 0.5 (got {self.min_share})", "min_share"
            )
        if not 0 <= self.resamples <= 500:
            raise ConfigError(
                f"resamples must be between 0 and 500 (got {self.resamples})", "resamples"
            )
        if self.n_init < 1:
            raise ConfigError("n_init must be at least 1", "n_init")
        if self.seed < 0 or self.seed > 2**32 - 1:
            raise ConfigError(f"seed must be between 0 and {2**32 - 1} (got {self.seed})", "seed")

    def _check_reading(self) -> None:
        self._check_database()
        if self.names is not None:
            names = tuple(n.strip() for n in self.names)
            if not names or any(not n for n in names) or len(set(names)) != len(names):
                raise ConfigError("names must be distinct, non-empty column names", "names")
            object.__setattr__(self, "names", names)
        if self.input_kind not in ("auto", "customers", "transactions"):
            raise ConfigError(
                f"input_kind must be auto, customers or transactions (got {self.input_kind!r})",
                "input_kind",
            )
        if self.skip_rows is not None and (
            isinstance(self.skip_rows, bool)
            or not isinstance(self.skip_rows, int)
            or not 0 <= self.skip_rows <= MAX_SKIP_ROWS
        ):
            raise ConfigError(
                f"skip_rows must be a whole number from 0 to {MAX_SKIP_ROWS} "
                f"(got {self.skip_rows!r})",
                "skip_rows",
            )
        if self.sheet is not None:
            sheet = self.sheet.strip() if isinstance(self.sheet, str) else self.sheet
            if (isinstance(sheet, str) and not sheet) or (
                not isinstance(sheet, str)
                and (isinstance(sheet, bool) or not isinstance(sheet, int) or sheet < 1)
            ):
                raise ConfigError(
                    f"sheet must be a sheet's name or its number counting from 1 "
                    f"(got {self.sheet!r})",
                    "sheet",
                )
            object.__setattr__(self, "sheet", sheet)
        if self.as_of is not None:
            try:
                date.fromisoformat(self.as_of)
            except ValueError as exc:
                raise ConfigError(
                    f"as_of must be a date YYYY-MM-DD (got {self.as_of!r})", "as_of"
                ) from exc

    def _check_database(self) -> None:
        if self.data_url is None:
            for setting in ("table", "query"):
                if getattr(self, setting) is not None:
                    raise ConfigError(
                        f"{setting} applies to a database URL (sqlite:///crm.db, "
                        f"postgresql://user@host/db), not to the file {self.data_path.name}",
                        setting,
                    )
            return
        if (self.table is None) == (self.query is None):
            raise ConfigError(
                'reading a database needs --table NAME or --query "SELECT …" (one of them)'
            )
