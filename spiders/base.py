"""The generic source spider: per-source Scrapy settings, start requests, skip accounting. Spiders only route."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Self

import scrapy
from scrapy.http import Request, Response, TextResponse

from crawler.addresses import start_urls_of
from crawler.sources.models import SourceBase

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from twisted.python.failure import Failure

    from crawler.items import Listing

# Request.meta keys the spiders set (other components may read them).
META_SOURCE = "narcowatch_source"
"""Name of the configured source the request belongs to."""
META_ROLE = "narcowatch_role"
"""What the page is to the spider: index, listing, thread, channel, api, feed."""


def source_settings(source: SourceBase) -> dict[str, Any]:
    """Scrapy settings of one source: politeness, robots policy, retries, limits, timeouts."""
    rate = source.rate_limit
    settings: dict[str, Any] = {
        "DOWNLOAD_DELAY": rate.download_delay,
        "RANDOMIZE_DOWNLOAD_DELAY": rate.randomize,
        "CONCURRENT_REQUESTS_PER_DOMAIN": rate.concurrency,
        "CONCURRENT_REQUESTS_PER_IP": 0,
        "AUTOTHROTTLE_ENABLED": rate.autothrottle,
        "ROBOTSTXT_OBEY": source.robots == "obey",
        "RETRY_TIMES": source.retry.times,
        "NARCOWATCH_RETRY_BACKOFF_BASE": source.retry.backoff_base,
        "NARCOWATCH_RETRY_BACKOFF_MAX": source.retry.backoff_max,
        "DEPTH_LIMIT": source.max_depth or 0,
        "CLOSESPIDER_PAGECOUNT": source.max_pages or 0,
        "DOWNLOAD_TIMEOUT": source.timeout,
    }
    if source.user_agent:
        settings["USER_AGENT"] = source.user_agent
    return settings


class SourceSpider(scrapy.Spider):
    """Base of the generic spiders; ``for_source`` makes the per-source subclass Scrapy runs."""

    kind: ClassVar[str] = ""
    source: ClassVar[SourceBase]

    @classmethod
    def for_source(cls, source: SourceBase) -> type[SourceSpider]:
        """A subclass bound to ``source``: its name, allowed domains and custom settings."""
        ident = re.sub(r"\W", "_", source.name)
        return type(
            f"{cls.__name__}_{ident}",
            (cls,),
            {
                "name": source.name,
                "source": source,
                "allowed_domains": source.domains,
                "custom_settings": {**source_settings(source), **cls.extra_settings(source)},
                "__module__": cls.__module__,
            },
        )

    @classmethod
    def extra_settings(cls, source: SourceBase) -> dict[str, Any]:
        """Kind-specific settings (the browser kind adds scrapy-playwright's)."""
        return {}

    # -- requests
    def request(self, url: str, callback: Callable[..., object], role: str, **meta: Any) -> Request:
        """A request of this source, tagged with source and role.

        Proxy, session cookies/headers and bad-page checks are applied by crawler.middlewares from
        ``spider.source``; rendered pages by crawler.browser.
        """
        meta = {META_SOURCE: self.source.name, META_ROLE: role, **meta}
        return Request(url, callback=callback, errback=self.on_error, meta=meta,
                       headers=self.request_headers())

    def request_headers(self) -> dict[str, str]:
        return {}

    def start_urls_list(self) -> list[str]:
        return start_urls_of(self.source)

    async def start(self) -> AsyncIterator[Request]:
        for url in self.start_urls_list():
            yield self.request(url, self.parse_start, "start")

    def parse_start(self, response: Response) -> Any:
        return self.parse(response)

    def parse(self, response: Response, **kwargs: Any) -> Any:
        raise NotImplementedError

    # -- accounting
    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        from scrapy import signals

        crawler.signals.connect(spider.count_fields, signal=signals.item_scraped)
        return spider

    def count_fields(self, item: object, response: Response | None = None, spider: scrapy.Spider | None = None) -> None:
        """Per-field fill counts of the listings this crawl yielded (the run record's fill rates)."""
        from crawler.drift import count_fill

        if self.crawler is not None and self.crawler.stats is not None:
            count_fill(self.crawler.stats, self.source, item)

    def skip(self, response: Response, reason: str, detail: str = "") -> None:
        """Count and log a page that yields nothing usable; the crawl goes on."""
        self.skip_url(response.url, reason, detail)

    def skip_url(self, url: str, reason: str, detail: str = "") -> None:
        if getattr(self, "crawler", None) is not None and self.crawler.stats is not None:
            self.crawler.stats.inc_value(f"narcowatch/skipped/{reason}")
            self.crawler.stats.inc_value("narcowatch/skipped")
        self.logger.warning("skipped %s (%s)%s", url, reason, f": {detail}" if detail else "")

    def stop_if_gated(self, response: Response) -> bool:
        """If the page is a login wall, anti-DDoS page or CAPTCHA (``gates`` markers), count it as
        ``narcowatch/gated/<kind>`` and close this source's crawl with reason ``gated``. Never solved."""
        from crawler.pages.gates import detect_gate

        found = detect_gate(response, getattr(self.source, "gates", None))
        if found is None:
            return False
        kind, marker = found
        message = (f"source {self.source.name}: {kind} gate at {response.url} (marker {marker!r}); the crawl "
                   "stopped. narcowatch never solves or bypasses gates: check the site, the session cookies "
                   "or the gates markers")
        if getattr(self, "crawler", None) is not None and self.crawler.stats is not None:
            stats = self.crawler.stats
            stats.inc_value(f"narcowatch/gated/{kind}")
            if stats.get_value("narcowatch/gated") is None:
                stats.set_value("narcowatch/gated", message)
                stats.set_value("narcowatch/gated_kind", kind)
                stats.set_value("narcowatch/gated_url", response.url)
        self.logger.error(message)
        if getattr(self, "crawler", None) is not None and self.crawler.engine is not None:
            self.crawler.engine.close_spider(self, "gated")
        return True

    def count(self, key: str, n: int = 1) -> None:
        if getattr(self, "crawler", None) is not None and self.crawler.stats is not None:
            self.crawler.stats.inc_value(f"narcowatch/{key}", n)

    def text_response(self, response: Response) -> bool:
        """True when the response can be parsed as text; otherwise counts it as skipped."""
        if not isinstance(response, TextResponse):
            self.skip(response, "not_text", (response.headers.get(b"Content-Type") or b"").decode("latin-1"))
            return False
        return True

    def on_error(self, failure: Failure) -> Iterator[Listing] | None:
        """Errback: count the failure by type; the crawl goes on (kinds may yield what the page still gave)."""
        from scrapy.exceptions import IgnoreRequest

        request = getattr(failure, "request", None)
        if failure.check(IgnoreRequest):  # robots.txt, bad pages, sessions: counted by whoever dropped it
            self.logger.debug("request dropped: %s (%s)", getattr(request, "url", "?"), failure.value)
            return None
        kind = failure.type.__name__ if getattr(failure, "type", None) else "error"
        self.count(f"errors/{kind}")
        self.logger.warning("request failed: %s (%s: %s)", getattr(request, "url", "?"), kind, failure.value)
        return None
