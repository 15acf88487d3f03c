"""Classic RFM scoring (1-5 quintile scores) and the named RFM segment grid.

Pure computation, no I/O besides reading the grid file:

- `score_rfm` turns recency (days since the last purchase), frequency (number of orders) and
  monetary value (net spend) into 1-5 scores, with every threshold reported
  (`FeatureThresholds`). The rule is `SCORE_RULE`, written for the reader of a brief.
- `load_grid` reads the named grid (packaged default ``rfm_grid.yaml`` or a user's file) and
  checks it is a partition of the 5 x 5 (recency, column score) cells.
- `assign_groups` gives each customer a group name; `group_table` summarises the groups.

Scores depend on values only, never on row order: cuts are made on the sorted distinct values
with their customer counts, so equal values always share a score and shuffled input gives the
same scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import yaml

from reportgen.errors import InputError

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
StrArray = npt.NDArray[np.str_]

SCORE_RULE: Final[str] = (
    "Each customer gets three scores from 1 to 5: recency (days since the last purchase; the "
    "most recent customers get 5), frequency (number of orders; the most frequent buyers get 5) "
    "and monetary value (net spend; the biggest spenders get 5). The customers are split into "
    "five groups of about the same size (quintiles) by their values, and customers with the "
    "same value always get the same score. When many customers share one value (typically when "
    "more than a fifth bought exactly once) five equal groups are impossible: then equal values "
    "stay together and, from the lowest values up, each score takes as close as possible to an "
    "equal share of the customers not yet scored, so the best customers still get 5 whenever "
    "there are at least five different values. With fewer than five different values (always "
    "the case with fewer than five customers) each value gets its own score, spread from 1 to "
    "5 (two values: 1 and 5; three: 1, 3, 5; four: 1, 2, 4, 5); if all customers have the same "
    "value, all get 3. The combined frequency-monetary score (FM) is the average of the "
    "frequency and monetary scores, rounded half up."
)

FEATURES: Final = ("recency", "frequency", "monetary")
GRID_FILE: Final = "rfm_grid.yaml"
GRID_COLUMNS: Final = ("frequency_monetary", "frequency")  # what the grid's columns may score
MAX_GRID_BYTES: Final = 1_000_000  # a grid is ~3 KB; anything this big is the wrong file
SCORE_LEVELS: Final = (1, 2, 3, 4, 5)
# Value-bins (1 = lowest values) used when a feature has fewer than five distinct values:
# spread out so the extremes are still 1 and 5; one value carries no information, hence 3.
_SPREAD: Final[dict[int, tuple[int, ...]]] = {
    0: (),
    1: (3,),
    2: (1, 5),
    3: (1, 3, 5),
    4: (1, 2, 4, 5),
}
_BOMS: Final = (  # UTF-32 first: its little-endian mark starts with UTF-16's
    (b"\xff\xfe\x00\x00", "utf-32", "UTF-32"),
    (b"\x00\x00\xfe\xff", "utf-32", "UTF-32"),
    (b"\xef\xbb\xbf", "utf-8-sig", "UTF-8"),
    (b"\xff\xfe", "utf-16", "UTF-16"),
    (b"\xfe\xff", "utf-16", "UTF-16"),
)
_GROUP_KEYS: Final = frozenset({"description", "action", "cells"})


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ScoreBand:
    """One score of one feature: the values it covers and how many customers got it.

    The band covers values strictly above `above` and up to and including `up_to` (None: no
    limit on that side), in the data's units. A score no customer got has customers == 0 and
    all bounds None. `lowest` / `highest` are the values actually seen in the band.
    """

    score: int
    customers: int
    above: float | None
    up_to: float | None
    lowest: float | None
    highest: float | None


@dataclass(frozen=True)
class FeatureThresholds:
    """How one feature (recency, frequency or monetary) was cut into scores.

    `edges` are the cut points in the data's units, ascending: each is the highest value of
    the band below it (so a value equal to an edge falls in the lower-value band). For
    recency, lower values score higher. `bands` holds scores 1..5 in that order.
    `used_fallback` is True when the plain quintile cut could not be used (see SCORE_RULE);
    `note` then says why in one line. `whole_numbers` (all values are whole, e.g. orders)
    makes `describe` read bands as counts ("3 to 4") rather than "more than 2, up to 4".
    """

    feature: str
    higher_is_better: bool
    edges: tuple[float, ...]
    bands: tuple[ScoreBand, ...]
    used_fallback: bool
    note: str
    whole_numbers: bool

    def band(self, score: int) -> ScoreBand:
        """The band of one score (1..5)."""
        return self.bands[score - 1]

    def describe(self, unit: str = "") -> tuple[str, ...]:
        """One line per score, 5 first, e.g. ``Score 5: up to 14 days (212 customers)``."""
        suffix = f" {unit}" if unit else ""
        lines = []
        for band in reversed(self.bands):
            if band.customers == 0:
                lines.append(f"Score {band.score}: not used (no customers)")
                continue
            text = _band_text(band, self.whole_numbers)
            lines.append(f"Score {band.score}: {text}{suffix} ({band.customers:,} customers)")
        return tuple(lines)


@dataclass(frozen=True)
class RFMScores:
    """The 1-5 scores per customer (input order) and the thresholds behind them.

    `frequency_monetary` is FM = (F + M) / 2 rounded half up. Arrays are read-only.
    """

    recency: IntArray
    frequency: IntArray
    monetary: IntArray
    frequency_monetary: IntArray
    recency_thresholds: FeatureThresholds
    frequency_thresholds: FeatureThresholds
    monetary_thresholds: FeatureThresholds

    @property
    def thresholds(self) -> tuple[FeatureThresholds, FeatureThresholds, FeatureThresholds]:
        """Recency, frequency and monetary thresholds, in that order."""
        return (self.recency_thresholds, self.frequency_thresholds, self.monetary_thresholds)

    @property
    def fallback_features(self) -> tuple[str, ...]:
        """The features scored with the fallback rule instead of plain quintiles."""
        return tuple(t.feature for t in self.thresholds if t.used_fallback)


@dataclass(frozen=True)
class RFMGroup:
    """One named group of the grid and the (recency, column score) cells it owns."""

    name: str
    description: str
    action: str
    cells: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class RFMGrid:
    """A partition of the 5 x 5 (recency score, column score) cells into named groups.

    `columns` is "frequency_monetary" (the column score is FM) or "frequency" (F). `groups`
    are in the file's order, which is the order tables and reports use. `source` says where
    the grid was read from.
    """

    columns: str
    groups: tuple[RFMGroup, ...]
    source: str

    def __post_init__(self) -> None:
        # A grid built in code gets the same guarantee as one read from a file.
        problem = _grid_problem(self.columns, self.groups)
        if problem:
            raise ValueError(problem)

    @property
    def names(self) -> tuple[str, ...]:
        """Group names in the grid's order."""
        return tuple(group.name for group in self.groups)

    def group_at(self, recency: int, column: int) -> RFMGroup:
        """The group owning cell (recency score, column score)."""
        for group in self.groups:
            if (recency, column) in group.cells:
                return group
        raise KeyError((recency, column))

    def table(self) -> tuple[tuple[str, ...], ...]:
        """Group names as a 5 x 5 table: rows recency 5..1, columns score 1..5."""
        return tuple(
            tuple(self.group_at(r, c).name for c in SCORE_LEVELS) for r in reversed(SCORE_LEVELS)
        )


