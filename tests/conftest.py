"""Shared fixtures. Tests never need ../shared: bundled data lives in data/ and tests/fixtures/."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pypdf import PdfReader

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED = ROOT.parent / "shared" / "datasets"


@pytest.fixture(autouse=True)
def _reproducible_time(monkeypatch):
    # Fixed run time, so the same input gives byte-for-byte the same text.
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764288000")


def pdf_text(path_or_bytes) -> list[str]:
    """Text of every page of a PDF (pypdf), for content checks; never compare bytes."""
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    reader = PdfReader(io.BytesIO(data))
    return [page.extract_text() or "" for page in reader.pages]


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """The demo brief, built once per test session through the library."""
    import os

    from reportgen import build_demo

    os.environ["SOURCE_DATE_EPOCH"] = "1764288000"
    out = tmp_path_factory.mktemp("demo")
    return build_demo(out)


def shared_dataset(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not available (../shared is absent on a fresh clone)")
    return path
