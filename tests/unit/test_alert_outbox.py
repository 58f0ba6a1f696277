"""The alert delivery state machine's pure parts: settle (next state), backoff, attempt (SMTP outcome).

The conditional writes (claim, finish, due) run against the real node in
tests/integration/test_alert_engine.py; these are the decisions, with hand-built inputs.
"""

from __future__ import annotations

import datetime as dt
import json
from email.message import EmailMessage
from pathlib import Path

import pytest

from crawler.alerting.mailer import MailPermanentError, MailTransportError, SendResult
from crawler.alerting.outbox import Attempt, Outbox, backoff, settle
from crawler.alerting.records import DIGEST, FAILED, PENDING, SENT
from crawler.alerting.rules import Delivery
from crawler.alerting.sentlog import SentLog

NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)
DELIVERY = Delivery.model_validate({"retry_base": "10s", "retry_max": "1m", "max_attempts": 3})
RCPTS = ["a@x.org", "b@x.org"]


def run(attempt: Attempt, **kw: object) -> tuple[str, dict]:
    args: dict = {"recipients": RCPTS, "delivered": [], "rejected": [], "attempts": 1, "delivery": DELIVERY,
                  "waiting": PENDING, "now": NOW}
    args.update(kw)
    out = settle(attempt, **args)
    assert out.doc["state"] == out.state
    return out.state, out.doc


def test_all_accepted_is_sent() -> None:
    state, doc = run(Attempt(SendResult(accepted=list(RCPTS))))
    assert state == SENT and doc["delivered_to"] == RCPTS and doc["sent_at"] == "2026-11-24T12:00:00.000+00:00"
    assert doc["lease_until"] is None and doc["throttled"] is False and doc["rejected"] == []
    assert "last_error" not in doc and "next_attempt_at" not in doc
    assert doc["updated_at"] == "2026-11-24T12:00:00.000+00:00"


def test_a_deferred_recipient_waits_and_is_the_only_one_left() -> None:
    state, doc = run(Attempt(SendResult(accepted=["a@x.org"], temporary={"b@x.org": "451 later"})))
    assert state == PENDING and doc["delivered_to"] == ["a@x.org"]
    assert doc["next_attempt_at"] == "2026-11-24T12:00:10.000+00:00" and doc["last_error"] == "b@x.org: 451 later"
    # the retry sends to b only, and then the record is sent with both delivered
    state, doc = run(Attempt(SendResult(accepted=["b@x.org"])), delivered=["a@x.org"], attempts=2)
    assert state == SENT and doc["delivered_to"] == ["a@x.org", "b@x.org"]


def test_digest_waits_in_digest_state() -> None:
    state, _ = run(Attempt(error="connection refused"), waiting=DIGEST)
    assert state == DIGEST


def test_one_shot_counts_as_sent_once_anyone_accepted() -> None:
    state, doc = run(Attempt(SendResult(accepted=["a@x.org"], temporary={"b@x.org": "451"})), one_shot=True,
                     waiting=DIGEST)
    assert state == SENT and doc["last_error"] == "b@x.org: 451"
    state, _ = run(Attempt(SendResult(temporary={"a@x.org": "451", "b@x.org": "451"})), one_shot=True,
                   waiting=DIGEST)
    assert state == DIGEST


def test_permanent_refusals_are_not_retried() -> None:
    state, doc = run(Attempt(SendResult(accepted=["a@x.org"], permanent={"b@x.org": "550 no such user"})))
    assert state == SENT and doc["rejected"] == [
        {"address": "b@x.org", "reply": "550 no such user", "at": "2026-11-24T12:00:00.000+00:00"}]
    assert doc["last_error"] == "b@x.org: 550 no such user"
    state, doc = run(Attempt(SendResult(permanent={"a@x.org": "550", "b@x.org": "550"})))
    assert state == FAILED and doc["last_error"] == "every recipient was refused permanently"
    # an earlier rejection counts too: b was refused before, a is accepted now
    earlier = [{"address": "b@x.org", "reply": "550", "at": "t"}]
    state, doc = run(Attempt(SendResult(accepted=["a@x.org"])), rejected=earlier, attempts=2)
    assert state == SENT and doc["rejected"] == earlier and doc["last_error"] == "b@x.org: 550"


def test_a_refused_message_fails_at_once() -> None:
    state, doc = run(Attempt(error="554 message refused", permanent=True), attempts=1)
    assert state == FAILED and doc["last_error"] == "554 message refused"


def test_gives_up_after_max_attempts_not_before() -> None:
    state, doc = run(Attempt(error="timeout"), attempts=2)
    assert state == PENDING and doc["last_error"] == "timeout"
    assert doc["next_attempt_at"] == "2026-11-24T12:00:20.000+00:00"
    state, doc = run(Attempt(error="timeout"), attempts=3)
    assert state == FAILED and doc["last_error"] == "gave up after 3 attempts: timeout"
    assert "next_attempt_at" not in doc


def test_an_error_and_deferrals_keep_the_error() -> None:
    _, doc = run(Attempt(SendResult(temporary={"a@x.org": "451"}), error="disconnected"))
    assert doc["last_error"] == "disconnected"


@pytest.mark.parametrize(("attempts", "seconds"), [(0, 10), (1, 10), (2, 20), (3, 40), (4, 60), (10, 60)])
def test_backoff_doubles_up_to_the_maximum(attempts: int, seconds: int) -> None:
    assert backoff(DELIVERY, attempts) == dt.timedelta(seconds=seconds)


