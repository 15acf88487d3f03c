"""Naming (reportgen.analysis.naming): names without a dictionary, from the dictionary's words,
made unique, told apart by their average, and from a category most of a segment has."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from reportgen.analysis.cluster import cluster
from reportgen.analysis.naming import MAX_NAME, name_label, name_segments
from reportgen.analysis.prepare import prepare
from reportgen.analysis.profile import profile
from reportgen.io.dictionary import dictionary_from_mapping, resolve_dictionary
from tests.conftest import blobs


def test_profile_and_names_without_dictionary():
    df = blobs()
    d = resolve_dictionary(df)
    p = prepare(df, d)
    seg = cluster(p.scaled, k=3, seed=0)
    prof = profile(p, seg, d)
    assert sum(s.size for s in prof.segments) == p.n_kept
    stories = name_segments(prof, d)
    names = [s.name for s in stories]
    assert len(set(names)) == 3
    assert all("cluster" not in n.lower() for n in names)
    assert names[1].startswith("High spend")  # blob at spend 3000
    assert names[2].startswith("High visits")
    assert all(2 <= len(s.sentences) <= 4 for s in stories)
    assert "%" in stories[0].sentences[0]


def test_names_come_from_dictionary_words():
    df = blobs((30, 30, 1))[:60]
    spec = {
        "units": "shoppers",
        "columns": {
            "spend": {
                "high": {"name": "Big spenders", "words": "spend a lot", "angle": "Upsell."},
                "low": {"name": "Thrifty", "words": "spend little"},
            },
            "visits": {"high": {"name": "Regulars"}},
        },
    }
    d = resolve_dictionary(df, dictionary_from_mapping(spec))
    p = prepare(df, d)
    seg = cluster(p.scaled, k=2, seed=0)
    stories = name_segments(profile(p, seg, d), d)
    assert {s.name for s in stories} == {"Big spenders", "Thrifty"}
    big = next(s for s in stories if s.name == "Big spenders")
    assert big.angle == "Upsell." and big.angle_from_dictionary
    assert "They spend a lot" in " ".join(big.sentences)
    assert "shoppers" in big.sentences[0]


def test_duplicate_names_are_made_unique():
    rng = np.random.default_rng(3)
    # Two groups both high on spend (vs a low group), different on visits.
    a = rng.normal((10, 0), 0.3, (30, 2))
    b = rng.normal((10, 6), 0.3, (30, 2))
    c = rng.normal((0, 3), 0.3, (60, 2))
    x = np.vstack([a, b, c])
    df = pd.DataFrame({"spend": x[:, 0], "visits": x[:, 1]})
    spec = {"columns": {"spend": {"high": {"name": "Big spenders"}}, "visits": {}}}
    d = resolve_dictionary(df, dictionary_from_mapping(spec))
    p = prepare(df, d)
    seg = cluster(p.scaled, k=3, seed=0)
    names = [s.name for s in name_segments(profile(p, seg, d), d)]
    assert len(set(names)) == 3


def test_segments_on_one_feature_are_told_apart_by_their_average():
    """Six groups on one amount: 'Low spend (avg 3.5)', not 'Low spend (4)'."""
    rng = np.random.default_rng(5)
    centers = [3, 13, 32, 63, 123, 231]
    spend = np.concatenate([rng.normal(c, c * 0.05, 50) for c in centers])
    df = pd.DataFrame({"spend": spend})
    d = resolve_dictionary(df, dictionary_from_mapping({"columns": {"spend": {}}}))
    p = prepare(df, d)
    seg = cluster(p.scaled, k=6, seed=0)
    names = [s.name for s in name_segments(profile(p, seg, d), d)]
    assert len(set(names)) == 6
    shared = [n for n in names if n.startswith(("Low spend", "High spend"))]
    assert len(shared) >= 4, names
    assert all(re.fullmatch(r"(Low|High) spend \(avg [\d.,]+\)", n) for n in shared), names


def test_a_category_names_a_segment_only_when_most_of_it_has_that_category():
    from reportgen.analysis.naming import _category_trait
    from reportgen.analysis.profile import (
        BLANK,
        OTHER,
        CategoryShare,
        DescribeField,
        SegmentProfile,
    )

    def trait(*shares):
        field = DescribeField("channel", "Channel", "categorical", tuple(shares))
        return _category_trait(SegmentProfile(1, 100, 0.2, (), (), (field,)), field)

    # 7 % against 2 %: over-represented, but 93 % of the segment is something else.
    assert trait(CategoryShare("Web", 0.07, 0.02), CategoryShare("Shop", 0.93, 0.98)) is None
    web = trait(CategoryShare("Web", 0.8, 0.3), CategoryShare("Shop", 0.2, 0.7))
    assert (web.category, web.phrase) == ("Web", "channel: Web")
    # A segment of the customers whose channel is blank is named for that, not 'Close to average'.
    blank = trait(CategoryShare(BLANK, 1.0, 0.2), CategoryShare("Shop", 0.0, 0.8))
    assert blank.phrase == "no channel given" and blank.effect > 1
    # The bucket of rare categories is no description.
    assert trait(CategoryShare(OTHER, 0.9, 0.2), CategoryShare("Shop", 0.1, 0.8)) is None


def test_a_name_uses_the_label_without_its_unit_or_filler():
    assert name_label("Average basket value (EUR)") == "basket value"
    assert name_label("Number of web visits per month") == "web visits"
    assert name_label("Customer service calls last year") == "Customer service calls"
    assert name_label("Spending score (1–100)") == "Spending score"
    assert name_label("Total charges") == "Total charges"  # one word would be left: kept whole
    assert name_label("Days since last order") == "Days since last order"


def test_ten_segments_on_long_column_names_get_short_unique_names():
    rng = np.random.default_rng(3)
    cols = [
        "monthly_subscription_spend_eur",
        "customer_service_calls_last_year",
        "average_basket_value_eur",
        "online_sessions_per_month_count",
        "loyalty_programme_points_balance",
        "years_since_first_purchase",
    ]
    truth = rng.integers(0, 10, 2000)
    x = rng.uniform(-6, 6, size=(10, 6))[truth] + rng.normal(size=(2000, 6))
    df = pd.DataFrame({c: (x[:, i] * 10 + 100).round(1) for i, c in enumerate(cols)})
    d = resolve_dictionary(df, None)
    p = prepare(df, d)
    names = [s.name for s in name_segments(profile(p, cluster(p.scaled, k=10, seed=0), d), d)]
    assert len(set(names)) == 10
    assert all(len(n) <= MAX_NAME for n in names), names  # an "(avg …)" suffix included
    assert not any("_" in n or " eur" in n.lower() for n in names), names


def test_a_value_suffix_keeps_the_name_short_and_says_whose_average():
    """Two segments named alike on two traits are told apart by the lead trait's average, and
    the name keeps only that trait: 'High total charges (avg 6,446)', never 44 characters of
    'High total charges · high tenure (avg 6,446)' where the average could be either's."""
    from reportgen.analysis.naming import _suffixed

    assert _suffixed("High total charges · high tenure", "avg 6,446") == (
        "High total charges (avg 6,446)"
    )
    assert _suffixed("High tenure", "2") == "High tenure (2)"
    long = _suffixed("High customer service calls last year · high x", "avg 12,345.6")
    assert len(long) <= MAX_NAME and long.endswith("… (avg 12,345.6)"), long
