"""Scale-out on scrapy-redis: one shared frontier and duplicate filter in Redis, politeness kept across workers.

Several crawl workers (processes, on one or many machines) run the same spider with
``distributed_settings(redis_url, run_id)`` merged into their Scrapy settings:

- the scrapy-redis scheduler and duplicate filter keep the request queue and the seen-request
  fingerprints in Redis, keyed by spider and run, so every URL is fetched once by exactly one worker;
- ``DistributedStartMiddleware`` lets only the first worker of a run emit the start requests (the
  others take work from the shared queue), and registers them in the duplicate filter;
- ``RedisPolitenessMiddleware`` spaces requests to one domain by a minimum delay over *all*
  workers (a Redis key per domain, set with NX and a TTL of the delay);
- ``SharedIdleExtension`` keeps an idle worker alive while the shared queue is not empty or was
  not empty a short while ago, and the last worker to leave deletes the run's keys.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider, NotConfigured
from scrapy.http import Response

if TYPE_CHECKING:
    import redis
    import redis.asyncio

log = logging.getLogger(__name__)

KEY_PREFIX = "narcowatch"


def run_keys(spider: str, run_id: str) -> dict[str, str]:
    """The Redis keys one distributed run uses (all deleted by the last worker to finish)."""
    base = f"{KEY_PREFIX}:{spider}:{run_id}"
    return {
        "queue": f"{base}:requests",
        "dupefilter": f"{base}:dupefilter",
        "seeded": f"{base}:seeded",
        "workers": f"{base}:workers",
        "last_busy": f"{base}:last_busy",
    }


def distributed_settings(
    redis_url: str,
    run_id: str,
    *,
    domain_delay: float = 1.0,
    idle_grace: float = 30.0,
) -> dict[str, Any]:
    """Scrapy settings that make this process one worker of a shared crawl ``run_id`` on ``redis_url``.

    ``domain_delay``: minimum seconds between two requests to one domain, over all workers (0: off).
    ``idle_grace``: seconds a worker waits on an empty shared queue before it stops.
    """
    if not redis_url:
        raise ValueError("distributed_settings: redis_url is empty (set NARCOWATCH_REDIS_URL)")
    if not run_id or any(c in run_id for c in " :%"):
        raise ValueError(f"distributed_settings: run_id {run_id!r} must be non-empty without spaces, ':' or '%'")
    base = f"{KEY_PREFIX}:%(spider)s:{run_id}"
    return {
        "SCHEDULER": "scrapy_redis.scheduler.Scheduler",
        "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
        "SCHEDULER_QUEUE_CLASS": "scrapy_redis.queue.PriorityQueue",
        "SCHEDULER_QUEUE_KEY": f"{base}:requests",
        "SCHEDULER_DUPEFILTER_KEY": f"{base}:dupefilter",
        # never flush on close: other workers still use the queue; the last worker deletes the keys
        "SCHEDULER_PERSIST": True,
        "REDIS_URL": redis_url,
        "NARCOWATCH_REDIS_URL": redis_url,
        "NARCOWATCH_RUN_ID": run_id,
        "NARCOWATCH_DOMAIN_DELAY": domain_delay,
        "NARCOWATCH_IDLE_GRACE": idle_grace,
        "SPIDER_MIDDLEWARES": {"crawler.distributed.DistributedStartMiddleware": 10},
        "DOWNLOADER_MIDDLEWARES": {"crawler.distributed.RedisPolitenessMiddleware": 950},
        "EXTENSIONS": {"crawler.distributed.SharedIdleExtension": 500},
    }


def settings_from_env(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """``distributed_settings`` from ``NARCOWATCH_REDIS_URL``, ``NARCOWATCH_RUN_ID``, ``NARCOWATCH_DOMAIN_DELAY``
    and ``NARCOWATCH_IDLE_GRACE``; empty when ``NARCOWATCH_REDIS_URL`` is not set (one-machine mode)."""
    env = os.environ if environ is None else environ
    url = env.get("NARCOWATCH_REDIS_URL", "")
    if not url:
        return {}
    run_id = env.get("NARCOWATCH_RUN_ID", "")
    if not run_id:
        raise ValueError("NARCOWATCH_REDIS_URL is set but NARCOWATCH_RUN_ID is not: every worker of one crawl "
                         "needs the same run id")
    return distributed_settings(
        url, run_id, domain_delay=float(env.get("NARCOWATCH_DOMAIN_DELAY", "1.0")),
        idle_grace=float(env.get("NARCOWATCH_IDLE_GRACE", "30")),
    )


def _sync_redis(url: str) -> redis.Redis:
    import redis

    return redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=30)


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _redis_run(crawler: Crawler, missing: str) -> tuple[str, str]:
    """The crawl's ``NARCOWATCH_REDIS_URL`` and ``NARCOWATCH_RUN_ID``; ``NotConfigured(missing)`` unless both
    are set."""
    url = crawler.settings.get("NARCOWATCH_REDIS_URL")
    run_id = crawler.settings.get("NARCOWATCH_RUN_ID")
    if not url or not run_id:
        raise NotConfigured(missing)
    return url, str(run_id)


class DistributedStartMiddleware:
    """Spider middleware: only the first worker of a run emits the start requests (Redis SET NX), and they
    go through the shared duplicate filter (``dont_filter`` cleared) so a link back to them is not fetched
    again."""

    def __init__(self, redis_url: str, run_id: str, crawler: Crawler | None = None) -> None:
        self.redis_url = redis_url
        self.run_id = run_id
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DistributedStartMiddleware:
        url, run_id = _redis_run(
            crawler, "NARCOWATCH_REDIS_URL and NARCOWATCH_RUN_ID are needed for distributed starts"
        )
        return cls(url, run_id, crawler)

    def _first(self, spider: Spider) -> bool:
        key = run_keys(spider.name, self.run_id)["seeded"]
        client = _sync_redis(self.redis_url)
        try:
            won = bool(client.set(key, _worker_id(), nx=True, ex=7 * 86400))
        finally:
            client.close()
        log.info("%s start requests of run %s", "emitting" if won else "another worker emits the", self.run_id)
        return won

    @staticmethod
    def _filtered(request: object) -> object:
        return request.replace(dont_filter=False) if isinstance(request, Request) and request.dont_filter else request

    async def process_start(self, start: AsyncIterator[object]) -> AsyncIterator[object]:
        assert self.crawler is not None and self.crawler.spider is not None
        first = self._first(self.crawler.spider)
        async for item_or_request in start:
            if first or not isinstance(item_or_request, Request):
                yield self._filtered(item_or_request) if first else item_or_request

    def process_start_requests(self, start_requests: Iterable[object], spider: Spider) -> Iterable[object]:
        first = self._first(spider)
        for item_or_request in start_requests:
            if first or not isinstance(item_or_request, Request):
                yield self._filtered(item_or_request) if first else item_or_request


class RedisPolitenessMiddleware:
    """Downloader middleware: at most one request per ``NARCOWATCH_DOMAIN_DELAY`` seconds to one domain,
    over every worker sharing the Redis server. A request may go when it sets the domain's key
    (``SET NX PX delay``); otherwise it waits for the key's remaining TTL and tries again."""

    def __init__(self, redis_url: str, delay: float) -> None:
        self.redis_url = redis_url
        self.delay_ms = max(1, int(delay * 1000))
        self._client: redis.asyncio.Redis | None = None
        self.waits = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RedisPolitenessMiddleware:
        url = crawler.settings.get("NARCOWATCH_REDIS_URL")
        delay = crawler.settings.getfloat("NARCOWATCH_DOMAIN_DELAY", 0.0)
        if not url:
            raise NotConfigured("NARCOWATCH_REDIS_URL is not set")
        if delay <= 0:
            raise NotConfigured("NARCOWATCH_DOMAIN_DELAY is 0: no shared politeness delay")
        mw = cls(url, delay)
        crawler.signals.connect(mw.spider_closed, signal=signals.spider_closed)
        return mw

    def _redis(self) -> redis.asyncio.Redis:
        if self._client is None:
            import redis.asyncio

            self._client = redis.asyncio.Redis.from_url(self.redis_url, socket_timeout=30)
        return self._client

    @staticmethod
    def domain_key(url: str) -> str:
        return f"{KEY_PREFIX}:polite:{(urlsplit(url).hostname or '').lower()}"

    async def process_request(self, request: Request, spider: Spider | None = None) -> None:
        key = self.domain_key(request.url)
        client = self._redis()
        while True:
            if await client.set(key, b"1", nx=True, px=self.delay_ms):
                return None
            self.waits += 1
            ttl = await client.pttl(key)
            await asyncio.sleep(max(ttl, 2) / 1000.0)

    async def spider_closed(self, spider: Spider) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class SharedIdleExtension:
    """Keeps an idle worker alive while the shared queue has requests, or had some less than
    ``NARCOWATCH_IDLE_GRACE`` seconds ago (another worker may still add links); the last worker of the
    run to close deletes the run's Redis keys."""

    def __init__(self, crawler: Crawler, redis_url: str, run_id: str, grace: float) -> None:
        self.crawler = crawler
        self.redis_url = redis_url
        self.run_id = run_id
        self.grace = grace
        self.worker = _worker_id()
        self.idle_since: float | None = None
        self._client: redis.Redis | None = None
        self._busy_written = 0.0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SharedIdleExtension:
        url, run_id = _redis_run(crawler, "not a distributed crawl")
        ext = cls(crawler, url, run_id, crawler.settings.getfloat("NARCOWATCH_IDLE_GRACE", 30.0))
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(ext.response_received, signal=signals.response_received)
        return ext

    def _keys(self, spider: Spider) -> dict[str, str]:
        return run_keys(spider.name, self.run_id)

    def _redis(self) -> redis.Redis:
        if self._client is None:
            self._client = _sync_redis(self.redis_url)
        return self._client

    def spider_opened(self, spider: Spider) -> None:
        keys = self._keys(spider)
        self._redis().sadd(keys["workers"], self.worker)
        self._redis().expire(keys["workers"], 7 * 86400)

    def response_received(self, response: Response, request: Request, spider: Spider) -> None:
        # tell idle workers that this one is still finding links (at most once a second)
        self.idle_since = None
        now = time.time()
        if now - self._busy_written >= 1.0:
            self._busy_written = now
            self._redis().set(self._keys(spider)["last_busy"], str(now), ex=7 * 86400)

    def spider_idle(self, spider: Spider) -> None:
        keys = self._keys(spider)
        client = self._redis()
        now = time.time()
        if client.zcard(keys["queue"]):
            client.set(keys["last_busy"], str(now), ex=7 * 86400)
            self.idle_since = None
            raise DontCloseSpider
        last_busy = float(client.get(keys["last_busy"]) or 0)
        if self.idle_since is None:
            self.idle_since = now
        if now - max(self.idle_since, last_busy) < self.grace:
            raise DontCloseSpider

    def spider_closed(self, spider: Spider, reason: str) -> None:
        keys = self._keys(spider)
        client = self._redis()
        try:
            client.srem(keys["workers"], self.worker)
            if client.scard(keys["workers"]) == 0 and reason == "finished" and not client.zcard(keys["queue"]):
                client.delete(*keys.values())
                log.info("last worker of run %s: deleted its Redis keys", self.run_id)
        finally:
            client.close()
            self._client = None
