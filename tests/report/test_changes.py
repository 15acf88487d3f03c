"""The "What changed since" page of a brief made with --previous (reportgen.report.changes)."""

from __future__ import annotations

from tests.conftest import MOVED, pdf_text


def test_what_changed_page_is_in_the_brief(periods):
    pages = pdf_text(periods["runs"][2].pdf_path)
    start = next(i for i, p in enumerate(pages) if "What changed since" in p)
    page = " ".join(pages[start : start + 2])
    assert f"{MOVED} moved from" in page
    assert "PSI" in page and "0.25" in page
    first = pdf_text(periods["runs"][1].pdf_path)
    assert not any("What changed since" in p for p in first)
