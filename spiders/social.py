"""Spiders of social sources: Telegram channel previews, Reddit and Mastodon JSON, RSS/Atom feeds."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, ClassVar

from scrapy.http import Response

from crawler.pages.social import FeedPage, MastodonTimeline, RedditListing, TelegramChannelPage
from crawler.sources.models import FeedSource, MastodonSource, RedditSource, TelegramSource
from spiders.base import SourceSpider

META_PAGE = "narcowatch_page"
"""How many pages back from the start URL this request is (0 = the start page)."""


class TelegramSpider(SourceSpider):
    """``/s/<channel>``: the newest messages, then "load older" pages up to ``older_pages``."""

    kind = "telegram_public"
    source: ClassVar[TelegramSource]

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        if not self.text_response(response):
            return
        page = TelegramChannelPage(response, self.source)
        items = page.items()
        if not items:
            self.skip(response, "no_messages")
        self.count("pages/channel")
        yield from items
        depth = response.meta.get(META_PAGE, 0)
        older = page.older_url()
        if older and depth < self.source.older_pages:
            yield self.request(older, self.parse, "channel", **{META_PAGE: depth + 1})


class _JsonPagedSpider(SourceSpider):
    max_pages_attr = ""
    page_class: type[RedditListing | MastodonTimeline]

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        if not self.text_response(response):
            return
        try:
            page = self.page_class(response, self.source)
            items = page.items()
            nxt = page.next_url()
        except ValueError as exc:
            self.skip(response, "bad_json", str(exc))
            return
        self.count("pages/api")
        yield from items
        yield from self._next(response, nxt)

    def _next(self, response: Response, url: str | None) -> Iterator[Any]:
        depth = response.meta.get(META_PAGE, 0)
        if url and depth + 1 < getattr(self.source, self.max_pages_attr):
            yield self.request(url, self.parse, "api", **{META_PAGE: depth + 1})


class RedditSpider(_JsonPagedSpider):
    """Subreddit and search listings (``/r/<sub>/new.json``), following ``after`` for a few pages."""

    kind = "reddit"
    source: ClassVar[RedditSource]
    max_pages_attr = "max_pages_per_listing"
    page_class = RedditListing


class MastodonSpider(_JsonPagedSpider):
    """Hashtag and account timelines, following ``Link: rel="next"`` for a few pages."""

    kind = "mastodon"
    source: ClassVar[MastodonSource]
    max_pages_attr = "max_pages_per_timeline"
    page_class = MastodonTimeline

    def request_headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        env = self.source.access_token_env
        if env and os.environ.get(env):
            headers["Authorization"] = f"Bearer {os.environ[env]}"
        return headers


class FeedSpider(SourceSpider):
    """RSS 2.0 / Atom feeds: each entry is one Listing (the entry's link is its URL)."""

    kind = "feed"
    source: ClassVar[FeedSource]

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        if not self.text_response(response):
            return
        items = FeedPage(response, self.source).items()
        if not items:
            self.skip(response, "no_entries")
        self.count("pages/feed")
        yield from items
