"""Per-segment briefs: every run writes segments/<slug>.pdf for each segment's owner."""

from __future__ import annotations

from reportgen.report import render
from tests.conftest import pdf_text


def test_every_segment_gets_its_own_short_pdf(demo_run):
    segments = demo_run.summary["segments"]
    assert len(segments) >= 2
    for seg in segments:
        path = demo_run.files[f"segments/{seg['slug']}.pdf"]
        assert path == demo_run.config.out_dir / "segments" / f"{seg['slug']}.pdf"
        pages = pdf_text(path)
        text = " ".join(" ".join(pages).split())
        assert 1 <= len(pages) <= 3, "a segment brief is short"
        assert text.startswith(seg["name"])
        assert "Executive summary" in text
        assert " ".join(seg["headline"].split())[:40] in text
        assert "Suggested marketing angle" in text
        assert " ".join(seg["angle"].split())[:40] in text
        assert "How these segments were found" in text
        others = [s["name"] for s in segments if s["id"] != seg["id"]]
        assert not any(f"{name} (" in text for name in others), "only this segment's summary line"


def _changes_html(changes, seg):
    return render.render_html({"changes": changes, "seg": seg}, template="segment_changes.html.j2")


def test_segment_part_of_what_changed_is_shown_when_present():
    seg = {"id": 2, "slug": "agent-seekers", "name": "Agent-seekers"}
    changes = {
        "segments": [
            {"id": 1, "slug": "premium-savers", "lines": ["Premium-savers grew by 4 points."]},
            {"id": 2, "slug": "agent-seekers", "lines": ["Agent-seekers shrank by <4> points."]},
        ]
    }
    html = _changes_html(changes, seg)
    assert "What changed" in html
    assert "shrank by &lt;4&gt; points" in html  # autoescaped
    assert "grew" not in html


def test_unknown_shape_of_changes_renders_nothing():
    seg = {"id": 1, "slug": "premium-savers", "name": "Premium-savers"}
    assert "What changed" not in _changes_html({"something": "else"}, seg)
    assert "What changed" not in _changes_html(["a", "b"], seg)
    assert "What changed" not in _changes_html({"segments": [{"id": 2, "lines": ["x"]}]}, seg)
