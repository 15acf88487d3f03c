"""Edge stage — email: send a run's briefs to their owners over SMTP.

The overview brief (brief.pdf) goes to the `overview` addresses of a recipients file and each
segment's own brief (segments/<slug>.pdf) to that segment's owners. Everything is checked before
the first message leaves: the run folder, the recipients file (unknown segments, invalid
addresses), the sender and subject, the attachments.

The parts, each importing only those above it in this list:
- `errors`: MailError, SendLogError;
- `recipients`: the recipients file and addresses;
- `sendlog`: the fsynced send log that makes a failed batch resumable, and the outcome types;
- `smtp`: the settings, the SMTP session and error lines that never show the password;
- `compose`: the batch plan and each message, bodies rendered from Jinja templates;
- here: `email_briefs`, which ties them together, and the dry-run outbox.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from reportgen.deliver.mail.compose import (
    Delivery,
    build_message,
    html_body,
    message_key,
    plan,
    subject_for,
    text_body,
)
from reportgen.deliver.mail.errors import MailError, SendLogError
from reportgen.deliver.mail.recipients import (
    Recipients,
    check_address,
    parse_recipients,
    read_recipients,
)
from reportgen.deliver.mail.sendlog import EmailReport, Outcome, SendLog, Status
from reportgen.deliver.mail.smtp import (
    CAFILE_ENV,
    DEFAULT_PORTS,
    PASSWORD_ENV,
    ConnectError,
    DeliveryError,
    EmailConfig,
    Mailer,
    Security,
    describe_error,
    redact,
    tls_context,
)
from reportgen.errors import InputError
from reportgen.report.summary import RunSegment, RunSummary, read_summary
from reportgen.runs.folder import BRIEF_PDF, OUTBOX, SEND_LOG

__all__ = [
    "BRIEF_PDF",
    "CAFILE_ENV",
    "DEFAULT_PORTS",
    "OUTBOX",
    "PASSWORD_ENV",
    "SEND_LOG",
    "ConnectError",
    "Delivery",
    "DeliveryError",
    "EmailConfig",
    "EmailReport",
    "MailError",
    "Mailer",
    "Outcome",
    "Recipients",
    "RunSegment",
    "RunSummary",
    "Security",
    "SendLog",
    "SendLogError",
    "Status",
    "build_message",
    "check_address",
    "describe_error",
    "email_briefs",
    "html_body",
    "load_run",
    "message_key",
    "parse_recipients",
    "plan",
    "read_recipients",
    "redact",
    "subject_for",
    "text_body",
    "tls_context",
]

Record = Callable[[Outcome], None]


def load_run(run_dir: Path | str) -> RunSummary:
    """The run folder's summary (see report.summary), as a mail-stage error when unusable."""
    try:
        return read_summary(run_dir)
    except InputError as exc:
        raise MailError(str(exc)) from exc


def email_briefs(config: EmailConfig, progress: Record | None = None) -> EmailReport:
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
        _send_all(config, run, deliveries, log, record)
    return EmailReport(tuple(outcomes), False, unaddressed, log.path)


def _pending(delivery: Delivery, delivered: dict[str, set[str]]) -> tuple[str, ...]:
    """The delivery's addresses that the send log does not show as having it yet."""
    have = delivered.get(delivery.key, set())
    return tuple(a for a in delivery.recipients if a.lower() not in have)


def _skipped(delivery: Delivery) -> Outcome:
    return Outcome(delivery.label, delivery.recipients, "skipped", "already delivered")


def _send_all(
    config: EmailConfig, run: RunSummary, deliveries: list[Delivery], log: SendLog, record: Record
) -> None:
    """Send what the log does not have yet, over one session; after a connection, TLS or login
    failure the rest is recorded as failed without trying (each try would fail the same way)."""
    delivered = log.delivered()
    mailer = Mailer(config)
    fatal: str | None = None
    try:
        for d in deliveries:
            to = _pending(d, delivered)
            if not to:
                record(_skipped(d))
            elif fatal is not None:
                record(Outcome(d.label, to, "failed", f"not sent: {fatal}"))
            else:
                msg = build_message(d, run, to, config.sender, config.subject)
                fatal = _send_one(mailer, log, d, msg, to, record)
    finally:
        mailer.close()


def _send_one(
    mailer: Mailer,
    log: SendLog,
    d: Delivery,
    msg: EmailMessage,
    to: tuple[str, ...],
    record: Record,
) -> str | None:
    """Send one message, log it, record its outcome; return why nothing more can go, if so."""
    try:
        refused = mailer.send(msg, to)
    except DeliveryError as exc:
        record(Outcome(d.label, to, "failed", str(exc)))
        return str(exc) if isinstance(exc, ConnectError) else None
    accepted = tuple(a for a in to if a not in refused)
    _log_sent(log, d, msg, accepted)
    if refused:
        why = "; ".join(f"{a}: {reason}" for a, reason in refused.items())
        record(Outcome(d.label, tuple(refused), "failed", f"refused: {why}"))
    else:
        record(Outcome(d.label, to, "sent"))
    return None


def _log_sent(log: SendLog, d: Delivery, msg: EmailMessage, accepted: tuple[str, ...]) -> None:
    """Record a message the server took; if that fails, stop the batch: what is not in the log
    would be sent again by the rerun, so sending more would only add to the duplicates."""
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


def _write_outbox(
    config: EmailConfig,
    run: RunSummary,
    deliveries: list[Delivery],
    delivered: dict[str, set[str]],
    record: Record,
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
            record(_skipped(d))
            continue
        msg = build_message(d, run, to, config.sender, config.subject)
        stem = "overview" if d.segment is None else d.segment.slug
        path = outbox / f"{n:02d}-{stem}.eml"
        # CRLF line ends: what a server would store, so the file opens in any mail client.
        path.write_bytes(msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")))
        record(Outcome(d.label, to, "written", path=path))
    return outbox
