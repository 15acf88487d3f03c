"""--pdf-archive: brief.pdf as PDF/A-3b that carries its own data, checked structurally with
pikepdf: the PDF/A identification in the XMP metadata, the output intent, every font embedded,
and assignments.csv, profiles.csv and model.json embedded as associated files, byte for byte the
files beside it."""

from __future__ import annotations

import pikepdf
import pytest
from typer.testing import CliRunner

from reportgen import build_demo
from reportgen.cli import app
from reportgen.report import render
from tests.conftest import pdf_text, two_group_frame

runner = CliRunner()
CARRIED = ("assignments.csv", "profiles.csv", "model.json")


@pytest.fixture(scope="module")
def archive_run(tmp_path_factory):
    import os

    os.environ["SOURCE_DATE_EPOCH"] = "1764288000"  # before the function-scoped fixtures run
    return build_demo(tmp_path_factory.mktemp("archive") / "out", pdf_archive=True)


def _fonts(pdf: pikepdf.Pdf):
    """Every font dictionary used by a page or by a form XObject on it."""
    seen = {}

    def walk(resources):
        if resources is None:
            return
        for font in (resources.get("/Font") or {}).values():
            seen[font.objgen] = font
        for xobject in (resources.get("/XObject") or {}).values():
            if xobject.get("/Subtype") == "/Form":
                walk(xobject.get("/Resources"))

    for page in pdf.pages:
        walk(page.obj.get("/Resources"))
    return list(seen.values())


def _embedded(font) -> bool:
    if font.get("/Subtype") == "/Type3":
        return True  # glyphs are drawn by the font's own content streams
    if font.get("/Subtype") == "/Type0":
        font = font.DescendantFonts[0]
    descriptor = font.get("/FontDescriptor")
    return descriptor is not None and any(
        key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")
    )


def test_pdfa3b_identification_in_xmp(archive_run):
    with pikepdf.open(archive_run.pdf_path) as pdf:
        meta = pdf.open_metadata()
        assert meta["pdfaid:part"] == "3"
        assert meta["pdfaid:conformance"] == "B"
        assert meta["dc:title"] == archive_run.summary["title"]


def test_output_intent_is_srgb_for_pdfa(archive_run):
    with pikepdf.open(archive_run.pdf_path) as pdf:
        intents = pdf.Root.OutputIntents
        assert len(intents) == 1
        assert intents[0].S == "/GTS_PDFA1"
        profile = intents[0].DestOutputProfile
        assert profile.N == 3 and len(profile.read_bytes()) > 1000  # an ICC profile, RGB


def test_every_font_embedded(archive_run):
    with pikepdf.open(archive_run.pdf_path) as pdf:
        fonts = _fonts(pdf)
        assert fonts
        assert all(_embedded(f) for f in fonts), [str(f.get("/BaseFont")) for f in fonts]


def test_attachments_are_the_files_beside_it(archive_run):
    folder = archive_run.config.out_dir
    with pikepdf.open(archive_run.pdf_path) as pdf:
        files = pdf.attachments
        assert sorted(files) == sorted(CARRIED)
        for name in CARRIED:
            spec = files[name]
            assert spec.get_file().read_bytes() == (folder / name).read_bytes(), name
            assert spec.obj.AFRelationship == "/Data"
        associated = sorted(str(f.F) for f in pdf.Root.AF)
        assert associated == sorted(CARRIED)  # each associated with the document once (/AF)
        subtypes = {name: str(files[name].get_file().mime_type) for name in CARRIED}
        assert subtypes["assignments.csv"] == "text/csv"
        assert subtypes["model.json"] == "application/json"


def test_archive_reads_like_the_brief(archive_run, demo_run):
    archived = " ".join(pdf_text(archive_run.pdf_path))
    plain = " ".join(pdf_text(demo_run.pdf_path))
    assert archived == plain  # the same brief, only its form differs


def test_plain_brief_is_not_pdfa_and_carries_nothing(demo_run):
    with pikepdf.open(demo_run.pdf_path) as pdf:
        assert "pdfaid:part" not in pdf.open_metadata()
        assert len(pdf.attachments) == 0


def test_archive_attachment_dates_follow_the_run_time(archive_run):
    with pikepdf.open(archive_run.pdf_path) as pdf:
        params = pdf.attachments["model.json"].get_file().obj.Params
        # SOURCE_DATE_EPOCH 1764288000 = 2025-11-28 00:00 UTC (tests/conftest.py)
        assert str(params.CreationDate) == "D:20251128000000Z"


def test_pdf_archive_through_the_cli(tmp_path):
    frame = two_group_frame(n=80)[0].drop(columns=["joined"])
    data = tmp_path / "c.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["brief", str(data), "--out", str(out), "--k", "2", "-q", "--pdf-archive"]
    )
    assert result.exit_code == 0, result.output
    with pikepdf.open(out / "brief.pdf") as pdf:
        assert pdf.open_metadata()["pdfaid:part"] == "3"
        got = pdf.attachments["assignments.csv"].get_file().read_bytes()
    assert got == (out / "assignments.csv").read_bytes()


def test_attachment_never_fetched():
    """Attachments come from memory: a name that looks like a URL is only a name."""
    pdf = render.archive_pdf(
        "<html lang='en'><title>t</title><p>x</p></html>",
        [render.Attachment("http://example.invalid/a.csv", b"a,b\n1,2\n")],
    )
    with pikepdf.open(__import__("io").BytesIO(pdf)) as doc:
        files = doc.attachments
        assert [f.get_file().read_bytes() for f in files.values()] == [b"a,b\n1,2\n"]


def test_monthly_script_keeps_an_archival_brief(tmp_path):
    """scripts/monthly.sh passes --pdf-archive: each month's brief.pdf carries its data."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    reportgen = os.path.join(os.path.dirname(sys.executable), "reportgen")
    if not os.path.exists(reportgen):
        pytest.skip("the reportgen script is not installed beside this Python")
    data = tmp_path / "customers.csv"
    two_group_frame(n=80)[0].drop(columns=["joined"]).to_csv(data, index=False)
    reports = tmp_path / "reports"
    env = dict(os.environ, REPORTGEN=reportgen, MONTH="2026-01")
    done = subprocess.run(
        [str(ROOT / "scripts" / "monthly.sh"), str(data), str(reports), "--k", "2"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    month = reports / "2026-01"
    with pikepdf.open(month / "brief.pdf") as pdf:
        assert pdf.open_metadata()["pdfaid:part"] == "3"
        assert sorted(pdf.attachments) == sorted(CARRIED)
        carried = pdf.attachments["assignments.csv"].get_file().read_bytes()
    assert carried == (month / "assignments.csv").read_bytes()
