"""Issue 6 (scale): sample-then-all-rows k-means, the fast CSV reader, and the progress display."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

from reportgen import progress as progress_mod
from reportgen.analysis import cluster as cluster_mod
from reportgen.cli import app
from reportgen.io.load import read_table
from reportgen.pipeline import build_brief, example_data
from tests.synthetic import make_table

runner = CliRunner()


def _blobs(n: int, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-8, 8, size=(k, 4))
    return centres[rng.integers(0, k, size=n)] + rng.normal(size=(n, 4))


def test_final_fit_from_a_sample_matches_a_full_fit(monkeypatch):
    x = _blobs(6000, 4, seed=3)
    full = cluster_mod.cluster(x, k=4, seed=1)
    monkeypatch.setattr(cluster_mod, "FINAL_FIT_SAMPLE", 800)
    warm = cluster_mod.cluster(x, k=4, seed=1)
    assert warm.start_sample == 800 and full.start_sample == 6000
    assert np.array_equal(warm.labels, full.labels)
    assert np.allclose(warm.centers_scaled, full.centers_scaled)
    assert warm.inertia <= full.inertia * (1 + 1e-9)


def test_csv_reader_parses_numbers_once_and_keeps_text_ids(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(
        "customer_id,age,spend,code,plan\n007,31,12.5,1,Basic\n012,45,NA,2, Plus\n113,52,7,,Basic\n"
    )
    frame = read_table(path).frame
    assert frame["customer_id"].tolist() == ["007", "012", "113"]
    assert frame["age"].dtype.kind == "i" or str(frame["age"].dtype) == "Int64"
    assert frame["spend"].dtype == float and np.isnan(frame["spend"][1])
    assert frame["code"].astype("string").tolist()[:2] == ["1", "2"]
    assert frame["plan"].tolist() == ["Basic", "Plus", "Basic"]


def test_csv_fast_path_gives_the_same_brief_numbers_as_parquet(tmp_path):
    frame, _ = make_table(3, seed=5, n=600)
    frame.to_csv(tmp_path / "c.csv", index=False)
    frame.to_parquet(tmp_path / "c.parquet", index=False)
    a = build_brief(tmp_path / "c.csv", out_dir=tmp_path / "a", k=3)
    b = build_brief(tmp_path / "c.parquet", out_dir=tmp_path / "b", k=3)
    assert np.array_equal(a.segmentation.labels, b.segmentation.labels)
    assert np.allclose(a.prepared.scaled, b.prepared.scaled)


def test_library_reports_each_stage_to_a_progress_callback(tmp_path):
    data, dictionary = example_data()
    stages: list[str] = []
    build_brief(data, dictionary_path=dictionary, out_dir=tmp_path, progress=stages.append)
    assert stages[0].startswith("Reading") and stages[-1] == "Writing files"
    assert any(s.startswith("Choosing k") for s in stages)


def test_terminal_progress_draws_on_a_terminal_and_is_silent_otherwise(monkeypatch):
    with progress_mod.terminal_progress(enabled=False) as report:
        assert report is progress_mod.silent
    buf = io.StringIO()
    monkeypatch.setattr(
        "rich.console.Console",
        lambda **kw: Console(file=buf, force_terminal=True, width=80),
    )
    with progress_mod.terminal_progress(enabled=True) as report:
        report("Choosing k")
    assert "Choosing k" in buf.getvalue()


def test_cli_shows_no_progress_when_quiet_or_not_a_terminal(tmp_path):
    quiet = runner.invoke(app, ["demo", "--out", str(tmp_path / "q"), "--quiet"])
    assert quiet.exit_code == 0 and quiet.output == ""
    plain = runner.invoke(app, ["demo", "--out", str(tmp_path / "p")])  # CliRunner is no TTY
    assert plain.exit_code == 0
    assert "Choosing k" not in plain.output and "\x1b[" not in plain.output


def test_read_keeps_row_count_for_a_large_csv(tmp_path):
    n = 50_000
    rng = np.random.default_rng(0)
    pd.DataFrame({"id": [f"A{i:06d}" for i in range(n)], "x": rng.normal(size=n)}).to_csv(
        tmp_path / "big.csv", index=False
    )
    frame = read_table(tmp_path / "big.csv").frame
    assert len(frame) == n and frame["id"].iloc[0] == "A000000" and frame["x"].dtype == float


def test_assignments_csv_streams_in_chunks_with_the_same_bytes_and_hash(tmp_path):
    import hashlib

    from reportgen.deliver import files as deliver

    df = pd.DataFrame(
        {
            "id": ["=cmd", "ok", "+1", "@x", "a,b", "-3"] * 7,
            "segment_id": np.arange(42) % 3,
            "distance_to_center": np.linspace(0, 1, 42),
        }
    )
    whole = deliver.csv_bytes(df)
    assert b"".join(deliver.csv_chunks(df, chunk_rows=5)) == whole
    assert b"'=cmd" in whole and b"'+1" in whole and b"'@x" in whole
    with deliver.staged_outputs(tmp_path / "out") as staging:
        with staging.open("assignments.csv") as fh:
            sha = deliver.write_csv(df, fh)
        staging.write("model.json", b"{}")
    assert staging.final["assignments.csv"].read_bytes() == whole
    assert sha == hashlib.sha256(whole).hexdigest()
    assert deliver.csv_bytes(df.iloc[:0]) == b"id,segment_id,distance_to_center\n"


def test_staged_outputs_leave_nothing_when_the_run_fails_midway(tmp_path):
    from reportgen.deliver import files as deliver

    out = tmp_path / "out"
    with pytest.raises(RuntimeError), deliver.staged_outputs(out) as staging:
        staging.write("assignments.csv", b"x")
        raise RuntimeError("model failed")
    assert not out.exists()
    out.mkdir()
    (out / "brief.pdf").write_bytes(b"old")
    with pytest.raises(RuntimeError), deliver.staged_outputs(out) as staging:
        staging.write("brief.pdf", b"new")
        raise RuntimeError("model failed")
    assert [p.name for p in out.iterdir()] == ["brief.pdf"]
    assert (out / "brief.pdf").read_bytes() == b"old"


def test_profile_moments_and_large_kruskal_equal_the_per_segment_versions():
    from scipy import stats

    from reportgen.analysis import profile as profile_mod

    rng = np.random.default_rng(5)
    n = 250_000  # above KW_EXACT_MAX: the one-sort path
    index = rng.integers(0, 4, size=n)
    x = np.round(rng.normal(size=n) + 0.05 * index, 2)  # many ties
    h, p = profile_mod._kruskal(x, index, 4)
    h0, p0 = stats.kruskal(*[x[index == g] for g in range(4)])
    assert h == pytest_approx(h0) and p == pytest_approx(p0, abs=1e-300)
    moments = profile_mod._group_moments(x, index, 4)
    for g in range(4):
        m, rest, d = profile_mod._vs_rest(moments, g)
        assert m == pytest_approx(x[index == g].mean())
        assert rest == pytest_approx(x[index != g].mean())
        assert d == pytest_approx(profile_mod._cohen_d(x[index == g], x[index != g]))


def pytest_approx(value, **kw):
    return pytest.approx(value, rel=1e-9, **kw)
