"""Listing ids across a site's mirrors and ports: one id per offer on any address of its site, two sites never
merge, and the ids of sources without mirrors on their usual ports are those computed before mirrors existed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scrapy.http import Request, TextResponse

from crawler.config import ConfigError
from crawler.fingerprint import SiteIdentity, canonical_url, fingerprint
from crawler.items import Listing
from crawler.pages import MastodonTimeline
from crawler.pipelines import NarcowatchPipeline
from crawler.sources import check_sources, load_sources
from crawler.sources.models import SourceBase
from tests.support.examples import examples


def legacy_fingerprint(listing: Listing) -> str:
    """The formula of crawler/fingerprint.py before mirrors (commit 9c15462), kept verbatim as the reference."""
    platform = (listing.platform or urlsplit(canonical_url(listing.url)).netloc).lower()
    key = f"id:{listing.native_id}" if listing.native_id else f"url:{canonical_url(listing.url)}"
    return hashlib.sha256(f"{platform}|{key}".encode()).hexdigest()[:40]


SOURCES = """\
sources:
  - name: dream
    kind: market
    start_urls: ["http://dreamabc.onion/market"]
    mirrors: [dreamdef.onion, "http://DreamGhi.onion:8080/"]
    links: {listing: a.item}
    fields: {title: h1}
  - name: other-market
    kind: market
    start_urls: ["http://othermarket.onion/"]
    links: {listing: a.item}
    fields: {title: h1}
  - name: moved
    kind: market
    platform: oldname.onion
    start_urls: ["http://newname.onion/"]
    mirrors: [oldname.onion]
    links: {listing: a.item}
    fields: {title: h1}
  - name: shop
    kind: market
    start_urls: ["https://Shop.Example.com/products?page=1"]
    links: {listing: a.item}
    fields: {title: h1}
  - name: news
    kind: feed
    platform: news-site
    start_urls: ["https://news.example.org/feed.xml"]
  - name: tg
    kind: telegram_public
    channels: [chemking_direct]
  - name: masto
    kind: mastodon
    instance: "https://mastodon.example.social"
    hashtags: [fentanyl]
