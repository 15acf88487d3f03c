"""End to end on real public customer tables as they come, without a dictionary (issue 15):
every input row in assignments.csv in input order, names unique, short and in words rather than
raw column spellings, and profiles that reconcile with the assignments. The bundled wholesale
table runs on a fresh clone; the shared ones where ../shared is present."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from reportgen.analysis.naming import MAX_NAME
from reportgen.pipeline import build_brief
from tests.conftest import DATA, shared_dataset

TABLES = [
    ("bundled", "wholesale_customers.csv"),
    ("marketing_campaign", "marketing_campaign.csv"),
    ("telco_churn", "telco_customer_churn.csv"),
]


def _path(folder: str, name: str):
    return DATA / name if folder == "bundled" else shared_dataset(folder, name)


def _raw_spellings(columns) -> set[str]:
    """Column names as a file spells them, where a label would read differently."""
    return {c for c in map(str, columns) if "_" in c or re.search(r"[a-z][A-Z]", c) or c.isupper()}


@pytest.mark.slow
@pytest.mark.parametrize(("folder", "name"), TABLES)
def test_a_real_table_as_it_comes(tmp_path, folder, name):
    path = _path(folder, name)
    result = build_brief(path, out_dir=tmp_path, resamples=5)
    raw = pd.read_csv(path, sep=None, engine="python", dtype=str, keep_default_na=False)
    out = pd.read_csv(tmp_path / "assignments.csv", dtype=str, keep_default_na=False)
    # every input row, in input order
    assert len(out) == len(raw)
    id_name = result.prepared.id_name
    if id_name in raw.columns:
        assert out[id_name].tolist() == raw[id_name].tolist()
    # names: unique, short, in words
    names = [s.name for s in result.stories]
    assert len(set(names)) == len(names)
    assert all(len(n) <= MAX_NAME + 12 for n in names), names
    spellings = _raw_spellings(raw.columns)
    words = {w for n in names for w in re.split(r"[\s·()]+", n)}
    assert not words & spellings, names
    # profiles reconcile with the assignments: sizes are the rows segmented on every feature
    profiles = pd.read_csv(tmp_path / "profiles.csv", dtype={"segment_id": str})
    profiles = profiles[profiles["segment_id"] != "all"].astype({"segment_id": int})
    full = out[out["features_used"] == str(len(result.prepared.steps))]
    counted = full["segment_id"].astype(int).value_counts().sort_index()
    assert profiles.set_index("segment_id")["size"].to_dict() == counted.to_dict()
    assert profiles["share"].sum() == pytest.approx(1.0, abs=1e-5)
    # rows without a segment still listed, each with its reason
    unassigned = out[out["segment_id"] == ""]
    assert (unassigned["note"] != "").all()
