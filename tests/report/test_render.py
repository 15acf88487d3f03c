"""Rendering (reportgen.report.render): escaping, template overrides, no external fetches, render
errors, and page 1 staying one page."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reportgen import build_brief
from reportgen.errors import RenderError
from reportgen.report import render
from tests.conftest import pdf_text


def test_autoescape_everywhere(tmp_path):
    (tmp_path / "t.html.j2").write_text("<p>{{ name }}</p>")
    html = render.render_html({"name": "<script>alert(1)</script>"}, tmp_path, template="t.html.j2")
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_user_template_overrides_packaged_one(tmp_path):
    (tmp_path / "brief.css").write_text("/* custom */")
    env = render.environment(tmp_path)
    assert env.get_template("brief.css").render() == "/* custom */"
    assert "segment" in env.get_template("segment.html.j2").filename


def test_pdf_never_fetches_outside_assets(tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not really a png")
    fetched = []

    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            fetched.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        html = (
            f'<img src="http://127.0.0.1:{port}/x.png">'
            f'<link rel="stylesheet" href="http://127.0.0.1:{port}/s.css">'
            f'<img src="{secret.as_uri()}"><p>hello</p>'
        )
        pdf = render.html_to_pdf(html)
    finally:
        server.shutdown()
    assert pdf.startswith(b"%PDF")
    assert fetched == []


def test_broken_template_is_a_render_error(tmp_path):
    (tmp_path / "brief.html.j2").write_text("{{ nope.missing }}")
    with pytest.raises(RenderError):
        render.render_html({}, tmp_path)


@pytest.mark.parametrize("k", [6, 8])
def test_page_one_stays_one_page_with_many_segments_and_features(tmp_path, k):
    """No dictionary, many segments, eleven CRM-style columns: page 1 must not spill over."""
    rng = np.random.default_rng(5)
    group = rng.integers(0, 6, 1200)
    frame = pd.DataFrame({"ID": [f"c{i}" for i in range(1200)]})
    for j, name in enumerate(
        ["MntWines", "MntFruits", "MntMeat", "NumWebPurchases", "NumStorePurchases",
         "NumDealsPurchases", "Recency", "Income", "Kidhome", "Teenhome", "Complain"]
    ):  # fmt: skip
        frame[name] = (10 * j + 8 * ((group + j) % 6) + rng.normal(0, 1, 1200)).round(1)
    csv = tmp_path / "crm.csv"
    frame.to_csv(csv, index=False)
    result = build_brief(csv, out_dir=tmp_path / "out", k=k, resamples=4)
    pages = [" ".join(p.split()) for p in pdf_text(result.pdf_path)]
    assert "How these segments were found" in pages[0]
    assert "Suggested marketing angles" in pages[0]
    assert "and 7 more" in pages[0]  # the feature list is shortened; the appendix has all 11
    assert "Spend on wines" in " ".join(pages)  # "MntWines" is spelled out
