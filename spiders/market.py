"""Spiders of marketplaces: static HTML (``market``) and B2B chemical sites (``b2b_chemicals``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from scrapy.http import Response

from crawler.pages.market import B2BProductPage, MarketCategoryPage, MarketListingPage
from spiders.base import SourceSpider


class MarketSpider(SourceSpider):
    """Start pages -> category pages (and their next pages) -> listing pages -> one Listing each."""

    kind = "market"
    listing_page: type[MarketListingPage] = MarketListingPage

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        return self.parse_index(response)

    def parse_index(self, response: Response) -> Iterator[Any]:
        if not self.text_response(response):
            return
        page = MarketCategoryPage(response, self.source)
        self.count("pages/index")
        for url in page.category_urls():
            yield self.request(url, self.parse_index, "index")
        for url in page.next_page_urls():
            yield self.request(url, self.parse_index, "index")
        for url in page.listing_urls():
            yield self.request(url, self.parse_listing, "listing")

    def parse_listing(self, response: Response) -> Iterator[Any]:
        if not self.text_response(response):
            return
        page = self.listing_page(response, self.source)
        missing = page.missing()
        if missing:
            self.skip(response, "missing_fields", ", ".join(missing))
            return
        self.count("pages/listing")
        yield page.to_item()


class B2BSpider(MarketSpider):
    """Product list pages -> product pages; CAS numbers verified by check digit."""

    kind = "b2b_chemicals"
    listing_page = B2BProductPage