# --------------------------------------------------------------------------- scoring


def score_rfm(recency: Any, frequency: Any, monetary: Any) -> RFMScores:
    """1-5 scores for each customer by SCORE_RULE (arrays in input order).

    recency: days since the last purchase (>= 0; lower is better), frequency: number of
    orders (>= 0), monetary: net spend (may be negative after refunds). Any 1-D array-like of
    numbers of the same length. Missing, infinite or out-of-range values raise InputError.
    Fewer than five customers work: each distinct value gets its own score (see SCORE_RULE);
    no customers give empty arrays and bands with no customers.
    """
    r = _as_values("recency", recency, nonnegative=True)
    f = _as_values("frequency", frequency, nonnegative=True)
    m = _as_values("monetary", monetary, nonnegative=False)
    if not len(r) == len(f) == len(m):
        raise InputError(
            f"recency, frequency and monetary must have one value per customer "
            f"(got {len(r)}, {len(f)} and {len(m)})"
        )
    r_scores, r_th = _score_feature("recency", r, higher_is_better=False)
    f_scores, f_th = _score_feature("frequency", f, higher_is_better=True)
    m_scores, m_th = _score_feature("monetary", m, higher_is_better=True)
    fm = (f_scores + m_scores + 1) // 2  # integer "half up": (4, 5) -> 5, (1, 2) -> 2
    for array in (r_scores, f_scores, m_scores, fm):
        array.flags.writeable = False  # the dataclass is frozen; so are its arrays
    return RFMScores(r_scores, f_scores, m_scores, fm, r_th, f_th, m_th)