"""


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, SourceBase]:
    path = tmp_path / "sources.yaml"
    path.write_text(SOURCES, encoding="utf-8")
    return {s.name: s for s in load_sources(path)}


def seen(src: SourceBase, url: str, native_id: str | None = None) -> Listing:
    """A listing as a page object of ``src`` makes it (platform from the source)."""
    return Listing(url=url, source=src.name, source_kind=src.kind, platform=src.platform_name, native_id=native_id)


def fp(src: SourceBase, url: str, native_id: str | None = None) -> str:
    return fingerprint(seen(src, url, native_id), src.identity())


def test_ids_of_sources_without_mirrors_are_unchanged(sources: dict[str, SourceBase]) -> None:
    """After the upgrade, a re-crawl of a usual source finds its documents: no duplicates, no "new" alerts."""
    cases = [
        (sources["shop"], "https://shop.example.com/products/p-17?utm_source=x&b=2&a=1", None),
        (sources["shop"], "https://Shop.Example.com:443/products/p-17", None),
        (sources["shop"], "https://shop.example.com/products/p-17", "p-17"),
        (sources["shop"], "https://cdn.shop-assets.example:8443/p/17", None),  # another host: kept as it was
        (sources["other-market"], "http://othermarket.onion/item/9", None),
        (sources["other-market"], "http://othermarket.onion/item/9", "9"),
        (sources["news"], "https://news.example.org/2026/10/seizure.html", "https://news.example.org/?p=123"),
        (sources["news"], "https://news.example.org/2026/10/seizure.html", "tag:news.example.org,2026:Post-9"),
        (sources["tg"], "https://t.me/chemking_direct/12", "chemking_direct/12"),
        (sources["masto"], "https://mastodon.example.social/@x/113", "mastodon.example.social/113"),
        (sources["dream"], "http://dreamabc.onion/listing/77", None),  # the canonical address of a mirrored site
        (sources["dream"], "http://dreamabc.onion/listing/77", "77"),
    ]
    for src, url, native in cases:
        listing = seen(src, url, native)
        assert fingerprint(listing, src.identity()) == legacy_fingerprint(listing) == fingerprint(listing), url
    # the pinned id of tests/unit/test_fingerprint.py, now through a source's identity
    market = SourceBase.model_validate({"name": "m", "kind": "market", "start_urls": ["http://market.example/"]})
    pinned = Listing(url="http://Market.example/item/7?b=2&a=1", source="m", source_kind="market")
    assert fingerprint(pinned, market.identity()) == "7bfb55e511f8d8321f5d6f6112554674ce41221a"


def test_one_offer_on_every_mirror_and_port_is_one_listing(sources: dict[str, SourceBase]) -> None:
    dream = sources["dream"]
    assert dream.site_host == "dreamabc.onion" and dream.platform_name == "dreamabc.onion"
    by_url = {fp(dream, u) for u in ("http://dreamabc.onion/listing/77", "http://dreamdef.onion/listing/77",
                                     "http://DREAMGHI.onion:8080/listing/77#top", "http://dreamabc.onion:8808/listing/77",
                                     "http://dreamdef.onion:443/listing/77")}
    assert len(by_url) == 1
    by_id = {fp(dream, f"http://{h}/listing/77?x=1", "77") for h in ("dreamabc.onion", "dreamdef.onion:81")}
    assert len(by_id) == 1
    # a feed-style id that is a URL on a mirror
    assert fp(dream, "http://dreamdef.onion/a", "http://dreamdef.onion:8080/?p=5") == \
        fp(dream, "http://dreamabc.onion/a", "http://dreamabc.onion/?p=5")
    # other pages stay other listings
    assert fp(dream, "http://dreamdef.onion/listing/78") != fp(dream, "http://dreamabc.onion/listing/77")


def test_two_sites_never_merge(sources: dict[str, SourceBase]) -> None:
    dream, other = sources["dream"], sources["other-market"]
    assert fp(dream, "http://dreamabc.onion/listing/77", "77") != fp(other, "http://othermarket.onion/listing/77", "77")
    assert fp(dream, "http://dreamabc.onion/listing/77") != fp(other, "http://othermarket.onion/listing/77")
    # a host that is not one of the site's addresses keeps its host and port in the id
    site = dream.identity()
    assert site is not None
    assert site.key_url("http://elsewhere.onion:8080/listing/77") == "http://elsewhere.onion:8080/listing/77"
    assert site.key_url("http://sub.dreamabc.onion/listing/77") == "http://sub.dreamabc.onion/listing/77"


def test_a_site_that_moved_keeps_its_old_address_as_identity(sources: dict[str, SourceBase]) -> None:
    moved = sources["moved"]
    assert moved.site_host == "oldname.onion" and moved.platform_name == "oldname.onion"
    before = SourceBase.model_validate({"name": "moved", "kind": "market", "start_urls": ["http://oldname.onion/"]})
    old = seen(before, "http://oldname.onion/item/3")
    assert fingerprint(old, before.identity()) == legacy_fingerprint(old) == fp(moved, "http://newname.onion/item/3")


def test_mirrors_are_crawled_and_checked_like_start_urls(sources: dict[str, SourceBase], tmp_path: Path) -> None:
    assert sources["dream"].mirrors == ["dreamdef.onion", "dreamghi.onion"]
    assert sources["dream"].domains == ["dreamabc.onion", "dreamdef.onion", "dreamghi.onion"]
    path = tmp_path / "bad.yaml"
    for mirror, words in (("127.0.0.1", "loopback"), ("mirror.onion:8080", "without port"),
                          ("ftp://mirror.onion/", "http(s) URL"), ("mir ror.onion", "not a host name")):
        path.write_text(SOURCES.split("  - name: other-market")[0].replace(
            "mirrors: [dreamdef.onion", f"mirrors: [{json.dumps(mirror)}"), encoding="utf-8")
        _, issues = check_sources(path)
        assert issues and words in issues[0].message, (mirror, issues)


def _issues(tmp_path: Path, files: dict[str, str]) -> list[Any]:
    for name, text in files.items():
        (tmp_path / "sources").mkdir(exist_ok=True)
        (tmp_path / "sources" / name).write_text(text, encoding="utf-8")
    return check_sources(tmp_path)[1]


def test_a_mirror_shared_by_two_sites_fails_with_file_line_and_field(tmp_path: Path) -> None:
    issues = _issues(tmp_path, {
        "a.yaml": "sources:\n  - name: a\n    kind: feed\n    start_urls: ['http://a.onion/feed']\n"
                  "    mirrors:\n      - b.onion\n      - c.onion\n",
        "b.yaml": "sources:\n  - name: x\n    kind: feed\n    start_urls: ['http://x.onion/feed']\n"
                  "  - name: c\n    kind: feed\n    start_urls: ['http://c.onion/feed']\n",
    })
    assert len(issues) == 1
    issue = issues[0]
    b_file = str(tmp_path / "sources" / "b.yaml")
    assert (issue.file, issue.line, issue.field) == (b_file, 7, "sources[1].start_urls[0]")
    assert "'c'" in issue.message and "'a'" in issue.message and f"{tmp_path / 'sources' / 'a.yaml'}:7" in issue.message
    with pytest.raises(ConfigError):
        load_sources(tmp_path)


def test_the_same_mirror_in_two_sites_is_reported_at_the_second_mirror(tmp_path: Path) -> None:
    issues = _issues(tmp_path, {"s.yaml": (
        "sources:\n  - name: a\n    kind: feed\n    start_urls: ['http://a.onion/feed']\n    mirrors: [m.onion]\n"
        "  - name: b\n    kind: feed\n    start_urls: ['http://b.onion/feed']\n    mirrors:\n"
        "      - q.onion\n      - http://M.onion:8080/\n")})
    assert [(i.line, i.field) for i in issues] == [(11, "sources[1].mirrors[1]")]


def test_a_mirror_that_another_site_starts_from_is_an_error_too(tmp_path: Path) -> None:
    """Not only a source's first start URL: any of its start URLs on another site's mirror would give that
    page two ids (its host kept by one source, mapped to the other's canonical address by the other)."""
    issues = _issues(tmp_path, {"s.yaml": (
        "sources:\n  - name: a\n    kind: feed\n    start_urls: ['http://a.onion/feed']\n    mirrors: [m.onion]\n"
        "  - name: b\n    kind: feed\n    start_urls:\n      - http://b.onion/feed\n"
        "      - http://m.onion:81/feed\n")})
    assert [(i.line, i.field) for i in issues] == [(10, "sources[1].start_urls[1]")]
    assert "m.onion is an address of source 'b'" in issues[0].message


def test_sources_of_one_site_may_share_addresses(tmp_path: Path) -> None:
    """Two sources that watch one site (a static and a browser crawl) and name it the same are one site."""
    assert _issues(tmp_path, {"s.yaml": (
        "sources:\n  - name: a\n    kind: feed\n    start_urls: ['http://a.onion/feed']\n    mirrors: [m.onion]\n"
        "  - name: b\n    kind: feed\n    platform: a.onion\n    start_urls: ['http://a.onion/other']\n"
        "    mirrors: [m.onion]\n"
        # sources without mirrors on one host but different platforms: allowed, as before (the demo's sites)
        "  - name: c\n    kind: feed\n    platform: c\n    start_urls: ['http://z.onion/c']\n"
        "  - name: d\n    kind: feed\n    platform: d\n    start_urls: ['http://z.onion/d']\n")}) == []


def _timeline(url: str) -> TextResponse:
    body = json.dumps([{"id": "113000000000018000", "content": "<p>fentanyl 5g $450</p>",
                        "url": f"{url.split('/api')[0]}/@v/113000000000018000", "account": {"acct": "v"}}])
    return TextResponse(url=url, body=body.encode(), request=Request(url), encoding="utf-8")


def test_mastodon_ids_do_not_carry_the_instance_port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's second run on another port re-indexed every Mastodon status: their ids held host:port."""
    demo = Path(__file__).resolve().parents[2] / "config" / "demo" / "sources.yaml"
    ids = set()
    for port in (8808, 41234):
        monkeypatch.setenv("NARCOWATCH_DEMO_URL", f"http://127.0.0.1:{port}")
        src = next(s for s in load_sources(demo) if s.name == "demo-mastodon")
        page = MastodonTimeline(_timeline(f"http://127.0.0.1:{port}/mastodon/api/v1/timelines/tag/fentanyl"), src)
        (item,) = page.items()
        assert item.native_id == "127.0.0.1/113000000000018000"
        ids.add(fingerprint(item, src.identity()))
    assert len(ids) == 1
    # an instance on its usual port keeps the id it always had
    real = SourceBase.model_validate({"name": "m", "kind": "market", "start_urls": ["https://mastodon.example/"]})
    assert real.identity() == SiteIdentity("mastodon.example", frozenset({"mastodon.example"}))


def test_pipeline_fingerprints_with_the_spiders_source(sources: dict[str, SourceBase]) -> None:
    class Spider:
        source = sources["dream"]

    assert NarcowatchPipeline._site(Spider()) == sources["dream"].identity()  # type: ignore[arg-type]
    assert NarcowatchPipeline._site(object()) is None  # type: ignore[arg-type]


hosts = st.sampled_from(["dreamabc.onion", "dreamdef.onion", "DreamGhi.onion"])
ports = st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}"))
path_parts = st.lists(st.text("abcXYZ019-_.~", min_size=1, max_size=6), max_size=3).map(lambda p: "/" + "/".join(p))
queries = st.lists(st.tuples(st.text("abqz", min_size=1, max_size=3), st.text("xyz09", max_size=3)), max_size=3)


