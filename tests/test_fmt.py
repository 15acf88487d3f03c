"""Formatting (reportgen.fmt): values read in their column's terms."""

from __future__ import annotations


def test_values_read_in_the_columns_terms():
    from reportgen import fmt
    from reportgen.io.dictionary import ColumnSpec

    born = ColumnSpec("Year_Birth", "segment", "numeric", "Year birth")
    assert fmt.value(born, 1967.4) == "1967"  # a year, not "1,967"
    for name, label in [
        ("birth_year", "Birth year"),
        ("YearJoined", "Year joined"),
        ("yob", "Yob"),
        ("year", "Year"),
        ("first_purchase_year", "First purchase year"),
        ("cohort_year", "Cohort year"),
        ("DOB_year", "DOB year"),
        ("Customer_Year", "Customer year"),
        ("Year_Dt_Customer", "Year dt customer"),
        ("year_of_last_order", "Year of last order"),
    ]:
        assert fmt.value(ColumnSpec(name, "segment", "numeric", label), 2014.0) == "2014"
    # A rate per year is an amount, not a calendar year.
    for name, label in [
        ("Spend_per_year", "Spend per year"),
        ("Visits_per_yr", "Visits per yr"),
        ("orders", "Orders / year"),
        ("SpendPerYear", "Spend a year"),
        ("Spend_last_year", "Spend last year"),
        ("income_year", "Income year"),
        ("spend_yr", "Spend yr"),
        ("spend_1yr", "Spend 1yr"),
        # A thing counted or paid, per year: amounts, even without a rate word.
        ("donations_year", "Donations year"),
        ("Points_year", "Points year"),
        ("kWh_year", "KWh year"),
        ("Bookings_year", "Bookings year"),
        ("n_year", "N year"),
    ]:
        assert fmt.value(ColumnSpec(name, "segment", "numeric", label), 1234.6) == "1,235"
    income = ColumnSpec("Income", "segment", "numeric", "Income")
    assert fmt.value(income, 52247.0) == "52,247"
    spend = ColumnSpec("spend", "segment", "numeric", "Spend", unit="EUR")
    assert fmt.value(spend, 1234.5) == "1,234 EUR"
