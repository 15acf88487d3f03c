"""Accessible brief: a tagged PDF (structure tree, /Lang, title), every chart with alt text written
from its data (in the HTML and as /Alt of the PDF's figures), tables with header cells that say
what they head, text contrast of at least 4.5:1 for every colour in the CSS, and a default
segment palette that stays distinguishable under simulated colour-vision deficiencies."""

from __future__ import annotations

import itertools
import re
from html.parser import HTMLParser

import pikepdf
import pytest

from reportgen import fmt
from reportgen.report import alt_text, palette
from reportgen.report.render import packaged_template_dir

CSS = (packaged_template_dir() / "brief.css").read_text()


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.headers: list[dict[str, str]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs))
        if tag == "th":
            self.headers.append(dict(attrs))


def _parsed(html: str) -> _Images:
    parser = _Images()
    parser.feed(html)
    return parser


def _figures(pdf: pikepdf.Pdf) -> list[str]:
    """The /Alt of every /Figure in the structure tree."""
    found: list[str] = []

    def walk(node):
        if not isinstance(node, pikepdf.Dictionary):
            return
        if node.get("/S") == "/Figure":
            found.append(str(node.get("/Alt", "")))
        kids = node.get("/K")
        for kid in kids if isinstance(kids, pikepdf.Array) else [kids]:
            walk(kid)

    walk(pdf.Root.StructTreeRoot)
    return found


# --------------------------------------------------------------------------- the tagged PDF


def test_pdf_is_tagged_with_language_and_title(demo_run):
    with pikepdf.open(demo_run.pdf_path) as pdf:
        assert "/StructTreeRoot" in pdf.Root
        assert pdf.Root.MarkInfo.Marked is True
        assert str(pdf.Root.Lang) == "en"
        assert str(pdf.docinfo.Title) == demo_run.summary["title"]
        kinds = set()

        def walk(node):
            if isinstance(node, pikepdf.Dictionary):
                if "/S" in node:
                    kinds.add(str(node.S))
                kids = node.get("/K")
                for kid in kids if isinstance(kids, pikepdf.Array) else [kids]:
                    walk(kid)

        walk(pdf.Root.StructTreeRoot)
    # Headings, paragraphs, tables with header cells and figures: what a screen reader walks.
    assert {"/H1", "/H2", "/P", "/Table", "/TH", "/TD", "/Figure"} <= kinds


def test_segment_briefs_are_tagged_too(demo_run):
    for name, path in demo_run.files.items():
        if name.startswith("segments/"):
            with pikepdf.open(path) as pdf:
                assert "/StructTreeRoot" in pdf.Root and str(pdf.Root.Lang) == "en"


def test_every_chart_has_alt_text_from_its_data(demo_run):
    images = _parsed(demo_run.html).images
    assert images
    for img in images:
        alt = img.get("alt", "")
        assert len(alt) > 40, alt  # more than a label: what the chart shows
    alts = " ".join(img["alt"] for img in images)
    for s, story in zip(demo_run.profiles.segments, demo_run.stories, strict=True):
        assert f"{story.name} {fmt.percent(s.share)}" in alts  # "Premium-savers 53 %"
    assert "Bar chart of segment shares: " in alts


def test_pdf_figures_carry_the_same_alt_texts(demo_run):
    html_alts = {img["alt"] for img in _parsed(demo_run.html).images}
    with pikepdf.open(demo_run.pdf_path) as pdf:
        figures = _figures(pdf)
    assert figures and all(figures)
    assert set(figures) <= html_alts


def test_tables_have_header_cells_with_scope(demo_run):
    headers = _parsed(demo_run.html).headers
    assert headers
    assert all(h.get("scope") in ("col", "row") for h in headers)


# --------------------------------------------------------------------------- alt texts


def test_alt_texts_say_the_numbers(demo_run):
    a = demo_run.analysis
    specs = {f: a.dictionary.column(f) for f in a.profiles.features}
    text = alt_text.sizes(a.profiles, a.stories, "respondents")
    assert text.startswith("Bar chart of segment shares: ")
    assert all(f"({s.size:,} respondents)" in text for s in a.profiles.segments)
    heat = alt_text.heatmap(a.profiles, a.stories, specs, "respondents")
    first = a.profiles.segments[0].features[0]
    assert (
        f"{fmt.value(specs[first.column], first.segment_mean)} ({fmt.signed_sd(first.z)})" in heat
    )
    elbow = alt_text.elbow(a.k_choice)
    assert f"chosen k = {a.k_choice.k}" in elbow
    assert all(f"k = {e.k}: {fmt.number(e.inertia)}" in elbow for e in a.k_choice.evidence)
    seg, story = a.profiles.segments[0], a.stories[0]
    bars = alt_text.traits(seg, story, specs, "respondents")
    largest = max(seg.features, key=lambda f: abs(f.z))
    assert (
        bars.index(largest.label)
        < min(bars.index(f.label) for f in seg.features if f is not largest)
        if len(seg.features) > 1
        else largest.label in bars
    )


# --------------------------------------------------------------------------- contrast


def _declared(prop: str) -> set[str]:
    return {c.lower() for c in re.findall(rf"(?<![-\w]){prop}:\s*(#[0-9a-fA-F]{{3,6}})\b", CSS)}


def test_wcag_contrast_formula():
    assert palette.contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert palette.contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1.0)
    assert palette.contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


def test_every_text_colour_contrasts_with_every_background():
    """Every text colour in brief.css on every background it declares (and white): >= 4.5:1,
    WCAG 2.x AA for body text, however the classes combine."""
    texts = _declared("color")
    backgrounds = _declared("background") | {"#ffffff"}
    assert len(texts) >= 5 and len(backgrounds) >= 5
    low = [
        (t, b, round(palette.contrast_ratio(t, b), 2))
        for t, b in itertools.product(texts, backgrounds)
        if palette.contrast_ratio(t, b) < 4.5
    ]
    assert not low


def test_mail_body_text_contrast():
    html = (packaged_template_dir() / "mail_body.html.j2").read_text()
    for colour in re.findall(r"color:\s*(#[0-9a-fA-F]{3,6})", html):
        assert palette.contrast_ratio(colour, "#ffffff") >= 4.5, colour


# --------------------------------------------------------------------------- colour vision


def test_cvd_simulation_matches_the_published_model():
    # Machado 2009: full protanopia and deuteranopia map pure red and green onto yellows and
    # browns (red and green close together), tritanopia keeps red and green apart.
    red, green = "#ff0000", "#00ff00"
    normal = palette.delta_e(
        palette.lab(palette.simulate(red, None)), palette.lab(palette.simulate(green, None))
    )
    for deficiency in ("protanopia", "deuteranopia"):
        seen = palette.delta_e(
            palette.lab(palette.simulate(red, deficiency)),
            palette.lab(palette.simulate(green, deficiency)),
        )
        assert seen < normal / 2
    assert palette.lab(palette.simulate("#ffffff", "deuteranopia"))[0] == pytest.approx(
        100, abs=0.5
    )


@pytest.mark.parametrize("deficiency", [None, "protanopia", "deuteranopia", "tritanopia"])
def test_default_palette_distinguishable_under_colour_vision_deficiency(deficiency):
    """Every pair of the first k default colours stays apart in CIELAB (ΔE76) as seen with the
    deficiency: >= 13 up to five segments, >= 10 up to ten (ΔE 2.3 is just noticeable)."""
    for k in range(2, len(palette.COLORBLIND) + 1):
        distance, a, b = palette.closest_pair(palette.segment_colors(k), deficiency)
        assert distance >= (13 if k <= 5 else 10), (k, a, b, distance)
