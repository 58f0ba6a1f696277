"""Scrapy spider loader that makes every configured source a spider: ``scrapy list``, ``scrapy crawl NAME``."""

from __future__ import annotations

import builtins

from scrapy import Request
from scrapy.interfaces import ISpiderLoader
from scrapy.settings import BaseSettings
from scrapy.spiderloader import SpiderLoader
from zope.interface import implementer


@implementer(ISpiderLoader)
class SourceSpiderLoader:
    """Spiders from the sources configuration (NARCOWATCH_CONFIG setting or variable, default config/),
    plus any named spider classes in SPIDER_MODULES (those with the same name lose to a source)."""

    def __init__(self, settings: BaseSettings):
        from crawler.sources import load_sources

        self.config = settings.get("NARCOWATCH_CONFIG") or None
        self._sources = {s.name: s for s in load_sources(self.config)}
        self._classes: dict[str, type] = {}
        self._modules = SpiderLoader.from_settings(settings)

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> SourceSpiderLoader:
        return cls(settings)

    def load(self, spider_name: str) -> type:
        if spider_name in self._sources:
            if spider_name not in self._classes:
                from spiders.registry import spider_for

                self._classes[spider_name] = spider_for(self._sources[spider_name])
            return self._classes[spider_name]
        try:
            return self._modules.load(spider_name)
        except KeyError:
            names = ", ".join(sorted(self.list())) or "none"
            raise KeyError(f"Spider not found: {spider_name} (configured sources: {names})") from None

    def list(self) -> builtins.list[str]:
        return sorted(set(self._sources) | set(self._modules.list()))

    def find_by_request(self, request: Request) -> builtins.list[str]:
        from crawler.addresses import start_urls_of

        hits = [n for n, s in self._sources.items() if any(request.url.startswith(u) for u in start_urls_of(s))]
        return hits or self._modules.find_by_request(request)
