"""Render and deliver: escaping, no external fetches, formula-safe CSV, atomic writes."""

from __future__ import annotations

import pandas as pd
import pytest

from reportgen.deliver import files as deliver
from reportgen.errors import RenderError
from reportgen.report import render


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


def test_csv_neutralises_formulas():
    df = pd.DataFrame(
        {"id": ['=HYPERLINK("x")', "+1", "@SUM(A1)", "ok", "-2"], "v": [1.0, -2.5, 3, 4, 5]}
    )
    text = deliver.csv_bytes(df).decode()
    assert "'=HYPERLINK" in text and "'+1" in text and "'@SUM" in text and "'-2" in text
    assert ",-2.5" in text  # numbers stay numbers


def test_write_outputs_is_all_or_nothing(tmp_path):
    out = tmp_path / "out"
    deliver.write_outputs(out, {"a.txt": b"1", "sub/b.txt": b"2"})
    assert (out / "a.txt").read_bytes() == b"1" and (out / "sub/b.txt").read_bytes() == b"2"
    assert not [p for p in out.iterdir() if p.name.startswith(".reportgen-staging")]


def test_owned_folder_holds_only_the_latest_runs_files(tmp_path):
    (tmp_path / "segments").mkdir()
    (tmp_path / "segments" / "old-segment.pdf").write_bytes(b"from an earlier run")
    (tmp_path / "notes.txt").write_text("the user's own file")  # outside the owned folder
    with deliver.staged_outputs(tmp_path, owned=("segments",)) as staging:
        staging.write("segments/new-segment.pdf", b"%PDF")
        staging.write("brief.pdf", b"%PDF")
    assert sorted(p.name for p in (tmp_path / "segments").iterdir()) == ["new-segment.pdf"]
    assert (tmp_path / "notes.txt").exists()


def test_failed_run_keeps_the_earlier_segments(tmp_path):
    (tmp_path / "segments").mkdir()
    (tmp_path / "segments" / "old-segment.pdf").write_bytes(b"from an earlier run")
    with (
        pytest.raises(RuntimeError),
        deliver.staged_outputs(tmp_path, owned=("segments",)) as staging,
    ):
        staging.write("segments/new-segment.pdf", b"%PDF")
        raise RuntimeError("render failed")
    assert [p.name for p in (tmp_path / "segments").iterdir()] == ["old-segment.pdf"]


def test_a_smallest_segment_just_under_the_rule_is_not_shown_as_the_rule():
    from types import SimpleNamespace

    from reportgen.report import context as report

    kchoice = SimpleNamespace(min_share=0.05, k=2)

    def row(share):
        e = SimpleNamespace(
            k=3, inertia=1.0, silhouette=0.5, calinski_harabasz=10.0, davies_bouldin=1.0,
            gap=0.1, min_share=share, admissible=share >= 0.05,
        )  # fmt: skip
        return report._evidence_row(e, kchoice).smallest

    assert row(0.0495) == "4.95 %"  # below 5 %: not a bare "5 %" in red next to the rule
    assert row(0.048) == "4.8 %"
    assert row(0.049999) == "5.00 %"  # two decimals at most
    assert row(0.03) == "3 %"
    assert row(0.2) == "20 %"
