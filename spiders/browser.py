"""Spider of JavaScript marketplaces: the market flow with pages rendered in Chromium (scrapy-playwright)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Self

from scrapy.http import Request

from crawler.sources.models import BrowserSource, SourceBase
from spiders.market import MarketSpider

if TYPE_CHECKING:
    from playwright.async_api import Download
    from playwright.async_api import Request as PageRequest
    from playwright.async_api import Response as PageResponse
    from scrapy.crawler import Crawler

    from crawler.browser import BrowserGuard


class BrowserSpider(MarketSpider):
    """Category and listing pages rendered in Chromium with the source's waits and scrolling.

    crawler.browser.BrowserPageMiddleware assigns pages to recycled contexts (with the source's proxy),
    takes the screenshots and closes every page, after the response and on any error.
    """

    kind = "browser"
    source: ClassVar[BrowserSource]

    @classmethod
    def extra_settings(cls, source: SourceBase) -> dict[str, Any]:
        from crawler.browser import BrowserNotFound, playwright_settings

        options = source.browser  # type: ignore[attr-defined]
        try:
            settings = playwright_settings(max_contexts=options.max_contexts, source=source)
        except BrowserNotFound as exc:
            # listing sources (`scrapy list`) must work without a browser; crawling this one cannot
            return {"NARCOWATCH_BROWSER_MISSING": str(exc)}
        settings["NARCOWATCH_BROWSER_PAGES_PER_CONTEXT"] = options.max_pages_per_context
        return settings

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        missing = crawler.settings.get("NARCOWATCH_BROWSER_MISSING")
        if missing:
            from crawler.browser import BrowserNotFound

            raise BrowserNotFound(f"source {cls.name!r} needs a browser: {missing}")
        return super().from_crawler(crawler, *args, **kwargs)

    def _guard(self) -> BrowserGuard | None:
        from crawler.browser import BrowserGuard

        guard = self.crawler.settings.get("PLAYWRIGHT_ABORT_REQUEST") if self.crawler else None
        return guard if isinstance(guard, BrowserGuard) else None

    def narcowatch_browser_request(self, request: PageRequest) -> None:
        """Every request event of a rendered page: redirect hops reach the source's BrowserGuard here."""
        if (guard := self._guard()) is not None:
            guard.on_request(request)

    def narcowatch_browser_response(self, response: PageResponse) -> None:
        """Every response event of a rendered page (oversize documents are closed by the guard)."""
        if (guard := self._guard()) is not None:
            guard.on_response(response)

    def narcowatch_browser_download(self, download: Download) -> None:
        """A page that turned out to be a download (refused by the context)."""
        if (guard := self._guard()) is not None:
            guard.on_download(download)

    def request(self, url: str, callback: Callable[..., object], role: str, **meta: Any) -> Request:
        from crawler.browser import browser_meta

        options = self.source.browser
        timeout_ms = int(options.wait_timeout * 1000)
        if role in ("start", "index"):
            meta.update(browser_meta(wait_for=options.wait_for_index, wait_timeout_ms=timeout_ms,
                                     scroll_times=options.scroll.times,
                                     scroll_delay_ms=int(options.scroll.delay * 1000)))
        elif self.source.render_listing_pages:
            meta.update(browser_meta(wait_for=options.wait_for, wait_timeout_ms=timeout_ms,
                                     screenshot=options.screenshot))
        return super().request(url, callback, role, **meta)