class FakeMailer:
    sender = "n@localhost"

    def __init__(self, result: SendResult | BaseException):
        self.result = result
        self.calls: list[list[str]] = []
        self.messages: list[EmailMessage] = []

    def send(self, message: EmailMessage, recipients: list[str]) -> SendResult:
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.calls.append(list(recipients))
        if isinstance(self.result, BaseException):
            raise self.result
        return self.result


def outbox(sent_log: SentLog | None = None) -> Outbox:
    return Outbox(None, None, DELIVERY, clock=lambda: NOW, owner="o",  # type: ignore[arg-type]
                  lease=dt.timedelta(minutes=5), sent_log=sent_log)


def message() -> EmailMessage:
    msg = EmailMessage()
    msg["Message-ID"] = "<alert-1@narcowatch>"
    return msg


def test_attempt_classifies_what_smtp_said(caplog: pytest.LogCaptureFixture) -> None:
    ok = FakeMailer(SendResult(accepted=["a@x.org"], permanent={"b@x.org": "550 gone"}))
    out = outbox().attempt(ok, EmailMessage, RCPTS, "alert 1")
    assert out.send.accepted == ["a@x.org"] and out.error is None and not out.permanent and ok.calls == [RCPTS]
    assert [r.getMessage() for r in caplog.records] == ["alert 1: b@x.org refused permanently (550 gone); not retried"]
    out = outbox().attempt(FakeMailer(MailPermanentError("554 refused")), EmailMessage, RCPTS, "alert 1")
    assert out.permanent and out.error == "554 refused"
    out = outbox().attempt(FakeMailer(MailTransportError("connection refused")), EmailMessage, RCPTS, "alert 1")
    assert not out.permanent and out.error == "connection refused"


def test_a_rendering_bug_keeps_the_alert_for_a_retry(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> EmailMessage:
        raise KeyError("title")

    mailer = FakeMailer(SendResult(accepted=RCPTS))
    out = outbox().attempt(mailer, broken, RCPTS, "alert 1")
    assert out.error == "KeyError: 'title'" and not out.permanent and mailer.calls == []
    assert [r.getMessage() for r in caplog.records] == ["alert 1: unexpected error while sending"]


def test_no_recipients_left_sends_nothing() -> None:
    mailer = FakeMailer(SendResult(accepted=RCPTS))
    out = outbox().attempt(mailer, EmailMessage, [], "alert 1")
    assert mailer.calls == [] and out.send.accepted == [] and out.error is None


def test_two_deferrals_and_the_outcome_error() -> None:
    out = settle(Attempt(SendResult(temporary={"a@x.org": "451 a", "b@x.org": "452 b"})), recipients=RCPTS,
                 delivered=[], rejected=[], attempts=1, delivery=DELIVERY, waiting=PENDING, now=NOW)
    assert out.error == out.doc["last_error"] == "a@x.org: 451 a; b@x.org: 452 b"
    out = settle(Attempt(SendResult(accepted=["a@x.org"], permanent={"b@x.org": "550"}), error="late 421"),
                 recipients=RCPTS, delivered=[], rejected=[], attempts=1, delivery=DELIVERY, waiting=PENDING, now=NOW)
    assert out.state == SENT and out.doc["last_error"] == "late 421; b@x.org: 550"


def test_an_accepted_mail_is_in_the_sent_log_before_attempt_returns(tmp_path: Path) -> None:
    log = SentLog(tmp_path / "sent")
    mailer = FakeMailer(SendResult(accepted=["a@x.org"], temporary={"b@x.org": "451"}))
    out = outbox(log).attempt(mailer, message, RCPTS, "alert 1", key="alert-1")
    assert not out.replayed and mailer.calls == [RCPTS]
    assert mailer.messages[0]["Message-ID"] == "<alert-1@narcowatch>"  # the rendered message is what is sent
    prior = log.get("alert-1")
    assert prior is not None and prior.accepted == ["a@x.org"] and prior.temporary == {"b@x.org": "451"}
    assert json.loads((tmp_path / "sent" / "alert-1.json").read_text())["message_id"] == "<alert-1@narcowatch>"


def test_a_mail_in_the_sent_log_is_not_sent_again(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    log = SentLog(tmp_path / "sent")
    log.record("alert-1", SendResult(accepted=RCPTS), "<alert-1@narcowatch>")
    mailer = FakeMailer(SendResult(accepted=RCPTS))
    out = outbox(log).attempt(mailer, message, RCPTS, "alert 1", key="alert-1")
    assert out.replayed and out.send.accepted == RCPTS and mailer.calls == []
    assert [r.getMessage() for r in caplog.records] == [
        "alert 1: accepted by the server before a crash (sent log); not sent again"]
    # another key, or no key, is sent
    assert outbox(log).attempt(mailer, message, RCPTS, "alert 2", key="alert-2").replayed is False
    assert outbox(log).attempt(mailer, message, RCPTS, "alert 3").replayed is False
    assert len(mailer.calls) == 2


def test_nothing_accepted_or_no_key_leaves_the_sent_log_alone(tmp_path: Path) -> None:
    log = SentLog(tmp_path / "sent")
    outbox(log).attempt(FakeMailer(SendResult(temporary={"a@x.org": "451"})), message, RCPTS, "a", key="alert-1")
    outbox(log).attempt(FakeMailer(SendResult(accepted=RCPTS)), message, RCPTS, "a")
    outbox(log).attempt(FakeMailer(MailTransportError("down")), message, RCPTS, "a", key="alert-2")
    assert log.get("alert-1") is None and log.get("alert-2") is None
    assert not (tmp_path / "sent").exists() or list((tmp_path / "sent").iterdir()) == []
    out = outbox(None).attempt(FakeMailer(SendResult(accepted=RCPTS)), message, RCPTS, "a", key="alert-1")
    assert out.send.accepted == RCPTS and not out.replayed
