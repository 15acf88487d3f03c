"""Edge stage — email: send a run's briefs to their owners over SMTP.

The overview brief (brief.pdf) goes to the `overview` addresses of a recipients file and each
segment's own brief (segments/<slug>.pdf) to that segment's owners. Everything is checked before
the first message leaves: the run folder, the recipients file (unknown segments, invalid
addresses), the sender and subject, the attachments.

Safe batches: every accepted message is appended to `send-log.jsonl` in the run folder and
fsynced before the next one is sent. A message is identified by a stable key (the run's
summary.json hash + the attachment's name and hash), and the log records which addresses have
it; a rerun sends each key only to addresses that do not have it yet. So a batch that failed
half-way is resumed by running the same command again: no duplicates, nothing lost. (Delivery is
at-least-once: if the connection drops after the server took a message but before it said so,
the rerun sends that one message again.)

The password is never read from an option or a file: the CLI takes it from the environment
variable REPORTGEN_SMTP_PASSWORD, keeps it out of reprs, and server replies are never shown raw
after authentication failures.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import json
import os
import re
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, Literal

import yaml

from reportgen import __version__
from reportgen.errors import ConfigError, InputError, ReportgenError
from reportgen.report.render import segment_brief_name

PASSWORD_ENV = "REPORTGEN_SMTP_PASSWORD"
CAFILE_ENV = "REPORTGEN_SMTP_CAFILE"
SEND_LOG = "send-log.jsonl"
OUTBOX = "outbox"
OVERVIEW_PDF = "brief.pdf"
DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}

Security = Literal["none", "starttls", "ssl"]
Status = Literal["sent", "skipped", "failed", "written"]

# A plain addr-spec: dot-atom local part, a domain of DNS labels with at least one dot.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
ADDRESS_RE = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+")
SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,80}")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]+")
LONG_BASE64_RE = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")


class MailError(InputError):
    """The run folder, the recipients file or an email option cannot be used (exit code 2)."""


class SendLogError(ReportgenError):
    """A message went out but could not be recorded: stop before sending more (exit code 1)."""

    exit_code = 1


# ---------------------------------------------------------------------------------------------
# Inputs: the run folder and the recipients file


@dataclass(frozen=True)
class RunSegment:
    id: int
    name: str
    slug: str
    size: int
    share: float
    headline: str
    angle: str

    @property
    def brief(self) -> str:
        return segment_brief_name(self.slug)


@dataclass(frozen=True)
class RunBriefs:
    """What the email stage needs from a run folder (read from its summary.json)."""

    folder: Path
    title: str
    generated_at: str
    n_kept: int
    run_hash: str  # sha256 of summary.json: identifies this run's results
    segments: tuple[RunSegment, ...]

    @property
    def date_text(self) -> str:
        try:
            when = datetime.fromisoformat(self.generated_at.replace("Z", "+00:00"))
        except ValueError:
            return self.generated_at
        return f"{when.day} {when:%B %Y}"

    def segment(self, segment_id: int) -> RunSegment:
        return next(s for s in self.segments if s.id == segment_id)


def load_run(run_dir: Path | str) -> RunBriefs:
    folder = Path(run_dir)
    summary_path = folder / "summary.json"
    if not summary_path.is_file():
        raise MailError(f"{folder} is not a reportgen run folder: no summary.json")
    raw = summary_path.read_bytes()
    try:
        summary = json.loads(raw)
        segments = tuple(
            RunSegment(
                id=int(s["id"]),
                name=str(s["name"]),
                slug=str(s["slug"]),
                size=int(s["size"]),
                share=float(s["share"]),
                headline=str(s["headline"]),
                angle=str(s["angle"]),
            )
            for s in summary["segments"]
        )
        title = str(summary["title"])
        generated_at = str(summary["generated_at"])
        n_kept = int(summary["rows"]["kept"])
    except (ValueError, KeyError, TypeError) as exc:
        raise MailError(f"{summary_path} is not a reportgen summary: {exc}") from exc
    for s in segments:
        # The slug becomes a path inside the run folder: never let it point elsewhere.
        if not SLUG_RE.fullmatch(s.slug):
            raise MailError(f"{summary_path}: segment {s.id} has an unsafe slug {s.slug!r}")
    return RunBriefs(
        folder=folder,
        title=title,
        generated_at=generated_at,
        n_kept=n_kept,
        run_hash=hashlib.sha256(raw).hexdigest(),
        segments=segments,
    )


@dataclass(frozen=True)
class Recipients:
    overview: tuple[str, ...]
    segments: tuple[tuple[int, tuple[str, ...]], ...]  # (segment id, addresses), in run order


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


def _match_segment(key: Any, run: RunBriefs) -> RunSegment | None:
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


def parse_recipients(data: Any, run: RunBriefs, source: str = "recipients file") -> Recipients:
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


def read_recipients(path: Path | str, run: RunBriefs) -> Recipients:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MailError(f"cannot read recipients file {path}: {exc.strerror}") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise MailError(f"recipients file {path} is not valid YAML: {_one_line(str(exc))}") from exc
    return parse_recipients(data, run, source=f"recipients file {path}")


# ---------------------------------------------------------------------------------------------
# Settings


@dataclass(frozen=True)
class EmailConfig:
    """Everything `reportgen email` needs; validated once at construction."""

    run_dir: Path
    recipients_path: Path
    sender: str
    smtp_host: str = "localhost"
    smtp_port: int | None = None  # default: 25, 587 with STARTTLS, 465 with SSL
    security: Security = "none"
    smtp_user: str | None = None
    password: str | None = field(default=None, repr=False)  # from REPORTGEN_SMTP_PASSWORD
    subject: str | None = None  # '{segment}', '{title}', '{date}' are filled in
    dry_run: bool = False
    cafile: Path | None = None  # extra CA to trust (e.g. a company or test CA)
    timeout: float = 30.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "run_dir", Path(self.run_dir))
        object.__setattr__(self, "recipients_path", Path(self.recipients_path))
        if self.cafile is not None:
            object.__setattr__(self, "cafile", Path(self.cafile))
        try:
            object.__setattr__(self, "sender", check_address(self.sender))
        except ValueError as exc:
            raise ConfigError(f"--from: {exc}") from exc
        if self.subject is not None:
            if CONTROL_RE.search(self.subject) or not self.subject.strip():
                raise ConfigError("--subject must be one non-empty line (no line breaks)")
            if len(self.subject) > 200:
                raise ConfigError("--subject is longer than 200 characters")
        if self.security not in DEFAULT_PORTS:
            raise ConfigError(f"unknown SMTP security {self.security!r}")
        if not self.smtp_host or CONTROL_RE.search(self.smtp_host) or " " in self.smtp_host:
            raise ConfigError(f"--smtp-host {self.smtp_host!r} is not a host name")
        if self.smtp_port is not None and not 0 < self.smtp_port < 65536:
            raise ConfigError(f"--smtp-port must be between 1 and 65535 (got {self.smtp_port})")
        if self.cafile is not None and not self.cafile.is_file():
            raise ConfigError(f"CA file not found: {self.cafile}")
        if self.smtp_user is not None and not self.dry_run:
            if self.security == "none":
                raise ConfigError(
                    "--smtp-user needs --starttls or --ssl: the password is never sent unencrypted"
                )
            if not self.password:
                raise ConfigError(f"--smtp-user is set but {PASSWORD_ENV} is empty or unset")

    @property
    def port(self) -> int:
        return self.smtp_port or DEFAULT_PORTS[self.security]


# ---------------------------------------------------------------------------------------------
# What to send: pure planning and message building


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
    text = f"{run_hash}\n{attachment}\n{hashlib.sha256(pdf).hexdigest()}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def plan(run: RunBriefs, recipients: Recipients) -> list[Delivery]:
    """The batch, overview first then segments in the run's order; fails if a PDF is missing."""
    wanted: list[tuple[str, RunSegment | None, tuple[str, ...], str]] = []
    if recipients.overview:
        wanted.append(("overview", None, recipients.overview, OVERVIEW_PDF))
    for seg_id, addresses in recipients.segments:
        seg = run.segment(seg_id)
        wanted.append((seg.name, seg, addresses, seg.brief))
    missing = [name for _, _, _, name in wanted if not (run.folder / name).is_file()]
    if missing:
        raise MailError(
            f"missing in {run.folder}: {', '.join(missing)} (re-run `reportgen brief` "
            "to write the per-segment briefs)"
        )
    out = []
    for label, seg, addresses, name in wanted:
        pdf = (run.folder / name).read_bytes()
        out.append(
            Delivery(
                key=message_key(run.run_hash, name, pdf),
                label=label,
                segment=seg,
                recipients=addresses,
                attachment=name,
                pdf=pdf,
            )
        )
    return out


