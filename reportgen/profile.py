"""Stage 5 — profile: each segment described in the data's own units, against the average customer.

Pure: takes prepared data, the segmentation and the dictionary; returns `Profiles`. Segment means
are the members' actual means (not the k-means centres), compared with the mean of all kept rows.
Descriptive columns (not used for clustering) are profiled as category shares or means.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .cluster import Segmentation
from .dictionary import DataDictionary, numeric_values
from .prepare import PreparedData

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

    @property
    def diff(self) -> float:
        return self.segment_mean - self.overall_mean


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
    features: tuple[FeatureStat, ...]  # in feature order
    describe: tuple[DescribeField, ...]

    def ranked(self) -> tuple[FeatureStat, ...]:
        """Features from the most to the least distinguishing (largest |z| first)."""
        return tuple(sorted(self.features, key=lambda f: (-abs(f.z), f.column)))


@dataclass(frozen=True)
class Profiles:
    segments: tuple[SegmentProfile, ...]
    features: tuple[str, ...]
    labels: tuple[str, ...]
    overall_mean: tuple[float, ...]
    overall_sd: tuple[float, ...]
    n: int

    def table(self) -> pd.DataFrame:
        """Segments x features (means in real units) plus size and share; last row = all."""
        rows = []
        for seg in self.segments:
            row: dict[str, object] = {
                "segment_id": seg.segment_id,
                "size": seg.size,
                "share": seg.share,
            }
            row.update({f.column: f.segment_mean for f in seg.features})
            rows.append(row)
        overall: dict[str, object] = {"segment_id": "all", "size": self.n, "share": 1.0}
        overall.update(dict(zip(self.features, self.overall_mean, strict=True)))
        rows.append(overall)
        return pd.DataFrame(rows)


def profile(prepared: PreparedData, seg: Segmentation, dictionary: DataDictionary) -> Profiles:
    values = prepared.values
    overall_mean = values.mean(axis=0)
    overall_sd = values.std(axis=0)
    labels = tuple(dictionary.column(f).label for f in prepared.features)
    describe_cols = [c for c in dictionary.describe_columns if c in prepared.kept.columns]
    n = len(values)
    segments = []
    for sid, size in zip(seg.segment_ids, seg.sizes, strict=True):
        member = seg.labels == sid
        means = values[member].mean(axis=0)
        feats = tuple(
            FeatureStat(
                column=f,
                label=labels[i],
                segment_mean=float(means[i]),
                overall_mean=float(overall_mean[i]),
                overall_sd=float(overall_sd[i]),
                z=float((means[i] - overall_mean[i]) / overall_sd[i]) if overall_sd[i] else 0.0,
            )
            for i, f in enumerate(prepared.features)
        )
        describe = tuple(
            _describe(
                prepared.kept[c], member, dictionary.column(c).label, dictionary.column(c).type
            )
            for c in describe_cols
        )
        segments.append(SegmentProfile(sid, int(size), size / n, feats, describe))
    return Profiles(
        segments=tuple(segments),
        features=prepared.features,
        labels=labels,
        overall_mean=tuple(float(x) for x in overall_mean),
        overall_sd=tuple(float(x) for x in overall_sd),
        n=n,
    )


def _describe(column: pd.Series, member: np.ndarray, label: str, ctype: str) -> DescribeField:
    if ctype in ("numeric", "ordinal"):
        nums = numeric_values(column)
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


def _nanmean(values: np.ndarray) -> float | None:
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else None
