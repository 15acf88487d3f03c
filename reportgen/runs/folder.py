"""The names of the files in a run folder: the one place every writer and reader takes them from."""

from __future__ import annotations

BRIEF_PDF = "brief.pdf"
BRIEF_HTML = "brief.html"
ASSIGNMENTS_FILE = "assignments.csv"
PROFILES_FILE = "profiles.csv"
SUMMARY_FILE = "summary.json"
MODEL_FILE = "model.json"
SEGMENT_FOLDER = "segments"
SEND_LOG = "send-log.jsonl"
OUTBOX = "outbox"

OUTPUT_FILES = (BRIEF_PDF, BRIEF_HTML, ASSIGNMENTS_FILE, PROFILES_FILE, SUMMARY_FILE, MODEL_FILE)


def segment_brief_name(slug: str) -> str:
    """Where a segment's own brief lives inside the run folder."""
    return f"{SEGMENT_FOLDER}/{slug}.pdf"
