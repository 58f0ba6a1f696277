"""SMTP delivery configured by ``NARCOWATCH_SMTP_URL`` (smtp://, smtp+starttls://, smtps://, with auth)."""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from crawler.alerting.faults import crash_point
from crawler.common.redaction import redact_url

log = logging.getLogger(__name__)

SCHEMES = {"smtp": (25, "none"), "smtp+starttls": (587, "starttls"), "smtps": (465, "implicit")}


class MailConfigError(ValueError):
    """NARCOWATCH_SMTP_URL is missing or malformed."""


class MailTransportError(Exception):
    """The message could not be handed over now (server down, timeout, 4xx, auth): retry later."""


class MailPermanentError(Exception):
    """The server refused the message itself with a 5xx (sender or content): retrying will not help."""


@dataclass(frozen=True)
class SmtpSettings:
    """A parsed ``NARCOWATCH_SMTP_URL``."""

    host: str
    port: int
    tls: str  # none | starttls | implicit
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    timeout: float = 30.0

    @classmethod
    def from_url(cls, url: str, *, ca_file: str | None = None, timeout: float = 30.0) -> SmtpSettings:
        parts = urlsplit(url.strip())
        if parts.scheme not in SCHEMES:
            raise MailConfigError(
                f"NARCOWATCH_SMTP_URL {redact_url(url)!r}: scheme must be one of "
                f"{', '.join(s + '://' for s in SCHEMES)}"
            )
        if not parts.hostname:
            raise MailConfigError(f"NARCOWATCH_SMTP_URL {redact_url(url)!r}: no host")
        default_port, tls = SCHEMES[parts.scheme]
        try:
            port = parts.port or default_port
        except ValueError as exc:
            raise MailConfigError(f"NARCOWATCH_SMTP_URL {redact_url(url)!r}: bad port: {exc}") from None
        return cls(
            host=parts.hostname,
            port=port,
            tls=tls,
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            ca_file=ca_file,
            timeout=timeout,
        )

    @property
    def display(self) -> str:
        scheme = {v[1]: k for k, v in SCHEMES.items()}[self.tls]
        auth = f"{self.user}:***@" if self.user else ""
        return f"{scheme}://{auth}{self.host}:{self.port}"


@dataclass
class SendResult:
    """Per-recipient outcome of one message."""

    accepted: list[str] = field(default_factory=list)
    temporary: dict[str, str] = field(default_factory=dict)
    """Recipients refused with 4xx: retry them later."""
    permanent: dict[str, str] = field(default_factory=dict)
    """Recipients refused with 5xx: do not retry."""


def _reply(code: int, msg: bytes | str) -> str:
    text = msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)
    return f"{code} {text}".strip()


class Mailer:
    """Sends EmailMessages over SMTP; one connection per call; errors classified for retrying."""

    def __init__(self, url: str | SmtpSettings, *, sender: str = "narcowatch@localhost"):
        self.settings = url if isinstance(url, SmtpSettings) else SmtpSettings.from_url(url)
        self.sender = sender

    @classmethod
    def from_env(cls, *, sender: str = "narcowatch@localhost", default_url: str | None = None) -> Mailer:
        """From ``NARCOWATCH_SMTP_URL`` (CA file from ``NARCOWATCH_SMTP_CA``); ``default_url`` if unset."""
        url = os.environ.get("NARCOWATCH_SMTP_URL") or default_url
        if not url:
            raise MailConfigError(
                "NARCOWATCH_SMTP_URL is not set: e.g. smtp+starttls://user:password@mail.example.org:587"
            )
        settings = SmtpSettings.from_url(url, ca_file=os.environ.get("NARCOWATCH_SMTP_CA") or None)
        return cls(settings, sender=sender)

    def __repr__(self) -> str:
        return f"Mailer({self.settings.display})"

    def _ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.ca_file)

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.tls == "implicit":
            client: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=self._ssl_context())
        else:
            client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        try:
            client.ehlo()
            if s.tls == "starttls":
                client.starttls(context=self._ssl_context())
                client.ehlo()
            if s.user:
                client.login(s.user, s.password or "")
        except BaseException:
            client.close()
            raise
        return client

    def send(self, message: EmailMessage, recipients: list[str]) -> SendResult:
        """Hand ``message`` to the server for ``recipients`` (the envelope; headers are not changed).

        Raises MailTransportError when nothing was accepted but a later try may work, and
        MailPermanentError when the server refuses the message itself with 5xx.
        """
        where = self.settings.display
        if not recipients:
            return SendResult()
        try:
            client = self._connect()
        except smtplib.SMTPAuthenticationError as exc:
            reply = _reply(exc.smtp_code, exc.smtp_error)
            raise MailTransportError(f"SMTP {where}: authentication failed: {reply}") from None
        except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
            raise MailTransportError(f"SMTP {where}: cannot connect: {exc}") from None
        result = SendResult()
        crash_point("during_send")
        try:
            refused = client.send_message(message, from_addr=self.sender, to_addrs=recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients
        except smtplib.SMTPSenderRefused as exc:
            reply = _reply(exc.smtp_code, exc.smtp_error)
            if 500 <= exc.smtp_code < 600:
                raise MailPermanentError(f"SMTP {where}: sender {exc.sender} refused: {reply}") from None
            raise MailTransportError(f"SMTP {where}: sender refused: {reply}") from None
        except smtplib.SMTPDataError as exc:
            reply = _reply(exc.smtp_code, exc.smtp_error)
            if 500 <= exc.smtp_code < 600:
                raise MailPermanentError(f"SMTP {where}: message refused: {reply}") from None
            raise MailTransportError(f"SMTP {where}: message deferred: {reply}") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise MailTransportError(f"SMTP {where}: sending failed: {exc}") from None
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()
        for rcpt in recipients:
            if rcpt in refused:
                code, msg = refused[rcpt]
                target = result.permanent if 500 <= code < 600 else result.temporary
                target[rcpt] = _reply(code, msg)
            else:
                result.accepted.append(rcpt)
        if result.temporary and not result.accepted and not result.permanent:
            log.info("SMTP %s: all recipients deferred: %s", where, result.temporary)
        return result