@settings(max_examples=examples(100), deadline=None)
@given(a=hosts, b=hosts, pa=ports, pb=ports, path=path_parts, query=queries, native=st.booleans())
def test_any_address_and_port_of_a_site_gives_one_id(a: str, b: str, pa: str, pb: str, path: str,
                                                      query: list[tuple[str, str]], native: bool) -> None:
    site = SiteIdentity("dreamabc.onion", frozenset({"dreamabc.onion", "dreamdef.onion", "dreamghi.onion"}))
    q = "&".join(f"{k}={v}" for k, v in query)
    one, two = (Listing(url=f"http://{h}{p}{path}?{q}", source="dream", source_kind="market",
                        platform="dreamabc.onion", native_id=f"http://{h}{p}/?p=1" if native else None)
                for h, p in ((a, pa), (b, pb)))
    assert fingerprint(one, site) == fingerprint(two, site)
    other = Listing(url=f"http://othermarket.onion{pa}{path}?{q}", source="o", source_kind="market",
                    platform="othermarket.onion", native_id=one.native_id)
    assert fingerprint(other, site) != fingerprint(one, site)


def test_config_check_shows_a_sites_canonical_address_and_mirrors(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from crawler.sources.cli import config_group

    (tmp_path / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    res = CliRunner().invoke(config_group, ["check", str(tmp_path / "sources.yaml")])
    assert res.exit_code == 0, res.output
    assert "oldname.onion (canonical address oldname.onion, mirrors oldname.onion)" in res.output
    assert "dreamabc.onion (canonical address dreamabc.onion, mirrors dreamdef.onion, dreamghi.onion)" in res.output
