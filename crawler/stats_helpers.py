"""Crawl-stats shortcuts shared by downloader middlewares that keep a ``crawler``."""

from __future__ import annotations

from typing import Any

from scrapy.crawler import Crawler


class CrawlerStatsMixin:
    """``_inc`` and ``_set`` on ``self.crawler.stats``; both do nothing when the crawler has no stats."""

    crawler: Crawler

    def _inc(self, key: str, n: int = 1) -> None:
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value(key, n)

    def _set(self, key: str, value: Any) -> None:
        if self.crawler.stats is not None:
            self.crawler.stats.set_value(key, value)
