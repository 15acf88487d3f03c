"""The clustering-tree chart and its words (report.k_tree_chart, report.k_tree_context), and the
tree in the brief."""

from __future__ import annotations

from reportgen.analysis.choose_k import KChoice
from reportgen.analysis.k_tree import Flow, KTree, Level
from reportgen.report.k_tree_chart import segment_tree, tree_order
from reportgen.report.k_tree_context import k_tree_view, runner_up_segments, split_sentences
from tests.conftest import pdf_text


def _tree() -> KTree:
    two = Level(2, (1, 2), (0.6, 0.4), ("Big spenders", "Frequent visitors"), chosen=True)
    three = Level(3, (1, 2, 3), (0.4, 0.35, 0.25), ("Visitors", "Spenders", "Bargain hunters"))
    flows = (
        Flow(2, 0, 1, 0.35),
        Flow(2, 0, 2, 0.25),
        Flow(2, 1, 0, 0.4),
    )
    return KTree(levels=(two, three), flows=flows, rows_counted=1000, rows_fitted=1000)


def _choice(runner_up: int | None, close: bool) -> KChoice:
    return KChoice(
        k=2, method="vote", reason="", evidence=(), knee=None, votes={}, sample_size=1000,
        min_share=0.05, runner_up=runner_up, close=close,
    )  # fmt: skip


def test_children_are_placed_under_their_parents():
    # Visitors come from the right-hand parent, so they go to the right of the two that split
    # off Big spenders.
    assert tree_order(_tree()) == [[0, 1], [1, 2, 0]]


def test_the_split_is_told_in_words():
    (sentence,) = split_sentences(_tree())
    assert sentence == (
        "From k = 2 to 3, Big spenders (60 %) splits: 35 % of the total go to Spenders, "
        "25 % to Bargain hunters."
    )


def test_the_chart_is_a_png_and_its_alt_text_names_every_step():
    png = segment_tree(_tree(), ["#0072b2", "#e69f00"], runner_up=3)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000
    view = k_tree_view(_tree(), png, _choice(3, True), "customers")
    assert view is not None and view.chart.startswith("data:image/png;base64,")
    assert "35 % of the total go to Spenders" in view.alt
    assert [r.title for r in view.levels] == ["k = 2 (chosen)", "k = 3 (runner-up)"]
    assert runner_up_segments(_tree(), _choice(3, True)) == (
        "Visitors 40 % · Spenders 35 % · Bargain hunters 25 %"
    )


def test_the_brief_shows_the_tree_with_every_level(demo_run):
    text = "\n".join(pdf_text(demo_run.pdf))
    assert "How the segments split as k grows" in text
    tree = demo_run.analysis.k_tree
    assert tree is not None and [lv.k for lv in tree.levels] == [2, 3]
    assert "k = 2 (chosen)" in text
    for name in tree.levels[1].names:  # the k = 3 names, in the table under the chart
        assert name.split(" ")[0] in text


def test_page_one_names_a_runner_up_with_few_segments_and_points_to_the_appendix_for_more(
    demo_run,
):
    from dataclasses import replace

    from reportgen.report.context import _close_vote

    a = demo_run.analysis
    many = Level(5, (1, 2, 3, 4, 5), (0.2,) * 5, tuple(f"Group {i}" for i in range(5)))
    tree = replace(a.k_tree, extra=many)
    votes = {"silhouette": 2, "calinski_harabasz": 2, "davies_bouldin": 5, "gap": None}
    kc = replace(a.k_choice, close=True, runner_up=5, votes=votes)
    close = replace(a, k_choice=kc, k_tree=tree)
    page_one = _close_vote(close, short=True)
    assert "k = 5 came second (1 vote against 2)" in page_one
    assert "its 5 segments are named in the appendix" in page_one and "Group 0" not in page_one
    assert "Group 0 20 % · Group 1 20 %" in _close_vote(close)
    kc3 = replace(kc, runner_up=3, votes={**votes, "davies_bouldin": 3})
    few = replace(a, k_choice=kc3)  # the demo's tree has k = 3 with its names
    assert a.k_tree.level(3).names[0] in _close_vote(few, short=True)


def test_labels_sit_under_their_circles_not_over_them():
    """A label is placed by its circle's radius: for the largest circle its top is below the
    circle's lowest point (a fixed drop put it over the lower half)."""
    from matplotlib.figure import Figure

    from reportgen.report import k_tree_chart

    made: list[Figure] = []
    real = k_tree_chart.png_bytes
    k_tree_chart.png_bytes = lambda fig: (made.append(fig), real(fig))[1]
    try:
        segment_tree(_tree(), ["#0072b2", "#e69f00"])
    finally:
        k_tree_chart.png_bytes = real
    (fig,) = made
    ax = fig.axes[0]
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    big = max(ax.collections, key=lambda c: c.get_sizes()[0])
    centre = ax.transData.transform(big.get_offsets()[0])
    radius = (big.get_sizes()[0] ** 0.5) / 2 * fig.dpi / 72
    label = min(
        ax.texts,
        key=lambda t: (
            abs(ax.transData.transform(t.xy)[0] - centre[0])
            + abs(ax.transData.transform(t.xy)[1] - centre[1])
        ),
    )
    assert label.get_window_extent(renderer).y1 <= centre[1] - radius + 0.5
