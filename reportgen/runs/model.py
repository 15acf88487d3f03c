"""The model is data: a run's segmentation saved as plain JSON (`model.json`), never a pickle.

`build_model` (pure) turns the stages' results into a dict: the features and their preprocessing
(per-feature steps, then standardisation), the centres in the scaled space at full float
precision, segment ids and names, a reference distribution per feature (for drift), the data
dictionary, package versions, the input's hash and the run time.

`model_bytes` / `parse_model` write and read it. The file carries a SHA-256 checksum of its
canonical JSON body, so a damaged or hand-edited file is refused; every field is validated
(types, sizes, finite numbers) because a model file is untrusted input. A checksum without a key
detects damage and casual edits, not a forger who recomputes it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from reportgen.analysis.prepare import (
    DropReason,
    FeatureStep,
    LeftOut,
    PreparedData,
    apply_steps,
    apply_steps_rows,
)
from reportgen.engine.parallel import map_threads
from reportgen.errors import InputError
from reportgen.io.database import source_fields
from reportgen.runs.folder import ASSIGNMENTS_FILE, MODEL_FILE

if TYPE_CHECKING:  # types only: scoring a table needs none of these modules
    from reportgen.analysis.cluster import Segmentation
    from reportgen.analysis.naming import SegmentStory
    from reportgen.analysis.profile import Profiles
    from reportgen.io.dictionary import DataDictionary
    from reportgen.io.load import LoadedTable

SCHEMA = "reportgen.runs.model"
SCHEMA_VERSION = 1
MAX_MODEL_BYTES = 20 * 1024 * 1024
MAX_FEATURES = 1000
MAX_SEGMENTS = 50
MAX_TEXT = 10_000
TRANSFORMS = ("none", "log1p")
KINDS = ("numeric", "binary", "date", "categorical")
REFERENCE_QUANTILES = tuple(i / 10 for i in range(1, 10))  # decile edges for drift (PSI)


# --------------------------------------------------------------------------- the loaded model


@dataclass(frozen=True)
class SavedSegment:
    id: int
    name: str
    slug: str
    size: int
    share: float
    center_scaled: tuple[float, ...]  # one value per model column
    mean_units: tuple[float, ...]  # members' average per numeric feature, in the data's units


@dataclass(frozen=True)
class ScaleRule:
    """A feature's rating-scale bounds: rows outside are left out, as when the model was fitted."""

    column: str
    low: float
    high: float


@dataclass(frozen=True)
class SavedModel:
    created_at: str
    date_text: str
    reportgen_version: str
    input_file: str
    input_sha256: str
    id_column: str | None
    id_name: str
    features: tuple[str, ...]  # input columns that segment (one step each)
    labels: tuple[str, ...]
    steps: tuple[FeatureStep, ...]
    numeric_features: tuple[str, ...]  # features with averages in units (mean_units order)
    scale_rules: tuple[ScaleRule, ...]
    segments: tuple[SavedSegment, ...]
    next_segment_id: int
    overall_mean: tuple[float, ...]
    overall_sd: tuple[float, ...]
    reference: dict[str, tuple[tuple[float, ...], tuple[float, ...]]]  # feature -> (edges, shares)
    assignments_sha256: str | None
    n_kept: int
    raw: dict[str, Any]

    @property
    def k(self) -> int:
        return len(self.segments)

    @property
    def order_roles(self) -> dict[str, str] | None:
        """The column roles of the order log the run read (None: a customer table). Checked:
        names of known roles mapped to column names, nothing else."""
        block = self.raw.get("order_log")
        roles = block.get("roles") if isinstance(block, dict) else None
        if not isinstance(roles, dict):
            return None
        known = {"customer", "date", "order", "amount", "quantity", "unit_price", "product"}
        known |= {"currency"}
        return {
            str(k): str(v)
            for k, v in roles.items()
            if k in known and isinstance(v, str) and len(v) <= 500
        } or None

    @property
    def centers_scaled(self) -> NDArray[np.float64]:
        return np.array([s.center_scaled for s in self.segments], dtype=float)

    @property
    def scale_limits(self) -> dict[str, tuple[float, float]]:
        return {r.column: (r.low, r.high) for r in self.scale_rules}

    def transform(
        self, frame: pd.DataFrame
    ) -> tuple[NDArray[np.float64], NDArray[np.bool_], tuple[DropReason, ...]]:
        """Rows of a raw table -> (this model's scaled space, usable mask, drop reasons)."""
        return apply_steps(frame, self.steps, self.scale_limits)

    def transform_rows(
        self, frame: pd.DataFrame
    ) -> tuple[NDArray[np.float64], NDArray[np.bool_], tuple[DropReason, ...], LeftOut]:
        """`transform`, and the rows it left out with their reasons."""
        return apply_steps_rows(frame, self.steps, self.scale_limits)


