"""reportgen.io.orders: recognising an order log and reducing it to one row per customer.

The fixture holds every line of 150 customers of UCI "Online Retail" plus 2,000 lines with no
CustomerID (tests/fixtures/README.md); expected values are recomputed here with plain pandas.
The full log is used when ../shared/datasets/online_retail is present.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reportgen.errors import InputError
from reportgen.io.orders import (
    FEATURE_DEFINITIONS,
    OrderRoles,
    OrderSummary,
    customer_features,
    infer_roles,
    looks_like_order_log,
    parse_dates,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "online_retail_sample.csv.gz"
FULL = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "datasets"
    / "online_retail"
    / "online_retail.csv.gz"
).resolve()


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return pd.read_csv(FIXTURE)


@pytest.fixture(scope="module")
def summary(sample: pd.DataFrame) -> OrderSummary:
    return customer_features(sample)


def entry(summary: OrderSummary, reason: str) -> int:
    """Lines of one ledger entry."""
    (found,) = [e for e in summary.set_aside if e.reason == reason]
    return found.lines


def log(**columns: Sequence[object]) -> pd.DataFrame:
    return pd.DataFrame(columns)


# --------------------------------------------------------------------------- the fixture


def test_fixture_customers_lines_and_ids(sample: pd.DataFrame, summary: OrderSummary) -> None:
    features = summary.features
    assert summary.lines_read == len(sample) == 15_696
    assert summary.customers == len(features) == 150
    assert entry(summary, "no customer id") == 2_000
    assert features.index.is_unique and features.index.is_monotonic_increasing
    assert features.index.dtype == np.int64  # 17850, not 17850.0
    assert set(features.index) == set(sample["CustomerID"].dropna().astype(int))
    assert set(FEATURE_DEFINITIONS) == set(features.columns)


def test_fixture_reconciles_to_the_cent(sample: pd.DataFrame, summary: OrderSummary) -> None:
    with_id = sample[sample["CustomerID"].notna()]
    own_sum = float((with_id["Quantity"] * with_id["UnitPrice"]).sum())
    assert summary.net_revenue == pytest.approx(own_sum, abs=0.005)
    assert float(summary.features["net_spend"].sum()) == pytest.approx(own_sum, abs=0.005)
    assert summary.reconciles
    dropped = sum(e.lines for e in summary.set_aside if e.action == "dropped")
    assert summary.lines_read == summary.lines_used + dropped
    assert entry(summary, "cancellations and returns") == int(
        with_id["InvoiceNo"].str.startswith("C").sum()
    )
    assert summary.gross_revenue - summary.returned_revenue == pytest.approx(summary.net_revenue)


def oracle(sample: pd.DataFrame) -> pd.DataFrame:
    """The features recomputed line by line with plain pandas, from their definitions."""
    d = sample[sample["CustomerID"].notna()].copy()
    d["id"] = d["CustomerID"].astype(int)
    d["amount"] = (d["Quantity"] * d["UnitPrice"]).round(6)
    d["back"] = d["InvoiceNo"].str.upper().str.startswith("C") | (d["Quantity"] < 0)
    d = d[d["back"] | (d["amount"] != 0)]
    d["day"] = pd.to_datetime(d["InvoiceDate"]).dt.normalize()
    per_order = d.groupby(["id", "InvoiceNo"])["amount"].sum().round(6)
    per_day = d.groupby(["id", "day"])["amount"].sum().round(6)
    buy_days = per_day[per_day > 0].reset_index()
    first_day = buy_days.groupby("id")["day"].transform("min")
    repeat = buy_days[buy_days["day"] != first_day].groupby("id")["amount"].mean()
    by_id = buy_days.groupby("id")["day"]
    out = pd.DataFrame(
        {
            "net_spend": d.groupby("id")["amount"].sum(),
            "orders": (per_order > 0).groupby(level="id").sum(),
            "first_purchase": by_id.min(),
            "last_purchase": by_id.max(),
            "repeat_days_frequency": by_id.size() - 1,
            "repeat_mean_spend": repeat,
            "distinct_products": d[~d["back"]].groupby("id")["StockCode"].nunique(),
        }
    )
    return out.fillna({"repeat_mean_spend": 0.0})


def test_fixture_matches_a_plain_pandas_computation(
    sample: pd.DataFrame, summary: OrderSummary
) -> None:
    features, expected = summary.features, oracle(sample)
    buyers = expected.index[expected["first_purchase"].notna()]
    as_of = pd.Timestamp("2011-12-10")  # the day after the log's last date
    assert summary.as_of == as_of and "day after" in summary.as_of_source
    for column in ("net_spend", "repeat_mean_spend"):
        got = features.loc[buyers, column].to_numpy()
        assert np.allclose(got, expected.loc[buyers, column], atol=1e-6), column
    for column in ("orders", "repeat_days_frequency", "distinct_products"):
        assert (features.loc[buyers, column] == expected.loc[buyers, column]).all(), column
    for column in ("first_purchase", "last_purchase"):
        assert (features.loc[buyers, column] == expected.loc[buyers, column]).all(), column
    last = expected.loc[buyers, "last_purchase"]
    assert ((as_of - last).dt.days == features.loc[buyers, "recency_days"]).all()
    one_day = features["repeat_days_frequency"] == 0
    assert features.loc[one_day, "mean_days_between_orders"].isna().all()
    assert (features.loc[~one_day, "mean_days_between_orders"] > 0).all()


def test_returns_only_customers_are_kept_and_flagged(summary: OrderSummary) -> None:
    features = summary.features
    flagged = features["returns_only"]
    assert flagged.equals(features["net_spend"] <= 0)
    (e,) = [e for e in summary.set_aside if e.reason.startswith("customers with returns only")]
    assert e.customers == int(flagged.sum()) and e.action == "kept, flagged"


def test_text_columns_give_the_same_features(sample: pd.DataFrame, summary: OrderSummary) -> None:
    # A reader that keeps every column as text (ids "17850", prices "2.55") gives the same table.
    text = pd.read_csv(FIXTURE, dtype=str, keep_default_na=False, na_values=[""])
    pd.testing.assert_frame_equal(customer_features(text).features, summary.features)


def test_a_shuffled_log_gives_identical_output(sample: pd.DataFrame, summary: OrderSummary) -> None:
    shuffled = customer_features(sample.sample(frac=1.0, random_state=7))
    pd.testing.assert_frame_equal(shuffled.features, summary.features, check_exact=True)
    assert shuffled.set_aside == summary.set_aside
    assert shuffled.net_revenue == summary.net_revenue


def test_as_of_drops_later_lines(sample: pd.DataFrame) -> None:
    cut = customer_features(sample, as_of="2011-06-30")
    assert cut.as_of == pd.Timestamp("2011-06-30") and cut.as_of_source.startswith("given")
    later = sample["CustomerID"].notna() & (sample["InvoiceDate"] >= "2011-07-01")
    assert entry(cut, "dated after as_of") == int(later.sum())
    assert cut.last_date <= pd.Timestamp("2011-06-30")
    assert (cut.features["recency_days"] >= 0).all()
    assert cut.reconciles


# --------------------------------------------------------------------------- the full log


@pytest.mark.skipif(not FULL.exists(), reason="../shared/datasets/online_retail is not here")
def test_full_online_retail_log() -> None:
    frame = pd.read_csv(FULL)
    start = time.perf_counter()
    summary = customer_features(frame)
    elapsed = time.perf_counter() - start
    assert summary.customers == 4_372
    assert entry(summary, "no customer id") == 135_080
    assert entry(summary, "cancellations and returns") == 8_905
    assert summary.net_revenue == pytest.approx(8_300_065.81, abs=0.005)
    assert summary.reconciles
    with_id = frame[frame["CustomerID"].notna()]
    assert summary.net_revenue == pytest.approx(
        float((with_id["Quantity"] * with_id["UnitPrice"]).sum()), abs=0.005
    )
    assert elapsed < 5.0  # well under 1 s on a quiet machine; this only catches a blow-up


# --------------------------------------------------------------------------- roles


def test_roles_from_other_names() -> None:
    frame = log(
        order_id=[1, 2, 3, 4, 5, 6],
        customer=["ann", "bob", "ann", "cy", "bob", "ann"],
        order_date=["1/2/11", "1/15/11", "2/3/11", "3/4/11", "12/25/11", "12/31/11"],
        amount=[10.0, 20.0, 30.0, 5.0, 7.5, 1.0],
    )
    found = infer_roles(frame)
    assert found.roles == OrderRoles(
        customer="customer", date="order_date", order="order_id", amount="amount"
    )
    assert "3 distinct values in 6 lines" in found.reasons["customer"]
    assert set(found.reasons) >= {"customer", "date", "order", "amount", "product"}
    features = customer_features(frame).features
    assert list(features.index) == ["ann", "bob", "cy"]  # text ids, sorted
    assert features.loc["ann", "orders"] == 3
    assert features.loc["ann", "first_purchase"] == pd.Timestamp("2011-01-02")


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (("client", "timestamp", "revenue"), ("client", "timestamp", None, "revenue")),
        (("member_id", "created_at", "total"), ("member_id", "created_at", None, "total")),
        (
            ("user_id", "Date", "transaction_id", "Sales"),
            ("user_id", "Date", "transaction_id", "Sales"),
        ),
        (
            ("Email", "Order Date", "Order No", "value"),
            ("Email", "Order Date", "Order No", "value"),
        ),
        (("Cust", "day", "receipt", "price"), ("Cust", "day", "receipt", "price")),
    ],
)
def test_role_names(names: tuple[str, ...], expected: tuple[str | None, ...]) -> None:
    values: dict[str, list[object]] = {
        "customer": [1, 1, 2, 2],
        "date": ["2011-01-01", "2011-01-02", "2011-01-03", "2011-01-04"],
        "order": [10, 11, 12, 13],
        "amount": [1.0, 2.0, 3.0, 4.0],
    }
    kinds = [k for k in values if k != "order" or len(names) == 4]
    frame = pd.DataFrame({name: values[kind] for name, kind in zip(names, kinds, strict=True)})
    roles = infer_roles(frame).roles
    assert (roles.customer, roles.date, roles.order, roles.amount) == expected


def test_product_and_quantity_names() -> None:
    base = {"customer_id": [1, 1, 2, 2], "date": ["2011-01-01"] * 4}
    for product, quantity in (("sku", "units"), ("item_id", "Quantity"), ("StockCode", "qty")):
        frame = pd.DataFrame(
            base | {product: ["a", "b", "a", "c"], quantity: [1, 2, 3, 4], "UnitPrice": 1.5}
        )
        roles = infer_roles(frame).roles
        assert (roles.product, roles.quantity, roles.unit_price) == (product, quantity, "UnitPrice")
    described = pd.DataFrame(base | {"Description": ["x"] * 4, "amount": [1.0] * 4, "ccy": "EUR"})
    assert (infer_roles(described).roles.product, infer_roles(described).roles.currency) == (
        "Description",
        "ccy",
    )


def test_roles_quantity_price_currency_and_no_order_column() -> None:
    frame = log(
        cust=[1, 1, 2, 2, 3, 3],
        date=["2011-01-01", "2011-01-01", "2011-02-01", "2011-03-01", "2011-03-02", "2011-04-01"],
        qty=[1, 2, 3, 1, 1, 2],
        price=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        product=["x", "y", "x", "z", "x", "y"],
        currency=["GBP"] * 6,
    )
    roles = infer_roles(frame).roles
    assert (roles.quantity, roles.unit_price, roles.amount) == ("qty", "price", None)
    assert (roles.product, roles.currency, roles.order) == ("product", "currency", None)
    summary = customer_features(frame)
    assert "purchase days" in summary.orders_source
    assert summary.features.loc[1, "orders"] == 1  # two lines on one day: one order
    assert summary.features.loc[1, "net_spend"] == 5.0  # 1 x 1 + 2 x 2
    assert summary.currency == "GBP"


def test_overrides() -> None:
    frame = log(who=[1, 1, 2, 2], when=["2011-01-01"] * 4, paid=[1.0, 2.0, 3.0, 4.0])
    found = infer_roles(frame, {"customer": "who"})
    assert found.roles.customer == "who" and found.reasons["customer"].startswith("set by")
    with pytest.raises(InputError, match="no such column"):
        infer_roles(frame, {"customer": "nobody"})
    with pytest.raises(InputError, match="unknown role"):
        infer_roles(frame, {"shoe_size": "who"})


def test_an_order_log_is_detected_and_a_customer_table_is_not(sample: pd.DataFrame) -> None:
    is_log, why = looks_like_order_log(sample)
    assert is_log and "CustomerID repeats" in why
    table = log(
        customer_id=list(range(200)),
        signup_date=list(pd.date_range("2020-01-01", periods=200)),
        total_spend=[float(i) for i in range(200)],
    )
    is_log, why = looks_like_order_log(table)
    assert not is_log and "does not repeat" in why
    assert not looks_like_order_log(table.drop(columns="customer_id"))[0]


# --------------------------------------------------------------------------- dates


def test_month_first_and_day_first_are_told_apart() -> None:
    us = parse_dates(pd.Series(["1/2/11", "1/15/11", "12/31/11"], name="d"))
    assert list(us.dates) == [pd.Timestamp(x) for x in ("2011-01-02", "2011-01-15", "2011-12-31")]
    assert us.formats == ("%m/%d/%y",) and "1969-2068" in (us.note or "")
    eu = parse_dates(pd.Series(["01/02/2011", "25/12/2011"], name="d"))
    assert list(eu.dates) == [pd.Timestamp("2011-02-01"), pd.Timestamp("2011-12-25")]
    assert eu.formats == ("%d/%m/%Y",) and eu.note is None
    dots = parse_dates(pd.Series(["9.12.2011 10:30", "13.1.2011 08:00"]))
    assert dots.dates[0] == pd.Timestamp("2011-12-09 10:30")


def test_ambiguous_dates_are_read_month_first_with_a_note() -> None:
    read = parse_dates(pd.Series(["01/02/2011", "03/04/2011"], name="d"))
    assert read.dates[0] == pd.Timestamp("2011-01-02")
    assert read.note is not None and read.note.startswith("ambiguous: no day above 12 in d")
    assert "--date-format %d/%m/%Y" in read.note
    forced = parse_dates(pd.Series(["01/02/2011", "03/04/2011"]), date_format="%d/%m/%Y")
    assert forced.dates[0] == pd.Timestamp("2011-02-01")


def test_a_column_in_two_formats() -> None:
    values = ["2011-01-05", "2011-02-03 10:00", "13/01/2011", "25/12/2011"]
    read = parse_dates(pd.Series(values, name="d"))
    assert list(read.dates) == [
        pd.Timestamp(x) for x in ("2011-01-05", "2011-02-03 10:00", "2011-01-13", "2011-12-25")
    ]
    assert read.note is not None and "mixes date formats" in read.note
    with pytest.raises(InputError, match="never show a day above 12"):
        parse_dates(pd.Series(["2011-01-05", "01/02/2011", "02/03/2011"], name="d"))
    with pytest.raises(InputError, match="could be either"):
        parse_dates(pd.Series(["13/01/2011", "01/13/2011", "02/03/2011"], name="d"))


def test_other_date_shapes() -> None:
    cases = {
        "20111209": "2011-12-09",
        "2011/12/09": "2011-12-09",
        "9 Dec 2011": "2011-12-09",
        "Dec 9, 2011 3:15 PM": "2011-12-09 15:15",
        "2011-12-09T10:11:12+01:00": "2011-12-09 10:11:12",
        "1323388800": "2011-12-09",
    }
    for text, expected in cases.items():
        assert parse_dates(pd.Series([text])).dates[0] == pd.Timestamp(expected), text
    numbers = parse_dates(pd.Series([20101201, 20111209]))
    assert list(numbers.dates) == [pd.Timestamp("2010-12-01"), pd.Timestamp("2011-12-09")]
    assert parse_dates(pd.Series(["31/02/2011"] + ["01/01/2011"] * 200)).unreadable == 1


def test_a_few_unreadable_dates_are_set_aside_more_is_an_error() -> None:
    few = parse_dates(pd.Series(["2011-01-01"] * 199 + ["soon"], name="d"))
    assert (few.unreadable, few.example) == (1, "soon") and few.dates.isna().sum() == 1
    with pytest.raises(InputError, match=r"column d: 2 of 100 dates .*'later'"):
        parse_dates(pd.Series(["2011-01-01"] * 98 + ["soon", "later"], name="d"))


# --------------------------------------------------------------------------- bad logs


def good_log() -> pd.DataFrame:
    return log(
        customer_id=[1, 1, 2, 2],
        order_date=["2011-01-01", "2011-01-02", "2011-01-03", "2011-01-04"],
        amount=[1.0, 2.0, 3.0, 4.0],
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns="order_date").assign(note="x"), "no date column"),
        (lambda f: f.assign(order_date=["2011-01-01", "soon", "later", "?"]), "order_date"),
        (lambda f: f.assign(amount=0.0), "amount is zero"),
        (lambda f: f.assign(customer_id=7), "one customer"),
        (lambda f: f.drop(columns="customer_id").assign(k=[1, 2, 1, 2]), "no customer column"),
        (lambda f: f.drop(columns="amount"), "no amount column"),
    ],
)
def test_bad_logs_are_input_errors(change: object, message: str) -> None:
    assert callable(change)
    customer_features(good_log())  # the unchanged log is fine
    with pytest.raises(InputError, match=message):
        customer_features(change(good_log()))


def test_mixed_currencies_refused_then_one_chosen() -> None:
    frame = good_log().assign(currency=["GBP", "EUR", "GBP", "USD"])
    with pytest.raises(InputError, match=r"mixes currencies \(EUR, GBP, USD\): choose one"):
        customer_features(frame)
    chosen = customer_features(frame, currency="gbp")
    assert chosen.currency == "GBP" and entry(chosen, "other currency") == 2
    assert chosen.net_revenue == 4.0
    with pytest.raises(InputError, match="not in the log"):
        customer_features(frame, currency="JPY")


def test_ids_that_are_not_whole_numbers_stay_text() -> None:
    frame = good_log().assign(customer_id=["007", "007", "12", "12"])
    assert list(customer_features(frame).features.index) == ["007", "12"]


# --------------------------------------------------------------------------- less common shapes


def test_an_order_id_shared_by_two_customers_counts_for_each() -> None:
    frame = log(
        customer_id=[1, 1, 2, 2, 2],
        order_id=["A1", "A1", "A1", "A2", "C9"],
        order_date=["2011-01-01", "2011-01-01", "2011-01-02", "2011-01-03", "2011-01-04"],
        amount=[1.0, 2.0, 3.0, 4.0, 1.5],
    )
    features = customer_features(frame).features
    assert list(features["orders"]) == [1, 2]  # C9 is a cancellation, not an order
    assert list(features["net_spend"]) == [3.0, 5.5]
    assert list(features["return_orders"]) == [0, 1]


def test_lines_without_an_order_id_are_that_days_order() -> None:
    frame = log(
        customer_id=[1, 1, 1, 2, 2],
        order_id=["A1", None, None, "A2", "A3"],
        order_date=["2011-01-01", "2011-01-02", "2011-01-02", "2011-01-03", "2011-01-04"],
        amount=[1.0, 2.0, 3.0, 4.0, 5.0],
    )
    assert list(customer_features(frame).features["orders"]) == [2, 2]


def test_many_customers_over_many_days_without_an_order_column() -> None:
    # 3,000 customers x 2,400 days is too large a grid to address directly: pairs are hashed.
    rng = np.random.default_rng(5)
    n = 6_000
    frame = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 3_000, n),
            "order_date": pd.Timestamp("2005-01-01")
            + pd.to_timedelta(rng.integers(0, 2_400, n), "D"),
            "amount": rng.integers(1, 100, n).astype(float),
        }
    )
    features = customer_features(frame).features
    days = frame.groupby("customer_id")["order_date"].nunique()
    assert (features["orders"] == days).all()
    assert (features["repeat_days_frequency"] == days - 1).all()
    shuffled = customer_features(frame.sample(frac=1.0, random_state=1)).features
    pd.testing.assert_frame_equal(shuffled, features, check_exact=True)


def test_integer_ids_far_apart_are_sorted_as_numbers() -> None:
    frame = good_log().assign(customer_id=[10**15, 10**15, 3, 3])
    features = customer_features(frame).features
    assert list(features.index) == [3, 10**15] and features.index.dtype == np.int64


def test_a_few_unreadable_amounts_are_set_aside_and_counted() -> None:
    n = 200
    frame = log(
        customer_id=[i % 20 for i in range(n)] + [99],
        order_date=["2011-03-01"] * (n + 1),
        amount=["12.50"] * (n - 1) + ["n/a", "7"],
    )
    summary = customer_features(frame)
    assert entry(summary, "amount missing or not a number") == 1
    assert summary.net_revenue == pytest.approx(12.5 * (n - 1) + 7)
    # Customer 19's only "n/a" line is dropped, but 19 has other lines: nobody is lost.
    assert [e.customers for e in summary.set_aside if e.reason.endswith("no usable line")] == [0]
    lost = customer_features(frame.assign(amount=["12.50"] * n + ["n/a"]))
    assert [e.customers for e in lost.set_aside if e.reason.endswith("no usable line")] == [1]
    assert 99 not in lost.features.index
    with pytest.raises(InputError, match=r"column amount: .*'n/a'"):
        customer_features(frame.assign(amount=["12.50"] * (n - 9) + ["n/a"] * 10))