def _as_values(name: str, values: Any, *, nonnegative: bool) -> FloatArray:
    """The values as a 1-D float array, or InputError naming what is wrong."""
    try:
        if isinstance(values, pd.Series | pd.Index):
            array = values.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be numbers (found text or other values)") from None
    if array.ndim != 1:
        raise InputError(f"{name} must be one value per customer (got {array.ndim} dimensions)")
    missing = int(np.isnan(array).sum())
    if missing:
        raise InputError(f"{name} is missing for {missing:,} customer(s); every customer needs one")
    if not np.isfinite(array).all():
        raise InputError(f"{name} has infinite values; check the input's units and formulas")
    if nonnegative and (array < 0).any():
        count = int((array < 0).sum())
        raise InputError(f"{name} is negative for {count:,} customer(s); it must be 0 or more")
    return array


def _score_feature(
    name: str, values: FloatArray, *, higher_is_better: bool
) -> tuple[IntArray, FeatureThresholds]:
    """Scores of one feature and its thresholds; cuts are made on distinct values."""
    distinct, counts = np.unique(values, return_counts=True)
    counts = counts.astype(np.int64)
    bins = _quintile_bins(counts)
    used_fallback = bins is None
    if bins is None:
        bins = _fallback_bins(counts)
    # Each value's bin is looked up by value, so equal values share a bin whatever the order.
    value_bins = bins[np.searchsorted(distinct, values)]
    scores = (value_bins if higher_is_better else 6 - value_bins).astype(np.int64)
    thresholds = FeatureThresholds(
        feature=name,
        higher_is_better=higher_is_better,
        edges=_edges(distinct, bins),
        bands=_bands(distinct, counts, bins, higher_is_better),
        used_fallback=used_fallback,
        note=_fallback_note(distinct, counts) if used_fallback else "",
        whole_numbers=bool(np.all(distinct == np.round(distinct))),
    )
    return scores, thresholds


