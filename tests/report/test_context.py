"""The brief's context: frozen dataclasses built from the demo's analysis, read by the templates."""

from __future__ import annotations

import base64
import dataclasses

import pytest

from reportgen.report import render
from reportgen.report.charts import Charts
from reportgen.report.context import (
    BriefContext,
    OverviewView,
    RunInfo,
    SegmentView,
    build_context,
)
from reportgen.report.palette import palette_by_id
from tests.conftest import pdf_text

RUN = RunInfo(
    generated_at="2026-12-01T00:00:00Z",
    date_text="1 December 2026",
    version="test",
    versions=(("python", "3"),),
    seed=42,
    title="Test brief",
)


def _charts(segment_ids, with_traits=()) -> Charts:
    return Charts(
        segment_map=b"map",
        map_caption="Each dot is a test.",
        heatmap=None,
        sizes=b"sizes",
        elbow=b"elbow",
        traits={i: f"traits {i}".encode() for i in with_traits if i in segment_ids},
    )


@pytest.fixture(scope="module")
def context(demo_run) -> BriefContext:
    ids = demo_run.segmentation.segment_ids
    palette = palette_by_id(set(ids))
    colors = tuple(palette[i] for i in ids)
    return build_context(
        demo_run.analysis, charts=_charts(ids, with_traits=ids[:1]), colors=colors, run=RUN
    )


def _decoded(uri: str) -> bytes:
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    return base64.b64decode(uri[len(prefix) :])


def test_the_context_is_frozen_dataclasses(context):
    assert isinstance(context.overview, OverviewView)
    assert all(isinstance(s, SegmentView) for s in context.segments)
    with pytest.raises(dataclasses.FrozenInstanceError):
        context.overview.k = 99  # type: ignore[misc]
    assert context.changes is None  # the demo has no previous run


def test_fields_come_from_the_analysis(context, demo_run):
    a = demo_run.analysis
    assert context.overview.k == a.segmentation.k == len(context.segments)
    assert context.overview.n_kept == f"{a.prepared.n_kept:,}"
    assert [s.name for s in context.segments] == [s.name for s in a.stories]
    assert [s.id for s in context.segments] == list(a.segmentation.segment_ids)
    assert context.doc.title == "Test brief" and context.doc.units == a.dictionary.units
    assert [r.name for r in context.profile_table.rows] == [s.name for s in a.stories]
    assert len(context.method.k_table) == len(a.k_choice.evidence)
    assert sum(e.chosen for e in context.method.k_table) == 1


def test_charts_become_data_uris(context):
    assert _decoded(context.charts.segment_map) == b"map"
    assert _decoded(context.charts.sizes) == b"sizes"
    assert context.charts.heatmap is None
    assert context.map.caption == "Each dot is a test."
    first, *rest = context.segments
    assert _decoded(first.traits_chart) == f"traits {first.id}".encode()
    assert all(s.traits_chart is None for s in rest)  # no chart drawn for them here


def test_template_variables_are_the_fields(context):
    variables = render.template_variables(context)
    assert "changes" not in variables  # templates test `changes is defined`
    assert variables["overview"] is context.overview
    seg = context.segments[1]
    assert render.template_variables(context, seg)["seg"] is seg


def test_page_one_names_every_segment(demo_run):
    page_one = " ".join(pdf_text(demo_run.pdf)[0].split())
    for story in demo_run.stories:
        assert " ".join(story.name.split()) in page_one
    assert "Executive summary" in page_one
