"""Spider of forums: board index -> boards (and their next pages) -> threads (and their pages) -> posts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from scrapy.http import Response

from crawler.pages.social import ForumIndexPage, ForumThreadPage
from crawler.sources.models import ForumSource
from spiders.base import SourceSpider


class ForumSpider(SourceSpider):
    """Each post is one Listing; its author is the vendor candidate, its board the category."""

    kind = "forum"
    source: ClassVar[ForumSource]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._threads: set[str] = set()

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        return self.parse_index(response)

    def parse_index(self, response: Response) -> Iterator[Any]:
        if not self.text_response(response):
            return
        page = ForumIndexPage(response, self.source)
        self.count("pages/index")
        if not (page.board_urls() or page.next_page_urls() or page.thread_urls()) and self.stop_if_gated(response):
            return
        for url in page.board_urls():
            yield self.request(url, self.parse_index, "index")
        for url in page.next_page_urls():
            yield self.request(url, self.parse_index, "index")
        for url in page.thread_urls():
            if self.source.max_threads is not None and len(self._threads) >= self.source.max_threads:
                break
            if url not in self._threads:
                self._threads.add(url)
                yield self.request(url, self.parse_thread, "thread")

    def parse_thread(self, response: Response) -> Iterator[Any]:
        if not self.text_response(response):
            return
        page = ForumThreadPage(response, self.source)
        items = page.items()
        if not items:
            if self.stop_if_gated(response):  # a login wall or anti-DDoS page instead of the thread
                return
            self.skip(response, "no_posts")
        self.count("pages/thread")
        yield from items
        for url in page.next_page_urls():
            yield self.request(url, self.parse_thread, "thread")
