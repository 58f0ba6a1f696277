"""Address rules shared by plain and browser requests (crawler.addresses) and the browser's resolver rules."""

from __future__ import annotations

from typing import Any

import pytest
from twisted.python.failure import Failure

from crawler import addresses
from crawler.addresses import AddressPolicy, host_in_domains, ip_of, is_private_address, private_hosts


def _source(**kw: Any) -> Any:
    from crawler.sources.models import SourcesFile

    entry = {"name": "s", "kind": "market", "start_urls": ["https://shop.example/"], "links": {"listing": "a"},
             "fields": {"title": "h1"}, **kw}
    return SourcesFile.model_validate({"sources": [entry]}).sources[0]


@pytest.mark.parametrize("text", ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
                                  "100.64.0.1", "0.0.0.0", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1",
                                  "2002:7f00:1::", "224.0.0.1"])
def test_private_addresses(text: str) -> None:
    ip = ip_of(text)
    assert ip is not None and is_private_address(ip)


def test_public_addresses_and_domains() -> None:
    assert not is_private_address(ip_of("93.184.216.34"))  # type: ignore[arg-type]
    assert host_in_domains("a.shop.example", ["shop.example"]) and host_in_domains("SHOP.example.", ["shop.example"])
    assert not host_in_domains("evilshop.example", ["shop.example"])
    assert not host_in_domains("127.0.0.2", ["127.0.0.1"]) and not host_in_domains("x.127.0.0.1", ["127.0.0.1"])
    assert private_hosts(["http://localhost:1/", "http://[::1]/", "https://shop.example/"]) == ["::1", "localhost"]


def test_policy_refuses_names_that_resolve_to_private_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    looked_up: list[str] = []

    def fake_resolve(host: str, port: int | None = None) -> list[str]:
        looked_up.append(host)
        return {"shop.example": ["93.184.216.34"], "cdn.shop.example": ["93.184.216.35", "10.0.0.7"]}.get(host, [])

    monkeypatch.setattr(addresses, "resolve", fake_resolve)
    policy = AddressPolicy.for_source(_source(allowed_domains=["shop.example"]))
    assert policy.check_url("https://shop.example/p/1") is None
    assert policy.check_url("https://cdn.shop.example/a.png") == "private_address"
    assert policy.check_url("https://cdn.shop.example/b.png") == "private_address"
    assert looked_up == ["shop.example", "cdn.shop.example"]  # cached
    assert policy.check_url("https://other.example/") == "offsite"
    assert policy.check_url("file:///etc/passwd") == "scheme"
    assert policy.check_url("http://shop.example:9200/") is None  # public host: any port


def test_allow_private_opens_only_the_start_urls_origins() -> None:
    policy = AddressPolicy.for_source(_source(start_urls=["http://127.0.0.1:8808/m/"], allow_private_addresses=True))
    assert policy.check_url("http://127.0.0.1:8808/item/1") is None
    assert policy.check_url("http://127.0.0.1:9200/_all/_search") == "private_address"
    assert policy.check_url("http://127.0.0.2:8808/") == "offsite"
    assert policy.connected_reason("http://127.0.0.1:8808/x", "127.0.0.1") is None
    public = AddressPolicy.for_source(_source())
    assert public.connected_reason("https://shop.example/", "10.0.0.7") == "private_address"


