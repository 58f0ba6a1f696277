"""Stable listing ids and content hashes: what makes a re-crawl an update, and what counts as a change.

A listing's id does not depend on which of its site's addresses it was seen on: a ``SiteIdentity`` (a
source's canonical host and its mirrors, ``SourceBase.identity()``) maps every address of the site, on any
port, to the canonical host before the id is computed.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
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


@dataclass(frozen=True)
class SiteIdentity:
    """The addresses of one site: ``hosts`` (lower-case host names, ports left out) all stand for
    ``canonical``. Built by ``SourceBase.identity()`` from the first start URL's host and ``mirrors``.

    Only these exact hosts are mapped (not their subdomains, not the source's other allowed domains): a
    URL elsewhere keeps its host and port, as before mirrors existed.
    """

    canonical: str
    hosts: frozenset[str]

    def owns(self, netloc: str) -> bool:
        """True when ``netloc`` (``host[:port]``, any case) is one of the site's addresses, on any port."""
        try:
            host = urlsplit(f"//{netloc}").hostname
        except ValueError:
            return False
        return host is not None and host in self.hosts

    def key_host(self, netloc: str) -> str:
        """``netloc`` as the site's id sees it: the canonical host for the site's own addresses (any port),
        else ``netloc`` unchanged."""
        return self.canonical if self.owns(netloc) else netloc

    def key_url(self, url: str) -> str:
        """``canonical_url(url)`` with a site address (any port) replaced by the canonical host."""
        url = canonical_url(url)
        parts = urlsplit(url)
        if self.owns(parts.netloc):
            return urlunsplit(parts._replace(netloc=self.canonical))
        return url

    def key_native_id(self, native_id: str) -> str:
        """A native id that is an absolute URL on a site address (a feed's ``guid``) with the canonical host
        in place of that address; any other id unchanged, character for character."""
        if not native_id.startswith(("http://", "https://", "HTTP://", "HTTPS://")):
            return native_id
        try:
            parts = urlsplit(native_id)
        except ValueError:
            return native_id
        if parts.netloc.lower() == self.canonical or not self.owns(parts.netloc):
            return native_id
        return urlunsplit(parts._replace(netloc=self.canonical))


def fingerprint(listing: Listing, site: SiteIdentity | None = None) -> str:
    """The listing's Elasticsearch ``_id``: same platform and same site id (or same page) -> same id.

    The source name is left out on purpose: two configured sources that watch the same site must not
    create two documents for one offer. With ``site`` (the source's addresses), a page seen on a mirror or
    on another port of the site gets the id it has on the canonical address; a single-address site on its
    usual port gets the same id as without ``site``.
    """
    url = site.key_url(listing.url) if site else canonical_url(listing.url)
    platform = (listing.platform or urlsplit(url).netloc).lower()
    native = site.key_native_id(listing.native_id) if site and listing.native_id else listing.native_id
    key = f"id:{native}" if native else f"url:{url}"
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


def apply(listing: Listing, site: SiteIdentity | None = None) -> Listing:
    """Fill ``fingerprint`` (with the source's ``site`` addresses, when known) and ``content_hash`` in place
    and return the listing."""
    listing.fingerprint = fingerprint(listing, site)
    listing.content_hash = content_hash(listing)
    return listing
