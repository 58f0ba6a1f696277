"""Listing events: what the indexing step observed about each listing of a batch, for alert rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

EventKind = Literal["new", "price_change", "changed", "relisted", "unchanged"]


@dataclass(frozen=True, kw_only=True)
class ListingEvent:
    """One listing of an indexed batch and what happened to it in this crawl."""

    fingerprint: str
    """The listing's ``_id`` in the listings alias."""
    kind: EventKind
    """new: first time seen; price_change: price or currency differs; changed: text or stock differs;
    relisted: seen again after being marked removed; unchanged: nothing to alert on."""
    content_hash: str
    """Content hash after the change: together with rule and fingerprint it makes an alert unique."""
    source: str
    """Configured source name."""
    platform: str | None = None
    """Platform the listing lives on."""
    vendor_new_platform: bool = False
    """True when the listing's vendor profile appears on this platform for the first time."""
