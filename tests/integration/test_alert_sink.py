"""The SMTP sink: a real aiosmtpd server on loopback that stores messages, survives a stop/start."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path

import pytest

from crawler.alerting.sink import MailSink, self_signed_context

pytestmark = pytest.mark.smtp


def _message(subject: str = "hello") -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = subject, "narcowatch@example.org", "analyst@example.org"
    msg.set_content("plain body")
    msg.add_alternative("<p>html body</p>", subtype="html")
    return msg


def test_fixture_stores_messages_with_envelope(smtp_sink) -> None:
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as client:
        client.send_message(_message(), to_addrs=["a@example.org", "b@example.org"])
    [stored] = smtp_sink.messages()
    assert stored.rcpt_tos == ("a@example.org", "b@example.org")
    assert stored.mail_from == "narcowatch@example.org"
    assert stored.subject == "hello"
    assert stored.text.strip() == "plain body"
    assert stored.html.strip() == "<p>html body</p>"
    assert stored.path.parent == smtp_sink.directory


def test_stop_refuses_then_start_listens_on_same_port(smtp_sink) -> None:
    port = smtp_sink.port
    smtp_sink.stop()
    with pytest.raises(ConnectionRefusedError):
        smtplib.SMTP(smtp_sink.host, port, timeout=5)
    smtp_sink.start()
    assert smtp_sink.port == port
    with smtplib.SMTP(smtp_sink.host, port, timeout=5) as client:
        client.send_message(_message())
    assert len(smtp_sink.messages()) == 1


def test_reject_and_defer_recipients(smtp_sink) -> None:
    smtp_sink.reject("gone@example.org")
    smtp_sink.defer("later@example.org")
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as client:
        refused = client.send_message(
            _message(), to_addrs=["gone@example.org", "later@example.org", "ok@example.org"]
        )
    assert refused["gone@example.org"][0] == 550
    assert refused["later@example.org"][0] == 451
    assert [m.rcpt_tos for m in smtp_sink.messages()] == [("ok@example.org",)]


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_tls_and_auth(tmp_path: Path, tls) -> None:
    ctx, cert = self_signed_context(tmp_path / "tls")
    with MailSink(tmp_path / "mail", tls=tls, ssl_context=ctx, credentials=("user", "s3cret")) as sink:
        client_ctx = ssl.create_default_context(cafile=str(cert))
        if tls == "implicit":
            client: smtplib.SMTP = smtplib.SMTP_SSL(sink.host, sink.port, context=client_ctx, timeout=5)
        else:
            client = smtplib.SMTP(sink.host, sink.port, timeout=5)
            client.starttls(context=client_ctx)
        with client:
            with pytest.raises(smtplib.SMTPSenderRefused):
                client.send_message(_message())
            client.login("user", "s3cret")
            client.send_message(_message())
        assert len(sink.messages()) == 1
        assert sink.url.startswith({"starttls": "smtp+starttls://", "implicit": "smtps://"}[tls])