def _quintile_bins(counts: IntArray) -> IntArray | None:
    """Value-bin 1..5 of each distinct value by plain quintiles, or None if a bin is empty.

    Edge j (j = 1..4) is the value at sorted position ceil(j * n / 5) (the empirical quantile,
    an actual customer's value), computed in integers so no rounding can move a customer.
    Bins are right-closed: a value equal to an edge falls in the lower bin.
    """
    n = int(counts.sum())
    if len(counts) < 5:
        return None
    cumulative = np.cumsum(counts)
    positions = np.array([(j * n + 4) // 5 for j in range(1, 5)], dtype=np.int64)  # ceil(jn/5)
    edge_index = np.searchsorted(cumulative, positions, side="left")  # distinct index of edge
    bins = 1 + np.searchsorted(edge_index, np.arange(len(counts)), side="left")
    if len(np.unique(bins)) < 5:  # coinciding edges, or the top edge is the largest value
        return None
    return bins.astype(np.int64)


def _fallback_bins(counts: IntArray) -> IntArray:
    """Value-bins when plain quintiles leave a bin empty (the tie rule of SCORE_RULE).

    From the lowest value up, each bin takes whole distinct values while that brings its
    customer count closer to an equal share of the customers not yet binned, and leaves at
    least one distinct value for each bin still to fill, so all five bins are used whenever
    there are five distinct values.
    """
    m = len(counts)
    if m < 5:
        return np.array(_SPREAD[m], dtype=np.int64)
    bins = np.empty(m, dtype=np.int64)
    remaining = int(counts.sum())
    start = 0
    for value_bin in SCORE_LEVELS:
        left = 6 - value_bin  # bins still to fill, this one included
        if left == 1:
            bins[start:] = value_bin
            break
        taken, stop = int(counts[start]), start + 1
        # Compare |left * taken - remaining| rather than |taken - remaining / left|: exact.
        while stop <= m - left and abs(left * (taken + int(counts[stop])) - remaining) < abs(
            left * taken - remaining
        ):
            taken += int(counts[stop])
            stop += 1
        bins[start:stop] = value_bin
        remaining -= taken
        start = stop
    return bins


def _edges(distinct: FloatArray, bins: IntArray) -> tuple[float, ...]:
    """Cut points: the highest value of every used bin but the last."""
    last_of_bin = np.flatnonzero(np.diff(bins) != 0)
    return tuple(float(distinct[i]) for i in last_of_bin)


def _bands(
    distinct: FloatArray, counts: IntArray, bins: IntArray, higher_is_better: bool
) -> tuple[ScoreBand, ...]:
    """The five score bands (score 1..5) of one feature."""
    bands = []
    for score in SCORE_LEVELS:
        value_bin = score if higher_is_better else 6 - score
        where = np.flatnonzero(bins == value_bin)
        if len(where) == 0:
            bands.append(ScoreBand(score, 0, None, None, None, None))
            continue
        first, last = int(where[0]), int(where[-1])
        bands.append(
            ScoreBand(
                score=score,
                customers=int(counts[first : last + 1].sum()),
                above=float(distinct[first - 1]) if first > 0 else None,
                up_to=float(distinct[last]) if last < len(distinct) - 1 else None,
                lowest=float(distinct[first]),
                highest=float(distinct[last]),
            )
        )
    return tuple(bands)


def _fallback_note(distinct: FloatArray, counts: IntArray) -> str:
    """One line on why plain quintiles were not used."""
    if len(distinct) == 0:
        return "no customers to score"
    if len(distinct) == 1:
        return "all customers have the same value, so all get 3"
    if len(distinct) < 5:
        spread = ", ".join(str(s) for s in _SPREAD[len(distinct)])
        return f"only {len(distinct)} different values, so each gets its own score ({spread})"
    top = int(np.argmax(counts))  # first of the most common values: deterministic
    share = counts[top] / counts.sum()
    return (
        f"{share:.0%} of customers share the value {_number(float(distinct[top]))}, so five "
        "equal groups are impossible; equal values were kept together"
    )


def _band_text(band: ScoreBand, whole_numbers: bool) -> str:
    """The values a band covers, in words (whole numbers read as counts: "3 to 4")."""
    above, up_to = band.above, band.up_to
    if whole_numbers:
        low = None if above is None else float(np.floor(above) + 1)
        if low is not None and up_to is not None:
            if low == up_to:
                return _number(low)
            return f"{_number(low)} to {_number(up_to)}"
        if low is not None:
            return f"{_number(low)} or more"
    elif above is not None:
        if up_to is not None:
            return f"more than {_number(above)}, up to {_number(up_to)}"
        return f"more than {_number(above)}"
    return "any value" if up_to is None else f"up to {_number(up_to)}"


def _number(value: float) -> str:
    """A value as a marketer reads it: 1,250 or 45.20."""
    return f"{value:,.0f}" if value == round(value) else f"{value:,.2f}"


# --------------------------------------------------------------------------- the grid


def load_grid(path: Path | None = None) -> RFMGrid:
    """The named RFM grid: the packaged default (``rfm_grid.yaml``) or a user's file.

    The file must be a partition of the 25 (recency, column score) cells (see the packaged
    file's header for the format). Any problem raises InputError naming the file, in one line.
    """
    if path is None:
        where = f"the packaged RFM grid ({GRID_FILE})"
        text = resources.files("reportgen.analysis").joinpath(GRID_FILE).read_text("utf-8")
    else:
        where = str(path)
        text = _decode(_read_bounded(Path(path), where), where)
    data = _parse_yaml(text, where)
    columns, groups = _grid_from_data(data, where)
    problem = _grid_problem(columns, groups)
    if problem:
        raise InputError(f"{where}: {problem}")
    return RFMGrid(columns=columns, groups=groups, source=where)


def _read_bounded(path: Path, where: str) -> bytes:
    """The file's bytes, refusing files over MAX_GRID_BYTES without reading them whole."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_GRID_BYTES + 1)
    except FileNotFoundError:
        raise InputError(f"{where}: RFM grid file not found") from None
    except IsADirectoryError:
        raise InputError(f"{where}: is a folder, not an RFM grid file") from None
    except OSError as exc:
        raise InputError(f"{where}: cannot read the RFM grid file ({exc.strerror})") from None
    if len(raw) > MAX_GRID_BYTES:
        raise InputError(f"{where}: too large for an RFM grid (over {MAX_GRID_BYTES:,} bytes)")
    return raw


def _decode(raw: bytes, where: str) -> str:
    """Text of the file: a byte-order mark decides, else UTF-8, else Windows-1252."""
    for mark, codec, label in _BOMS:
        if raw.startswith(mark):
            try:
                text = raw.decode(codec)  # these codecs drop the mark themselves
            except UnicodeDecodeError:
                raise InputError(f"{where}: starts like {label} but is not valid {label}") from None
            break
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            try:
                text = raw.decode("cp1252")
            except UnicodeDecodeError:
                raise InputError(f"{where}: not readable as UTF-8 or Windows-1252 text") from None
    if "\x00" in text:  # e.g. UTF-16 saved without a byte-order mark
        raise InputError(f"{where}: contains NUL characters; save it as UTF-8 text")
    return text


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.safe_load's loader, except that a key given twice is an error.

    Plain YAML keeps the last of two equal keys silently, which would drop a whole group.
    """


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node)
        try:
            duplicate = key in seen
        except TypeError:  # unhashable key: let the base loader report it
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_unique_mapping,
)


