"""Scrapy's DNS resolver for narcowatch (``DNS_RESOLVER``): answers that turn a name private are refused.

Kept apart from crawler.addresses, which configuration loading imports: this module imports Scrapy and
Twisted, and only a crawl needs it.
"""

from __future__ import annotations

from collections.abc import Sequence

from scrapy.resolver import CachingThreadedResolver
from twisted.internet.defer import Deferred

from crawler.addresses import checked_resolution


class PublicOnlyResolver(CachingThreadedResolver):
    """Scrapy's caching resolver whose answers go through ``checked_resolution``: the address a plain request
    connects to is the one checked, so a name cannot turn private between check and connect (DNS rebinding)."""

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> Deferred[str]:
        return super().getHostByName(name, timeout).addCallback(lambda address: checked_resolution(name, address))
