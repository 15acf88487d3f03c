"""What to send: the batch plan and each message (subject, text and HTML bodies, the PDF).

Pure: nothing here touches the network or the send log. The bodies are Jinja templates in the
packaged `reportgen.templates` (mail_body.txt.j2, mail_body.html.j2); the HTML one is rendered
with autoescape on, because segment names, headlines and titles come from the data.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import jinja2

from reportgen.deliver.mail.errors import MailError
from reportgen.deliver.mail.recipients import Recipients, one_line
from reportgen.report.render import template_dirs
from reportgen.report.summary import RunSegment, RunSummary
from reportgen.report.theme import read_mail_theme
from reportgen.runs.folder import BRIEF_PDF
from reportgen.version import __version__

TEXT_TEMPLATE = "mail_body.txt.j2"
HTML_TEMPLATE = "mail_body.html.j2"


@dataclass(frozen=True)
class Delivery:
    """One message of the batch, before the send log is consulted."""

    key: str  # stable over reruns of the same run: run hash + attachment name + attachment hash
    label: str  # "overview" or the segment's name
    segment: RunSegment | None
    recipients: tuple[str, ...]
    attachment: str  # path inside the run folder
    pdf: bytes = field(repr=False)

    @property
    def filename(self) -> str:
        return "segment-brief.pdf" if self.segment is None else f"{self.segment.slug}.pdf"


def message_key(run_hash: str, attachment: str, pdf: bytes) -> str:
    """The message's identity in the send log: the same run and the same PDF give the same key."""
    text = f"{run_hash}\n{attachment}\n{hashlib.sha256(pdf).hexdigest()}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def plan(run: RunSummary, recipients: Recipients) -> list[Delivery]:
    """The batch, overview first then segments in the run's order; fails if a PDF is missing."""
    wanted: list[tuple[str, RunSegment | None, tuple[str, ...], str]] = []
    if recipients.overview:
        wanted.append(("overview", None, recipients.overview, BRIEF_PDF))
    for seg_id, addresses in recipients.segments:
        seg = run.segment(seg_id)
        wanted.append((seg.name, seg, addresses, seg.brief))
    # Every attachment is checked before the first message leaves, not half-way through.
    missing = [name for _, _, _, name in wanted if not (run.folder / name).is_file()]
    if missing:
        raise MailError(
            f"missing in {run.folder}: {', '.join(missing)} (re-run `reportgen brief` "
            "to write the per-segment briefs)"
        )
    out: list[Delivery] = []
    for label, segment, addresses, name in wanted:
        pdf = (run.folder / name).read_bytes()
        out.append(
            Delivery(
                key=message_key(run.run_hash, name, pdf),
                label=label,
                segment=segment,
                recipients=addresses,
                attachment=name,
                pdf=pdf,
            )
        )
    return out


def subject_for(delivery: Delivery, run: RunSummary, template: str | None) -> str:
    """The subject line: the default, or the user's with {segment}, {title}, {date} filled in."""
    segment = "overview" if delivery.segment is None else delivery.segment.name
    if template is None:
        template = (
            "Segment brief: {title} ({date})"
            if delivery.segment is None
            else "Segment brief: {segment} · {title} ({date})"
        )
    elif delivery.segment is not None and "{segment}" not in template:
        template = template + " · {segment}"
    # str.replace, not str.format: the template is user input and must not reach attributes.
    text = (
        template.replace("{segment}", segment)
        .replace("{title}", run.title)
        .replace("{date}", run.date_text)
    )
    return one_line(text)


@functools.cache
def _environment(autoescape: bool) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in template_dirs()]),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,  # a misspelt name fails loudly, not as blank text
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,  # the bodies end with a newline, as a text file does
    )


def _segment_view(seg: RunSegment, run: RunSummary) -> dict[str, str]:
    size_line = f"{seg.size:,} of {run.n_kept:,} ({100 * seg.share:.0f} %)"
    if seg.revenue_share is not None:
        size_line += f", {100 * seg.revenue_share:.0f} % of net revenue"
    return {"name": seg.name, "size_line": size_line, "headline": seg.headline, "angle": seg.angle}


def _context(delivery: Delivery, run: RunSummary) -> dict[str, Any]:
    """What both body templates see; numbers are formatted here, so the two bodies agree."""
    return {
        "title": run.title,
        "date": run.date_text,
        "n_kept": f"{run.n_kept:,}",
        "segments": [_segment_view(s, run) for s in run.segments],
        "segment": None if delivery.segment is None else _segment_view(delivery.segment, run),
        "filename": delivery.filename,
        "version": __version__,
        "theme": read_mail_theme(run.folder),  # the run's brand theme (report/theme.py)
    }


def text_body(delivery: Delivery, run: RunSummary) -> str:
    """The plain-text body: the overview's segment list, or the one segment's summary."""
    template = _environment(autoescape=False).get_template(TEXT_TEMPLATE)
    return template.render(_context(delivery, run))


def html_body(delivery: Delivery, run: RunSummary) -> str:
    """The HTML alternative of text_body, every value from the data escaped."""
    template = _environment(autoescape=True).get_template(HTML_TEMPLATE)
    return template.render(_context(delivery, run))


def build_message(
    delivery: Delivery,
    run: RunSummary,
    to: tuple[str, ...],
    sender: str,
    subject: str | None = None,
) -> EmailMessage:
    """A multipart/mixed message: text + HTML alternatives, then the PDF attachment."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject_for(delivery, run, subject)
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(idstring=delivery.key[:12], domain=sender.rpartition("@")[2])
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies
    msg["X-Reportgen-Key"] = delivery.key
    msg.set_content(text_body(delivery, run))
    msg.add_alternative(html_body(delivery, run), subtype="html")
    msg.add_attachment(
        delivery.pdf, maintype="application", subtype="pdf", filename=delivery.filename
    )
    return msg
