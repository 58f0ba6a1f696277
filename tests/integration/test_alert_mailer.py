"""The mailer against a real aiosmtpd server: plain, STARTTLS and implicit TLS with auth; errors classified."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from pathlib import Path

import pytest

from crawler.alerting.mailer import (
    MailConfigError,
    Mailer,
    MailTransportError,
    SmtpSettings,
    redact_url,
)
from crawler.alerting.ops import send_ops_alert
from crawler.alerting.rules import AlertsConfig
from crawler.alerting.sink import MailSink, self_signed_context

pytestmark = pytest.mark.smtp


def message() -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = "test", "nw@example.org", "a@example.org"
    msg.set_content("body")
    return msg


def test_url_parsing_and_redaction() -> None:
    s = SmtpSettings.from_url("smtp+starttls://user%40corp:p%40ss@mail.example.org")
    assert (s.host, s.port, s.tls, s.user, s.password) == ("mail.example.org", 587, "starttls", "user@corp", "p@ss")
    assert SmtpSettings.from_url("smtps://mx").port == 465
    assert SmtpSettings.from_url("smtp://mx:2525").port == 2525
    assert "p@ss" not in repr(s) and "p%40ss" not in s.display
    assert redact_url("smtps://u:secret@mx:465") == "smtps://u:***@mx:465"
    with pytest.raises(MailConfigError, match="scheme must be one of"):
        SmtpSettings.from_url("http://u:secret@mx")
    with pytest.raises(MailConfigError) as info:
        SmtpSettings.from_url("imap://u:secret@mx")
    assert "secret" not in str(info.value)


def test_from_env_requires_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NARCOWATCH_SMTP_URL", raising=False)
    with pytest.raises(MailConfigError, match="NARCOWATCH_SMTP_URL is not set"):
        Mailer.from_env()


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_tls_with_auth(tmp_path: Path, tls, monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    ctx, cert = self_signed_context(tmp_path / "tls")
    with MailSink(tmp_path / "mail", tls=tls, ssl_context=ctx, credentials=("nw", "s3cret!")) as sink:
        monkeypatch.setenv("NARCOWATCH_SMTP_URL", sink.url)
        monkeypatch.setenv("NARCOWATCH_SMTP_CA", str(cert))
        mailer = Mailer.from_env(sender="nw@example.org")
        assert "s3cret" not in repr(mailer)
        result = mailer.send(message(), ["a@example.org"])
        assert result.accepted == ["a@example.org"]
        assert [m.rcpt_tos for m in sink.messages()] == [("a@example.org",)]
        # a wrong password is a transport error (retried later), and is not in the message
        bad = Mailer(SmtpSettings.from_url(sink.url.replace("s3cret!", "wrong-pw"), ca_file=str(cert)))
        with caplog.at_level(logging.DEBUG), pytest.raises(MailTransportError, match="authentication failed") as info:
            bad.send(message(), ["a@example.org"])
        assert "wrong-pw" not in str(info.value)
        # an untrusted certificate is refused
        untrusted = Mailer(SmtpSettings.from_url(sink.url), sender="nw@example.org")
        with pytest.raises(MailTransportError, match="cannot connect"):
            untrusted.send(message(), ["a@example.org"])
    assert "s3cret" not in caplog.text


def test_server_down_and_refusals(smtp_sink) -> None:
    mailer = Mailer(smtp_sink.url)
    smtp_sink.reject("gone@example.org")
    smtp_sink.defer("later@example.org")
    result = mailer.send(message(), ["gone@example.org", "later@example.org", "ok@example.org"])
    assert result.accepted == ["ok@example.org"]
    assert result.permanent["gone@example.org"].startswith("550")
    assert result.temporary["later@example.org"].startswith("451")
    only_gone = mailer.send(message(), ["gone@example.org"])
    assert only_gone.accepted == [] and list(only_gone.permanent) == ["gone@example.org"]
    smtp_sink.stop()
    with pytest.raises(MailTransportError, match="cannot connect"):
        mailer.send(message(), ["ok@example.org"])


def test_ops_alert_goes_to_ops_addresses(smtp_sink) -> None:
    config = AlertsConfig.model_validate({"ops": ["ops1@example.org", "ops2@example.org"], "sender": "nw@example.org"})
    assert send_ops_alert("source demo-market failing", "3 runs in a row failed", config=config)
    [mail] = smtp_sink.messages()
    assert mail.rcpt_tos == ("ops1@example.org", "ops2@example.org")
    assert mail.subject == "[narcowatch ops] source demo-market failing"
    assert "3 runs in a row failed" in mail.text
    assert not send_ops_alert("x", "y", config=AlertsConfig())