def _clean(text: str) -> str:
    """Untrusted text (names, titles) made safe for a header line."""
    return " ".join(CONTROL_RE.sub(" ", text).split())


def subject_for(delivery: Delivery, run: RunBriefs, template: str | None) -> str:
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
    return _clean(text)


def _size_line(seg: RunSegment, run: RunBriefs) -> str:
    return f"{seg.size:,} of {run.n_kept:,} ({100 * seg.share:.0f} %)"


def text_body(delivery: Delivery, run: RunBriefs) -> str:
    lines: list[str] = []
    if delivery.segment is None:
        lines += [
            f"{run.title}: segment brief of {run.date_text}.",
            "",
            f"{run.n_kept:,} segmented into {len(run.segments)} segments:",
            "",
        ]
        for s in run.segments:
            lines += [
                f"* {s.name}: {_size_line(s, run)}",
                f"  What sets it apart: {s.headline}.",
                f"  Marketing angle: {s.angle}",
                "",
            ]
        lines += [
            f"The full brief is attached ({delivery.filename}): every segment's page, the "
            "method and the evidence."
        ]
    else:
        s = delivery.segment
        lines += [
            f'{s.name}: your segment\'s brief from "{run.title}", {run.date_text}.',
            "",
            f"Size: {_size_line(s, run)}.",
            "",
            f"What sets it apart: {s.headline}.",
            "",
            f"Suggested marketing angle: {s.angle}",
            "",
            f"The attached PDF ({delivery.filename}) has the segment's page and how the "
            "segments were found.",
        ]
    lines += ["", "-- ", f"Sent by reportgen {__version__}."]
    return "\n".join(lines) + "\n"


