"""Typed items that spiders yield and pipelines enrich: one ``Listing`` per offer, post or message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OFFER_KINDS = frozenset({"market", "browser", "b2b_chemicals"})
"""Source kinds whose pages are offers with a seller, a price and shipping fields."""


@dataclass(kw_only=True)
class Listing:
    """One offer, forum post or channel message as seen on one page at one time.

    Spiders fill the page fields; pipelines fill the derived ones (fingerprint, nlp, evidence).
    """

    # -- where it was seen
    url: str
    """Absolute URL of the page the listing was read from."""
    source: str
    """Name of the configured source (config/sources/*.yaml ``name``)."""
    source_kind: str
    """Kind of the source: market, browser, b2b_chemicals, forum, telegram_public, reddit, mastodon, feed."""
    platform: str | None = None
    """Platform the listing lives on: a domain (``example.onion``) or a network (``telegram``)."""
    native_id: str | None = None
    """The site's own id for the listing or post when it has one (else None: the URL identifies it)."""

    # -- what the page says (raw text kept beside normalised values)
    title: str | None = None
    """Listing title, whitespace-collapsed."""
    description: str | None = None
    """Listing body text, whitespace-collapsed."""
    price_raw: str | None = None
    """Price text as shown on the page."""
    price: str | None = None
    """Price as a decimal string (``"12.50"``), None where it could not be read."""
    currency: str | None = None
    """ISO 4217 code or crypto ticker (USD, EUR, BTC, XMR)."""
    quantity: str | None = None
    """Quantity text as shown (``"10 g"``, ``"100 pills"``)."""
    stock: str | None = None
    """Stock or availability text as shown."""
    vendor: str | None = None
    """Seller handle, shop name or post author as shown."""
    vendor_url: str | None = None
    """Absolute URL of the seller's profile page."""
    ships_from_raw: str | None = None
    """Ships-from text as shown (``"China"``)."""
    ships_to_raw: str | None = None
    """Ships-to text as shown (``"Worldwide except Australia"``)."""
    category: str | None = None
    """Category path on the site (``"Opioids / Fentanyl"``)."""
    posted_at: str | None = None
    """When the listing or post was published, UTC ISO 8601."""
    updated_at: str | None = None
    """When the site says it was last changed, UTC ISO 8601."""
    images: list[str] = field(default_factory=list)
    """Absolute image URLs."""
    links: list[str] = field(default_factory=list)
    """Outbound links found in the post (social and forum sources)."""
    views: int | None = None
    """View count where the platform shows one (Telegram)."""
    cas_numbers: list[str] = field(default_factory=list)
    """CAS numbers the page states in a structured field (B2B chemical sites)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Other configured fields, by name."""

    # -- evidence (filled by the spider / evidence pipeline)
    fetched_at: str | None = None
    """When the page was fetched, UTC ISO 8601."""
    response_sha256: str | None = None
    """SHA-256 (hex) of the raw response body."""
    response_status: int | None = None
    """HTTP status of the response."""
    warc_file: str | None = None
    """Path of the WARC file that holds the raw response."""
    warc_record_id: str | None = None
    """WARC-Record-ID of the response record."""
    screenshot: str | None = None
    """Path of a full-page PNG screenshot (browser sources)."""
    source_page: str | None = None
    """For an offer read as a row of a result page (``listing_rows``): that page's URL (its WARC record is the
    evidence); None for listings read from their own page."""
    row: int | None = None
    """Position of the offer's row on ``source_page``, counted from 1 in page order."""
    source_page_record: str | None = None
    """WARC-Record-ID of ``source_page``'s response (the row's evidence, also when ``follow_listing`` gives
    the listing its detail page's record)."""

    # -- derived (filled by pipelines)
    fingerprint: str | None = None
    """Stable id of the listing across crawls: the Elasticsearch ``_id``."""
    content_hash: str | None = None
    """Hash of the fields whose change counts as a change (title, description, price, stock)."""
    nlp: dict[str, Any] | None = None
    """Output of the NLP step for the listing text (shared/DESIGN.md section 4, without ``id``)."""

    def text(self) -> str:
        """The text the NLP step reads: title and description, then what the page states in structured
        fields as labelled lines ("Ships from: China → Ships to: USA"), the form the shipping rules read.

        Seller, price and quantity lines only for offer pages (market, browser, b2b_chemicals): on a
        forum, a feed or a channel the "vendor" is just the author, and calling every author a vendor
        would make news and discussion look like offers.
        """
        offer_page = self.source_kind in OFFER_KINDS
        lines = [p for p in (self.title, self.description) if p]
        if self.ships_from_raw or self.ships_to_raw:
            lines.append(f"Ships from: {self.ships_from_raw or '?'} → Ships to: {self.ships_to_raw or '?'}")
        if offer_page:
            price = " ".join(v for v in (self.price_raw or self.price, self.currency) if v)
            for label, value in (("Vendor", self.vendor), ("Price", price), ("Quantity", self.quantity),
                                 ("CAS", ", ".join(self.cas_numbers))):
                if value:
                    lines.append(f"{label}: {value}")
        return "\n".join(lines)
