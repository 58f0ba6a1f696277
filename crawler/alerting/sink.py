"""A local SMTP server (aiosmtpd) that stores every message it receives as a ``.eml`` file: demo and tests."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import itertools
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from crawler.common.clock import utc_now
from crawler.common.durable import write_atomic

TlsMode = Literal["none", "starttls", "implicit"]


@dataclass(frozen=True)
class SinkMessage:
    """One message as the sink stored it: envelope and parsed content."""

    path: Path
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage = field(repr=False)

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    @property
    def to(self) -> str:
        return str(self.message.get("To", ""))

    def part(self, subtype: Literal["plain", "html"]) -> str:
        """The decoded ``text/<subtype>`` body part, or "" when the message has none."""
        body = self.message.get_body(preferencelist=(subtype,))
        if body is None or body.get_content_subtype() != subtype:
            return ""
        return str(body.get_content())

    @property
    def text(self) -> str:
        return self.part("plain")

    @property
    def html(self) -> str:
        return self.part("html")


class _StoreHandler:
    """aiosmtpd handler: reject/defer listed recipients, require auth if asked, write each message."""

    def __init__(self, sink: MailSink):
        self.sink = sink

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        if self.sink.credentials is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() in self.sink.reject:
            return "550 5.1.1 Mailbox unavailable (rejected by the test sink)"
        if address.lower() in self.sink.defer:
            return "451 4.3.0 Try again later (deferred by the test sink)"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.sink._store(envelope)
        if self.sink.reply_delay > 0:  # stored, but the client hears of it only later (or never)
            await asyncio.sleep(self.sink.reply_delay)
        return "250 Message accepted for delivery"


class _SocketController(Controller):
    """Controller that binds its own socket, so port 0 works and a restart reuses the same port."""

    def __init__(self, handler: Any, *, hostname: str, port: int, **kwargs: Any):
        super().__init__(handler, hostname=hostname, port=port, **kwargs)

    def _create_server(self) -> Awaitable[Any]:
        family = socket.AF_INET6 if ":" in self.hostname else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.hostname, self.port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        return self.loop.create_server(self._factory_invoker, sock=sock, ssl=self.ssl_context)


class MailSink:
    """A real SMTP server on loopback that writes each received message to ``directory`` as a .eml file.

    ``port=0`` picks a free port at the first start; ``stop()`` then ``start()`` listens again on the
    same port (an outage as a mail client sees it). ``reject``/``defer`` hold recipient addresses
    answered with 550 (permanent) or 451 (temporary); ``reply_delay`` holds the 250 after storing.
    ``tls`` is "none", "starttls" or "implicit"
    (needs ``ssl_context``); ``credentials`` (user, password) makes AUTH mandatory before MAIL.
    """

    def __init__(
        self,
        directory: Path | str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls: TlsMode = "none",
        ssl_context: ssl.SSLContext | None = None,
        credentials: tuple[str, str] | None = None,
        reject: Iterable[str] = (),
        defer: Iterable[str] = (),
    ):
        if tls != "none" and ssl_context is None:
            raise ValueError(f"MailSink: tls={tls!r} needs an ssl_context (see self_signed_context())")
        self.directory = Path(directory)
        self.host = host
        self.port = port
        self.tls: TlsMode = tls
        self.ssl_context = ssl_context
        self.credentials = credentials
        self.reject: set[str] = {a.lower() for a in reject}
        self.defer: set[str] = {a.lower() for a in defer}
        self.reply_delay = 0.0
        """Seconds between storing a message and answering 250 (a client killed meanwhile never hears it)."""
        self._controller: _SocketController | None = None
        self._lock = threading.Lock()
        self._seq = itertools.count()

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> MailSink:
        """Listen (again); returns self. Raises OSError naming host:port when it cannot bind."""
        if self._controller is not None:
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {"ready_timeout": 10.0}
        if self.tls == "implicit":
            kwargs["ssl_context"] = self.ssl_context
        elif self.tls == "starttls":
            kwargs["tls_context"] = self.ssl_context
            kwargs["require_starttls"] = True
        if self.credentials is not None:
            kwargs["authenticator"] = self._authenticate
            # Auth over plain SMTP is allowed so that smtp://user:pass@ can be tested on loopback;
            # handle_MAIL enforces that the session authenticated.
            kwargs["auth_require_tls"] = self.tls == "starttls"
        controller = _SocketController(_StoreHandler(self), hostname=self.host, port=self.port, **kwargs)
        try:
            controller.start()
        except OSError as exc:
            raise OSError(exc.errno, f"mail sink cannot listen on {self.host}:{self.port}: {exc}") from exc
        self.port = controller.port
        self._controller = controller
        return self

    def stop(self) -> None:
        """Stop listening; connections are refused until ``start()``. Stored messages stay."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The ``NARCOWATCH_SMTP_URL`` a mailer uses to reach this sink (with credentials if set)."""
        scheme = {"none": "smtp", "starttls": "smtp+starttls", "implicit": "smtps"}[self.tls]
        auth = f"{self.credentials[0]}:{self.credentials[1]}@" if self.credentials else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{auth}{host}:{self.port}"

    # -- storage ---------------------------------------------------------------------------------
    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and self.credentials is not None:
            ok = (auth_data.login.decode(), auth_data.password.decode()) == self.credentials
            return AuthResult(success=ok, handled=False)
        return AuthResult(success=False, handled=False)

    def _store(self, envelope: Envelope) -> Path:
        raw = envelope.original_content or (
            envelope.content.encode() if isinstance(envelope.content, str) else envelope.content or b""
        )
        # Like a delivering MTA: Return-Path and Delivered-To carry the envelope into the file.
        head = f"Return-Path: <{envelope.mail_from}>\r\n".encode()
        head += b"".join(f"Delivered-To: {r}\r\n".encode() for r in envelope.rcpt_tos)
        with self._lock:
            name = f"{time.time_ns():020d}-{next(self._seq):06d}.eml"
        path = self.directory / name
        return write_atomic(path, head + raw, durable=False)  # a test/demo inbox: atomic is enough

    def messages(self) -> list[SinkMessage]:
        """Every stored message, oldest first."""
        return read_messages(self.directory)

    def clear(self) -> None:
        """Delete stored messages."""
        for path in self.directory.glob("*.eml"):
            path.unlink(missing_ok=True)


def read_messages(directory: Path | str) -> list[SinkMessage]:
    """Parse every ``.eml`` in ``directory`` (as written by MailSink), oldest first."""
    out = []
    for path in sorted(Path(directory).glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        mail_from = str(msg.get("Return-Path", "")).strip("<>")
        rcpts = tuple(str(v) for v in msg.get_all("Delivered-To", []))
        out.append(SinkMessage(path=path, mail_from=mail_from, rcpt_tos=rcpts, message=msg))
    return out


def self_signed_context(directory: Path | str, host: str = "127.0.0.1") -> tuple[ssl.SSLContext, Path]:
    """A server SSLContext with a fresh self-signed certificate for ``host``; returns (context, cert path).

    The certificate file doubles as the CA file a client trusts (``NARCOWATCH_SMTP_CA``).
    """
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    try:
        san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        san = x509.DNSName(host)
    now = utc_now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([san]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "sink-cert.pem"
    key_path = directory / "sink-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_path, key_path)
    return ctx, cert_path
