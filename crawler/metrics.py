"""Prometheus metrics for crawl, NLP, indexing and alerting, and the HTTP endpoint the daemon serves them on."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

if TYPE_CHECKING:
    from crawler.runs import RunRecord

_DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, float("inf"))
_BATCH_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, float("inf"))


class Metrics:
    """All narcowatch metrics in one registry of their own (so tests and processes do not collide).

    The daemon feeds the crawl metrics from each worker's run record (``observe_run``); the NLP,
    indexing and alert metrics come from the worker's stats where it reports them, or directly from
    in-process code (``metrics().nlp_seconds.observe(...)``) when the pipeline runs in this process.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.crawl_runs = Counter("narcowatch_crawl_runs", "Crawl runs by outcome", ["source", "outcome"], registry=r)
        self.crawl_pages = Counter("narcowatch_crawl_pages", "Pages fetched", ["source"], registry=r)
        self.crawl_bytes = Counter("narcowatch_crawl_bytes", "Response bytes received", ["source"], registry=r)
        self.crawl_errors = Counter("narcowatch_crawl_errors", "Crawl errors by kind", ["source", "kind"], registry=r)
        self.crawl_duration = Histogram(
            "narcowatch_crawl_duration_seconds", "Wall time of one crawl run", ["source"],
            buckets=_DURATION_BUCKETS, registry=r,
        )
        self.listings = Counter(
            "narcowatch_listings", "Listings by what the crawl found (new, changed, removed)", ["source", "kind"],
            registry=r,
        )
        self.last_run = Gauge(
            "narcowatch_last_run_timestamp_seconds", "End of the last run of a source (Unix time)", ["source"],
            registry=r,
        )
        self.failure_streak = Gauge(
            "narcowatch_failure_streak", "Consecutive failed or empty runs of a source", ["source"], registry=r
        )
        self.running = Gauge("narcowatch_crawls_running", "Crawl worker processes running now", registry=r)
        self.nlp_docs = Counter("narcowatch_nlp_documents", "Texts analysed by the NLP step", registry=r)
        self.nlp_seconds = Histogram(
            "narcowatch_nlp_batch_seconds", "Latency of one NLP batch", buckets=_BATCH_BUCKETS, registry=r
        )
        self.index_docs = Counter(
            "narcowatch_index_documents", "Documents sent to Elasticsearch by result", ["result"], registry=r
        )
        self.index_seconds = Histogram(
            "narcowatch_index_batch_seconds", "Latency of one bulk indexing batch", buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.alerts = Counter("narcowatch_alerts", "Alerts by outcome (created, sent, failed, deferred)", ["outcome"],
                              registry=r)
        self.alert_seconds = Histogram(
            "narcowatch_alert_send_seconds", "Latency of sending one alert mail", buckets=_BATCH_BUCKETS, registry=r
        )
        self.ops_alerts = Counter("narcowatch_ops_alerts", "Operational alerts raised", ["source"], registry=r)

    def observe_run(self, record: RunRecord) -> None:
        """Count one finished run (a ``crawler.runs.RunRecord``) and the pipeline stats it carries."""
        src = record.source
        self.crawl_runs.labels(src, record.outcome).inc()
        self.crawl_pages.labels(src).inc(record.pages)
        self.crawl_bytes.labels(src).inc(record.bytes)
        for kind, count in record.errors.items():
            self.crawl_errors.labels(src, kind).inc(count)
        self.crawl_duration.labels(src).observe(record.duration)
        for kind in ("new", "changed", "removed"):
            self.listings.labels(src, kind).inc(getattr(record, f"listings_{kind}"))
        self.last_run.labels(src).set(_epoch(record.end))
        self.observe_pipeline(record.stats)

    def observe_pipeline(self, stats: Mapping[str, Any]) -> None:
        """Count the NLP, indexing and alert numbers a worker reported in its final stats line.

        Known keys (all optional): ``nlp_documents``, ``nlp_seconds``; ``indexed``, ``index_failed``,
        ``index_seconds``, ``spooled``; ``alerts`` (created), ``alerts_sent``, ``alerts_failed``,
        ``alerts_deferred``, ``alert_seconds``.
        Latency values may be one number or a list of per-batch numbers.
        """
        self.nlp_docs.inc(_num(stats.get("nlp_documents")))
        for value in _many(stats.get("nlp_seconds")):
            self.nlp_seconds.observe(value)
        self.index_docs.labels("ok").inc(_num(stats.get("indexed")))
        self.index_docs.labels("failed").inc(_num(stats.get("index_failed")))
        for value in _many(stats.get("index_seconds")):
            self.index_seconds.observe(value)
        for outcome in ("sent", "failed", "deferred"):
            self.alerts.labels(outcome).inc(_num(stats.get(f"alerts_{outcome}")))
        # crawler.runner's CrawlOutcome: ``alerts`` records created, ``spooled`` batches kept on disk
        self.alerts.labels("created").inc(_num(stats.get("alerts")))
        self.index_docs.labels("spooled_batches").inc(_num(stats.get("spooled")))
        for value in _many(stats.get("alert_seconds")):
            self.alert_seconds.observe(value)


def _num(value: Any) -> float:
    try:
        return max(0.0, float(value or 0))
    except (TypeError, ValueError):
        return 0.0


def _many(value: Any) -> list[float]:
    if value is None:
        return []
    values = value if isinstance(value, list | tuple) else [value]
    return [_num(v) for v in values]


def _epoch(iso: str | None) -> float:
    from crawler.common.clock import parse_iso

    if not iso:
        return 0.0
    return parse_iso(iso).timestamp()


_lock = threading.Lock()
_metrics: Metrics | None = None


def metrics() -> Metrics:
    """The process-wide metrics, made on first use (importing this module registers nothing)."""
    global _metrics
    with _lock:
        if _metrics is None:
            _metrics = Metrics()
        return _metrics


class MetricsServer:
    """The Prometheus text endpoint (``/metrics``, any path) on a port; ``port=0`` picks a free one."""

    def __init__(self, port: int, addr: str = "127.0.0.1", registry: CollectorRegistry | None = None) -> None:
        self._server, self._thread = start_http_server(port, addr=addr, registry=registry or metrics().registry)
        self.port: int = self._server.server_port
        self.addr = addr

    @property
    def url(self) -> str:
        return f"http://{self.addr}:{self.port}/metrics"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
