"""Crash points for the kill -9 tests of mail delivery; inert unless ``NARCOWATCH_TEST_CRASH_AT`` is set.

``NARCOWATCH_TEST_CRASH_AT=<point>`` (or ``<point>@<n>``: at its n-th passage) makes the process kill
itself with SIGKILL there, exactly as ``kill -9`` would: no cleanup, no ``finally``, no flush.
Points, in the order one alert passes them (crawler.alerting.outbox, crawler.alerting.mailer):

- ``before_send``: claimed (state ``sending``), no SMTP connection yet
- ``during_send``: SMTP session open (EHLO/AUTH done), before MAIL FROM
- ``after_accept``: the server accepted the message, the sent log not yet written
- ``after_log``: the sent log written, the alert record not yet updated

Only tests set this variable; nothing in the product does.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "NARCOWATCH_TEST_CRASH_AT"
POINTS = ("before_send", "during_send", "after_accept", "after_log")
_passed: Counter[str] = Counter()


def crash_point(name: str) -> None:
    """SIGKILL this process if ``NARCOWATCH_TEST_CRASH_AT`` names this point (and its passage count)."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    point, _, nth = spec.partition("@")
    if point != name:
        return
    _passed[name] += 1
    if _passed[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
