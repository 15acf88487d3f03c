"""SMTP: the settings, the connection (plain, STARTTLS or SSL), login and safe error lines.

The password is never read from an option or a file: the CLI takes it from the environment
variable REPORTGEN_SMTP_PASSWORD, it is kept out of reprs, and server replies are never shown raw
after authentication failures (they may echo the AUTH payload).
"""

from __future__ import annotations

import base64
import contextlib
import re
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Literal

from reportgen.deliver.mail.recipients import CONTROL_RE, check_address, one_line
from reportgen.errors import ConfigError

PASSWORD_ENV = "REPORTGEN_SMTP_PASSWORD"
CAFILE_ENV = "REPORTGEN_SMTP_CAFILE"
DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
LONG_BASE64_RE = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")

Security = Literal["none", "starttls", "ssl"]


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
    return redact(one_line(text), secrets)[:300]


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """The text with every secret, and anything that looks like an AUTH payload, as '***'."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    # AUTH PLAIN/LOGIN payloads are base64: never echo a long base64 token.
    return LONG_BASE64_RE.sub("***", text)


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
        # The password as the server might echo it back: raw, and inside AUTH LOGIN/PLAIN.
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
        step = "cannot connect to"  # which step failed, for the one-line error
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
        """QUIT politely, then close; never raises (used in `finally`)."""
        if self.smtp is not None:
            with contextlib.suppress(Exception):
                self.smtp.quit()
            with contextlib.suppress(Exception):
                self.smtp.close()
            self.smtp = None