def html_body(delivery: Delivery, run: RunBriefs) -> str:
    e = html.escape
    style = "font-family: Arial, Helvetica, sans-serif; font-size: 14px; color: #1d1d1f;"
    parts = [f'<!DOCTYPE html><html><body style="{style}">']
    if delivery.segment is None:
        parts.append(
            f"<h2>{e(run.title)}</h2><p>Segment brief of {e(run.date_text)}: "
            f"{run.n_kept:,} segmented into {len(run.segments)} segments.</p>"
        )
        parts.append('<table cellpadding="6" style="border-collapse: collapse;">')
        parts.append(
            "<tr><th align=left>Segment</th><th align=left>Size</th>"
            "<th align=left>What sets it apart</th>"
            "<th align=left>Marketing angle</th></tr>"
        )
        for s in run.segments:
            parts.append(
                f"<tr valign=top><td><b>{e(s.name)}</b></td><td>{e(_size_line(s, run))}"
                f"</td><td>{e(s.headline)}</td><td>{e(s.angle)}</td></tr>"
            )
        parts.append(
            f"</table><p>The full brief is attached ({e(delivery.filename)}): every "
            "segment's page, the method and the evidence.</p>"
        )
    else:
        s = delivery.segment
        parts.append(
            f"<h2>{e(s.name)}</h2><p>Your segment's brief from "
            f"&ldquo;{e(run.title)}&rdquo;, {e(run.date_text)}.</p>"
            f"<p><b>Size:</b> {e(_size_line(s, run))}</p>"
            f"<p><b>What sets it apart:</b> {e(s.headline)}.</p>"
            f"<p><b>Suggested marketing angle:</b> {e(s.angle)}</p>"
            f"<p>The attached PDF ({e(delivery.filename)}) has the segment's page and "
            "how the segments were found.</p>"
        )
    parts.append(
        f'<p style="color: #777; font-size: 12px;">Sent by reportgen {__version__}.</p>'
        "</body></html>"
    )
    return "\n".join(parts) + "\n"


