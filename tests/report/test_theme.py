"""Brand themes (reportgen.report.theme, --theme): validated before any work with one line that
names the key, paths relative to the theme file, the logo read once and embedded, and the look
applied to the PDF (every page), the HTML, the charts' palette, the per-segment PDFs, the
workbook and the email bodies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import openpyxl
import pikepdf
import pytest
from typer.testing import CliRunner

from reportgen import build_demo
from reportgen.cli import app
from reportgen.deliver.mail import compose
from reportgen.errors import ConfigError
from reportgen.report import theme as themes
from reportgen.report.palette import contrast_ratio
from reportgen.report.summary import read_summary
from tests.conftest import DATA, pdf_text

runner = CliRunner()
EXAMPLE = DATA / "example-theme.yaml"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f"
    b"\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x8f\x8c\xe9"
    b"\x0e\x00\x00\x00\x00IEND\xaeB`\x82"
)
SERIF = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")


@pytest.fixture(scope="module")
def themed(tmp_path_factory):
    import os

    os.environ["SOURCE_DATE_EPOCH"] = "1764288000"
    return build_demo(tmp_path_factory.mktemp("themed") / "out", theme_path=EXAMPLE)


def _theme_file(tmp_path, text: str) -> Path:
    path = tmp_path / "theme.yaml"
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("colour: '#fff'", "colour", "is not a theme key"),
        ("primary_color: red", "primary_color", "is not a colour"),
        ("primary_color: '#12345'", "primary_color", "is not a colour"),
        ("segment_colors: ['#111111', 'blue']", "segment_colors", "is not a colour"),
        ("segment_colors: '#111111'", "segment_colors", "must be a list"),
        ("logo: missing.png", "logo", "cannot be read"),
        ("logo: notes.txt", "logo", "neither a PNG nor an SVG"),
        ("font: No Such Family Anywhere", "font", "no installed font family"),
        ("font: fonts/missing.ttf", "font", "cannot be read"),
        ("font: 'x; } body {'", "font", "neither a font file nor a font family"),
        ("cover_page: 'yes please'", "cover_page", "must be true or false"),
        ("footer: [a, b]", "footer", "must be a line of text"),
        (f"classification: {'x' * 201}", "classification", "longer than 200"),
    ],
)
def test_bad_theme_is_one_line_naming_the_key(tmp_path, text, key, words):
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ConfigError) as err:
        themes.load_theme(_theme_file(tmp_path, text))
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"theme theme.yaml: {key} ")
    assert words in message


@pytest.mark.parametrize(
    ("text", "words"),
    [("a: [", "is not valid YAML (line"), ("- just\n- a list", "must be a mapping")],
)
def test_unreadable_theme_files(tmp_path, text, words):
    with pytest.raises(ConfigError, match=words.replace("(", r"\(")):
        themes.load_theme(_theme_file(tmp_path, text))


def test_missing_theme_file(tmp_path):
    with pytest.raises(ConfigError, match="theme nowhere.yaml: cannot be read"):
        themes.load_theme(tmp_path / "nowhere.yaml")


def test_svg_with_a_dtd_is_refused(tmp_path):
    (tmp_path / "l.svg").write_text(
        '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x "y">]>'
        '<svg xmlns="http://www.w3.org/2000/svg">&x;</svg>'
    )
    with pytest.raises(ConfigError, match="logo l.svg is neither a PNG nor an SVG"):
        themes.load_theme(_theme_file(tmp_path, "logo: l.svg"))


def test_paths_are_relative_to_the_theme_file(tmp_path, monkeypatch):
    (tmp_path / "brand").mkdir()
    (tmp_path / "brand" / "logo.png").write_bytes(PNG)
    path = tmp_path / "brand" / "acme.yaml"
    path.write_text("logo: logo.png\nprimary_color: '#7A1F5C'\nsegment_colors: ['#abc']\n")
    monkeypatch.chdir(tmp_path)  # not the theme's folder
    theme = themes.load_theme(Path("brand/acme.yaml"))
    assert theme.logo_uri.startswith("data:image/png;base64,")
    assert theme.logo_png == PNG
    assert theme.primary_color == "#7a1f5c" and theme.segment_colors == ("#aabbcc",)


def test_empty_theme_is_the_default_look(tmp_path):
    assert themes.load_theme(_theme_file(tmp_path, "")).is_default is False  # has a source
    theme = themes.load_theme(_theme_file(tmp_path, "# nothing yet\n"))
    assert theme.logo_uri is None and theme.footer == "" and not theme.cover_page


def test_installed_family_is_accepted():
    families = themes.installed_families()
    if "dejavu sans" not in families:
        pytest.skip("fontconfig does not list DejaVu Sans here")
    assert themes._installed("DejaVu Sans")


def test_light_primary_colour_never_becomes_faint_text():
    light = themes.Theme(primary_color="#e9c46a")
    assert light.heading_color == "#1d1d1f"
    dark = themes.Theme(primary_color="#7a1f5c")
    assert dark.heading_color == "#7a1f5c"
    for t in (light, dark):
        assert contrast_ratio(t.heading_color, "#ffffff") >= 4.5


def test_css_string_cannot_break_out():
    text = 'Acme "x"; } body { display: none } </style><script>'
    css = themes.css_string(text)
    inner = css[1:-1]
    assert css[0] == css[-1] == '"'
    assert all(c.isalnum() or c == "\\" for c in inner)


# --------------------------------------------------------------------------- through the CLI


def test_cli_bad_theme_exit_2_before_any_work(tmp_path):
    bad = _theme_file(tmp_path, "primary_color: 'not a colour'")
    result = runner.invoke(
        app, ["brief", str(tmp_path / "no-such-data.csv"), "--theme", str(bad), "-q"]
    )
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "primary_color" in lines[0]  # the theme, not the missing data


def test_demo_with_theme_through_the_cli(tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["demo", "--out", str(out), "--theme", str(EXAMPLE), "-q"])
    assert result.exit_code == 0, result.output
    assert "Acme Insurance" in " ".join(pdf_text(out / "brief.pdf"))


# --------------------------------------------------------------------------- applied everywhere


def test_classification_and_footer_on_every_page(themed):
    pages = pdf_text(themed.pdf_path)
    assert len(pages) >= 6
    for page in pages:
        assert "Internal" in page
        assert "Acme Insurance — internal" in page


def test_cover_page_comes_first(themed):
    first, second = (" ".join(p.split()) for p in pdf_text(themed.pdf_path)[:2])
    assert themed.summary["title"] in first
    assert "Customer segment brief".upper() in first.upper()
    assert "Executive summary" not in first and "Executive summary" in second


def test_logo_is_embedded_never_fetched(themed, tmp_path):
    html = themed.html
    assert 'src="data:image/svg+xml;base64,' in html
    assert "example-logo.svg" not in html
    assert "ACME" in pdf_text(themed.pdf_path)[0]  # the SVG logo's own text, drawn on the cover


def test_logo_read_once_then_file_may_go(tmp_path):
    shutil.copy(DATA / "example-logo.svg", tmp_path / "logo.svg")
    theme = themes.load_theme(_theme_file(tmp_path, "logo: logo.svg"))
    (tmp_path / "logo.svg").unlink()  # rendering needs only what load_theme read
    from reportgen.report import render

    pdf = render.html_to_pdf(f'<html lang="en"><img src="{theme.logo_uri}" alt="Logo"></html>')
    assert "ACME" in pdf_text(pdf)[0]  # drawn from the bytes read when the theme was loaded


def test_theme_colours_in_html_charts_and_segments(themed):
    assert "#7a1f5c" in themed.html  # headings and rules
    # The segments take the theme's colours in order (the palette of every chart and table).
    html = themed.html
    assert "--seg: #7a1f5c" in html and "--seg: #2a9d8f" in html
    assert '"DejaVu Serif"' in html


def test_per_segment_pdfs_are_themed(themed):
    briefs = [p for n, p in themed.files.items() if n.startswith("segments/")]
    assert briefs
    for path in briefs:
        text = " ".join(pdf_text(path))
        assert "Internal" in text and "Acme Insurance — internal" in text


def test_workbook_is_themed(themed):
    book = openpyxl.load_workbook(themed.config.out_dir / "brief.xlsx")
    summary = book["Summary"]
    header = next(r for r in summary.iter_rows() if r[0].value == "Segment")
    assert header[0].fill.fgColor.rgb.upper().endswith("7A1F5C")
    assert header[1].font.name == "DejaVu Serif"  # the theme's installed family
    assert book["Customers"]["A2"].font.name == "DejaVu Serif"  # the default cell format too
    assert any(c.value == "Classification: Internal" for row in summary.iter_rows() for c in row)
    assert "Internal" in summary.oddHeader.center.text
    assert "Acme Insurance" in summary.oddFooter.left.text


def test_email_bodies_take_the_theme(themed):
    folder = themed.config.out_dir
    assert json.loads((folder / "theme.json").read_text())["classification"] == "Internal"
    run = read_summary(folder)
    delivery = compose.Delivery("k", "overview", None, ("a@example.com",), "brief.pdf", b"%PDF")
    html = compose.html_body(delivery, run)
    text = compose.text_body(delivery, run)
    assert "color: #7a1f5c" in html and "Acme Insurance — internal" in html
    assert "Internal" in html
    assert text.startswith("[Internal]") and "Acme Insurance — internal" in text


def test_unthemed_run_writes_the_default_look(demo_run):
    look = json.loads((demo_run.config.out_dir / "theme.json").read_text())
    assert look == {"primary_color": "", "footer": "", "classification": ""}
    assert themes.read_mail_theme(demo_run.config.out_dir) == themes.DEFAULT


def test_hostile_footer_is_printed_not_run(tmp_path):
    theme = _theme_file(tmp_path, "footer: '\"; } body { display: none } </style><b>x'\n")
    result = build_demo(tmp_path / "out", theme_path=theme, resamples=0)
    pages = pdf_text(result.pdf_path)
    assert all('"; } body { display: none } </style><b>x' in p for p in pages)
    assert "Executive summary" in pages[0]  # the body was not hidden


@pytest.mark.skipif(not SERIF.exists(), reason="DejaVu Serif is not installed here")
def test_font_file_is_embedded_and_used(tmp_path):
    (tmp_path / "fonts").mkdir()
    shutil.copy(SERIF, tmp_path / "fonts" / "Brand.ttf")
    theme = _theme_file(tmp_path, "font: fonts/Brand.ttf\n")
    loaded = themes.load_theme(theme)
    assert loaded.font_family == themes.THEME_FAMILY and loaded.font_uri.startswith("data:font/")
    result = build_demo(tmp_path / "out", theme_path=theme, resamples=0)
    with pikepdf.open(result.pdf_path) as pdf:
        names = {
            str(f.get("/BaseFont"))
            for page in pdf.pages
            for f in (page.obj.Resources.get("/Font") or {}).values()
        }
    assert any("Reportgen-Theme" in n for n in names), names  # the @font-face of the file


def test_theme_font_reaches_the_charts_only_inside_its_block():
    import matplotlib

    from reportgen.report import charts

    with charts.theme_font("DejaVu Serif"), charts.chart_style():
        assert matplotlib.rcParams["font.family"][0] == "DejaVu Serif"
    with charts.chart_style():  # the next run, unthemed, draws in the default font again
        assert matplotlib.rcParams["font.family"][0] != "DejaVu Serif"


def test_theme_colours_merged_by_colour_blindness_are_pointed_out(tmp_path):
    # Burgundy and dark slate: 42 dE apart to most eyes, 5 with deuteranopia (simulated).
    assert "deuteranopia" in themes.colour_vision_note(["#7a1f5c", "#264653"])
    assert themes.colour_vision_note(["#7a1f5c", "#2a9d8f"]) == ""  # the demo's two
    theme = _theme_file(tmp_path, "segment_colors: ['#7a1f5c', '#264653']\n")
    result = build_demo(tmp_path / "out", theme_path=theme, resamples=0)
    text = " ".join(" ".join(pdf_text(result.pdf_path)).split())
    assert "#7a1f5c and #264653 are hard to tell apart with deuteranopia" in text
