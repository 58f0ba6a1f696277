"""The outbox state machine without a cluster: settle() for every outcome, backoff, the sent log, crash points."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crawler.alerting.faults import ENV, crash_point
from crawler.alerting.mailer import SendResult
from crawler.alerting.outbox import Attempt, backoff, settle
from crawler.alerting.records import DIGEST, FAILED, PENDING, SENT, DeliveryResult
from crawler.alerting.rules import Delivery
from crawler.alerting.sentlog import SentLog

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
DELIVERY = Delivery.model_validate({"retry_base": "30s", "retry_max": "2m", "max_attempts": 3})
RCPT = ["a@x.org", "b@x.org"]


def run(attempt: Attempt, *, attempts: int = 1, delivered: list[str] | None = None,
        rejected: list[dict[str, str]] | None = None, one_shot: bool = False, waiting: str = PENDING):
    return settle(attempt, recipients=RCPT, delivered=delivered or [], rejected=rejected or [], attempts=attempts,
                  delivery=DELIVERY, waiting=waiting, now=NOW, one_shot=one_shot)


def test_all_accepted_is_sent_without_error() -> None:
    out = run(Attempt(send=SendResult(accepted=list(RCPT))))
    assert out.state == SENT and out.doc["delivered_to"] == RCPT
    assert out.doc["sent_at"] == "2026-12-03T12:00:00.000+00:00"
    assert "last_error" not in out.doc and out.doc["lease_until"] is None and out.error is None


def test_one_deferred_recipient_waits_and_only_it_is_left() -> None:
    out = run(Attempt(send=SendResult(accepted=["a@x.org"], temporary={"b@x.org": "451 later"})))
    assert out.state == PENDING and out.doc["delivered_to"] == ["a@x.org"]
    assert out.doc["next_attempt_at"] == "2026-12-03T12:00:30.000+00:00"
    assert out.error == "b@x.org: 451 later" == out.doc["last_error"]
    # the next attempt delivers to b only, and then the alert is sent
    out2 = run(Attempt(send=SendResult(accepted=["b@x.org"])), attempts=2, delivered=["a@x.org"])
    assert out2.state == SENT and out2.doc["delivered_to"] == RCPT


def test_digest_counts_as_sent_once_anyone_accepted() -> None:
    attempt = Attempt(send=SendResult(accepted=["a@x.org"], temporary={"b@x.org": "451 later"}))
    out = run(attempt, one_shot=True, waiting=DIGEST)
    assert out.state == SENT and out.doc["last_error"] == "b@x.org: 451 later"


def test_permanent_refusals() -> None:
    one = run(Attempt(send=SendResult(accepted=["a@x.org"], permanent={"b@x.org": "550 no"})))
    assert one.state == SENT and one.doc["last_error"] == "b@x.org: 550 no"
    assert [r["address"] for r in one.doc["rejected"]] == ["b@x.org"]
    every = run(Attempt(send=SendResult(permanent={"a@x.org": "550 no", "b@x.org": "550 no"})))
    assert every.state == FAILED and every.doc["last_error"] == "every recipient was refused permanently"
    message = run(Attempt(error="SMTP: message refused: 554", permanent=True))
    assert message.state == FAILED and message.doc["last_error"] == "SMTP: message refused: 554"


def test_transport_errors_retry_with_doubling_backoff_then_give_up() -> None:
    down = Attempt(error="SMTP: cannot connect")
    first, second = run(down, attempts=1), run(down, attempts=2, waiting=DIGEST)
    assert (first.state, first.doc["next_attempt_at"]) == (PENDING, "2026-12-03T12:00:30.000+00:00")
    assert (second.state, second.doc["next_attempt_at"]) == (DIGEST, "2026-12-03T12:01:00.000+00:00")
    last = run(down, attempts=3)
    assert last.state == FAILED and last.doc["last_error"] == "gave up after 3 attempts: SMTP: cannot connect"
    assert [backoff(DELIVERY, n).total_seconds() for n in (0, 1, 2, 3, 4)] == [30, 30, 60, 120, 120]


def test_delivery_result_counts_states() -> None:
    out = DeliveryResult()
    out.count(SENT)
    out.count(FAILED, 2)
    out.count(PENDING, 3)
    assert (out.sent, out.failed, out.retry) == (1, 2, 3)


def test_sent_log_round_trip_and_clear(tmp_path: Path) -> None:
    log = SentLog(tmp_path / "outbox")
    assert log.get("abc") is None
    log.record("abc", SendResult(accepted=["a@x.org"], temporary={"b@x.org": "451"}), "<alert.abc@x.org>")
    assert log.get("abc") == SendResult(accepted=["a@x.org"], temporary={"b@x.org": "451"})
    assert (tmp_path / "outbox" / "abc.json").stat().st_mode & 0o777 == 0o600
    log.clear("abc")
    assert log.get("abc") is None
    with pytest.raises(ValueError):
        log.get("../../etc/passwd")


def test_crash_points_are_inert_unless_the_variable_names_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    crash_point("after_accept")  # nothing happens
    monkeypatch.setenv(ENV, "before_send")
    crash_point("after_accept")  # another point: nothing happens
    code = "from crawler.alerting.faults import crash_point\ncrash_point('x')\ncrash_point('x')\nprint('alive')"
    env = {**os.environ, ENV: "x@2"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=60)
    assert proc.returncode == -9 and b"alive" not in proc.stdout
