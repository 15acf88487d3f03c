"""Stage 2 — prepare: typed feature matrix in real units, rows dropped with reasons, scaling.

Pure: takes the raw frame and the resolved data dictionary, returns `PreparedData`. Every row that
is dropped is counted under the first reason that applies, so the brief can explain each one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from .dictionary import DataDictionary, numeric_values
from .errors import InputError


@dataclass(frozen=True)
class DropReason:
    reason: str
    rows: int


@dataclass(frozen=True)
class Scaling:
    """Standardisation parameters per feature, in the feature's own units."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - np.asarray(self.mean)) / np.asarray(self.scale)

    def inverse(self, scaled: np.ndarray) -> np.ndarray:
        return scaled * np.asarray(self.scale) + np.asarray(self.mean)


@dataclass(frozen=True)
class PreparedData:
    features: tuple[str, ...]
    values: np.ndarray  # kept rows x features, real units (float64)
    scaled: np.ndarray  # kept rows x features, standardised
    scaling: Scaling
    kept: pd.DataFrame  # kept rows, every input column as read, index = input position
    row_numbers: np.ndarray  # 1-based data-row numbers in the input file of the kept rows
    ids: pd.Series  # customer id of each kept row (or the row number when there is no id column)
    id_name: str  # name of the id column in outputs ("row" when the input has none)
    n_read: int
    drops: tuple[DropReason, ...]
    notes: tuple[str, ...]
    duplicate_ids: int = 0

    @property
    def n_kept(self) -> int:
        return len(self.values)

    @property
    def n_dropped(self) -> int:
        return sum(d.rows for d in self.drops)


def prepare(frame: pd.DataFrame, dictionary: DataDictionary) -> PreparedData:
    n_read = len(frame)
    features = list(dictionary.segment_columns)
    if not features:
        raise InputError(
            "no usable numeric column to segment on: add a data dictionary or name columns "
            "with --columns"
        )
    notes: list[str] = []
    numeric = {}
    for name in features:
        spec = dictionary.column(name)
        values = numeric_values(frame[name])
        present = frame[name].notna() & (frame[name].astype(str).str.strip() != "")
        if values.notna().sum() == 0:
            raise InputError(
                f"column '{name}' has no numeric values and cannot segment "
                f"(its type is {spec.type or 'text'}); describe it instead"
            )
        numeric[name] = (values, present)
    alive = np.ones(n_read, dtype=bool)
    drops: list[DropReason] = []

    def drop(mask: np.ndarray, reason: str) -> None:
        hit = mask & alive
        count = int(hit.sum())
        if count:
            drops.append(DropReason(reason, count))
            alive[hit] = False

    for name in features:
        values, present = numeric[name]
        drop((~present).to_numpy(), f"no value for '{name}'")
    for name in features:
        values, present = numeric[name]
        drop((present & values.isna()).to_numpy(), f"'{name}' is not a number")
    for name in features:
        values, _ = numeric[name]
        drop(~np.isfinite(values.fillna(0).to_numpy()), f"'{name}' is infinite")
    for name in features:
        spec = dictionary.column(name)
        if spec.is_scale:
            v = values_of(numeric, name)
            outside = (v < spec.scale_min) | (v > spec.scale_max)
            drop(
                outside.fillna(False).to_numpy(),
                f"'{name}' outside its {spec.scale_min:g}–{spec.scale_max:g} scale",
            )

    n_kept = int(alive.sum())
    if n_kept == 0:
        raise InputError(
            f"no usable rows: all {n_read} rows were dropped "
            f"({'; '.join(f'{d.reason}: {d.rows}' for d in drops)})"
        )
    matrix = np.column_stack([values_of(numeric, n).to_numpy()[alive] for n in features])

    # Constant features carry no information and would divide by zero in scaling.
    sd = matrix.std(axis=0)
    constant = [f for f, s in zip(features, sd, strict=True) if s == 0]
    if constant:
        notes.append(
            "Left out because every kept row has the same value: " + ", ".join(constant) + "."
        )
        keep_cols = [i for i, s in enumerate(sd) if s > 0]
        features = [features[i] for i in keep_cols]
        matrix = matrix[:, keep_cols]
        if not features:
            raise InputError("every segmentation column is constant: nothing to segment on")

    scaler = StandardScaler().fit(matrix)
    scaling = Scaling(
        features=tuple(features),
        mean=tuple(float(m) for m in scaler.mean_),
        scale=tuple(float(s) for s in scaler.scale_),
    )
    kept = frame.loc[alive]
    row_numbers = np.flatnonzero(alive) + 1
    duplicate_ids = 0
    if dictionary.id_column:
        ids = kept[dictionary.id_column].astype("string").fillna("")
        id_name = dictionary.id_column
        duplicate_ids = int(ids.duplicated(keep=False).sum())
        if duplicate_ids:
            notes.append(
                f"{duplicate_ids} kept rows share an id with another row; each row is kept and "
                "assigned on its own."
            )
    else:
        ids = pd.Series(row_numbers, index=kept.index, name="row")
        id_name = "row"
    return PreparedData(
        features=tuple(features),
        values=matrix,
        scaled=scaling.transform(matrix),
        scaling=scaling,
        kept=kept,
        row_numbers=row_numbers,
        ids=ids,
        id_name=id_name,
        n_read=n_read,
        drops=tuple(drops),
        notes=tuple(notes),
        duplicate_ids=duplicate_ids,
    )


def values_of(numeric: dict[str, tuple[pd.Series, pd.Series]], name: str) -> pd.Series:
    return numeric[name][0]
