"""Where a source's requests may go: its allowed domains only, and never a loopback, private or link-local
address unless the source sets ``allow_private_addresses: true``. Shared by plain and browser requests."""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from scrapy import Spider


class ConfiguredSource(Protocol):
    """What the address rules read of a configured source (``crawler.sources.models.SourceBase``; that module
    imports this one, so it is described here rather than imported): its name, and by ``getattr`` its
    ``domains``, ``allow_private_addresses``, ``proxy`` and ``urls()``."""

    @property
    def name(self) -> str: ...


LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
"""Host names that always mean this machine (``*.localhost`` too, RFC 6761)."""

REFUSED_STAT = "narcowatch/refused"
"""Stats prefix: ``narcowatch/refused/<reason>`` counts requests refused by the address rules, plus the total."""


def normalise_host(host: str | None) -> str:
    """Lower-case host without brackets or trailing dot (``[::1]`` -> ``::1``, ``A.example.`` -> ``a.example``)."""
    return (host or "").strip().strip("[]").rstrip(".").lower()


def ip_of(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address when ``host`` is an IP literal, else None."""
    try:
        return ipaddress.ip_address(normalise_host(host).split("%", 1)[0])
    except ValueError:
        return None


def is_private_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for every address that is not on the public internet: loopback, private, link-local,
    carrier-grade NAT, unspecified, reserved, multicast, and IPv6 forms of them (``::ffff:127.0.0.1``)."""
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            return is_private_address(mapped)
        if ip.teredo is not None:
            return is_private_address(ip.teredo[1])
    return bool(not ip.is_global or ip.is_multicast or ip.is_loopback or ip.is_link_local or ip.is_private)


def is_local_name(host: str) -> bool:
    """True for ``localhost`` and its kind, which resolve to this machine without asking DNS."""
    name = normalise_host(host)
    return name in LOCAL_NAMES or name.endswith(".localhost")


def host_in_domains(host: str, domains: Iterable[str]) -> bool:
    """True when ``host`` is one of ``domains`` or a subdomain of one (``a.shop.example`` in ``shop.example``)."""
    name = normalise_host(host)
    if not name:
        return False
    for domain in domains:
        d = normalise_host(domain)
        if d and (name == d or (ip_of(d) is None and name.endswith("." + d))):
            return True
    return False


def origin_of(url: str) -> tuple[str, int]:
    """(host, port) of a URL, the port defaulted by scheme (``http://a.example/`` -> ``("a.example", 80)``)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return normalise_host(parts.hostname), port or (443 if parts.scheme == "https" else 80)


def resolve(host: str, port: int | None = None) -> list[str]:
    """Every address ``host`` resolves to (blocking; an empty list when it does not resolve)."""
    try:
        infos = socket.getaddrinfo(normalise_host(host), port or 80, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in infos})


@dataclass
class AddressPolicy:
    """The address rules of one source.

    ``check_url(url)`` gives the reason a URL is refused (``scheme``, ``offsite``, ``private_address``)
    or None. Host names are resolved (results cached for ``ttl`` seconds) and refused when any address
    is private; with a proxy they are not resolved here (the proxy resolves them: Tor refuses private
    addresses itself), but IP literals and ``localhost`` names still are refused. ``allow_private``
    opens only the start URLs' own private origins (host and port): a test site on ``127.0.0.1:8808``
    still cannot send the crawl to ``127.0.0.1:9200``.
    """

    source: str
    domains: tuple[str, ...]
    allow_private: bool = False
    proxied: bool = False
    private_origins: frozenset[tuple[str, int]] = frozenset()
    """With ``allow_private``: the (host, port) pairs of the start URLs; private targets must be one of them."""
    ttl: float = 300.0
    _cache: dict[str, tuple[float, list[str]]] = field(default_factory=dict, repr=False)

    @classmethod
    def for_source(cls, source: ConfiguredSource | None, spider: Spider | None = None) -> AddressPolicy:
        """The policy of a configured source (a spider without one: its ``allowed_domains`` / attributes)."""
        if source is not None:
            return cls(
                source=str(getattr(source, "name", "?")),
                domains=tuple(getattr(source, "domains", None) or ()),
                allow_private=bool(getattr(source, "allow_private_addresses", False)),
                proxied=bool(getattr(source, "proxy", None)),
                private_origins=frozenset(origin_of(u) for u in _start_urls(source)),
            )
        return cls(
            source=str(getattr(spider, "name", "?")),
            domains=tuple(getattr(spider, "allowed_domains", None) or ()),
            allow_private=bool(getattr(spider, "allow_private_addresses", False)),
            private_origins=frozenset(origin_of(u) for u in getattr(spider, "start_urls", None) or ()),
        )

    def host_allowed(self, host: str) -> bool:
        """The host is one of the source's domains (a spider without domains: any host)."""
        return not self.domains or host_in_domains(host, self.domains)

    def static_reason(self, url: str) -> tuple[str | None, str]:
        """(reason, host) from the URL alone, without DNS: scheme, domain, IP literal, local names."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            return "scheme", ""
        host = normalise_host(parts.hostname)
        if not host:
            return "scheme", ""
        if not self.host_allowed(host):
            return "offsite", host
        ip = ip_of(host)
        if (ip is not None and is_private_address(ip)) or is_local_name(host):
            return (None if self.private_origin(url) else "private_address"), host
        return None, host

    def private_origin(self, url: str) -> bool:
        """True when ``url`` is on one of the start URLs' own origins and the source allows private ones."""
        return self.allow_private and origin_of(url) in self.private_origins

    def needs_lookup(self, host: str) -> bool:
        """True when ``host`` is a name this policy still has to resolve before a request may go."""
        return bool(host) and not self.proxied and ip_of(host) is None

    def cached(self, host: str) -> list[str] | None:
        hit = self._cache.get(host)
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        return None

    def remember(self, host: str, addresses: list[str]) -> None:
        self._cache[host] = (time.monotonic(), addresses)

    def addresses_reason(self, addresses: Iterable[str], url: str = "") -> str | None:
        """``private_address`` when any of the resolved addresses is private, else None."""
        for text in addresses:
            ip = ip_of(text)
            if ip is not None and is_private_address(ip):
                return None if url and self.private_origin(url) else "private_address"
        return None

    def check_url(self, url: str) -> str | None:
        """Why ``url`` may not be fetched (resolving its host, blocking), or None when it may."""
        reason, host = self.static_reason(url)
        if reason is not None or not self.needs_lookup(host):
            return reason
        addresses = self.cached(host)
        if addresses is None:
            addresses = resolve(host, urlsplit(url).port)
            self.remember(host, addresses)
        return self.addresses_reason(addresses, url)

    def connected_reason(self, url: str, ip_text: str | None) -> str | None:
        """``private_address`` when a response came from a private address the source may not reach."""
        if self.proxied or not ip_text or self.private_origin(url):
            return None
        ip = ip_of(str(ip_text))
        return "private_address" if ip is not None and is_private_address(ip) else None


PRIVATE_NAMES_ALLOWED: set[str] = set()
"""Host names (not literals) that sources with ``allow_private_addresses`` start from, e.g. ``localhost``:
the only names ``crawler.resolver.PublicOnlyResolver`` lets resolve to a private address. Filled by
AddressGuardMiddleware."""


def checked_resolution(name: str, address: str) -> str:
    """``address`` when ``name`` may connect there; raises DNSLookupError for a private answer to a name
    no source allows (a name that resolved publicly when the guard looked, privately now: DNS rebinding)."""
    from twisted.internet.error import DNSLookupError

    ip = ip_of(address)
    if ip is None or ip_of(name) is not None or not is_private_address(ip):
        return address
    if normalise_host(name) in PRIVATE_NAMES_ALLOWED:
        return address
    raise DNSLookupError(f"{name} resolves to the private address {address}: refused (crawler.addresses)")


def start_urls_of(src: ConfiguredSource | Spider) -> list[str]:
    """The URLs a crawl of ``src`` starts from: a configured source's ``urls()``, else its ``start_urls``.

    (Here rather than in crawler.sources.models, which imports this module: the policy needs them too.)
    """
    urls = getattr(src, "urls", None)
    return list(urls()) if callable(urls) else list(getattr(src, "start_urls"))  # noqa: B009 (a Spider's)


def _start_urls(source: ConfiguredSource) -> list[str]:
    try:
        return start_urls_of(source)
    except AttributeError:  # a stand-in source without start URLs
        return []


def private_hosts(urls: Iterable[str]) -> list[str]:
    """The hosts among ``urls`` that are private or loopback literals or local names (for config checks)."""
    out = []
    for url in urls:
        host = normalise_host(urlsplit(url).hostname)
        ip = ip_of(host) if host else None
        if host and ((ip is not None and is_private_address(ip)) or is_local_name(host)):
            out.append(host)
    return sorted(set(out))
