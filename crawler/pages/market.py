"""Page objects of marketplaces (static, browser-rendered and B2B chemical sites): category pages, listing pages
and the offer rows of result pages (``listing_rows``)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from parsel import Selector
from scrapy.http import Response

from crawler.config.regexes import user_search
from crawler.items import Listing
from crawler.pages.base import (
    Page,
    absolute_links,
    clean,
    find_cas,
    parse_count,
    parse_datetime,
    parse_price,
    select_first,
    select_values,
)
from crawler.sources.models import MarketSource

# Listing fields a page object fills from configured selectors (the rest come from the response).
PAGE_FIELDS = ("native_id", "title", "description", "price_raw", "price", "currency", "quantity", "stock",
               "vendor", "vendor_url", "ships_from_raw", "ships_to_raw", "category", "posted_at", "updated_at",
               "images", "links", "views", "cas_numbers", "extra")


class MarketCategoryPage(Page):
    """A start or category page: links to categories, to further pages and to listings."""

    source: MarketSource

    def category_urls(self) -> list[str]:
        return absolute_links(self.response, self.response, self.source.links.category)

    def next_page_urls(self) -> list[str]:
        return absolute_links(self.response, self.response, self.source.links.pagination)

    def listing_urls(self) -> list[str]:
        """Links to listing pages (none in rows mode: there ``links.listing`` is the link inside each row)."""
        if getattr(self.source, "listing_rows", None) is not None:
            return []
        return absolute_links(self.response, self.response, self.source.links.listing)

    def row_nodes(self) -> list[Selector]:
        """The elements ``listing_rows`` matches, in page order."""
        spec = getattr(self.source, "listing_rows", None)
        if spec is None:
            return []
        nodes = self.response.css(spec.css) if spec.css is not None else self.response.xpath(spec.xpath or "")
        return [n for n in nodes if not isinstance(n.root, str)]

    def rows(self) -> list[MarketRow]:
        """One page object per offer row (position counted from 1 in page order)."""
        return [MarketRow(self.response, self.source, node, i) for i, node in enumerate(self.row_nodes(), 1)]


_ITEM_NAME = {"ships_from": "ships_from_raw", "ships_to": "ships_to_raw"}
"""Configured field name -> Listing attribute, where they differ."""


def missing_fields(values: dict[str, Any], must_have: list[str]) -> list[str]:
    """The names in ``must_have`` whose Listing value is empty in ``values``."""
    return [f for f in must_have if not values.get(_ITEM_NAME.get(f, f))]


class MarketListingPage(Page):
    """One listing page; each Listing field is a method reading the configured selector.

    Subclasses change what is read (``root``: the page or one row of it), with which selectors (``spec``)
    and which URL the listing gets (``item_url``).
    """

    source: MarketSource

    def __init__(self, response: Response, source: MarketSource, spec: Any = None):
        super().__init__(response, source)
        self.root: Any = response
        self.spec: Any = spec if spec is not None else source.fields
        self.item_url: str = response.url

    def _first(self, name: str) -> str | None:
        return select_first(self.root, getattr(self.spec, name))

    def _id_from_url(self, url: str) -> str | None:
        rx = self.source.links.native_id_regex
        if rx:
            m = user_search(rx, url, what="native_id_regex")
            if m:
                return m.group(1)
        return None

    def native_id(self) -> str | None:
        return self._first("native_id") or self._id_from_url(self.item_url)

    def title(self) -> str | None:
        return self._first("title")

    def description(self) -> str | None:
        spec = self.spec.description
        if spec is None:
            return None
        values = select_values(self.root, spec)
        return clean(" ".join(values)) if spec.join is None else (values[0] if values else None)

    def price_raw(self) -> str | None:
        return self._first("price")

    def _price(self) -> tuple[str | None, str | None]:
        return parse_price(self.price_raw(), self._first("currency"))

    def price(self) -> str | None:
        return self._price()[0]

    def currency(self) -> str | None:
        explicit = self._first("currency")
        if explicit and re.fullmatch(r"[A-Za-z]{3,4}", explicit):
            return explicit.upper()
        return self._price()[1]

    def quantity(self) -> str | None:
        return self._first("quantity")

    def stock(self) -> str | None:
        return self._first("stock")

    def vendor(self) -> str | None:
        return self._first("vendor")

    def vendor_url(self) -> str | None:
        spec = self.spec.vendor_url
        if spec is None:
            return None
        links = absolute_links(self.response, self.root, [spec])
        return links[0] if links else None

    def ships_from_raw(self) -> str | None:
        return self._first("ships_from")

    def ships_to_raw(self) -> str | None:
        return self._first("ships_to")

    def category(self) -> str | None:
        spec = self.spec.category
        if spec is None:
            return None
        values = select_values(self.root, spec)
        return " / ".join(values) if values and spec.join is None else (values[0] if values else None)

    def posted_at(self) -> str | None:
        return parse_datetime(self._first("posted_at"))

    def updated_at(self) -> str | None:
        return parse_datetime(self._first("updated_at"))

    def images(self) -> list[str]:
        spec = self.spec.images
        return absolute_links(self.response, self.root, [spec]) if spec is not None else []

    def links(self) -> list[str]:
        spec = self.spec.links
        return absolute_links(self.response, self.root, [spec]) if spec is not None else []

    def views(self) -> int | None:
        return parse_count(self._first("views"))

    def cas_numbers(self) -> list[str]:
        return find_cas(select_values(self.root, self.spec.cas_numbers))

    def extra(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, spec in self.spec.extra.items():
            value = select_first(self.root, spec)
            if value is not None:
                out[name] = value
        return out

    def fields(self) -> dict[str, Any]:
        """Every page field by name (what the expected-JSON fixtures hold); read once per page."""
        cached: dict[str, Any] | None = getattr(self, "_fields", None)
        if cached is None:
            cached = {name: getattr(self, name)() for name in PAGE_FIELDS}
            self._fields = cached
        return dict(cached)

    def missing(self) -> list[str]:
        """Fields the source requires (``listing_must_have``) that this page lacks."""
        return missing_fields(self.fields(), self.source.listing_must_have)

    def fields_found(self) -> int:
        """How many of the configured fields have a value here (0: the page is not what the source expects)."""
        configured = [n for n, spec in self.spec if spec is not None and n != "extra" and not
                      (getattr(spec, "value", None) is not None)]
        values = self.fields()
        return sum(1 for n in configured if values.get(_ITEM_NAME.get(n, n)))

    def to_item(self) -> Listing:
        return self.base_item(url=self.item_url, **self.fields())


class MarketRow(MarketListingPage):
    """One offer row of a result page (``listing_rows``): fields read relative to the row.

    Its URL is the row's link (``links.listing`` inside the row), else the result page's URL; its native id
    is ``fields.native_id``, else ``links.native_id_regex`` on the link, else (no link, no id) a hash of the
    row's title and vendor, so that rows without links still keep one identity per offer. Evidence is the
    result page's (its WARC record) plus the row's position on it.
    """

    def __init__(self, response: Response, source: MarketSource, node: Selector, position: int):
        super().__init__(response, source)
        self.root = node
        self.position = position
        links = absolute_links(response, node, list(source.links.listing))
        self.link: str | None = links[0] if links else None
        self.item_url = self.link or response.url

    def native_id(self) -> str | None:
        found = super().native_id()
        if found or self.link:
            return found
        key = "|".join(v or "" for v in (self.title(), self.vendor()))
        return "row-" + hashlib.sha256(key.encode()).hexdigest()[:16] if key.strip("|") else None

    def cas_numbers(self) -> list[str]:
        found = super().cas_numbers()
        if not found and self.source.kind == "b2b_chemicals":  # as B2BProductPage: title and description
            found = find_cas([t for t in (self.title(), self.description()) if t])
        return found

    def to_item(self) -> Listing:
        item = super().to_item()
        item.source_page = self.response.url
        item.row = self.position
        item.source_page_record = item.warc_record_id
        return item


def merge_row(row: Listing, detail: Listing) -> Listing:
    """The detail page's listing with the row's values filling its gaps (``follow_listing``): detail values
    win; the row's result page and position stay as evidence of where the offer was listed."""
    for name in PAGE_FIELDS:
        value = getattr(detail, name)
        if value in (None, "", [], {}):
            setattr(detail, name, getattr(row, name))
        elif name == "extra":
            detail.extra = {**row.extra, **detail.extra}
    detail.source_page = row.source_page
    detail.row = row.row
    detail.source_page_record = row.source_page_record
    return detail


class B2BProductPage(MarketListingPage):
    """A chemical product page: CAS number(s) checked, supplier as vendor, country as ships-from."""

    def cas_numbers(self) -> list[str]:
        found = super().cas_numbers()
        if not found:  # some sites print CAS numbers only in the title or description
            found = find_cas([t for t in (self.title(), self.description()) if t])
        return found
