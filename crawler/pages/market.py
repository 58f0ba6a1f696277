"""Page objects of marketplaces (static, browser-rendered and B2B chemical sites): category and listing pages."""

from __future__ import annotations

import re
from typing import Any

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

# Listing fields a page object fills from configured selectors (the rest come from the response).
PAGE_FIELDS = ("native_id", "title", "description", "price_raw", "price", "currency", "quantity", "stock",
               "vendor", "vendor_url", "ships_from_raw", "ships_to_raw", "category", "posted_at", "updated_at",
               "images", "links", "views", "cas_numbers", "extra")


class MarketCategoryPage(Page):
    """A start or category page: links to categories, to further pages and to listings."""

    def category_urls(self) -> list[str]:
        return absolute_links(self.response, self.response, self.source.links.category)

    def next_page_urls(self) -> list[str]:
        return absolute_links(self.response, self.response, self.source.links.pagination)

    def listing_urls(self) -> list[str]:
        return absolute_links(self.response, self.response, self.source.links.listing)


class MarketListingPage(Page):
    """One listing page; each Listing field is a method reading the configured selector."""

    def _first(self, name: str) -> str | None:
        return select_first(self.response, getattr(self.source.fields, name))

    def native_id(self) -> str | None:
        got = self._first("native_id")
        if got:
            return got
        rx = self.source.links.native_id_regex
        if rx:
            m = re.search(rx, self.response.url)
            if m:
                return m.group(1)
        return None

    def title(self) -> str | None:
        return self._first("title")

    def description(self) -> str | None:
        spec = self.source.fields.description
        if spec is None:
            return None
        values = select_values(self.response, spec)
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
        spec = self.source.fields.vendor_url
        if spec is None:
            return None
        links = absolute_links(self.response, self.response, [spec])
        return links[0] if links else None

    def ships_from_raw(self) -> str | None:
        return self._first("ships_from")

    def ships_to_raw(self) -> str | None:
        return self._first("ships_to")

    def category(self) -> str | None:
        spec = self.source.fields.category
        if spec is None:
            return None
        values = select_values(self.response, spec)
        return " / ".join(values) if values and spec.join is None else (values[0] if values else None)

    def posted_at(self) -> str | None:
        return parse_datetime(self._first("posted_at"))

    def updated_at(self) -> str | None:
        return parse_datetime(self._first("updated_at"))

    def images(self) -> list[str]:
        spec = self.source.fields.images
        return absolute_links(self.response, self.response, [spec]) if spec is not None else []

    def links(self) -> list[str]:
        spec = self.source.fields.links
        return absolute_links(self.response, self.response, [spec]) if spec is not None else []

    def views(self) -> int | None:
        return parse_count(self._first("views"))

    def cas_numbers(self) -> list[str]:
        return find_cas(select_values(self.response, self.source.fields.cas_numbers))

    def extra(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, spec in self.source.fields.extra.items():
            value = select_first(self.response, spec)
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
        values = self.fields()
        names = {"price": "price", "ships_from": "ships_from_raw", "ships_to": "ships_to_raw"}
        return [f for f in self.source.listing_must_have if not values.get(names.get(f, f))]

    def to_item(self) -> Listing:
        return self.base_item(**self.fields())


class B2BProductPage(MarketListingPage):
    """A chemical product page: CAS number(s) checked, supplier as vendor, country as ships-from."""

    def cas_numbers(self) -> list[str]:
        found = super().cas_numbers()
        if not found:  # some sites print CAS numbers only in the title or description
            found = find_cas([t for t in (self.title(), self.description()) if t])
        return found
