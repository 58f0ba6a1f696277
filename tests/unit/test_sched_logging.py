"""Unit tests: JSON logs, secret redaction (env-var values and URL passwords), and the metrics registry."""

from __future__ import annotations

import io
import json
import logging
import urllib.request
from collections.abc import Iterator

import pytest

from crawler.logging_setup import RedactingFilter, redact, secret_values, setup_logging
from crawler.metrics import Metrics, MetricsServer
from crawler.runs import RunRecord


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def test_secret_values_by_name() -> None:
    env = {"NARCOWATCH_ES_PASSWORD": "hunter22", "MY_API_KEY": "abcd1234", "GH_TOKEN": "tok-xyz",
           "DB_SECRET": "s3cr3t!", "HOME": "/root", "SHORT_KEY": "on"}
    assert set(secret_values(env)) == {"hunter22", "abcd1234", "tok-xyz", "s3cr3t!"}


def test_redact_url_password_keeps_user_and_host() -> None:
    text = "connecting to smtp+starttls://ops:p%40ss@mail.example:587 and https://u:pw@es:9200/x"
    assert redact(text) == "connecting to smtp+starttls://ops:***@mail.example:587 and https://u:***@es:9200/x"
    assert redact("plain https://es.example:9200/ no creds") == "plain https://es.example:9200/ no creds"


def test_json_logs_are_redacted(restore_root: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NARCOWATCH_ES_API_KEY", "VnVhQ2ZHY0JDZGJrU")
    stream = io.StringIO()
    setup_logging(json_logs=True, level="INFO", stream=stream)
    log = logging.getLogger("narcowatch.test")
    log.info("es key is %s at %s", "VnVhQ2ZHY0JDZGJrU", "http://elastic:changeme@127.0.0.1:9200",
             extra={"source": "market-a", "url": "redis://:VnVhQ2ZHY0JDZGJrU@host"})
    try:
        raise RuntimeError("login failed with VnVhQ2ZHY0JDZGJrU")
    except RuntimeError:
        log.exception("boom")
    lines = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert lines[0]["message"] == "es key is *** at http://elastic:***@127.0.0.1:9200"
    assert lines[0]["source"] == "market-a"
    assert lines[0]["level"] == "INFO" and lines[0]["logger"] == "narcowatch.test"
    assert lines[0]["time"].endswith("Z")
    assert "VnVhQ2ZHY0JDZGJrU" not in stream.getvalue()
    assert "RuntimeError: login failed with ***" in lines[1]["exception"]


def test_plain_logs_are_redacted_too(restore_root: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", "correcthorse")
    stream = io.StringIO()
    setup_logging(json_logs=False, stream=stream)
    logging.getLogger("x").warning("password=%s", "correcthorse")
    assert "password=***" in stream.getvalue() and "correcthorse" not in stream.getvalue()


def test_filter_refresh_picks_up_new_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    f = RedactingFilter()
    monkeypatch.setenv("LATE_TOKEN", "late-value-1")
    f.refresh()
    record = logging.LogRecord("x", logging.INFO, "x", 1, "got %s", ("late-value-1",), None)
    f.filter(record)
    assert record.getMessage() == "got ***"


def test_metrics_from_run_record_and_endpoint() -> None:
    m = Metrics()
    record = RunRecord(run_id="r", source="market-a", start="2026-05-01T10:00:00.000Z",
                       end="2026-05-01T10:01:00.000Z", duration=60.0, pages=12, bytes=3456, listings_new=3,
                       listings_changed=1, errors={"http:404": 2},
                       stats={"nlp_documents": 4, "nlp_seconds": [0.2, 0.3], "indexed": 15, "alerts_sent": 1,
                              "alerts": 3})
    m.observe_run(record)
    m.observe_run(record)
    server = MetricsServer(0, registry=m.registry)
    try:
        with urllib.request.urlopen(server.url, timeout=5) as resp:
            body = resp.read().decode()
    finally:
        server.stop()
    assert 'narcowatch_crawl_pages_total{source="market-a"} 24.0' in body
    assert 'narcowatch_crawl_runs_total{outcome="success",source="market-a"} 2.0' in body
    assert 'narcowatch_crawl_errors_total{kind="http:404",source="market-a"} 4.0' in body
    assert 'narcowatch_listings_total{kind="new",source="market-a"} 6.0' in body
    assert "narcowatch_nlp_batch_seconds_count 4.0" in body
    assert 'narcowatch_index_documents_total{result="ok"} 30.0' in body
    assert 'narcowatch_alerts_total{outcome="sent"} 2.0' in body
    assert 'narcowatch_alerts_total{outcome="created"} 6.0' in body
    assert 'narcowatch_crawl_duration_seconds_bucket{le="60.0",source="market-a"} 2.0' in body
    assert 'narcowatch_last_run_timestamp_seconds{source="market-a"} 1.77762966e+09' in body