def _parse_yaml(text: str, where: str) -> Any:
    """The YAML document (safe loader: plain data only), or InputError in one line."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        problem = exc.problem or exc.context or "syntax error"
        mark = exc.problem_mark or exc.context_mark
        place = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InputError(f"{where}: not valid YAML ({_one_line(problem)}{place})") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{where}: not valid YAML ({_one_line(str(exc))})") from None
    except RecursionError:
        raise InputError(f"{where}: not valid YAML (nested too deeply)") from None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _grid_from_data(data: Any, where: str) -> tuple[str, tuple[RFMGroup, ...]]:
    """The columns setting and the groups of a parsed grid file (shape checks only)."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: an RFM grid must be a mapping with keys axes and groups")
    _check_keys(data, {"axes", "groups"}, "the file", where)
    axes = data["axes"]
    if not isinstance(axes, dict):
        raise InputError(f"{where}: axes must be a mapping with keys rows and columns")
    _check_keys(axes, {"rows", "columns"}, "axes", where)
    if axes["rows"] != "recency":
        raise InputError(f"{where}: axes rows must be recency (got {axes['rows']!r})")
    if axes["columns"] not in GRID_COLUMNS:
        allowed = " or ".join(GRID_COLUMNS)
        raise InputError(f"{where}: axes columns must be {allowed} (got {axes['columns']!r})")
    groups = data["groups"]
    if not isinstance(groups, dict) or not groups:
        raise InputError(f"{where}: groups must be a mapping of group names to their settings")
    parsed = tuple(_parse_group(name, spec, where) for name, spec in groups.items())
    return str(axes["columns"]), parsed


def _check_keys(mapping: dict[Any, Any], expected: set[str], what: str, where: str) -> None:
    """InputError for an unknown or missing key of `what`."""
    unknown = sorted(str(k) for k in mapping if k not in expected)
    if unknown:
        allowed = ", ".join(sorted(expected))
        raise InputError(f"{where}: unknown key {unknown[0]!r} in {what} (allowed: {allowed})")
    missing = sorted(expected - set(mapping))
    if missing:
        raise InputError(f"{where}: {what} is missing the key {missing[0]!r}")


def _parse_group(name: Any, spec: Any, where: str) -> RFMGroup:
    """One group entry: name -> {description, action, cells}."""
    if not isinstance(name, str) or not name.strip() or "\n" in name:
        raise InputError(f"{where}: group name {name!r} must be one line of text (quote it)")
    label = f"group {name!r}"
    if not isinstance(spec, dict):
        raise InputError(f"{where}: {label} must have description, action and cells")
    _check_keys(spec, set(_GROUP_KEYS), label, where)
    texts = {}
    for key in ("description", "action"):
        value = spec[key]
        if not isinstance(value, str) or not value.strip() or "\n" in value.strip():
            raise InputError(f"{where}: {label} needs a {key} of one line of text")
        texts[key] = value.strip()
    cells = spec["cells"]
    if not isinstance(cells, list) or not cells:
        raise InputError(f'{where}: {label} has no cells (give a list such as ["5:4"])')
    parsed = tuple(_parse_cell(cell, label, where) for cell in cells)
    if len(set(parsed)) < len(parsed):
        twice = next(c for c in parsed if parsed.count(c) > 1)
        raise InputError(f'{where}: {label} lists cell "{twice[0]}:{twice[1]}" twice')
    return RFMGroup(name.strip(), texts["description"], texts["action"], tuple(sorted(parsed)))


def _parse_cell(cell: Any, label: str, where: str) -> tuple[int, int]:
    """A cell "R:C" (recency score, column score), both 1..5."""
    if not isinstance(cell, str):
        # Unquoted 5:4 is a base-60 number (304) to YAML 1.1, hence the hint.
        raise InputError(
            f'{where}: {label} has cell {cell!r}, not text; write cells in quotes, e.g. "5:4"'
        )
    parts = cell.strip().split(":")
    if len(parts) != 2 or not all(p.strip() in {"1", "2", "3", "4", "5"} for p in parts):
        raise InputError(
            f'{where}: {label} has cell {cell!r}; a cell is "recency:column" with scores 1 to 5'
        )
    return int(parts[0]), int(parts[1])


