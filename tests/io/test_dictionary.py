"""Data dictionary: reading YAML safely, inferring what is not declared, applying overrides."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reportgen.errors import InputError
from reportgen.io.dictionary import (
    ROW_NUMBER_REASON,
    humanize,
    infer_column,
    read_dictionary,
    resolve_dictionary,
)
from tests.conftest import DATA


def frame():
    return pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3", "c4", "c5", "c6"],
            "rating": ["1", "5", "7", "3", "2", "6"],
            "spend": ["10.5", "200", "35", "4000", "12", "77"],
            "plan": ["Gold", "Basic", "Gold", "Basic", "Gold", "Basic"],
            "joined": [
                "01-02-2020",
                "03-04-2021",
                "05-06-2019",
                "07-08-2022",
                "1-1-2020",
                "2-2-2021",
            ],
            "const": ["x"] * 6,
            "flag": ["0", "1", "0", "1", "1", "0"],
        }
    )


def test_inference_types_and_roles():
    d = resolve_dictionary(frame())
    got = {c.name: (c.type, c.role) for c in d.columns}
    assert got["customer_id"] == ("id", "id")
    assert got["rating"] == ("ordinal", "segment")
    assert got["spend"] == ("numeric", "segment")
    assert got["plan"] == ("categorical", "describe")
    assert got["joined"] == ("date", "describe")
    assert got["const"][1] == "ignore"
    assert got["flag"] == ("binary", "describe")
    assert d.id_column == "customer_id"
    assert any("id column" in n for n in d.notes)
    assert all(c.reason for c in d.columns)


def test_columns_override_and_missing_column():
    d = resolve_dictionary(frame(), columns=("spend",))
    assert d.segment_columns == ("spend",)
    assert d.column("rating").role == "describe"
    with pytest.raises(InputError, match="not in the data: nope"):
        resolve_dictionary(frame(), columns=("spend", "nope"))
    with pytest.raises(InputError, match="--id-column"):
        resolve_dictionary(frame(), id_column="missing")


def test_bundled_dictionary_reads():
    d = read_dictionary(DATA / "insurance_survey.yaml")
    assert d.id_column == "respondent_id"
    assert d.column("agent_importance").high.name == "Agent-seekers"
    assert d.column("premium_importance").scale_max == 7


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("columns: [", "not valid YAML"),
        ("- a\n- b\n", "mapping"),
        ("title: x\n", "columns"),
        ("columns:\n  a: {role: boss}\n", "role"),
        ("columns:\n  a: {colour: red}\n", "unknown key"),
        ("columns:\n  a: {scale: {min: 7, max: 1}}\n", "below max"),
        ("!!python/object/apply:os.system ['echo hi']\n", "not valid YAML"),
    ],
)
def test_bad_dictionary(tmp_path, text, message):
    p = tmp_path / "d.yaml"
    p.write_text(text)
    with pytest.raises(InputError, match=message):
        read_dictionary(p)


def test_dictionary_column_not_in_data(tmp_path):
    p = tmp_path / "d.yaml"
    p.write_text("columns:\n  ghost: {role: segment}\n")
    with pytest.raises(InputError, match="ghost"):
        resolve_dictionary(frame(), read_dictionary(p))


def test_humanize():
    assert humanize("MntWines") == "Spend on wines"
    assert humanize("NumWebPurchases") == "Number of web purchases"
    assert humanize("NumWebVisitsMonth") == "Number of web visits per month"
    assert humanize("num_visits_per_month") == "Number of visits per month"
    assert humanize("MntGoldProds") == "Spend on gold products"
    assert humanize("num") == "Num"  # a lone abbreviation is left alone
    assert humanize("avg_basket_qty") == "Average basket quantity"
    assert humanize("Detergents_Paper") == "Detergents paper"
    assert humanize("total_CLV") == "Total CLV"


def test_humanize_keeps_a_unit_written_as_the_last_word():
    assert humanize("average_basket_value_eur") == "Average basket value (EUR)"
    assert humanize("share_pct") == "Share (%)"
    assert humanize("tenure_days") == "Tenure (days)"
    assert humanize("number_of_days") == "Number of days"  # the unit is the thing counted
    assert humanize("online_sessions_per_month_count") == "Online sessions per month"


def test_unique_numeric_without_id_name_is_a_feature():
    shuffled = pd.Series(np.random.default_rng(0).permutation(50), name="score")
    assert infer_column("score", shuffled, 50).role == "segment"
    assert infer_column("score", shuffled.astype(str), 50).role == "segment"


@pytest.mark.parametrize(
    "name",
    ["Unnamed: 0", "index", "RowNumber", "cust_no", "CustNo", "Account Nr", "customer number", "#"],
)
def test_row_and_customer_numbers_are_ids_not_features(name):
    """An export's index or customer number must never be clustered on as an amount."""
    shuffled = pd.Series(np.random.default_rng(1).permutation(200) + 5000)
    assert infer_column(name, shuffled, 200).role == "id"


