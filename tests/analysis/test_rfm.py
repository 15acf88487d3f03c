"""RFM scores and the named RFM grid (reportgen.analysis.rfm): pure computation, fast."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reportgen.analysis.rfm import (
    MAX_GRID_BYTES,
    SCORE_LEVELS,
    SCORE_RULE,
    RFMGrid,
    RFMGroup,
    assign_groups,
    group_table,
    load_grid,
    score_rfm,
)
from reportgen.errors import InputError

GROUP_ORDER = (
    "Champions",
    "Loyal",
    "Potential loyalist",
    "New",
    "Promising",
    "Need attention",
    "About to sleep",
    "At risk",
    "Can't lose them",
    "Hibernating",
    "Lost",
)

EXPECTED_TABLE = (  # rows recency 5..1, columns FM 1..5, as in the YAML header
    ("New", "Potential loyalist", "Potential loyalist", "Champions", "Champions"),
    ("Promising", "Potential loyalist", "Potential loyalist", "Loyal", "Champions"),
    ("About to sleep", "About to sleep", "Need attention", "Loyal", "Loyal"),
    ("Hibernating", "Hibernating", "At risk", "At risk", "At risk"),
    ("Lost", "Lost", "At risk", "Can't lose them", "Can't lose them"),
)

# Frequency with 60 % one-time buyers: quintile edges 1, 1, 1, ... collide.
FREQ_60 = np.array([1] * 60 + [2] * 15 + [3] * 10 + [4] * 6 + [5] * 4 + [7] * 3 + [12] * 2)


@pytest.fixture(scope="module")
def grid() -> RFMGrid:
    return load_grid()


def _rfm(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Realistic, tie-heavy inputs: whole days, geometric order counts, rounded spend."""
    recency = rng.integers(0, 400, n).astype(float)
    frequency = rng.geometric(0.45, n).astype(float)
    monetary = np.round(rng.gamma(2.0, 40.0, n) * frequency, 0)
    return recency, frequency, monetary


# --------------------------------------------------------------------------- the packaged grid


def test_packaged_grid_is_a_partition_in_the_documented_order(grid: RFMGrid) -> None:
    assert grid.columns == "frequency_monetary"
    assert grid.names == GROUP_ORDER
    owners: dict[tuple[int, int], list[str]] = {}
    for group in grid.groups:
        assert group.cells, group.name
        assert group.description and group.action and "\n" not in group.description
        for cell in group.cells:
            owners.setdefault(cell, []).append(group.name)
    assert sorted(owners) == [(r, c) for r in SCORE_LEVELS for c in SCORE_LEVELS]
    assert all(len(names) == 1 for names in owners.values())
    assert grid.table() == EXPECTED_TABLE


def test_every_group_is_reachable_from_raw_values(grid: RFMGrid) -> None:
    # One customer per cell (25): five per score level, distinct values, so plain quintiles
    # give exactly the intended R, F and M (F = M = FM = the column).
    cells = [(r, c) for r in SCORE_LEVELS for c in SCORE_LEVELS]
    r_target = np.array([r for r, _ in cells])
    c_target = np.array([c for _, c in cells])
    position = np.arange(25) % 5  # distinct within each score level
    recency = (5 - r_target) * 30 + position  # recent = high R
    frequency = c_target * 10 + position
    monetary = c_target * 100.0 + position * 0.5
    scores = score_rfm(recency, frequency, monetary)
    assert scores.fallback_features == ()
    assert np.array_equal(scores.recency, r_target)
    assert np.array_equal(scores.frequency_monetary, c_target)
    groups = assign_groups(scores, grid)
    assert set(groups.tolist()) == set(GROUP_ORDER)
    for (r, c), name in zip(cells, groups.tolist(), strict=True):
        assert name == grid.group_at(r, c).name


def test_frequency_columns_grid_uses_f(tmp_path: Path) -> None:
    text = _default_yaml().replace("columns: frequency_monetary", "columns: frequency")
    path = tmp_path / "rf.yaml"
    path.write_text(text, encoding="utf-8")
    grid = load_grid(path)
    # Same recency (R 3 for both); F 5 / M 1 and F 1 / M 5, so both have FM 3.
    scores = score_rfm([0, 0], [10, 1], [1, 10])
    assert scores.frequency_monetary.tolist() == [3, 3]
    assert assign_groups(scores, grid).tolist() == ["Loyal", "About to sleep"]  # cells 3:5, 3:1
    assert assign_groups(scores, load_grid()).tolist() == ["Need attention"] * 2


# --------------------------------------------------------------------------- scores


