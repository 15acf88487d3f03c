"""The recipients file (who gets which brief) and the addresses in it.

A recipients file is YAML: `overview:` lists the addresses that get the overview brief and
`segments:` maps a segment (by name, slug or id) to the addresses of its owners. It is checked
against the run as a whole and every problem is reported at once, so one fix-and-rerun is enough.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address
from pathlib import Path
from typing import Any

import yaml

from reportgen.deliver.mail.errors import MailError
from reportgen.report.summary import RunSegment, RunSummary

# A plain addr-spec: dot-atom local part, a domain of DNS labels with at least one dot.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
ADDRESS_RE = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class Recipients:
    overview: tuple[str, ...]
    segments: tuple[tuple[int, tuple[str, ...]], ...]  # (segment id, addresses), in run order


def one_line(text: str) -> str:
    """Untrusted text (names, titles, server replies) as one line: no header or log injection."""
    return " ".join(CONTROL_RE.sub(" ", text).split())


def check_address(value: Any) -> str:
    """A plain address 'name@example.com', or ValueError. No display names, no IDN."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not an address")
    text = value.strip()
    local, _, domain = text.rpartition("@")
    if not ADDRESS_RE.fullmatch(text) or len(text) > 254 or len(local) > 64:
        raise ValueError(f"{value!r} is not a valid address")
    try:
        Address(addr_spec=text)
    except (ValueError, IndexError, HeaderParseError) as exc:
        raise ValueError(f"{value!r} is not a valid address") from exc
    return f"{local}@{domain.lower()}"


def _address_list(value: Any, where: str, problems: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        problems.append(f"{where}: expected a list of addresses")
        return ()
    out: list[str] = []
    for item in items:
        try:
            address = check_address(item)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if address.lower() not in {a.lower() for a in out}:
            out.append(address)
    return tuple(out)


def _match_segment(key: Any, run: RunSummary) -> RunSegment | None:
    if isinstance(key, int) and not isinstance(key, bool):
        return next((s for s in run.segments if s.id == key), None)
    if not isinstance(key, str):
        return None
    text = key.strip()
    if text.isdigit():
        return next((s for s in run.segments if s.id == int(text)), None)
    for s in run.segments:
        if text == s.name:
            return s
    folded = text.casefold()
    return next((s for s in run.segments if folded in (s.name.casefold(), s.slug)), None)


def parse_recipients(data: Any, run: RunSummary, source: str = "recipients file") -> Recipients:
    """Validate a loaded recipients document against the run; report every problem at once."""
    if not isinstance(data, dict):
        raise MailError(f"{source}: expected 'overview:' and/or 'segments:' at the top level")
    problems: list[str] = []
    unknown = set(data) - {"overview", "segments"}
    if unknown:
        problems.append(f"unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    overview = _address_list(data.get("overview"), "overview", problems)
    raw_segments = data.get("segments") or {}
    found: dict[int, tuple[str, ...]] = {}
    if not isinstance(raw_segments, dict):
        problems.append("segments: expected segment name (or id) -> list of addresses")
        raw_segments = {}
    for key, value in raw_segments.items():
        seg = _match_segment(key, run)
        if seg is None:
            known = ", ".join(f"{s.id} {s.name}" for s in run.segments)
            problems.append(f"unknown segment {str(key)!r} (this run has: {known})")
            continue
        if seg.id in found:
            problems.append(f"segment {seg.name!r} is listed more than once")
            continue
        found[seg.id] = _address_list(value, f"segment {seg.name!r}", problems)
    if problems:
        raise MailError(f"{source}: " + "; ".join(problems))
    segments = tuple((s.id, found[s.id]) for s in run.segments if found.get(s.id))
    if not overview and not segments:
        raise MailError(f"{source}: no addresses: nobody to send the briefs to")
    return Recipients(overview=overview, segments=segments)


def read_recipients(path: Path | str, run: RunSummary) -> Recipients:
    """Read and validate a recipients file; unreadable or invalid YAML is a MailError."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MailError(f"cannot read recipients file {path}: {exc.strerror}") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise MailError(f"recipients file {path} is not valid YAML: {one_line(str(exc))}") from exc
    return parse_recipients(data, run, source=f"recipients file {path}")