def test_rising_row_numbers_are_an_id_whatever_their_name():
    rows = pd.Series(np.arange(1, 201))
    spec = infer_column("n", rows, 200)
    assert (spec.role, spec.reason) == ("id", ROW_NUMBER_REASON)
    gaps = pd.Series(np.arange(1001, 1401, 2))  # a running number with gaps is still one
    assert infer_column("n", gaps, 200).role == "id"
    assert infer_column("n", pd.Series(np.arange(200, 0, -1)), 200).role == "id"  # counting down
    text = pd.Series([str(i) for i in range(1, 201)])  # a gzipped or non-UTF-8 file's text
    assert infer_column("n", text, 200).role == "id"
    amounts = pd.Series(np.sort(np.random.default_rng(2).integers(0, 10**6, 200)))
    assert infer_column("spend", amounts, 200).role == "segment"  # sorted, but spans far more
    assert infer_column("visits", pd.Series([1, 2, 3, 4, 5]), 5).role != "id"  # too few rows


def test_a_table_sorted_by_a_quantity_keeps_that_quantity():
    """31 yearly rows 1990..2020 are years and a tenure 1..60 is months, not row numbers."""
    years = pd.Series(np.arange(1990, 2021))
    assert infer_column("year", years, 31).role != "id"
    tenure = pd.Series(np.arange(1, 61))
    for name in ["Tenure", "tenure_months", "CustomerAge", "visits"]:
        assert infer_column(name, tenure, 60).role != "id", name
    # Positions are not measures: an order number or rank counting 1..N is a row number.
    for name in ["order_number", "rank", "sort_order", "Purchase #", "OrderNo", "size_rank"]:
        assert infer_column(name, tenure, 60).role == "id", name


@pytest.mark.parametrize(
    "name", ["AmountPaid", "Valid", "covid", "Casino", "Ausgaben_Kino", "MntPlatinum", "Techno"]
)
def test_words_ending_like_id_or_no_are_not_ids(name):
    """'Paid' ends in 'id' and 'Casino' in 'no': amounts with such names stay features."""
    amounts = pd.Series(np.random.default_rng(4).normal(100, 20, 200).round(2))
    assert infer_column(name, amounts, 200).role == "segment"


def test_concatenated_lowercase_ids_are_ids():
    ids = pd.Series(np.random.default_rng(5).permutation(200) * 7 + 10_000)
    for name in ["customerid", "userid", "CustomerID", "clientId", "ID"]:
        assert infer_column(name, ids, 200).role == "id", name


def test_a_named_id_beats_a_row_number_as_the_id_column():
    rng = np.random.default_rng(3)
    df = pd.DataFrame(
        {
            "Unnamed: 0": np.arange(100),
            "CustomerId": rng.permutation(100) + 15_000_000,
            "Balance": rng.normal(1000, 200, 100),
        }
    )
    d = resolve_dictionary(df)
    assert d.id_column == "CustomerId"
    assert d.column("Unnamed: 0").role == "ignore"
    assert d.column("Balance").role == "segment"


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("PURCHASES_FREQUENCY", "Purchases frequency"),
        ("CASH_ADVANCE_TRX", "Cash advance transactions"),
        ("PRC_FULL_PAYMENT", "Percent full payment"),
        ("ONEOFF_PURCHASES", "One-off purchases"),
        ("Spending Score (1-100)", "Spending score (1–100)"),
        ("MntWines", "Spend on wines"),
        ("NumWebVisitsMonth", "Number of web visits per month"),
        ("AcceptedCmp3", "Accepted campaign 3"),
        ("CustomerID", "Customer ID"),
        ("CUST_ID", "Customer ID"),
        ("Detergents_Paper", "Detergents paper"),
    ],
)
def test_labels_are_readable_without_a_dictionary(name, label):
    from reportgen.io.dictionary import humanize

    assert humanize(name) == label