# --------------------------------------------------------------------------- building


class RunStamp(Protocol):
    """When and with what a run was made (the pipeline's run information)."""

    @property
    def generated_at(self) -> str: ...
    @property
    def date_text(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def versions(self) -> Iterable[tuple[str, str]]: ...


def reference_bins(values: NDArray[np.float64]) -> tuple[list[float], list[float]]:
    """Decile edges of one feature and the share of rows in each bin (for PSI drift later)."""
    edges = np.unique(np.quantile(values, REFERENCE_QUANTILES))
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)
    return [float(e) for e in edges], [float(c) / len(values) for c in counts]


def build_model(
    *,
    run: RunStamp,
    table: LoadedTable,
    dictionary: DataDictionary,
    prepared: PreparedData,
    seg: Segmentation,
    profiles: Profiles,
    stories: tuple[SegmentStory, ...],
    assignments_sha256: str | None,
    next_segment_id: int | None = None,
    previous: SavedModel | None = None,
    order_roles: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The model of one run as a plain, JSON-ready dict (floats at full precision).
    `order_roles`: the run read an order log with these column roles, so `score` reduces a new
    log to customers the same way."""
    features = list(prepared.features)
    ids = list(seg.segment_ids)
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "created_at": run.generated_at,
        "date_text": run.date_text,
        "reportgen_version": run.version,
        "versions": dict(run.versions),
        "input": {
            "file": table.path.name,
            "sha256": table.sha256,
            **source_fields(table),  # a database: its URL (no password), table or query
            "rows_read": int(prepared.n_read),
            "rows_kept": int(prepared.n_kept),
        },
        "order_log": {"roles": dict(order_roles)} if order_roles else None,
        "id_column": dictionary.id_column,
        "id_name": prepared.id_name,
        "features": features,
        "labels": [dictionary.column(f).label for f in features],
        "numeric_features": list(prepared.numeric_features),
        "preprocess": {
            "steps": [_jsonable(asdict(step)) for step in prepared.steps],
            "drop_rules": "a row is left out when a feature is not a number (or date), infinite, "
            "outside its rating scale, or blank where the fit left blanks out instead of filling "
            "them in",
        },
        "assignment": "nearest centre (Euclidean, scaled space); ties go to the lower position",
        "segments": _segment_entries(seg, profiles, stories),
        "next_segment_id": int(next_segment_id if next_segment_id is not None else max(ids) + 1),
        "overall_mean": [float(m) for m in profiles.overall_mean],
        "overall_sd": [float(m) for m in profiles.overall_sd],
        "reference": _reference(prepared, profiles),
        "dictionary": _jsonable(asdict(dictionary)),
        "assignments_sha256": assignments_sha256,
        "previous": (
            {"created_at": previous.created_at, "input_sha256": previous.input_sha256}
            if previous is not None
            else None
        ),
    }


def _segment_entries(
    seg: Segmentation, profiles: Profiles, stories: tuple[SegmentStory, ...]
) -> list[dict[str, Any]]:
    ids = seg.segment_ids
    return [
        {
            "id": int(ids[pos]),
            "name": story.name,
            "slug": story.slug,
            "size": int(sp.size),
            "share": float(sp.share),
            "center_scaled": [float(x) for x in seg.centers_scaled[pos]],
            "mean_units": [float(f.segment_mean) for f in sp.features],
        }
        for pos, (sp, story) in enumerate(zip(profiles.segments, stories, strict=True))
    ]


def _reference(
    prepared: PreparedData, profiles: Profiles | None = None
) -> dict[str, dict[str, list[float]]]:
    """Each numeric feature's decile bins (for drift later): the profiles' (computed from the
    sort their rank tests made, the same numbers), else one feature per thread here."""
    numeric = prepared.numeric_features
    if profiles is not None and len(profiles.reference) == len(numeric):
        bins = list(profiles.reference)
    else:
        bins = map_threads(
            lambda j: reference_bins(prepared.values[:, j]),
            range(len(numeric)),
            rows=prepared.n_kept,
        )
    return {f: {"edges": e, "shares": s} for f, (e, s) in zip(numeric, bins, strict=True)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (np.floating, np.integer)):
        return _jsonable(value.item())
    return value


# --------------------------------------------------------------------------- bytes


def canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def checksum(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(body)).hexdigest()


def model_bytes(body: dict[str, Any]) -> bytes:
    """model.json: the body plus its checksum, indented so it reads and diffs well."""
    doc = dict(body)
    doc["checksum"] = {
        "algorithm": "sha256",
        "of": "canonical JSON of every other key",
        "value": checksum(body),
    }
    return (json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


def parse_model(data: bytes, where: str = MODEL_FILE) -> SavedModel:
    """Validate and read model.json bytes; any problem is one InputError line."""

    def bad(why: str) -> InputError:
        return InputError(f"{where} cannot be used: {why}")

    if len(data) > MAX_MODEL_BYTES:
        raise bad(f"larger than {MAX_MODEL_BYTES // (1024 * 1024)} MB")
    try:
        doc = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise bad(f"not valid JSON ({str(exc).splitlines()[0][:120]})") from None
    if not isinstance(doc, dict):
        raise bad("not a reportgen model (expected a JSON object)")
    if doc.get("schema") != SCHEMA:
        raise bad("not a reportgen model (no 'schema': \"reportgen.runs.model\")")
    version = doc.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise bad("schema_version is missing or not a whole number")
    if version != SCHEMA_VERSION:
        newer = "; it was written by a newer reportgen: upgrade" if version > SCHEMA_VERSION else ""
        raise bad(
            f"schema version {version} is not supported (this reportgen reads version "
            f"{SCHEMA_VERSION}){newer}"
        )
    check = doc.pop("checksum", None)
    if not isinstance(check, dict) or not isinstance(check.get("value"), str):
        raise bad("it has no checksum")
    try:
        actual = checksum(doc)
    except (TypeError, ValueError):
        raise bad("it holds values that are not plain JSON") from None
    if actual != check["value"]:
        raise bad("its checksum does not match its content (the file was damaged or edited)")
    try:
        return _read(doc)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise bad(f"malformed content ({str(exc)[:160]})") from None


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise ValueError(f"{what} must be text")
    return value


def _optional_text(value: Any, what: str) -> str | None:
    return None if value is None else _text(value, what)


def _num(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number")
    return float(value)


def _int(value: Any, what: str, lo: int = 0, hi: int = 2**53) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{what} must be a whole number from {lo} to {hi}")
    return value


def _nums(value: Any, what: str, n: int | None = None) -> tuple[float, ...]:
    if not isinstance(value, list) or (n is not None and len(value) != n) or len(value) > 10_000:
        raise ValueError(f"{what} must be a list of {n if n is not None else 'some'} numbers")
    return tuple(_num(v, what) for v in value)


def _read(doc: dict[str, Any]) -> SavedModel:
    features, labels, numeric, steps = _read_features(doc)
    segments = _read_segments(doc["segments"], sum(len(s.model_columns) for s in steps), numeric)
    next_id = _int(doc["next_segment_id"], "next_segment_id", 1, 10_001)
    if next_id <= max(s.id for s in segments):
        raise ValueError("next_segment_id must exceed every segment id")
    reference = _read_reference(doc["reference"], numeric)
    rules = _scale_rules(doc["dictionary"], features)
    inp = doc["input"]
    id_column = _optional_text(doc["id_column"], "id_column")
    sha = _optional_text(doc.get("assignments_sha256"), "assignments_sha256")
    q = len(numeric)
    return SavedModel(
        created_at=_text(doc["created_at"], "created_at"),
        date_text=_text(doc["date_text"], "date_text"),
        reportgen_version=_text(doc["reportgen_version"], "reportgen_version"),
        input_file=_text(inp["file"], "input file"),
        input_sha256=_text(inp["sha256"], "input sha256"),
        id_column=id_column,
        id_name=_text(doc["id_name"], "id_name"),
        features=features,
        labels=labels,
        steps=steps,
        numeric_features=numeric,
        scale_rules=rules,
        segments=segments,
        next_segment_id=next_id,
        overall_mean=_nums(doc["overall_mean"], "overall mean", q),
        overall_sd=_nums(doc["overall_sd"], "overall sd", q),
        reference=reference,
        assignments_sha256=sha,
        n_kept=_int(inp["rows_kept"], "rows kept"),
        raw=doc,
    )


def _read_features(
    doc: dict[str, Any],
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[FeatureStep, ...]]:
    """(features, labels, numeric features, steps), each checked against the features."""
    raw_features = doc["features"]
    if not isinstance(raw_features, list) or not 1 <= len(raw_features) <= MAX_FEATURES:
        raise ValueError("features must be a non-empty list")
    features = tuple(_text(f, "feature name") for f in raw_features)
    if len(set(features)) != len(features):
        raise ValueError("feature names repeat")
    labels = tuple(_text(x, "label") for x in doc["labels"])
    if len(labels) != len(features):
        raise ValueError("one label per feature expected")
    numeric = tuple(_text(f, "numeric feature") for f in doc["numeric_features"])
    if not set(numeric) <= set(features):
        raise ValueError("numeric features must be features")
    steps = tuple(_step(raw) for raw in doc["preprocess"]["steps"])
    if tuple(s.column for s in steps) != features:
        raise ValueError("preprocess steps must follow the feature order")
    return features, labels, numeric, steps


def _read_segments(
    raw_segs: Any, n_model: int, numeric: tuple[str, ...]
) -> tuple[SavedSegment, ...]:
    if not isinstance(raw_segs, list) or not 1 <= len(raw_segs) <= MAX_SEGMENTS:
        raise ValueError(f"segments must be a list of 1 to {MAX_SEGMENTS}")
    segments = tuple(
        SavedSegment(
            id=_int(s["id"], "segment id", 1, 10_000),
            name=_text(s["name"], "segment name"),
            slug=_text(s["slug"], "segment slug"),
            size=_int(s["size"], "segment size"),
            share=_num(s["share"], "segment share"),
            center_scaled=_nums(s["center_scaled"], "centre", n_model),
            mean_units=_nums(s["mean_units"], "segment mean", len(numeric)),
        )
        for s in raw_segs
    )
    ids = [s.id for s in segments]
    if len(set(ids)) != len(ids):
        raise ValueError("segment ids repeat")
    return segments


def _read_reference(
    raw: Any, numeric: tuple[str, ...]
) -> dict[str, tuple[tuple[float, ...], tuple[float, ...]]]:
    reference = {}
    for f in numeric:
        edges = _nums(raw[f]["edges"], "reference edges")
        shares = _nums(raw[f]["shares"], "reference shares", len(edges) + 1)
        reference[f] = (edges, shares)
    return reference


def _scale_rules(dictionary: Any, features: tuple[str, ...]) -> tuple[ScaleRule, ...]:
    """The rating-scale bounds the saved data dictionary gives the features."""
    columns = {c["name"]: c for c in dictionary["columns"] if isinstance(c, dict)}
    rules = []
    for f in features:
        spec = columns.get(f, {})
        lo, hi = spec.get("scale_min"), spec.get("scale_max")
        if lo is not None and hi is not None:
            rules.append(ScaleRule(f, _num(lo, "scale_min"), _num(hi, "scale_max")))
    return tuple(rules)


# --------------------------------------------------------------------------- files (edge)


def model_path(location: Path | str) -> Path:
    """A run folder or a model.json path -> the model.json path."""
    path = Path(location)
    return path / MODEL_FILE if path.is_dir() else path


def load_model(location: Path | str) -> SavedModel:
    path = model_path(location)
    if not path.exists():
        raise InputError(f"no saved model at {path}: point to a brief's output folder")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    return parse_model(data, str(path))


@dataclass(frozen=True)
class PreviousRun:
    """A previous brief: its model and, when intact, who was in which segment."""

    folder: Path
    model: SavedModel
    assignments: pd.DataFrame | None  # columns: id (text), segment_id (int)
    note: str | None  # why there is no migration, when there is none
    rfm_groups: pd.Series | None = None  # order logs: customer id (text) -> RFM group


def load_previous(location: Path | str) -> PreviousRun:
    path = model_path(location)
    saved = load_model(path)
    folder = path.parent
    assignments, note, rfm = None, None, None
    target = folder / ASSIGNMENTS_FILE
    if saved.id_column is None:
        note = "the previous run had no customer id column, so customers cannot be followed"
    elif not target.exists():
        note = f"the previous run's {ASSIGNMENTS_FILE} is missing"
    else:
        data = target.read_bytes()
        expected = saved.assignments_sha256
        if expected and hashlib.sha256(data).hexdigest() != expected:
            note = f"the previous run's {ASSIGNMENTS_FILE} was changed after that run"
        else:
            import io

            frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
            if saved.id_name not in frame.columns or "segment_id" not in frame.columns:
                note = f"the previous run's {ASSIGNMENTS_FILE} lacks its id or segment column"
            else:
                assignments = pd.DataFrame(
                    {
                        "id": frame[saved.id_name].astype(str),
                        "segment_id": pd.to_numeric(frame["segment_id"], errors="coerce"),
                    }
                ).dropna()
                assignments["segment_id"] = assignments["segment_id"].astype(int)
                rfm = _rfm_groups(frame, saved.id_name)
    return PreviousRun(folder, saved, assignments, note, rfm if assignments is not None else None)


def _rfm_groups(frame: pd.DataFrame, id_name: str) -> pd.Series | None:
    """Each customer's RFM group in a previous order-log run (None for a customer table)."""
    if "rfm_group" not in frame.columns:
        return None
    groups = frame["rfm_group"].astype(str).str.slice(0, 80)
    return pd.Series(groups.to_numpy(), index=frame[id_name].astype(str).to_numpy())


def _date_format(raw: Any) -> str | None:
    """A date step's strptime format from untrusted JSON: short, and only strptime's fields."""
    text = _optional_text(raw, "date_format")
    if text is not None and not re.fullmatch(r"[%A-Za-z0-9 :/.,T-]{2,40}", text):
        raise ValueError("a date format must be a short strptime format")
    return text


def _step(raw: Any) -> FeatureStep:
    """One preprocessing step from untrusted JSON, every field checked."""
    if not isinstance(raw, dict):
        raise ValueError("a preprocess step must be a mapping")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ValueError(f"unknown step kind {str(kind)[:40]!r}")
    transform = raw.get("transform", "none")
    if transform not in TRANSFORMS:
        raise ValueError(f"unknown transform {str(transform)[:40]!r}")

    def opt(name: str) -> float | None:
        return None if raw.get(name) is None else _num(raw[name], name)

    categories = tuple(_text(c, "category") for c in raw.get("categories") or ())
    means = _nums(raw.get("category_means") or [], "category means", len(categories))
    scale = _num(raw.get("scale", 1.0), "scale")
    weight = _num(raw.get("weight", 1.0), "weight")
    if scale <= 0 or weight <= 0:
        raise ValueError("scale and weight must be positive")
    if kind == "categorical" and len(categories) < 2:
        raise ValueError("a categorical step needs at least two categories")
    reference_date = _optional_text(raw.get("reference_date"), "reference_date")
    if reference_date is not None:
        pd.Timestamp(reference_date)  # raises on garbage
    return FeatureStep(
        column=_text(raw.get("column"), "step column"),
        kind=kind,
        transform=transform,
        impute=opt("impute"),
        clip_low=opt("clip_low"),
        clip_high=opt("clip_high"),
        mean=_num(raw.get("mean", 0.0), "mean"),
        scale=scale,
        categories=categories,
        category_means=means,
        weight=weight,
        positive=_optional_text(raw.get("positive"), "positive"),
        reference_date=reference_date,
        date_format=_date_format(raw.get("date_format")),
        imputed=_int(raw.get("imputed", 0), "imputed"),
        capped=_int(raw.get("capped", 0), "capped"),
        reason=_text(raw.get("reason", ""), "reason") or "",
    )
