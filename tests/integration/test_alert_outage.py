"""SMTP down at the start of a run, in real time (shortened): after it returns every due mail arrives once."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from crawler.alerting.engine import AlertEngine
from crawler.alerting.mailer import Mailer
from crawler.alerting.rules import AlertsConfig
from tests.integration.test_alert_engine import FENTANYL, event, make_listing

pytestmark = [pytest.mark.slow, pytest.mark.elasticsearch, pytest.mark.smtp]

OUTAGE_SECONDS = 8.0


def test_real_outage_then_every_mail_once(es_installed, es_client, smtp_sink) -> None:
    names = es_installed
    config = AlertsConfig(rules=[FENTANYL], delivery={"retry_base": "1s", "retry_max": "4s"})
    # two "scheduler processes" deliver concurrently, each with its own engine
    engines = [AlertEngine(es_client, names, config, Mailer(smtp_sink.url), owner=f"p{i}") for i in range(2)]
    smtp_sink.stop()
    restart = threading.Timer(OUTAGE_SECONDS, smtp_sink.start)
    restart.start()
    t0 = time.monotonic()
    try:
        expected = 0
        # batches keep arriving during and after the outage
        for i in range(6):
            docs = [make_listing(f"out-{i}-{j}") for j in range(3)]
            ops: list[dict] = []
            for d in docs:
                ops += [{"index": {"_index": names.listings, "_id": d["fingerprint"]}}, d]
            es_client.bulk(operations=ops, refresh=True)
            engines[i % 2].on_batch([event(d["fingerprint"]) for d in docs])
            expected += 3
            time.sleep(2.0)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(smtp_sink.messages()) < expected:
            for engine in engines:
                engine.deliver_pending()
            time.sleep(0.5)
    finally:
        restart.cancel()
        restart.join()
    ids = Counter(str(m.message["X-Narcowatch-Alert"]).strip() for m in smtp_sink.messages())
    assert len(ids) == expected and set(ids.values()) == {1}, ids
    assert time.monotonic() - t0 >= OUTAGE_SECONDS
    es_client.indices.refresh(index=names.alerts)
    states = es_client.search(index=names.alerts, size=0, aggs={"s": {"terms": {"field": "state"}}})
    assert {b["key"]: b["doc_count"] for b in states["aggregations"]["s"]["buckets"]} == {"sent": expected}
    retried = es_client.count(index=names.alerts, query={"range": {"attempts": {"gt": 1}}})["count"]
    assert retried >= 3  # the ones recorded while the server was down needed more than one attempt
