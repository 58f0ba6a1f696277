"""Stable listing ids and content hashes: what makes a re-crawl an update, and what counts as a change."""

from __future__ import annotations

import hashlib
import json
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from crawler.items import Listing

_TRACKING = re.compile(r"^(utm_[a-z]+|fbclid|gclid|ref|ref_src|sessionid|sid|phpsessid)$", re.I)
_SPACES = re.compile(r"\s+")


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, drop the fragment, tracking and session parameters; sort the query."""
    parts = urlsplit(url.strip())
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k))
    netloc = parts.netloc.lower()
    if (parts.scheme == "http" and netloc.endswith(":80")) or (parts.scheme == "https" and netloc.endswith(":443")):
        netloc = netloc.rsplit(":", 1)[0]
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", urlencode(query), ""))


def fingerprint(listing: Listing) -> str:
    """The listing's Elasticsearch ``_id``: same platform and same site id (or same page) -> same id.

    The source name is left out on purpose: two configured sources that watch the same site must not
    create two documents for one offer.
    """
    platform = (listing.platform or urlsplit(canonical_url(listing.url)).netloc).lower()
    key = f"id:{listing.native_id}" if listing.native_id else f"url:{canonical_url(listing.url)}"
    return hashlib.sha256(f"{platform}|{key}".encode()).hexdigest()[:40]


def _norm(value: str | None) -> str:
    return _SPACES.sub(" ", value or "").strip().lower()


def content_hash(listing: Listing) -> str:
    """Hash of the fields whose change is recorded as a change: title, description, price, stock."""
    payload = json.dumps(
        [_norm(listing.title), _norm(listing.description), _norm(listing.price),
         _norm(listing.currency), _norm(listing.stock), _norm(listing.quantity)],
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def apply(listing: Listing) -> Listing:
    """Fill ``fingerprint`` and ``content_hash`` in place and return the listing."""
    listing.fingerprint = fingerprint(listing)
    listing.content_hash = content_hash(listing)
    return listing
