"""The sent log, the crash points and result counting (the outbox's settle() is in test_alert_outbox.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from crawler.alerting.faults import ENV, crash_point
from crawler.alerting.mailer import SendResult
from crawler.alerting.records import FAILED, PENDING, SENT, DeliveryResult
from crawler.alerting.sentlog import SentLog


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
    assert log.get("abc") is None and not (tmp_path / "outbox").exists()
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
