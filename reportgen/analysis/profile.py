"""Stage 5 — profile: each segment described in the data's own units, against the average customer.

Pure: takes prepared data, the segmentation and the dictionary; returns `Profiles`. Segment means
are the members' actual means (not the k-means centres), compared with the mean of all kept rows.
Descriptive columns (not used for clustering) are profiled as category shares or means.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from reportgen.analysis import order_stats
from reportgen.analysis.cluster import Segmentation
from reportgen.analysis.engine import (
    DEFAULT_ENGINE,
    Engine,
    Moments,
    SegmentAggregates,
    segment_positions,
)
from reportgen.analysis.prepare import PreparedData
from reportgen.engine.parallel import map_threads
from reportgen.io.dictionary import DataDictionary, numeric_values

Vector = NDArray[np.float64]
Index = NDArray[np.intp]
Mask = NDArray[np.bool_]
Kruskal = tuple[float, float]  # (H, p)
ReferenceBins = tuple[list[float], list[float]]  # decile edges, share of rows per bin

MAX_SHOWN_CATEGORIES = 6
BLANK = "(blank)"
OTHER = "Other"


@dataclass(frozen=True)
class FeatureStat:
    column: str
    label: str
    segment_mean: float
    overall_mean: float
    overall_sd: float
    z: float  # difference from the overall mean in overall standard deviations
    rest_mean: float = float("nan")  # mean of the other customers
    d: float = 0.0  # effect size vs the other customers (Cohen's d, pooled SD)

    @property
    def diff(self) -> float:
        return self.segment_mean - self.overall_mean

    @property
    def diff_vs_rest(self) -> float:
        return self.segment_mean - self.rest_mean


@dataclass(frozen=True)
class CategoryShare:
    value: str
    segment_share: float
    overall_share: float

    @property
    def lift(self) -> float:
        return self.segment_share / self.overall_share if self.overall_share else float("nan")


@dataclass(frozen=True)
class DescribeField:
    column: str
    label: str
    kind: str  # "categorical" or "numeric"
    shares: tuple[CategoryShare, ...] = ()
    segment_mean: float | None = None
    overall_mean: float | None = None


@dataclass(frozen=True)
class SegmentProfile:
    segment_id: int
    size: int
    share: float
    features: tuple[FeatureStat, ...]  # numeric segmentation features, in feature order
    describe: tuple[DescribeField, ...]
    categories: tuple[DescribeField, ...] = ()  # categorical segmentation features

    def ranked(self) -> tuple[FeatureStat, ...]:
        """Features from the most to the least distinguishing (largest effect size first)."""
        return tuple(sorted(self.features, key=lambda f: (-abs(f.d), f.column)))


@dataclass(frozen=True)
class FeatureTest:
    """Does a column differ across segments? Kruskal–Wallis for numbers, chi-squared for
    categories. `separates` is False when the test is not significant at 5 % or the largest
    effect is negligible (|d| < 0.2, Cramér's V < 0.1)."""

    column: str
    label: str
    role: str  # "segment" or "describe"
    test: str
    statistic: float
    p_value: float
    effect: float  # max |d| over segments, or Cramér's V
    separates: bool


@dataclass(frozen=True)
class Profiles:
    segments: tuple[SegmentProfile, ...]
    features: tuple[str, ...]
    labels: tuple[str, ...]
    overall_mean: tuple[float, ...]
    overall_sd: tuple[float, ...]
    n: int
    tests: tuple[FeatureTest, ...] = ()
    # Per numeric feature (in `features` order): decile edges and shares, for drift later
    # (model.json), from the same sort as the feature's rank test.
    reference: tuple[ReferenceBins, ...] = ()

    def table(self) -> pd.DataFrame:
        """Segments x features (means in real units) plus size and share, then the share of
        each category of a categorical segmentation feature ('region = East'); last row = all."""
        rows = []
        for seg in self.segments:
            row: dict[str, object] = {
                "segment_id": seg.segment_id,
                "size": seg.size,
                "share": seg.share,
            }
            row.update({f.column: f.segment_mean for f in seg.features})
            row.update(
                {
                    f"{c.column} = {s.value}": s.segment_share
                    for c in seg.categories
                    for s in c.shares
                }
            )
            rows.append(row)
        overall: dict[str, object] = {"segment_id": "all", "size": self.n, "share": 1.0}
        overall.update(dict(zip(self.features, self.overall_mean, strict=True)))
        if self.segments:
            overall.update(
                {
                    f"{c.column} = {s.value}": s.overall_share
                    for c in self.segments[0].categories
                    for s in c.shares
                }
            )
        rows.append(overall)
        return pd.DataFrame(rows).fillna({c: 0.0 for c in self._category_columns()})

    def _category_columns(self) -> list[str]:
        return [
            f"{c.column} = {s.value}"
            for seg in self.segments
            for c in seg.categories
            for s in c.shares
        ]


def profile(
    prepared: PreparedData,
    seg: Segmentation,
    dictionary: DataDictionary,
    *,
    engine: Engine = DEFAULT_ENGINE,
) -> Profiles:
    """Means, SDs and effect sizes from `engine.segment_aggregates` (the numeric features, and
    each numeric descriptive column); rank tests and category shares from the rows here."""
    feats_num = prepared.numeric_features
    labels = tuple(dictionary.column(f).label for f in feats_num)
    describe_cols = [c for c in dictionary.describe_columns if c in prepared.kept.columns]
    n = len(prepared.scaled)
    index, k = _segment_index(seg)
    aggregates, ranks, reference = _numeric_statistics(prepared, seg, index, engine)
    overall_mean, overall_sd = aggregates.overall_mean, aggregates.overall_sd
    moments = [aggregates.moments(i) for i in range(len(feats_num))]
    known = {
        f: (kw, m) for f, kw, m in zip(feats_num, ranks, moments, strict=True) if kw is not None
    }
    segments = tuple(
        SegmentProfile(
            sid,
            int(size),
            size / n,
            _feature_stats(moments, pos, prepared, labels, overall_mean, overall_sd),
            *_described(prepared, seg, dictionary, describe_cols, sid),
        )
        for pos, (sid, size) in enumerate(zip(seg.segment_ids, seg.sizes, strict=True))
    )
    tests = tuple(
        _test(
            prepared,
            seg,
            dictionary,
            c,
            role,
            known.get(c) if role == "segment" else None,
            index,
            engine,
        )
        for c, role in [(f, "segment") for f in prepared.features]
        + [(c, "describe") for c in describe_cols]
    )
    return Profiles(
        segments=segments,
        features=feats_num,
        labels=labels,
        overall_mean=tuple(float(x) for x in overall_mean),
        overall_sd=tuple(float(x) for x in overall_sd),
        n=n,
        tests=tuple(t for t in tests if t is not None),
        reference=reference,
    )


def _numeric_statistics(
    prepared: PreparedData, seg: Segmentation, index: Index, engine: Engine
) -> tuple[SegmentAggregates, list[Kruskal | None], tuple[ReferenceBins, ...]]:
    """The numeric features' per-segment aggregates (`engine.segment_aggregates`), each one's
    Kruskal–Wallis test where there is one, and each one's reference bins (for drift), the
    test and the bins from one sort of the column. The columns are independent and numpy
    releases the GIL while it sorts and searches: on large data they run on threads, beside
    the aggregates' bincounts (which hold it). Same numbers in any order."""
    values = prepared.values
    k = len(seg.segment_ids)
    sizes = np.bincount(index, minlength=k)
    testable = np.count_nonzero(sizes) >= 2
    # The rows grouped by segment, once for every column: each column is gathered in this order
    # and cut into its segments' values.
    by_segment = np.argsort(index, kind="stable") if len(index) > KW_EXACT_MAX else None

    def job(i: int) -> SegmentAggregates | tuple[Kruskal | None, ReferenceBins]:
        if i < 0:
            return engine.segment_aggregates(values, seg.labels, seg.segment_ids)
        x = values[:, i]
        s = np.sort(x)
        test = None
        if testable and s[-1] > s[0]:
            test = _kruskal(x, index, k, s, (by_segment, sizes))
        return test, reference_bins(s)

    width = len(prepared.numeric_features)
    rows = len(prepared.scaled)
    aggregates, *per = map_threads(job, range(-1, width), rows=rows, scratch=24 * rows)
    assert isinstance(aggregates, SegmentAggregates)
    columns = [p for p in per if isinstance(p, tuple)]
    return aggregates, [t for t, _ in columns], tuple(b for _, b in columns)


def reference_bins(s: Vector) -> ReferenceBins:
    """Decile edges of one feature (its sorted values `s`) and the share of rows in each bin,
    for PSI drift later: `np.unique(np.quantile(x, REFERENCE_LEVELS))` and the shares of
    `np.searchsorted(edges, x)`, from the sorted column (see order_stats)."""
    edges = np.unique(order_stats.quantiles(s, REFERENCE_LEVELS))
    counts = order_stats.bin_counts(s, edges)
    return [float(e) for e in edges], [float(c) / len(s) for c in counts]


def _feature_stats(
    moments: list[Moments],
    pos: int,
    prepared: PreparedData,
    labels: tuple[str, ...],
    overall_mean: Vector,
    overall_sd: Vector,
) -> tuple[FeatureStat, ...]:
    """The segment at position `pos` on each numeric feature, against all and the others."""
    feats = []
    for i, f in enumerate(prepared.numeric_features):
        m, r, d = vs_rest(moments[i], pos)
        z = float((m - overall_mean[i]) / overall_sd[i]) if overall_sd[i] else 0.0
        if d == 0.0 and z != 0.0:  # too few rows on one side for an effect size
            d = z
        feats.append(
            FeatureStat(
                column=f,
                label=labels[i],
                segment_mean=m,
                overall_mean=float(overall_mean[i]),
                overall_sd=float(overall_sd[i]),
                z=z,
                rest_mean=r,
                d=d,
            )
        )
    return tuple(feats)


def _described(
    prepared: PreparedData,
    seg: Segmentation,
    dictionary: DataDictionary,
    describe_cols: list[str],
    sid: int,
) -> tuple[tuple[DescribeField, ...], tuple[DescribeField, ...]]:
    """The segment's descriptive fields and its categorical segmentation features."""
    if not describe_cols and not prepared.categorical_features:
        return (), ()
    member = seg.labels == sid
    describe = tuple(
        _describe(prepared.kept[c], member, dictionary.column(c).label, dictionary.column(c).type)
        for c in describe_cols
    )
    categories = tuple(
        _describe(prepared.kept[c], member, dictionary.column(c).label, "categorical")
        for c in prepared.categorical_features
    )
    return describe, categories


def _cohen_d(a: Vector, b: Vector) -> float:
    if len(a) < 2 or len(b) < 2:
        return 0.0
    pooled = np.sqrt(
        ((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2)
    )
    return float((a.mean() - b.mean()) / pooled) if pooled > 0 else 0.0


def _segment_index(seg: Segmentation) -> tuple[Index, int]:
    """Each row's position in seg.segment_ids (0..k-1), for np.bincount."""
    return segment_positions(seg.labels, seg.segment_ids), len(seg.segment_ids)


def vs_rest(moments: Moments, pos: int) -> tuple[float, float, float]:
    """(group mean, mean of all other rows, Cohen's d vs those rows with the pooled SD), the same
    statistics as `_cohen_d` on the two groups, combined from the per-group moments."""
    counts, means, ss = moments
    a = counts[pos]
    b = counts.sum() - a
    m = float(means[pos]) if a else float("nan")
    if b == 0:
        return m, float("nan"), 0.0
    others = np.arange(len(counts)) != pos
    others &= counts > 0
    rest = float((counts[others] * means[others]).sum() / b)
    rest_ss = float((ss[others] + counts[others] * (means[others] - rest) ** 2).sum())
    if a < 2 or b < 2:
        return m, rest, 0.0
    pooled = np.sqrt((ss[pos] + rest_ss) / (a + b - 2))
    # A spread at rounding level (constant groups) counts as none, as numpy's exact 0 would.
    if not pooled > 1e-12 * max(abs(m), abs(rest)):
        return m, rest, 0.0
    return m, rest, float((m - rest) / pooled)


KW_EXACT_MAX = 200_000
# Decile edges of each numeric feature for drift (PSI), saved in model.json.
REFERENCE_LEVELS = tuple(i / 10 for i in range(1, 10))


def _kruskal(
    x: Vector,
    index: Index,
    k: int,
    s: Vector | None = None,
    grouping: tuple[Index | None, NDArray[np.int64]] | None = None,
) -> Kruskal:
    """Kruskal–Wallis H and p over the groups in `index` (empty groups left out, as before).

    Up to KW_EXACT_MAX rows: scipy.stats.kruskal itself. Above: the same statistic from the
    sorted column `s` (computed here when not given) and each group's values sorted, ranked by
    binary search (`order_stats.rank_sums`: average ranks for ties, tie correction) instead of
    scipy concatenating and re-ranking per-group copies; equal up to rounding. `grouping`: the
    rows ordered by group (a stable argsort of `index`) and the group sizes, when the caller
    has them for several columns."""
    from scipy import stats

    if len(x) <= KW_EXACT_MAX:
        samples = [x[index == g] for g in range(k)]
        stat, p = stats.kruskal(*[s for s in samples if len(s)])
        return float(stat), float(p)
    n = len(x)
    s = np.sort(x) if s is None else s
    order, sizes = grouping if grouping is not None else (None, np.bincount(index, minlength=k))
    if order is None:
        order = np.argsort(index, kind="stable")
    grouped = x[order]
    cuts = np.cumsum(sizes)[:-1]
    parts = np.split(grouped, cuts)
    for part in parts:
        part.sort()
    rank_sums, ties = order_stats.rank_sums(s, parts)
    del grouped, parts
    used = sizes > 0
    h = 12.0 / (n * (n + 1.0)) * float((rank_sums[used] ** 2 / sizes[used]).sum()) - 3 * (n + 1)
    h /= ties
    return h, float(stats.chi2.sf(h, int(used.sum()) - 1))


def _test(
    prepared: PreparedData,
    seg: Segmentation,
    dictionary: DataDictionary,
    column: str,
    role: str,
    known: tuple[Kruskal, Moments] | None = None,
    segment_index: Index | None = None,
    engine: Engine = DEFAULT_ENGINE,
) -> FeatureTest | None:
    """The test for one column; `known` = (Kruskal–Wallis (H, p), moments) already computed for
    a numeric segmentation feature (its values are all finite: prepare drops or fills the rest);
    `segment_index` = `_segment_index(seg)[0]` when the caller has it (one pass over the labels
    instead of one per column); other moments come from `engine.segment_aggregates`."""
    spec = dictionary.column(column)
    if column in prepared.numeric_features:
        x = prepared.values[:, prepared.numeric_features.index(column)]
    elif (
        spec.type in ("numeric", "ordinal", "binary", "date")
        and column not in prepared.categorical_features
    ):
        col = prepared.kept[column]
        x = (tenure_days(col) if spec.type == "date" else numeric_values(col)).to_numpy(dtype=float)
    else:
        labels = prepared.kept[column].astype("string").fillna(BLANK).to_numpy()
        if (result := _chi_squared(seg.labels, labels)) is None:
            return None
        chi2, p_value, v = result
        return FeatureTest(
            column, spec.label, role, "chi-squared", chi2, p_value, v, p_value < 0.05 and v >= 0.1
        )
    index, k = (segment_index, seg.k) if segment_index is not None else _segment_index(seg)
    labels_ok = seg.labels
    ok = np.isfinite(x)
    if not ok.all():
        x, index, labels_ok = x[ok], index[ok], labels_ok[ok]
    if np.count_nonzero(np.bincount(index, minlength=k)) < 2 or np.ptp(x) == 0:
        return None
    (stat, p), moments = known if known is not None else (_kruskal(x, index, k), None)
    if moments is None:
        aggregates = engine.segment_aggregates(x[:, None], labels_ok, seg.segment_ids)
        moments = aggregates.moments(0)
    effect = max(abs(vs_rest(moments, g)[2]) for g in range(k))
    return FeatureTest(
        column,
        spec.label,
        role,
        "Kruskal–Wallis",
        float(stat),
        float(p),
        float(effect),
        bool(p < 0.05 and effect >= 0.2),
    )


def _chi_squared(
    segments: NDArray[np.intp], labels: NDArray[np.object_]
) -> tuple[float, float, float] | None:
    """(chi-squared, p, Cramér's V) of segment x category; None with fewer than two of either."""
    from scipy import stats

    table = pd.crosstab(segments, labels)
    if table.shape[1] < 2 or table.shape[0] < 2:
        return None
    chi2, p, _, _ = stats.chi2_contingency(table.to_numpy())
    v = float(np.sqrt(chi2 / (table.to_numpy().sum() * (min(table.shape) - 1))))
    return float(chi2), float(p), v


def tenure_days(column: pd.Series) -> pd.Series:
    """Dates as days before the latest date in the column."""
    dates = pd.to_datetime(
        column.astype("string").str.strip(), errors="coerce", format="mixed", dayfirst=True
    )
    return (dates.max() - dates).dt.days.astype(float)


def _describe(column: pd.Series, member: Mask, label: str, ctype: str) -> DescribeField:
    if ctype in ("numeric", "ordinal", "date"):
        nums = tenure_days(column) if ctype == "date" else numeric_values(column)
        if ctype == "date":
            label = f"{label} (days before the latest)"
        return DescribeField(
            column=str(column.name),
            label=label,
            kind="numeric",
            segment_mean=_nanmean(nums.to_numpy()[member]),
            overall_mean=_nanmean(nums.to_numpy()),
        )
    text = column.astype("string").str.strip().fillna(BLANK).replace("", BLANK)
    overall = text.value_counts(normalize=True)
    # Most common first; ties alphabetically so the order never depends on hashing.
    overall = overall.sort_index().sort_values(ascending=False, kind="stable")
    shown = list(overall.index[:MAX_SHOWN_CATEGORIES])
    grouped = text.where(text.isin(shown), OTHER)
    seg_counts = grouped[member].value_counts(normalize=True)
    all_counts = grouped.value_counts(normalize=True)
    order = shown + ([OTHER] if OTHER in all_counts.index and OTHER not in shown else [])
    shares = tuple(
        CategoryShare(str(v), float(seg_counts.get(v, 0.0)), float(all_counts.get(v, 0.0)))
        for v in order
    )
    return DescribeField(column=str(column.name), label=label, kind="categorical", shares=shares)


def _nanmean(values: Vector) -> float | None:
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else None