def test_proxied_sources_do_not_resolve_but_refuse_literals(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(addresses, "resolve", lambda *a: pytest.fail("resolved a name behind a proxy"))
    policy = AddressPolicy.for_source(_source(start_urls=["http://abc.onion/"], proxy="http://127.0.0.1:8118",
                                              allowed_domains=["abc.onion"]))
    assert policy.check_url("http://abc.onion/x") is None
    assert policy.check_url("http://127.0.0.1:9200/") == "offsite"
    assert AddressPolicy(source="t", domains=("127.0.0.1",), proxied=True).check_url("http://127.0.0.1/") == \
        "private_address"


def test_host_resolver_rules() -> None:
    from crawler.browser import host_resolver_rules

    assert host_resolver_rules(_source(allowed_domains=["shop.example", "1.2.3.4"])) == (
        "EXCLUDE shop.example, EXCLUDE *.shop.example, EXCLUDE 1.2.3.4, MAP * ~NOTFOUND")
    local = _source(start_urls=["http://127.0.0.1:8808/"], allow_private_addresses=True, proxy="http://127.0.0.1:8118")
    assert host_resolver_rules(local) == "MAP 127.0.0.1:8118 127.0.0.1:8118, MAP 127.0.0.1:8808 127.0.0.1:8808, " \
                                         "MAP * ~NOTFOUND"


def test_resolver_refuses_private_answers_to_names(monkeypatch: pytest.MonkeyPatch) -> None:
    from twisted.internet.error import DNSLookupError

    from crawler.addresses import checked_resolution

    monkeypatch.setattr(addresses, "PRIVATE_NAMES_ALLOWED", {"fixture.test"})
    assert checked_resolution("shop.example", "93.184.216.34") == "93.184.216.34"
    assert checked_resolution("127.0.0.1", "127.0.0.1") == "127.0.0.1"  # literals: the guard's business
    assert checked_resolution("fixture.test", "127.0.0.1") == "127.0.0.1"  # a start URL of a private-allowed source
    with pytest.raises(DNSLookupError, match=r"rebound\.example resolves to the private address 10\.0\.0\.7"):
        checked_resolution("rebound.example", "10.0.0.7")
    from scrapy.utils.misc import load_object

    from crawler.resolver import PublicOnlyResolver
    from crawler.runner import project_settings

    assert load_object(project_settings()["DNS_RESOLVER"]) is PublicOnlyResolver


def test_public_only_resolver_fails_a_private_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The resolver Scrapy connects through (not only the check beside it) turns a private answer into an error."""
    from scrapy.resolver import dnscache
    from twisted.internet import defer
    from twisted.internet.base import ThreadedResolver
    from twisted.internet.error import DNSLookupError

    from crawler.resolver import PublicOnlyResolver

    monkeypatch.setattr(dnscache, "limit", dnscache.limit)  # restored after the resolver sets it
    answers = {"rebound.test": "10.0.0.7", "public.test": "93.184.216.34"}
    monkeypatch.setattr(ThreadedResolver, "getHostByName", lambda self, name, timeout=(): defer.succeed(answers[name]))
    resolver = PublicOnlyResolver(reactor=None, cache_size=0, timeout=1.0)
    got: list[object] = []
    resolver.getHostByName("public.test").addBoth(got.append)
    resolver.getHostByName("rebound.test").addBoth(got.append)
    assert got[0] == "93.184.216.34"
    assert isinstance(got[1], Failure) and got[1].check(DNSLookupError)
    got[1].trap(DNSLookupError)  # handled: no "unhandled error in Deferred" at garbage collection


class _PwRequest:
    """Enough of a Playwright request for the guard: url, type, headers, frame."""

    def __init__(self, url: str, navigation: bool = False, headers: dict[str, str] | None = None):
        self.url = url
        self.resource_type = "document" if navigation else "image"
        self.redirected_from = None
        self._navigation = navigation
        self._headers = headers or {}
        self.frame = type("F", (), {"parent_frame": None})()

    def is_navigation_request(self) -> bool:
        return self._navigation

    async def all_headers(self) -> dict[str, str]:
        return dict(self._headers)


def test_browser_guard_resolves_names_and_scopes_session_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from scrapy.http import Headers

    from crawler.browser import BrowserGuard

    monkeypatch.setattr(addresses, "resolve", lambda host, port=None: {"cdn.shop.example": ["10.0.0.7"]}.get(
        host, ["93.184.216.34"]))
    src = _source(allowed_domains=["shop.example"], session={"headers_env": {"X-Token": "TOK"}})
    guard = BrowserGuard(src, environ={"TOK": "t0k"})

    async def run() -> None:
        assert await guard(_PwRequest("https://shop.example/p/1", navigation=True)) is False
        assert await guard(_PwRequest("https://cdn.shop.example/a.png")) is True  # resolves privately
        assert await guard(_PwRequest("https://tracker.example/x.gif")) is True
        data = {"method": "GET", "url": "https://shop.example/", "headers": Headers(), "body": None,
                "encoding": "utf-8"}
        own = await guard.process_headers(browser_type_name="chromium", scrapy_request_data=data,
                                          playwright_request=_PwRequest("https://api.shop.example/j"))
        assert own["x-token"] == "t0k"
        other = await guard.process_headers(
            browser_type_name="chromium", scrapy_request_data=data,
            playwright_request=_PwRequest("https://other.example/j", headers={"x-token": "t0k", "cookie": "a=b"}))
        assert "x-token" not in other and "cookie" not in other

    asyncio.run(run())
    assert guard.refused == {}  # sub-resources, not navigations: nothing to drop
