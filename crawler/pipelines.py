"""Scrapy item pipeline: buffers listings into batches (size and time limit) for the BatchProcessor."""

from __future__ import annotations

import logging
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem, NotConfigured
from twisted.internet import defer, task, threads

from crawler import fingerprint as fp
from crawler.common.clock import utc_now_iso
from crawler.items import Listing
from crawler.processing import BatchProcessor, BatchResult

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings
    from twisted.python.failure import Failure

log = logging.getLogger(__name__)
_Item = TypeVar("_Item")


@dataclass(frozen=True)
class PipelineConfig:
    """``NARCOWATCH_PIPELINE_*`` settings, read once."""

    enabled: bool
    batch_size: int
    batch_seconds: float

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> PipelineConfig:
        cfg = cls(
            enabled=settings.getbool("NARCOWATCH_PIPELINE_ENABLED", True),
            batch_size=settings.getint("NARCOWATCH_PIPELINE_BATCH_SIZE", 200),
            batch_seconds=settings.getfloat("NARCOWATCH_PIPELINE_BATCH_SECONDS", 2.0),
        )
        if cfg.batch_size < 1:
            raise ValueError(f"NARCOWATCH_PIPELINE_BATCH_SIZE must be >= 1, got {cfg.batch_size}")
        if cfg.batch_seconds <= 0:
            raise ValueError(f"NARCOWATCH_PIPELINE_BATCH_SECONDS must be > 0, got {cfg.batch_seconds}")
        return cfg


class NarcowatchPipeline:
    """Fingerprints each listing, then hands batches to the BatchProcessor in a worker thread.

    Flushes are serialised (one batch at a time, in order); the crawl's close waits for the last one.
    """

    def __init__(self, crawler: Crawler, config: PipelineConfig):
        self.crawler = crawler
        self.config = config
        self.buffer: list[Listing] = []
        self.oldest: float | None = None
        self.lock = defer.DeferredLock()
        self.processor: BatchProcessor | None = None
        self.total = BatchResult()
        self.started_at = utc_now_iso()
        self.loop: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> NarcowatchPipeline:
        config = PipelineConfig.from_settings(crawler.settings)
        if not config.enabled:
            raise NotConfigured("NARCOWATCH_PIPELINE_ENABLED is off")
        pipe = cls(crawler, config)
        crawler.signals.connect(pipe.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(pipe.spider_closed, signal=signals.spider_closed)
        return pipe

    def spider_opened(self, spider: Spider) -> None:
        from elastic_transport import TransportError

        from crawler.common.redaction import redact_url
        from crawler.es.client import EsUnavailable, resolve_url
        from crawler.services import build_processor

        try:
            self.processor = build_processor(self.crawler.settings, spider_name=spider.name)
        except (EsUnavailable, TransportError, ConnectionError) as exc:
            try:
                url = redact_url(resolve_url()[0])
            except EsUnavailable:
                url = "(none configured)"
            log.error("%s: Elasticsearch at %s is unavailable, crawl not started: %s", spider.name, url, exc)
            from twisted.internet import reactor

            assert self.crawler.engine is not None
            reactor.callLater(0, self.crawler.engine.close_spider, spider, "elasticsearch_unavailable")  # type: ignore[attr-defined]
            return
        self.loop = task.LoopingCall(self._tick)
        self.loop.start(min(1.0, self.config.batch_seconds), now=False)

    def process_item(self, item: _Item, spider: Spider) -> _Item | defer.Deferred[_Item]:
        if not isinstance(item, Listing):
            return item
        if self.processor is None:
            raise DropItem("the pipeline has no Elasticsearch connection (see the error above)")
        fp.apply(item, self._site(spider))
        self.buffer.append(item)
        if self.oldest is None:
            self.oldest = time.monotonic()
        if len(self.buffer) >= self.config.batch_size:
            return self._flush().addCallback(lambda _: item)
        return item

    @staticmethod
    def _site(spider: Spider) -> fp.SiteIdentity | None:
        """The addresses of the spider's configured source (its mirrors, any port) for listing ids."""
        identity = getattr(getattr(spider, "source", None), "identity", None)
        return identity() if callable(identity) else None

    def _tick(self) -> None:
        if self.buffer and self.oldest is not None and time.monotonic() - self.oldest >= self.config.batch_seconds:
            self._flush()

    def _flush(self) -> defer.Deferred[None]:
        batch, self.buffer, self.oldest = self.buffer, [], None
        return self.lock.run(self._process_in_thread, batch)

    def _process_in_thread(self, batch: list[Listing]) -> defer.Deferred[None]:
        assert self.processor is not None
        d = threads.deferToThread(self.processor.process, batch)
        d.addCallback(self._record)
        d.addErrback(self._failed, len(batch))
        return d

    def _record(self, result: BatchResult) -> None:
        self.total.add(result)
        stats = self.crawler.stats
        assert stats is not None
        for kind, n in result.events.items():
            stats.inc_value(f"narcowatch/listings/{kind}", n)
        for stage, seconds in result.seconds.items():
            key = f"narcowatch/seconds/{stage}"
            stats.set_value(key, round(float(stats.get_value(key, 0.0)) + seconds, 3))
        for name in ("indexed", "failed", "alerts", "spooled", "replayed"):
            value = getattr(result, name)
            if value:
                stats.inc_value(f"narcowatch/{name}", value)

    def _failed(self, failure: Failure, size: int) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value("narcowatch/errors/batch", 1)
        log.error("Batch of %d listings failed: %s", size, failure.getErrorMessage(), exc_info=failure.value)

    @defer.inlineCallbacks
    def close_spider(self, spider: Spider) -> Generator[defer.Deferred[Any], object, None]:
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        if self.buffer:
            yield self._flush()
        yield self.lock.acquire()
        self.lock.release()
        if self.processor is not None and self.processor.deliverer is not None:
            # mails of this crawl's alerts go out before the crawl counts as done
            yield threads.deferToThread(self.processor.deliverer.drain)

    def spider_closed(self, spider: Spider, reason: str) -> defer.Deferred[None] | None:
        """Mark removals once the crawl's close reason is known: only after a normal finish.

        (Scrapy closes the pipelines before it records ``finish_reason``: ``close_spider`` cannot tell a
        crawl stopped by its page limit, a logout or an error from a finished one.)
        """
        if self.processor is None or reason != "finished" or self.total.spooled:
            return None
        stats = self.crawler.stats
        assert stats is not None

        def record(removed: int) -> None:
            if removed:
                stats.set_value("narcowatch/listings/removed", removed)

        return threads.deferToThread(self._mark_removed, spider).addCallback(record)

    def _mark_removed(self, spider: Spider) -> int:
        """Listings of this source not seen since before the grace period are marked removed."""
        from crawler.services import removal_cutoff

        assert self.processor is not None
        cutoff = removal_cutoff(self.crawler.settings, self.started_at, spider)
        if cutoff is None:
            return 0
        try:
            return int(self.processor.indexer.mark_removed(spider.name, cutoff))
        except Exception as exc:  # a failing removal pass must not fail the crawl
            log.error("Could not mark removed listings of %s: %s", spider.name, exc)
            return 0
