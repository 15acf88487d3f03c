"""One config object flows through every stage; the random seed lives here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reportgen.errors import ConfigError

DEFAULT_OUT = Path("reportgen-out")


@dataclass(frozen=True)
class BriefConfig:
    """Everything a brief run needs to know, validated once at construction."""

    data_path: Path
    dictionary_path: Path | None = None
    columns: tuple[str, ...] | None = None
    id_column: str | None = None
    k: int | None = None
    k_max: int = 10
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

    def __post_init__(self) -> None:
        if self.previous is not None:
            object.__setattr__(self, "previous", Path(self.previous))
        object.__setattr__(self, "data_path", Path(self.data_path))
        object.__setattr__(self, "out_dir", Path(self.out_dir))
        if self.dictionary_path is not None:
            object.__setattr__(self, "dictionary_path", Path(self.dictionary_path))
        if self.template_dir is not None:
            object.__setattr__(self, "template_dir", Path(self.template_dir))
        if self.columns is not None:
            cols = tuple(c.strip() for c in self.columns if c and c.strip())
            if not cols:
                raise ConfigError("columns is empty: name at least one column to segment on", "columns")
            object.__setattr__(self, "columns", cols)
        if self.k is not None and self.k < 2:
            raise ConfigError(
                f"k must be at least 2 (got {self.k}): one segment is no segmentation", "k"
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