def test_shuffled_input_gives_identical_scores_and_thresholds() -> None:
    rng = np.random.default_rng(7)
    recency, frequency, monetary = _rfm(rng, 2_000)
    base = score_rfm(recency, frequency, monetary)
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(len(recency))
        shuffled = score_rfm(recency[order], frequency[order], monetary[order])
        for name in ("recency", "frequency", "monetary", "frequency_monetary"):
            assert np.array_equal(getattr(shuffled, name), getattr(base, name)[order])
        assert shuffled.thresholds == base.thresholds


def test_equal_values_always_get_equal_scores() -> None:
    rng = np.random.default_rng(11)
    for n in (5, 7, 23, 500):
        recency, frequency, monetary = _rfm(rng, n)
        scores = score_rfm(recency, frequency, monetary)
        for values, got in ((recency, scores.recency), (frequency, scores.frequency)):
            for value in np.unique(values):
                assert len(np.unique(got[values == value])) == 1
    # A tie straddling the 20 % mark: a rank-based cut would split the three 2s.
    scores = score_rfm(np.zeros(10), [1, 2, 2, 2, 3, 4, 5, 6, 7, 8], np.arange(10))
    assert len(set(scores.frequency[1:4].tolist())) == 1


def test_scores_are_monotone_and_use_1_to_5() -> None:
    rng = np.random.default_rng(3)
    for n in (5, 9, 50, 1_000):
        recency, frequency, monetary = _rfm(rng, n)
        scores = score_rfm(recency, frequency, monetary)
        for values, got, up in (
            (recency, scores.recency, False),
            (frequency, scores.frequency, True),
            (monetary, scores.monetary, True),
        ):
            order = np.argsort(values if up else -values, kind="stable")
            assert np.all(np.diff(got[order]) >= 0)  # better value, never a lower score
            if len(np.unique(values)) >= 5:
                assert set(got.tolist()) == set(SCORE_LEVELS)
        for th in scores.thresholds:
            assert sum(b.customers for b in th.bands) == n
            assert list(th.edges) == sorted(th.edges)


def test_recency_lower_is_better() -> None:
    days = np.arange(10) * 7.0
    scores = score_rfm(days, np.ones(10), np.ones(10))
    assert scores.recency.tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    th = scores.recency_thresholds
    assert not th.higher_is_better
    assert th.band(5).up_to == 7.0 and th.band(5).above is None
    assert th.band(1).above == 49.0 and th.band(1).up_to is None
    assert th.describe("days")[0] == "Score 5: up to 7 days (2 customers)"


def test_plain_quintiles_report_edges_in_data_units() -> None:
    spend = np.arange(1, 11) * 10.5  # 10.5 .. 105
    scores = score_rfm(np.arange(10), np.arange(10), spend)
    th = scores.monetary_thresholds
    assert not th.used_fallback and th.note == ""
    assert th.edges == (21.0, 42.0, 63.0, 84.0)
    assert [b.customers for b in th.bands] == [2, 2, 2, 2, 2]
    assert th.describe("EUR") == (
        "Score 5: more than 84 EUR (2 customers)",
        "Score 4: more than 63, up to 84 EUR (2 customers)",
        "Score 3: more than 42, up to 63 EUR (2 customers)",
        "Score 2: more than 21, up to 42 EUR (2 customers)",
        "Score 1: up to 21 EUR (2 customers)",
    )


def test_frequency_with_60_percent_ones_uses_the_fallback_and_reports_it() -> None:
    n = len(FREQ_60)
    scores = score_rfm(np.arange(n), FREQ_60, np.arange(n) * 2.0)
    assert scores.fallback_features == ("frequency",)
    th = scores.frequency_thresholds
    assert th.used_fallback and "60%" in th.note and "value 1" in th.note
    assert th.edges == (1.0, 2.0, 3.0, 4.0)
    assert [b.customers for b in th.bands] == [60, 15, 10, 6, 9]
    assert scores.frequency[FREQ_60 == 1].tolist() == [1] * 60
    assert set(scores.frequency[FREQ_60 >= 5].tolist()) == {5}  # the top score still exists
    assert th.describe("orders") == (
        "Score 5: 5 or more orders (9 customers)",
        "Score 4: 4 orders (6 customers)",
        "Score 3: 3 orders (10 customers)",
        "Score 2: 2 orders (15 customers)",
        "Score 1: up to 1 orders (60 customers)",
    )
    assert (th.band(5).lowest, th.band(5).highest, th.band(5).above) == (5.0, 12.0, 4.0)


