"""Which generic spider class crawls which source kind."""

from __future__ import annotations

from crawler.sources.models import SourceBase
from spiders.base import SourceSpider


def spider_class(kind: str) -> type[SourceSpider]:
    """The generic spider of a source kind (imported lazily: the browser kind pulls in scrapy-playwright)."""
    from spiders.browser import BrowserSpider
    from spiders.forum import ForumSpider
    from spiders.market import B2BSpider, MarketSpider
    from spiders.social import FeedSpider, MastodonSpider, RedditSpider, TelegramSpider

    classes: dict[str, type[SourceSpider]] = {
        c.kind: c for c in (MarketSpider, BrowserSpider, B2BSpider, ForumSpider, TelegramSpider, RedditSpider,
                            MastodonSpider, FeedSpider)
    }
    try:
        return classes[kind]
    except KeyError:
        raise ValueError(f"no spider for source kind {kind!r} (known: {', '.join(sorted(classes))})") from None


def spider_for(source: SourceBase) -> type[SourceSpider]:
    """The per-source spider class Scrapy runs for ``source``."""
    return spider_class(source.kind).for_source(source)
