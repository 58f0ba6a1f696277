"""Spiders of marketplaces: static HTML (``market``) and B2B chemical sites (``b2b_chemicals``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from scrapy.http import Response

from crawler.items import Listing
from crawler.pages.market import (
    B2BProductPage,
    MarketCategoryPage,
    MarketListingPage,
    MarketRow,
    merge_row,
    missing_fields,
)
from crawler.sources.models import B2BSource, MarketSource
from spiders.base import SourceSpider

if TYPE_CHECKING:
    from twisted.python.failure import Failure

META_ROW = "narcowatch_row"
"""Request.meta key: the row listing a detail request enriches (``follow_listing``)."""


class MarketSpider(SourceSpider):
    """Start pages -> category pages (and their next pages) -> listing pages -> one Listing each.

    With ``listing_rows`` every offer row of a start, category or result page is a Listing; with
    ``follow_listing`` the row's detail page is read too and the two are merged into one Listing.
    """

    kind = "market"
    source: ClassVar[MarketSource]
    listing_page: type[MarketListingPage] = MarketListingPage

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        return self.parse_index(response)

    def parse_index(self, response: Response) -> Iterator[Any]:
        if not self.text_response(response):
            return
        page = MarketCategoryPage(response, self.source)
        self.count("pages/index")
        rows = page.rows() if self.source.rows_mode else []
        categories, next_pages, listing_urls = page.category_urls(), page.next_page_urls(), page.listing_urls()
        if not (rows or categories or next_pages or listing_urls) and self.stop_if_gated(response):
            return
        for url in categories:
            yield self.request(url, self.parse_index, "index")
        for url in next_pages:
            yield self.request(url, self.parse_index, "index")
        for url in listing_urls:
            yield self.request(url, self.parse_listing, "listing")
        yield from self.row_listings(response, rows)

    def row_listings(self, response: Response, rows: list[MarketRow]) -> Iterator[Any]:
        """The rows' listings; with ``follow_listing``, requests for their detail pages carrying the row."""
        for row in rows:
            follow = row.link if self.source.follow_listing else None
            missing = [] if follow else row.missing()  # followed rows are checked once merged
            if missing:
                self.skip(response, "missing_fields", f"row {row.position}: {', '.join(missing)}")
                continue
            self.count("rows")
            item = row.to_item()
            if follow:
                yield self.request(follow, self.parse_listing, "listing", **{META_ROW: item})
            else:
                yield item

    def parse_listing(self, response: Response) -> Iterator[Any]:
        row: Listing | None = response.meta.get(META_ROW)
        if not self.text_response(response):
            if row is not None:
                yield row
            return
        page = self.listing_page(response, self.source, self.source.detail_fields)
        missing = page.missing()
        if row is not None:
            if page.fields_found() == 0:
                # the detail page gave nothing (a gate, a moved page): the row alone is the listing
                self.stop_if_gated(response)
                yield from self.checked(response.url, row)
                return
            self.count("pages/listing")
            yield from self.checked(response.url, merge_row(row, page.to_item()))
            return
        if missing:
            if self.stop_if_gated(response):
                return
            self.skip(response, "missing_fields", ", ".join(missing))
            return
        self.count("pages/listing")
        yield page.to_item()

    def checked(self, url: str, item: Listing) -> Iterator[Listing]:
        """``item`` if it has the fields the source requires, else nothing (counted as skipped)."""
        missing = missing_fields(vars(item), self.source.listing_must_have)
        if missing:
            self.skip_url(url, "missing_fields", ", ".join(missing))
            return
        yield item

    def on_error(self, failure: Failure) -> Iterator[Listing]:
        """Errback: a failed detail request still yields its row (the offer was listed)."""
        super().on_error(failure)
        request = getattr(failure, "request", None)
        if request is not None and request.meta.get(META_ROW) is not None:
            yield from self.checked(request.url, request.meta[META_ROW])


class B2BSpider(MarketSpider):
    """Product list pages -> product pages; CAS numbers verified by check digit."""

    kind = "b2b_chemicals"
    source: ClassVar[B2BSource]
    listing_page = B2BProductPage
