"""Staged outputs (reportgen.deliver.files): formula-safe CSV, streamed and background CSV with the
same bytes, all-or-nothing publishing, owned folders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reportgen.deliver import files as deliver
from reportgen.errors import ReportgenError


def test_csv_neutralises_formulas():
    df = pd.DataFrame(
        {"id": ['=HYPERLINK("x")', "+1", "@SUM(A1)", "ok", "-2"], "v": [1.0, -2.5, 3, 4, 5]}
    )
    text = deliver.csv_bytes(df).decode()
    assert "'=HYPERLINK" in text and "'+1" in text and "'@SUM" in text and "'-2" in text
    assert ",-2.5" in text  # numbers stay numbers


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


def test_csv_in_background_writes_the_same_bytes_and_raises_its_errors(tmp_path, monkeypatch):
    import hashlib

    from reportgen.deliver import files as deliver

    frame = pd.DataFrame({"id": ["=x", "a,b", "c"] * 1000, "v": np.arange(3000) / 7})
    with deliver.staged_outputs(tmp_path / "out") as staging:
        with deliver.csv_in_background(staging, "assignments.csv", frame) as job:
            pass
        assert job.sha256 == hashlib.sha256(deliver.csv_bytes(frame)).hexdigest()
    assert (tmp_path / "out" / "assignments.csv").read_bytes() == deliver.csv_bytes(frame)

    class Boom(Exception):
        pass

    # A failure in the block waits for the writer, then leaves the output folder as it was.
    with (
        pytest.raises(Boom),
        deliver.staged_outputs(tmp_path / "new") as staging,
        deliver.csv_in_background(staging, "assignments.csv", frame),
    ):
        raise Boom
    assert not (tmp_path / "new").exists()

    # A failure while writing is raised when the block ends (a disk error becomes the one-line
    # ReportgenError, as for any staged file), and nothing is moved into place.
    def broken(frame, fh):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(deliver, "write_csv", broken)
    with (
        pytest.raises(ReportgenError, match="No space left"),
        deliver.staged_outputs(tmp_path / "full") as staging,
        deliver.csv_in_background(staging, "assignments.csv", frame),
    ):
        pass
    assert not (tmp_path / "full").exists()


def test_write_outputs_is_all_or_nothing(tmp_path):
    out = tmp_path / "out"
    deliver.write_outputs(out, {"a.txt": b"1", "sub/b.txt": b"2"})
    assert (out / "a.txt").read_bytes() == b"1" and (out / "sub/b.txt").read_bytes() == b"2"
    assert not [p for p in out.iterdir() if p.name.startswith(".reportgen-staging")]


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
