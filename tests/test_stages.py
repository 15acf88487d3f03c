"""Stages 2-6 on tiny frames: prepare, choose k, cluster, profile, name."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from reportgen.analysis.choose_k import choose_k
from reportgen.analysis.cluster import cluster
from reportgen.analysis.naming import name_segments
from reportgen.analysis.prepare import prepare
from reportgen.analysis.profile import profile
from reportgen.errors import InputError
from reportgen.io.dictionary import dictionary_from_mapping, resolve_dictionary


def blobs(n_per=(40, 30, 20), seed=0):
    rng = np.random.default_rng(seed)
    centers = [(0, 0), (10, 0), (0, 10)]
    rows = []
    for (cx, cy), n in zip(centers, n_per, strict=True):
        pts = rng.normal((cx, cy), 0.8, size=(n, 2))
        rows.append(pts)
    x = np.vstack(rows)
    return pd.DataFrame({"spend": x[:, 0] * 100 + 2000, "visits": x[:, 1] + 20})


def test_prepare_counts_every_drop_with_a_reason():
    df = pd.DataFrame(
        {
            "score": ["1", "", "3", "x", "5", "9", "2", "4"],
            "amount": ["10", "20", None, "40", "inf", "60", "70", "80"],
        }
    )
    spec = {
        "columns": {
            "score": {"type": "ordinal", "scale": {"min": 1, "max": 7}, "missing": "drop"},
            "amount": {"missing": "drop"},
        }
    }
    d = resolve_dictionary(df, dictionary_from_mapping(spec))
    p = prepare(df, d)
    reasons = {r.reason: r.rows for r in p.drops}
    assert reasons == {
        "no value for 'score'": 1,
        "no value for 'amount'": 1,
        "'score' is not a number": 1,
        "'amount' is infinite": 1,
        "'score' outside its 1–7 scale": 1,
    }
    assert p.n_read == 8 and p.n_kept == 3 and p.n_dropped == 5
    assert list(p.row_numbers) == [1, 7, 8]
    assert np.allclose(p.scaled.mean(axis=0), 0)
    assert np.allclose(p.scaled.std(axis=0), 1)
    assert p.values[:, 1].tolist() == [10.0, 70.0, 80.0]  # real units kept for profiles


def test_prepare_drops_constant_feature_and_notes_it():
    df = pd.DataFrame(
        {"a": ["1", "2", "3", "4"], "b": ["5", "5", "5", "5"], "c": ["1", "3", "2", "9"]}
    )
    d = resolve_dictionary(df, columns=("a", "b", "c"))
    p = prepare(df, d)
    assert p.features == ("a", "c")
    assert any("same value" in n for n in p.notes)


def test_prepare_tells_a_blank_segmentation_column_from_a_constant_one():
    df = pd.DataFrame({"a": ["1", "2", "3", "4"], "notes": ["", "", None, ""]})
    d = resolve_dictionary(df, columns=("a", "notes"))
    p = prepare(df, d)
    assert p.features == ("a",)
    assert "Left out because every kept row is blank: notes." in p.notes
    assert not any("same value" in n for n in p.notes)
    with pytest.raises(InputError, match=r"every segmentation column is blank \(notes\)"):
        prepare(df, resolve_dictionary(df, columns=("notes",)))


def test_prepare_no_numeric_column():
    df = pd.DataFrame({"name": ["x", "y", "z"], "city": ["a", "b", "c"]})
    with pytest.raises(InputError, match="no usable numeric column"):
        prepare(df, resolve_dictionary(df))


def test_choose_k_finds_three_blobs_and_reports_user_choice():
    df = blobs()
    d = resolve_dictionary(df)
    p = prepare(df, d)
    kc = choose_k(p.scaled, k=None, k_max=8, seed=1)
    assert kc.k == 3 and kc.method == "vote"
    assert kc.votes["elbow"] == 3 and kc.votes["silhouette"] == 3
    assert [e.k for e in kc.evidence] == list(range(1, 9))
    assert "k = 3" in kc.reason
    user = choose_k(p.scaled, k=4, k_max=8, seed=1)
    assert user.k == 4 and user.method == "user" and "evidence pointed to k = 3" in user.reason


def test_choose_k_refuses_more_segments_than_profiles():
    x = np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    with pytest.raises(InputError, match="distinct"):
        choose_k(x, k=3, k_max=5, seed=0)


def test_cluster_ids_by_size_deterministic_and_in_units():
    df = blobs()
    p = prepare(df, resolve_dictionary(df))
    a = cluster(p.scaled, k=3, seed=7)
    b = cluster(p.scaled, k=3, seed=7)
    assert a.sizes == (40, 30, 20)
    assert np.array_equal(a.labels, b.labels)
    # Segment 1 is the blob centred at spend 2000, visits 20, in the data's own units.
    first = profile(p, a, resolve_dictionary(df)).segments[0]
    assert abs(first.features[0].segment_mean - 2000) < 50
    assert abs(first.features[1].segment_mean - 20) < 1
    assert np.all(a.distances >= 0)


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


def test_silhouette_from_distances_equals_scikit_learns():
    from sklearn.metrics import pairwise_distances, silhouette_score

    from reportgen.analysis.cluster import silhouette

    rng = np.random.default_rng(2)
    x = rng.normal(size=(400, 5))
    x[:4] = x[0]  # repeated rows
    for labels in (rng.integers(0, 2, 400), rng.integers(0, 9, 400), np.r_[np.zeros(399), 1]):
        assert silhouette(pairwise_distances(x), labels) == pytest.approx(
            silhouette_score(x, labels), abs=1e-12
        )


def test_heatmap_runs_features_down_and_labels_stay_whole_or_say_so():
    """The heatmap follows the profile table (features down, segments across), so a dozen
    features stays readable; a label too long to wrap ends in '…' instead of losing words."""
    import io

    from PIL import Image

    from reportgen.report.charts import profile_heatmap, wrap_label

    rng = np.random.default_rng(0)
    z = rng.normal(size=(2, 12))
    ann = [[f"{v:,.0f}" for v in row * 10_000] for row in z]
    labels = [f"Spend on product line {i}" for i in range(12)]
    names = ["Big spenders", "Bargain hunters"]

    def height(p: int) -> int:
        png = profile_heatmap(z[:, :p], [r[:p] for r in ann], names, labels[:p], (1, 2))
        return Image.open(io.BytesIO(png)).size[1]

    assert height(12) > 1.7 * height(3)  # each feature gets its own row, however many there are
    assert wrap_label("one two three", 20) == "one two three"
    assert wrap_label("alpha beta gamma delta", 6, max_lines=2) == "alpha\nbeta …"


def test_screening_keeps_a_column_that_alone_sets_a_group_apart():
    """Groups found on the other columns say nothing about 'tier' (they are noise), yet 'tier'
    splits the customers in two on its own: it is structure, not noise. The noise columns go."""
    from reportgen.analysis.screen import screen_features

    rng = np.random.default_rng(8)
    n = 600
    group = rng.random(n) < 0.3
    df = pd.DataFrame(
        {
            "tier": np.where(group, 60.0, 20.0) + rng.normal(0, 3, n),
            "a": rng.normal(50, 10, n),
            "b": rng.normal(5, 1, n),
            "c": rng.normal(0, 2, n),
        }
    )
    d = resolve_dictionary(df, dictionary_from_mapping({"columns": {c: {} for c in df}}))
    s = screen_features(prepare(df, d), seed=42)
    assert "tier" not in s.noise
    assert s.r2["tier"] < 0.02 and s.r2_all["tier"] >= 0.5  # kept by the all-features route
    assert s.noise == ("a", "b", "c")  # 'tier' carries the groups on its own
    assert set(s.one_curve) == {"a", "b", "c"}  # each fits one normal curve; 'tier' two


@pytest.mark.parametrize("n_noise", [2, 3, 4])
def test_screening_with_few_features_removes_every_noise_column(n_noise):
    """One real feature and a few normal noise columns: over-split k-means cuts the noise
    columns as readily as the real one (R² with them up to 0.6), but their values are one
    normal curve and unrelated to the rest, so they go and the two real groups are found."""
    from reportgen.analysis.screen import screen_features

    rng = np.random.default_rng(7 + n_noise)
    g = rng.integers(0, 2, 600)
    df = pd.DataFrame({"a": rng.normal(3 * g, 1)})
    for j in range(n_noise):
        df[f"noise{j}"] = rng.normal(size=600)
    d = resolve_dictionary(df, dictionary_from_mapping({"columns": {c: {} for c in df}}))
    s = screen_features(prepare(df, d), seed=42)
    assert s.noise == tuple(f"noise{j}" for j in range(n_noise))


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


def test_a_final_segment_under_the_minimum_share_is_said_not_hidden():
    from types import SimpleNamespace

    from reportgen.report.context import _final_below_min

    seg = SimpleNamespace(k=3, sizes=(600, 368, 32), labels=np.zeros(1000))
    voted = SimpleNamespace(method="vote", min_share=0.05)
    note = _final_below_min(voted, seg, "customers")
    assert note.startswith("On all 1,000 customers the smallest segment holds 3.2 %, below the 5 %")
    assert (
        _final_below_min(SimpleNamespace(method="user", min_share=0.05), seg, "customers") is None
    )
    assert (
        _final_below_min(voted, SimpleNamespace(k=2, sizes=(900, 100), labels=seg.labels), "x")
        is None
    )


def test_the_stability_line_names_each_shaky_segment_once_without_nested_brackets():
    from types import SimpleNamespace as NS

    from reportgen.report.context import _stability_line

    ev = NS(
        resamples=20,
        stability=(
            NS(segment_id=1, verdict="doubtful", jaccard=0.73),
            NS(segment_id=2, verdict="stable", jaccard=0.9),
        ),
    )
    stories = (NS(segment_id=1, name="High spend (avg 1,121)"), NS(segment_id=2, name="Low spend"))
    line = _stability_line(ev, stories)
    assert line == (
        "Stability: High spend (avg 1,121) is doubtful (Jaccard 0.73) — check before acting on it."
    )


def test_a_feature_that_repeats_another_counts_once():
    """'spend_usd' next to 'spend_eur' would count spend twice in the distances k-means uses:
    the repeat is left out (and said why), even with only two features."""
    from reportgen.analysis.screen import screen_features

    rng = np.random.default_rng(3)
    eur = rng.gamma(2, 50, 500).round(2)
    df = pd.DataFrame(
        {"spend_eur": eur, "spend_usd": (eur * 1.08).round(2), "visits": rng.poisson(5, 500)}
    )
    d = resolve_dictionary(df, dictionary_from_mapping({"columns": {c: {} for c in df}}))
    s = screen_features(prepare(df, d), seed=42)
    assert list(s.copies) == ["spend_usd"] and s.copies["spend_usd"][0] == "spend_eur"
    assert s.removed[0] == "spend_usd" and "repeats 'spend_eur'" in s.reason("spend_usd")
    assert "visits" not in s.removed
    two = df[["spend_eur", "spend_usd"]]
    d2 = resolve_dictionary(two, dictionary_from_mapping({"columns": {c: {} for c in two}}))
    assert list(screen_features(prepare(two, d2), seed=42).copies) == ["spend_usd"]
    # Related but not the same (r 0.9) is two features.
    df["spend_usd"] = eur + rng.normal(0, eur.std() / 2, 500)
    d = resolve_dictionary(df, dictionary_from_mapping({"columns": {c: {} for c in df}}))
    assert screen_features(prepare(df, d), seed=42).copies == {}


def test_small_fits_on_threads_give_the_serial_results_and_restore_the_thread_pools():
    from threadpoolctl import threadpool_info

    from reportgen.analysis.cluster import fit_kmeans
    from reportgen.engine.parallel import map_small_fits

    before = [(p["internal_api"], p["num_threads"]) for p in threadpool_info()]
    x = np.random.default_rng(0).normal(size=(2000, 4))
    fits = map_small_fits(lambda k: fit_kmeans(x, k, 42, n_init=2).inertia_, range(2, 9))
    serial = [fit_kmeans(x, k, 42, n_init=2).inertia_ for k in range(2, 9)]
    assert fits == serial
    assert [(p["internal_api"], p["num_threads"]) for p in threadpool_info()] == before