def build_message(
    delivery: Delivery, run: RunBriefs, to: tuple[str, ...], sender: str, subject: str | None = None
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


# ---------------------------------------------------------------------------------------------
# The send log


class SendLog:
    """JSON lines, one per message the server accepted; appended and fsynced one by one."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def delivered(self) -> dict[str, set[str]]:
        """Message key -> addresses (lower case) that already have it."""
        out: dict[str, set[str]] = {}
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return out
        for line in lines:
            try:
                rec = json.loads(line)
                if rec.get("status") == "sent":
                    out.setdefault(rec["key"], set()).update(a.lower() for a in rec["to"])
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # a line cut short by a crash: that message counts as not delivered
        return out

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with open(self.path, "a+b") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell():  # start on a fresh line even after a torn write
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    line = "\n" + line
            fh.write(line.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One sender per run folder at a time: two at once would both send the same messages."""
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock, the log still prevents sequential duplicates
            yield
            return
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            fh = open(lock_path, "a")  # noqa: SIM115 - closed below, after the batch
        except OSError as exc:
            raise MailError(
                f"cannot write the send log in {self.path.parent}: {exc.strerror}"
            ) from exc
        with fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                raise MailError(
                    f"another `reportgen email` is sending from {self.path.parent}"
                ) from exc
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


# ---------------------------------------------------------------------------------------------
# Delivery


@dataclass(frozen=True)
class Outcome:
    label: str
    recipients: tuple[str, ...]
    status: Status
    detail: str = ""
    path: Path | None = None  # the .eml file of a dry run


@dataclass(frozen=True)
class EmailReport:
    outcomes: tuple[Outcome, ...]
    dry_run: bool
    unaddressed: tuple[str, ...]  # segments nobody receives
    log_path: Path
    outbox: Path | None = None

    def count(self, status: Status) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def ok(self) -> bool:
        return self.count("failed") == 0


class DeliveryError(Exception):
    """SMTP trouble with one message, already described in one safe line."""


class ConnectError(DeliveryError):
    """No usable SMTP session (connection, TLS or login failed): nothing more can be sent."""


def tls_context(cafile: Path | None = None) -> ssl.SSLContext:
    """System CAs (+ an extra CA file); certificate and host name always verified."""
    ctx = ssl.create_default_context()
    if cafile is not None:
        ctx.load_verify_locations(cafile=str(cafile))
    return ctx


def describe_error(exc: BaseException, secrets: tuple[str, ...] = ()) -> str:
    """One line about an SMTP/TLS/socket error that cannot leak the password."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        text = f"authentication failed (server said {exc.smtp_code})"  # reply text not shown
    elif isinstance(exc, smtplib.SMTPRecipientsRefused):
        text = "all recipients refused: " + ", ".join(
            f"{addr} ({code})" for addr, (code, _) in exc.recipients.items()
        )
    elif isinstance(exc, smtplib.SMTPResponseException):
        reply = (
            exc.smtp_error.decode("utf-8", "replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        text = f"server said {exc.smtp_code} {reply}"
    elif isinstance(exc, smtplib.SMTPNotSupportedError):
        text = f"server does not support it: {exc}"
    elif isinstance(exc, ssl.SSLCertVerificationError):
        text = (
            f"TLS certificate not trusted: {exc.verify_message} (pass the CA with --cafile or "
            f"{CAFILE_ENV})"
        )
    elif isinstance(exc, ssl.SSLError):
        text = f"TLS error: {exc.reason or exc}"
    elif isinstance(exc, smtplib.SMTPServerDisconnected):
        text = "server closed the connection"
    elif isinstance(exc, socket.timeout | TimeoutError):
        text = "timed out"
    elif isinstance(exc, OSError):
        text = exc.strerror or str(exc) or type(exc).__name__
    else:
        text = f"{type(exc).__name__}: {exc}"
    return redact(_one_line(text), secrets)[:300]


def redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    # AUTH PLAIN/LOGIN payloads are base64: never echo a long base64 token.
    return LONG_BASE64_RE.sub("***", text)


def _one_line(text: str) -> str:
    return " ".join(CONTROL_RE.sub(" ", text).split())


def _login(smtp: smtplib.SMTP, user: str, password: str) -> None:
    """AUTH PLAIN when offered (TLS is always on here), else smtplib's own choice.

    smtplib.login() retries a refused password with every other mechanism the server offers:
    one wrong password would count as several failed logins towards an account lock-out.
    """
    mechanisms = smtp.esmtp_features.get("auth", "").upper().split()
    if "PLAIN" in mechanisms:
        smtp.user, smtp.password = user, password
        smtp.auth("PLAIN", smtp.auth_plain)
    else:
        smtp.login(user, password)


class Mailer:
    """One SMTP session, opened lazily and reopened once after a dropped connection."""

    def __init__(self, config: EmailConfig) -> None:
        self.config = config
        self.smtp: smtplib.SMTP | None = None
        pw = config.password or ""
        user = config.smtp_user or ""
        self.secrets = tuple(
            s
            for s in (
                pw,
                base64.b64encode(pw.encode()).decode(),
                base64.b64encode(f"\0{user}\0{pw}".encode()).decode(),
            )
            if pw
        )

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        where = f"{c.smtp_host}:{c.port}"
        step = "cannot connect to"
        smtp: smtplib.SMTP | None = None
        try:
            if c.security == "ssl":
                smtp = smtplib.SMTP_SSL(
                    c.smtp_host, c.port, timeout=c.timeout, context=tls_context(c.cafile)
                )
            else:
                smtp = smtplib.SMTP(c.smtp_host, c.port, timeout=c.timeout)
            smtp.ehlo()
            if c.security == "starttls":
                step = "STARTTLS failed with"
                if not smtp.has_extn("starttls"):
                    raise ConnectError(f"{where} does not offer STARTTLS")
                smtp.starttls(context=tls_context(c.cafile))
                smtp.ehlo()
            if c.smtp_user is not None:
                step = "login failed at"
                _login(smtp, c.smtp_user, c.password or "")
        except ConnectError:
            self._drop(smtp)
            raise
        except (smtplib.SMTPException, OSError) as exc:
            self._drop(smtp)
            raise ConnectError(f"{step} {where}: {describe_error(exc, self.secrets)}") from None
        except BaseException:
            self._drop(smtp)
            raise
        return smtp

    @staticmethod
    def _drop(smtp: smtplib.SMTP | None) -> None:
        if smtp is not None:
            with contextlib.suppress(Exception):
                smtp.close()

    def send(self, msg: EmailMessage, to: tuple[str, ...]) -> dict[str, str]:
        """Send; return refused addresses -> reason. Raises DeliveryError if nothing was taken."""
        if self.smtp is None:
            self.smtp = self._connect()
        try:
            refused = self.smtp.send_message(msg, from_addr=self.config.sender, to_addrs=list(to))
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self.close()  # the next message reconnects
            raise DeliveryError(describe_error(exc, self.secrets)) from None
        except smtplib.SMTPException as exc:
            raise DeliveryError(describe_error(exc, self.secrets)) from None
        return {
            addr: describe_error(smtplib.SMTPResponseException(code, reply), self.secrets)
            for addr, (code, reply) in refused.items()
        }

    def close(self) -> None:
        if self.smtp is not None:
            with contextlib.suppress(Exception):
                self.smtp.quit()
            with contextlib.suppress(Exception):
                self.smtp.close()
            self.smtp = None


def _pending(delivery: Delivery, delivered: dict[str, set[str]]) -> tuple[str, ...]:
    have = delivered.get(delivery.key, set())
    return tuple(a for a in delivery.recipients if a.lower() not in have)


def email_briefs(
    config: EmailConfig, progress: Callable[[Outcome], None] | None = None
) -> EmailReport:
    """Check everything, then send (or, with dry_run, write .eml files); never raise on SMTP
    trouble: each message's outcome is in the report."""
    run = load_run(config.run_dir)
    recipients = read_recipients(config.recipients_path, run)
    deliveries = plan(run, recipients)
    addressed = {seg_id for seg_id, _ in recipients.segments}
    unaddressed = tuple(s.name for s in run.segments if s.id not in addressed)
    log = SendLog(run.folder / SEND_LOG)
    outcomes: list[Outcome] = []

    def record(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if progress is not None:
            progress(outcome)

    if config.dry_run:
        outbox = _write_outbox(config, run, deliveries, log.delivered(), record)
        return EmailReport(tuple(outcomes), True, unaddressed, log.path, outbox)

    with log.locked():
        delivered = log.delivered()
        mailer = Mailer(config)
        fatal: str | None = None
        try:
            for d in deliveries:
                to = _pending(d, delivered)
                if not to:
                    record(Outcome(d.label, d.recipients, "skipped", "already delivered"))
                    continue
                if fatal is not None:
                    record(Outcome(d.label, to, "failed", f"not sent: {fatal}"))
                    continue
                msg = build_message(d, run, to, config.sender, config.subject)
                try:
                    refused = mailer.send(msg, to)
                except DeliveryError as exc:
                    if isinstance(exc, ConnectError):
                        fatal = str(exc)
                    record(Outcome(d.label, to, "failed", str(exc)))
                    continue
                accepted = tuple(a for a in to if a not in refused)
                try:
                    log.append(
                        {
                            "status": "sent",
                            "key": d.key,
                            "to": list(accepted),
                            "attachment": d.attachment,
                            "subject": msg["Subject"],
                            "message_id": msg["Message-ID"],
                            "sent_at": datetime.now(tz=UTC).isoformat(timespec="seconds"),
                        }
                    )
                except OSError as exc:
                    raise SendLogError(
                        f"{d.label} was sent to {', '.join(accepted)} but the send log "
                        f"{log.path} cannot be written ({exc.strerror}); stopped so that no "
                        "more goes out unrecorded. A rerun would send that message again."
                    ) from exc
                if refused:
                    record(
                        Outcome(
                            d.label,
                            tuple(refused),
                            "failed",
                            "refused: " + "; ".join(f"{a}: {why}" for a, why in refused.items()),
                        )
                    )
                else:
                    record(Outcome(d.label, to, "sent"))
        finally:
            mailer.close()
    return EmailReport(tuple(outcomes), False, unaddressed, log.path)


def _write_outbox(
    config: EmailConfig,
    run: RunBriefs,
    deliveries: list[Delivery],
    delivered: dict[str, set[str]],
    record: Callable[[Outcome], None],
) -> Path:
    """One .eml per message that a real send would send now; the outbox holds nothing else."""
    outbox = run.folder / OUTBOX
    try:
        outbox.mkdir(exist_ok=True)
        for old in outbox.glob("*.eml"):
            old.unlink()
    except OSError as exc:
        raise MailError(f"cannot write the outbox {outbox}: {exc.strerror}") from exc
    for n, d in enumerate(deliveries, start=1):
        to = _pending(d, delivered)
        if not to:
            record(Outcome(d.label, d.recipients, "skipped", "already delivered"))
            continue
        msg = build_message(d, run, to, config.sender, config.subject)
        stem = "overview" if d.segment is None else d.segment.slug
        path = outbox / f"{n:02d}-{stem}.eml"
        path.write_bytes(msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")))
        record(Outcome(d.label, to, "written", path=path))
    return outbox
