"""Pytest fixtures for SMTP: a real aiosmtpd server on loopback (port 0) writing messages to a temp dir."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawler.alerting.sink import MailSink, SinkMessage


class SmtpSinkFixture:
    """What the ``smtp_sink`` fixture gives a test: the running sink and helpers around it."""

    def __init__(self, sink: MailSink):
        self.sink = sink

    @property
    def host(self) -> str:
        return self.sink.host

    @property
    def port(self) -> int:
        return self.sink.port

    @property
    def directory(self) -> Path:
        return self.sink.directory

    @property
    def url(self) -> str:
        """``smtp://127.0.0.1:<port>``: set it as NARCOWATCH_SMTP_URL."""
        return self.sink.url

    def messages(self) -> list[SinkMessage]:
        return self.sink.messages()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[SinkMessage]:
        """Wait until at least ``count`` messages are stored; returns them (fewer on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            msgs = self.sink.messages()
            if len(msgs) >= count or time.monotonic() > deadline:
                return msgs
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop listening (an SMTP outage); ``start()`` listens again on the same port."""
        self.sink.stop()

    def start(self) -> None:
        self.sink.start()

    def reject(self, *addresses: str) -> None:
        """Answer RCPT for these addresses with 550 (a permanent failure)."""
        self.sink.reject.update(a.lower() for a in addresses)

    def defer(self, *addresses: str) -> None:
        """Answer RCPT for these addresses with 451 (a temporary failure)."""
        self.sink.defer.update(a.lower() for a in addresses)


@pytest.fixture
def smtp_sink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpSinkFixture]:
    """A fresh SMTP sink on 127.0.0.1:<free port>; NARCOWATCH_SMTP_URL points at it for the test."""
    sink = MailSink(tmp_path / "mail").start()
    monkeypatch.setenv("NARCOWATCH_SMTP_URL", sink.url)
    try:
        yield SmtpSinkFixture(sink)
    finally:
        sink.stop()
