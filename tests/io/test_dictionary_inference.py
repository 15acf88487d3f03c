"""Inferring a column's type when the dictionary does not say (reportgen.io.dictionary): many-valued
numbers, ratings, flags and ids."""

from __future__ import annotations

import numpy as np
import pandas as pd

from reportgen.io import dictionary
from reportgen.io.dictionary import resolve_dictionary


def test_numeric_columns_with_many_values_are_numbers_and_the_rest_still_fully_checked():
    rng = np.random.default_rng(2)
    n = 30_000
    plain = pd.Series(rng.normal(50, 10, n).round(2))
    assert dictionary._many_values(plain)
    assert dictionary.infer_column("spend", plain, n).type == "numeric"
    # Few values in the first 10,000 rows: the full checks decide, as before.
    late = pd.Series(np.r_[np.ones(10_000), rng.normal(size=n - 10_000)])
    assert not dictionary._many_values(late)
    assert dictionary.infer_column("late", late, n).type == "numeric"
    rating = pd.Series(rng.integers(1, 8, n))
    assert dictionary.infer_column("rating", rating, n).type == "ordinal"
    flag = pd.Series(rng.integers(0, 2, n).astype(float))
    assert dictionary.infer_column("flag", flag, n).type == "binary"
    ids = pd.Series(np.arange(n))
    assert dictionary.infer_column("customer_id", ids, n).role == "id"


def test_inferred_rating_range_is_not_a_scale_or_a_drop_rule():
    frame = pd.DataFrame({"price": ["2", "3", "4", "5", "6"] * 10, "agent": ["3", "4"] * 25})
    d = resolve_dictionary(frame)
    assert d.column("price").type == "ordinal" and not d.column("price").is_scale