def test_few_distinct_values_are_spread_from_1_to_5() -> None:
    assert score_rfm([0, 1, 2], [1, 1, 1], [5, 5, 9]).frequency.tolist() == [3, 3, 3]
    scores = score_rfm([0, 1, 2], [1, 2, 3], [5, 5, 9])
    assert scores.recency.tolist() == [5, 3, 1]
    assert scores.frequency.tolist() == [1, 3, 5]
    assert scores.monetary.tolist() == [1, 1, 5]
    assert scores.frequency_monetary.tolist() == [1, 2, 5]
    assert (
        score_rfm(np.zeros(8), [1, 2, 3, 4] * 2, np.ones(8)).frequency.tolist()
        == [
            1,
            2,
            4,
            5,
        ]
        * 2
    )
    th = scores.monetary_thresholds
    assert th.band(3).customers == 0
    assert "Score 3: not used (no customers)" in th.describe()
    assert "1, 5" in th.note


def test_no_customers_and_one_customer() -> None:
    empty = score_rfm([], [], [])
    assert empty.recency.shape == (0,) and empty.recency.dtype == np.int64
    assert all(b.customers == 0 for b in empty.recency_thresholds.bands)
    one = score_rfm([3], [2], [10.0])
    assert (one.recency[0], one.frequency[0], one.monetary[0]) == (3, 3, 3)


def test_score_arrays_are_read_only() -> None:
    scores = score_rfm(np.arange(6), np.arange(6), np.arange(6))
    with pytest.raises(ValueError):
        scores.recency[0] = 1


@pytest.mark.parametrize(
    ("recency", "frequency", "monetary", "message"),
    [
        ([1, np.nan, 3], [1, 1, 1], [1, 1, 1], "recency is missing for 1 customer"),
        ([1, 2, 3], [1, 1, 1], [1, np.nan, np.nan], "monetary is missing for 2 customer"),
        ([1, 2, 3], [1, np.inf, 1], [1, 1, 1], "frequency has infinite values"),
        ([1, -2, 3], [1, 1, 1], [1, 1, 1], "recency is negative"),
        ([1, 2, 3], [1, 1], [1, 1, 1], "one value per customer"),
        (["a", "b"], [1, 1], [1, 1], "recency must be numbers"),
    ],
)
def test_bad_score_inputs_raise_input_error(recency, frequency, monetary, message) -> None:
    with pytest.raises(InputError, match=message) as info:
        score_rfm(recency, frequency, monetary)
    assert "\n" not in str(info.value)


def test_score_rule_is_stated_for_a_marketer() -> None:
    assert "quintiles" in SCORE_RULE and "same value" in SCORE_RULE and "half up" in SCORE_RULE


# --------------------------------------------------------------------------- user grids


def _default_yaml() -> str:
    return (Path(__file__).resolve().parents[2] / "reportgen/analysis/rfm_grid.yaml").read_text(
        encoding="utf-8"
    )


def _write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "grid.yaml"
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("axes: {", "colour: red\naxes: {", "unknown key 'colour' in the file"),
        (
            'cells: ["5:1"]',
            'cells: ["5:1"]\n    colour: red',
            "unknown key 'colour' in group 'New'",
        ),
        ("rows: recency", "rows: monetary", "rows must be recency"),
        ("columns: frequency_monetary", "columns: spend", "columns must be"),
        ('cells: ["4:1"]', 'cells: ["4:1", "5:1"]', 'cell "5:1" is in both'),
        ('cells: ["4:1"]', 'cells: ["4:1", "4:1"]', 'lists cell "4:1" twice'),
        ('cells: ["1:1", "1:2"]', 'cells: ["1:1"]', "cells 1:2 belong to no group"),
        ('cells: ["4:1"]', 'cells: ["4:6"]', "has cell '4:6'"),
        ('cells: ["4:1"]', 'cells: ["0:1"]', "has cell '0:1'"),
        ('cells: ["4:1"]', 'cells: ["4-1"]', "has cell '4-1'"),
        ('cells: ["4:1"]', "cells: [4:1]", "has cell 241, not text"),  # YAML base 60
        ('cells: ["4:1"]', "cells: []", "group 'Promising' has no cells"),
        ('cells: ["4:1"]', "description: again", "key 'description' is given twice"),
        ("  Lost:", "  Promising:", "key 'Promising' is given twice"),
        ('cells: ["4:1"]', 'cells: ["4:1"', "not valid YAML"),
        ("groups:", "groups: [", "not valid YAML"),
        ("Champions:", "Champions: 3\n  Ignored:", "group 'Champions' must have"),
        ("Champions:", "yes:", "group name True must be one line of text"),
    ],
)
def test_invalid_user_grids_raise_one_line_input_error(tmp_path, old, new, message) -> None:
    text = _default_yaml()
    assert old in text
    path = _write(tmp_path, text.replace(old, new, 1))
    with pytest.raises(InputError) as info:
        load_grid(path)
    assert message in str(info.value)
    assert str(info.value).startswith(str(path))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just text\n"])