def _grid_problem(columns: str, groups: tuple[RFMGroup, ...]) -> str | None:
    """Why the groups are not a partition of the 25 cells (None if they are)."""
    if columns not in GRID_COLUMNS:
        return f"columns must be {' or '.join(GRID_COLUMNS)} (got {columns!r})"
    if len({g.name for g in groups}) < len(groups):
        return "a group name is given twice"
    owner: dict[tuple[int, int], str] = {}
    for group in groups:
        if not group.cells:
            return f"group {group.name!r} has no cells"
        for cell in group.cells:
            if cell[0] not in SCORE_LEVELS or cell[1] not in SCORE_LEVELS:
                return f"group {group.name!r} has cell {cell}, outside scores 1 to 5"
            if cell in owner and owner[cell] != group.name:
                return (
                    f'cell "{cell[0]}:{cell[1]}" is in both {owner[cell]!r} and '
                    f"{group.name!r}; each cell belongs to exactly one group"
                )
            owner[cell] = group.name
    gaps = [f"{r}:{c}" for r in reversed(SCORE_LEVELS) for c in SCORE_LEVELS if (r, c) not in owner]
    if gaps:
        return f"cells {', '.join(gaps)} belong to no group; every cell needs exactly one"
    return None


# --------------------------------------------------------------------------- assignment


def assign_groups(scores: RFMScores, grid: RFMGrid) -> StrArray:
    """The grid's group name for each customer (input order).

    The row is the recency score; the column is FM or F as the grid's `columns` says.
    """
    column = scores.frequency_monetary if grid.columns == "frequency_monetary" else scores.frequency
    lookup = np.full((6, 6), -1, dtype=np.int64)  # index 0 unused: scores are 1..5
    for index, group in enumerate(grid.groups):
        for r, c in group.cells:
            lookup[r, c] = index
    names = np.array(grid.names, dtype=np.str_)
    result: StrArray = names[lookup[scores.recency, column]]
    return result


def group_table(
    groups: Any,
    monetary: Any,
    recency: Any,
    frequency: Any,
    grid: RFMGrid | None = None,
) -> pd.DataFrame:
    """Per group: customers, customer_share, revenue, revenue_share, median_recency,
    median_frequency, median_monetary; indexed by group name in the grid's order.

    `grid` defaults to the packaged grid. Every grid group has a row (a group nobody is in
    has 0 customers, 0 revenue and NaN medians). revenue is the sum of monetary; when total
    revenue is 0 or less, revenue_share is NaN (a share of nothing, or of a net refund, means
    nothing); with some negative groups shares can fall outside 0..1 but still sum to 1.
    customer_share is NaN when there are no customers. A group name not in the grid raises
    ValueError (the names came from another grid).
    """
    grid = load_grid() if grid is None else grid
    names = np.asarray(groups).astype(np.str_)
    m = _as_values("monetary", monetary, nonnegative=False)
    r = _as_values("recency", recency, nonnegative=True)
    f = _as_values("frequency", frequency, nonnegative=True)
    if not len(names) == len(m) == len(r) == len(f):
        raise ValueError("groups, monetary, recency and frequency must have the same length")
    unknown = sorted(set(names.tolist()) - set(grid.names))
    if unknown:
        raise ValueError(f"group {unknown[0]!r} is not in the grid ({grid.source})")
    frame = pd.DataFrame({"group": names, "recency": r, "frequency": f, "monetary": m})
    table = (
        frame.groupby("group", sort=True)
        .agg(
            customers=("monetary", "size"),
            revenue=("monetary", "sum"),
            median_recency=("recency", "median"),
            median_frequency=("frequency", "median"),
            median_monetary=("monetary", "median"),
        )
        .reindex(pd.Index(list(grid.names), name="group"))
    )
    table["customers"] = table["customers"].fillna(0).astype(np.int64)
    table["revenue"] = table["revenue"].fillna(0.0).astype(np.float64)
    total = float(m.sum())
    table["customer_share"] = table["customers"] / len(names) if len(names) else np.nan
    table["revenue_share"] = table["revenue"] / total if total > 0 else np.nan
    columns = ["customers", "customer_share", "revenue", "revenue_share"]
    return table[columns + ["median_recency", "median_frequency", "median_monetary"]]
