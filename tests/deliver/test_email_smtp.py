"""`reportgen email` against a real SMTP server (aiosmtpd) on loopback, and through the CLI."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import shutil
import socket
import ssl
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pypdf import PdfReader
from typer.testing import CliRunner

from reportgen.cli import app
from reportgen.deliver import mail

USER = "reporter"
PASSWORD = "correct-horse-battery-staple-42"
SENDER = "briefs@example.com"
RECIPIENTS = """\
overview:            # gets brief.pdf
  - cmo@example.com
segments:            # segment name (or id) -> addresses
  "Premium-savers":
    - pricing@example.com
  "Agent-seekers":
    - agency@example.com
    - agency-lead@example.com
"""
EXPECTED = {  # attachment -> envelope recipients
    "segment-brief.pdf": ["cmo@example.com"],
    "premium-savers.pdf": ["pricing@example.com"],
    "agent-seekers.pdf": ["agency@example.com", "agency-lead@example.com"],
}


# --- an SMTP server on loopback ----------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    authenticated: bool | None

    @property
    def message(self):
        return message_from_bytes(self.content, policy=policy.default)

    @property
    def pdf(self) -> tuple[str, bytes]:
        [part] = list(self.message.iter_attachments())
        return part.get_filename(), part.get_content()


class Recorder:
    """Keeps every accepted message; can reject the n-th DATA or refuse some recipients."""

    def __init__(self, reject_nth: int | None = None, refuse: tuple[str, ...] = ()) -> None:
        self.received: list[Received] = []
        self.data_commands = 0
        self.reject_nth = reject_nth
        self.refuse = refuse

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.data_commands += 1
        if self.data_commands == self.reject_nth:
            return "554 5.7.1 rejected by the test server"
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                envelope.original_content or envelope.content,
                session.authenticated,
            )
        )
        return "250 2.0.0 queued"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def smtp_server(handler, **kwargs):
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)  # handled=False: server sends the 535


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """A throw-away CA and a server certificate for 127.0.0.1 / localhost, made here."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder = tmp_path_factory.mktemp("certs")
    now = dt.datetime.now(dt.UTC)
    start, end = now - dt.timedelta(minutes=5), now + dt.timedelta(days=1)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("reportgen test CA"))
        .issuer_name(name("reportgen test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "server.pem").write_bytes(cert.public_bytes(pem))
    (folder / "server.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return folder


def server_tls(certs: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certs / "server.pem", certs / "server.key")
    return ctx


# --- a run folder per test ---------------------------------------------------------------------


@pytest.fixture
def run_dir(demo_run, tmp_path) -> Path:
    """A private copy of the session's demo run, so send logs never leak between tests."""
    out = tmp_path / "run"
    shutil.copytree(demo_run.config.out_dir, out)
    return out


@pytest.fixture
def recipients(tmp_path) -> Path:
    path = tmp_path / "recipients.yaml"
    path.write_text(RECIPIENTS)
    return path


def settings(run_dir: Path, recipients: Path, server: Controller, **kw) -> mail.EmailConfig:
    return mail.EmailConfig(
        run_dir=run_dir,
        recipients_path=recipients,
        sender=SENDER,
        smtp_host=server.hostname,
        smtp_port=server.port,
        timeout=10,
        **kw,
    )


def by_attachment(received: list[Received]) -> dict[str, Received]:
    out = {r.pdf[0]: r for r in received}
    assert len(out) == len(received), "one message per attachment"
    return out


def log_lines(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / mail.SEND_LOG).read_text().splitlines()]


# --- delivery ----------------------------------------------------------------------------------


def test_each_owner_receives_their_brief(run_dir, recipients, demo_run):
    handler = Recorder()
    with smtp_server(handler) as server:
        report = mail.email_briefs(settings(run_dir, recipients, server))
    assert (report.count("sent"), report.count("skipped"), report.count("failed")) == (3, 0, 0)
    got = by_attachment(handler.received)
    assert set(got) == set(EXPECTED)
    names = {s["slug"]: s["name"] for s in demo_run.summary["segments"]}
    for filename, rcpts in EXPECTED.items():
        r = got[filename]
        msg = r.message
        assert r.mail_from == SENDER and r.rcpt_tos == rcpts
        assert msg["To"] == ", ".join(rcpts) and msg["From"] == SENDER
        assert msg["Message-ID"] and msg["Date"]
        slug = filename.removesuffix(".pdf")
        if slug in names:
            assert names[slug] in msg["Subject"]
        assert demo_run.summary["title"] in msg["Subject"]
        assert msg.get_body(("plain",)) is not None and msg.get_body(("html",)) is not None
        _, pdf = r.pdf
        assert pdf.startswith(b"%PDF")
        reader = PdfReader(io.BytesIO(pdf))
        first = reader.pages[0].extract_text()
        if slug in names:
            assert first.startswith(names[slug])
            assert pdf == (run_dir / "segments" / filename).read_bytes()
        else:
            assert pdf == (run_dir / "brief.pdf").read_bytes()
    assert len(log_lines(run_dir)) == 3


def test_a_rerun_sends_nothing_twice(run_dir, recipients):
    handler = Recorder()
    with smtp_server(handler) as server:
        mail.email_briefs(settings(run_dir, recipients, server))
        again = mail.email_briefs(settings(run_dir, recipients, server))
    assert (again.count("sent"), again.count("skipped")) == (0, 3)
    assert len(handler.received) == 3


def test_a_recipient_added_later_gets_only_their_copy(run_dir, recipients):
    handler = Recorder()
    with smtp_server(handler) as server:
        mail.email_briefs(settings(run_dir, recipients, server))
        recipients.write_text(
            RECIPIENTS.replace(
                "- pricing@example.com", "- pricing@example.com\n    - cfo@example.com"
            )
        )
        again = mail.email_briefs(settings(run_dir, recipients, server))
    assert [o.status for o in again.outcomes] == ["skipped", "sent", "skipped"]
    assert handler.received[-1].rcpt_tos == ["cfo@example.com"]


def test_rejected_second_message_then_rerun_delivers_the_rest_once(run_dir, recipients):
    rejecting = Recorder(reject_nth=2)
    with smtp_server(rejecting) as server:
        first = mail.email_briefs(settings(run_dir, recipients, server))
    assert [o.status for o in first.outcomes] == ["sent", "failed", "sent"]
    assert "554" in first.outcomes[1].detail and not first.ok
    assert len(rejecting.received) == 2
    assert len(log_lines(run_dir)) == 2

    healthy = Recorder()
    with smtp_server(healthy) as server:
        second = mail.email_briefs(settings(run_dir, recipients, server))
    assert [o.status for o in second.outcomes] == ["skipped", "sent", "skipped"]
    assert second.ok
    everything = rejecting.received + healthy.received
    assert sorted(r.pdf[0] for r in everything) == sorted(EXPECTED), "each brief exactly once"
    assert by_attachment(healthy.received)["premium-savers.pdf"].rcpt_tos == ["pricing@example.com"]


def test_a_refused_recipient_is_retried_alone(run_dir, recipients):
    picky = Recorder(refuse=("agency-lead@example.com",))
    with smtp_server(picky) as server:
        first = mail.email_briefs(settings(run_dir, recipients, server))
    assert [o.status for o in first.outcomes] == ["sent", "sent", "failed"]
    assert first.outcomes[2].recipients == ("agency-lead@example.com",)
    assert by_attachment(picky.received)["agent-seekers.pdf"].rcpt_tos == ["agency@example.com"]

    healthy = Recorder()
    with smtp_server(healthy) as server:
        second = mail.email_briefs(settings(run_dir, recipients, server))
    assert second.ok and second.count("sent") == 1
    [retry] = healthy.received
    assert retry.rcpt_tos == ["agency-lead@example.com"] and retry.pdf[0] == "agent-seekers.pdf"


def test_server_down_fails_every_message_and_logs_nothing(run_dir, recipients):
    with smtp_server(Recorder()) as server:
        config = settings(run_dir, recipients, server)
    report = mail.email_briefs(config)  # the server is gone
    assert report.count("failed") == 3
    assert "cannot connect" in report.outcomes[0].detail
    assert not (run_dir / mail.SEND_LOG).exists()


# --- TLS and AUTH ------------------------------------------------------------------------------


@contextlib.contextmanager
def starttls_auth_server(certs, handler):
    with smtp_server(
        handler,
        tls_context=server_tls(certs),
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=authenticator,
    ) as server:
        yield server


def test_auth_over_starttls_with_a_self_signed_certificate(run_dir, recipients, certs):
    handler = Recorder()
    with starttls_auth_server(certs, handler) as server:
        report = mail.email_briefs(
            settings(
                run_dir,
                recipients,
                server,
                security="starttls",
                smtp_user=USER,
                password=PASSWORD,
                cafile=certs / "ca.pem",
            )
        )
    assert report.ok and report.count("sent") == 3
    assert all(r.authenticated for r in handler.received)
    assert set(by_attachment(handler.received)) == set(EXPECTED)


def test_untrusted_certificate_is_refused_not_ignored(run_dir, recipients, certs):
    handler = Recorder()
    with starttls_auth_server(certs, handler) as server:
        report = mail.email_briefs(
            settings(
                run_dir, recipients, server, security="starttls", smtp_user=USER, password=PASSWORD
            )
        )
    assert report.count("failed") == 3 and not handler.received
    assert "certificate not trusted" in report.outcomes[0].detail
    assert "--cafile" in report.outcomes[0].detail


def test_wrong_password_fails_without_echoing_it(run_dir, recipients, certs):
    handler = Recorder()
    with starttls_auth_server(certs, handler) as server:
        report = mail.email_briefs(
            settings(
                run_dir,
                recipients,
                server,
                security="starttls",
                smtp_user=USER,
                password="wrong-" + PASSWORD,
                cafile=certs / "ca.pem",
            )
        )
    assert report.count("failed") == 3 and not handler.received
    assert "login failed" in report.outcomes[0].detail
    assert all(PASSWORD not in o.detail for o in report.outcomes)


def test_smtps(run_dir, recipients, certs):
    handler = Recorder()
    with smtp_server(handler, ssl_context=server_tls(certs)) as server:
        report = mail.email_briefs(
            settings(run_dir, recipients, server, security="ssl", cafile=certs / "ca.pem")
        )
    assert report.ok and len(handler.received) == 3


# --- the CLI -----------------------------------------------------------------------------------


def cli(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, ["email", *args], env=env)


def test_cli_dry_run_writes_one_eml_per_message(run_dir, recipients):
    result = cli(str(run_dir), "--recipients", str(recipients), "--from", SENDER, "--dry-run")
    assert result.exit_code == 0, result.output
    emls = sorted((run_dir / "outbox").glob("*.eml"))
    assert [p.name for p in emls] == [
        "01-overview.eml",
        "02-premium-savers.eml",
        "03-agent-seekers.eml",
    ]
    for path in emls:
        msg = message_from_bytes(path.read_bytes(), policy=policy.default)
        [part] = list(msg.iter_attachments())
        assert EXPECTED[part.get_filename()] == [a.strip() for a in msg["To"].split(",")]
        assert part.get_content().startswith(b"%PDF")
    assert "3 message(s) written" in result.output and "nothing sent" in result.output
    assert not (run_dir / mail.SEND_LOG).exists()


def test_cli_dry_run_after_a_partial_send_shows_only_what_is_left(run_dir, recipients):
    with smtp_server(Recorder(reject_nth=2)) as server:
        mail.email_briefs(settings(run_dir, recipients, server))
    result = cli(str(run_dir), "-r", str(recipients), "--from", SENDER, "--dry-run")
    assert result.exit_code == 0, result.output
    assert [p.name for p in (run_dir / "outbox").glob("*.eml")] == ["02-premium-savers.eml"]
    assert "2 skipped" in result.output


def test_cli_sends_and_summarises(run_dir, recipients, certs):
    handler = Recorder()
    with starttls_auth_server(certs, handler) as server:
        result = cli(
            str(run_dir),
            "--recipients",
            str(recipients),
            "--from",
            SENDER,
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            str(server.port),
            "--starttls",
            "--smtp-user",
            USER,
            "--cafile",
            str(certs / "ca.pem"),
            "--subject",
            "Monthly brief {date}",
            env={mail.PASSWORD_ENV: PASSWORD},
        )
    assert result.exit_code == 0, result.output
    assert "3 sent, 0 skipped (already delivered), 0 failed" in result.output
    assert PASSWORD not in result.output
    subjects = sorted(r.message["Subject"] for r in handler.received)
    assert all(s.startswith("Monthly brief ") for s in subjects)


def test_cli_exits_1_when_a_message_failed(run_dir, recipients):
    with smtp_server(Recorder(reject_nth=1)) as server:
        result = cli(
            str(run_dir),
            "-r",
            str(recipients),
            "--from",
            SENDER,
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            str(server.port),
        )
    assert result.exit_code == 1
    assert "2 sent, 0 skipped (already delivered), 1 failed" in result.output


def test_cli_wrong_password_never_printed(run_dir, recipients, certs):
    secret = "Sup3r-Secret-Value-9"
    with starttls_auth_server(certs, Recorder()) as server:
        result = cli(
            str(run_dir),
            "-r",
            str(recipients),
            "--from",
            SENDER,
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            str(server.port),
            "--starttls",
            "--smtp-user",
            USER,
            env={mail.PASSWORD_ENV: secret, mail.CAFILE_ENV: str(certs / "ca.pem")},
        )
    assert result.exit_code == 1
    assert "login failed" in result.output
    assert secret not in result.output


@pytest.mark.parametrize(
    "yaml_text, message",
    [
        (
            RECIPIENTS.replace('"Agent-seekers"', '"Agent-seekerz"'),
            "unknown segment 'Agent-seekerz'",
        ),
        (
            RECIPIENTS.replace("agency@example.com", "agency@example"),
            "'agency@example' is not a valid",
        ),
    ],
)
def test_cli_bad_recipients_exit_2_before_anything_is_sent(run_dir, tmp_path, yaml_text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    handler = Recorder()
    with smtp_server(handler) as server:
        result = cli(
            str(run_dir),
            "-r",
            str(path),
            "--from",
            SENDER,
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            str(server.port),
        )
    assert result.exit_code == 2
    assert message in result.output
    assert result.output.count("\n") == 1, "one line"
    assert handler.data_commands == 0 and not handler.received


def test_cli_user_without_password_is_refused(run_dir, recipients):
    result = cli(
        str(run_dir),
        "-r",
        str(recipients),
        "--from",
        SENDER,
        "--starttls",
        "--smtp-user",
        USER,
        env={mail.PASSWORD_ENV: ""},
    )
    assert result.exit_code == 2
    assert mail.PASSWORD_ENV in result.output


def test_cli_starttls_and_ssl_exclude_each_other(run_dir, recipients):
    result = cli(str(run_dir), "-r", str(recipients), "--from", SENDER, "--starttls", "--ssl")
    assert result.exit_code == 2 and "one of --starttls and --ssl" in result.output


def test_unwritable_send_log_stops_the_batch(run_dir, recipients, monkeypatch):
    def disk_full(self, record):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mail.SendLog, "append", disk_full)
    handler = Recorder()
    with smtp_server(handler) as server, pytest.raises(mail.SendLogError, match="stopped"):
        mail.email_briefs(settings(run_dir, recipients, server))
    assert len(handler.received) == 1, "nothing more goes out unrecorded"