def test_grid_that_is_not_a_mapping(tmp_path: Path, text: str) -> None:
    with pytest.raises(InputError, match="must be a mapping"):
        load_grid(_write(tmp_path, text))


def test_missing_key_and_missing_file(tmp_path: Path) -> None:
    text = _default_yaml().replace('    action: "Try one', '    comment: "Try one')
    with pytest.raises(InputError, match="unknown key 'comment'"):
        load_grid(_write(tmp_path, text))
    with pytest.raises(InputError, match="not found"):
        load_grid(tmp_path / "absent.yaml")
    with pytest.raises(InputError, match="folder"):
        load_grid(tmp_path)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig", "utf-16-be", "utf-32"])
def test_user_grid_in_other_unicode_encodings_reads_fine(tmp_path, encoding) -> None:
    text = _default_yaml().replace("Need attention", "Besoin d'attention — à suivre")
    raw = text.encode(encoding)
    if encoding == "utf-16-be":
        raw = b"\xfe\xff" + raw  # the big-endian codec writes no mark itself
    path = tmp_path / "grid.yaml"
    path.write_bytes(raw)
    grid = load_grid(path)
    assert "Besoin d'attention — à suivre" in grid.names
    assert grid.group_at(3, 3).name == "Besoin d'attention — à suivre"


def test_user_grid_in_windows_1252_reads_fine(tmp_path: Path) -> None:
    text = _default_yaml().replace("Bought recently", "Achète récemment")
    grid = load_grid(_write(tmp_path, text, "cp1252"))
    assert grid.groups[0].description.startswith("Achète récemment")


def test_user_grid_bad_bytes_and_size(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="NUL"):
        load_grid(_write(tmp_path, _default_yaml(), "utf-16-le"))  # no byte-order mark
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_GRID_BYTES + 1))
    with pytest.raises(InputError, match="too large"):
        load_grid(big)


def test_python_tags_are_refused(tmp_path: Path) -> None:
    text = "!!python/object/apply:os.system ['echo pwned']\n"
    with pytest.raises(InputError, match="not valid YAML"):
        load_grid(_write(tmp_path, text))


def test_grid_built_in_code_must_be_a_partition() -> None:
    with pytest.raises(ValueError, match="belong to no group"):
        RFMGrid("frequency_monetary", (RFMGroup("All", "d", "a", ((1, 1),)),), "code")


# --------------------------------------------------------------------------- group table


def test_group_table_shares_sum_to_one_in_grid_order(grid: RFMGrid) -> None:
    rng = np.random.default_rng(5)
    recency, frequency, monetary = _rfm(rng, 3_000)
    groups = assign_groups(score_rfm(recency, frequency, monetary), grid)
    table = group_table(groups, monetary, recency, frequency, grid=grid)
    assert tuple(table.index) == GROUP_ORDER
    assert table["customers"].sum() == 3_000
    assert table["customer_share"].sum() == pytest.approx(1.0)
    assert table["revenue_share"].sum() == pytest.approx(1.0)
    assert table["revenue"].sum() == pytest.approx(monetary.sum())
    champions = groups == "Champions"
    assert table.loc["Champions", "median_monetary"] == np.median(monetary[champions])
    assert table.loc["Champions", "median_recency"] == np.median(recency[champions])
    assert list(table.columns) == [
        "customers",
        "customer_share",
        "revenue",
        "revenue_share",
        "median_recency",
        "median_frequency",
        "median_monetary",
    ]


def test_group_table_empty_groups_and_no_revenue() -> None:
    table = group_table(["Lost", "Lost", "New"], [0.0, -5.0, 5.0], [300, 200, 1], [1, 1, 1])
    assert tuple(table.index) == GROUP_ORDER  # default grid, every group listed
    assert table.loc["Champions", "customers"] == 0
    assert table.loc["Champions", "revenue"] == 0.0
    assert np.isnan(table.loc["Champions", "median_monetary"])
    assert table.loc["Lost", "customer_share"] == pytest.approx(2 / 3)
    assert table["revenue_share"].isna().all()  # total revenue 0: shares mean nothing
    with pytest.raises(ValueError, match="not in the grid"):
        group_table(["Whales"], [1.0], [1], [1])
