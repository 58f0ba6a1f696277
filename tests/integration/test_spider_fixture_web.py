"""The fixture web the spiders crawl: deterministic, mutable for tests, with robots.txt and decoys."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from crawler.demo_web import DemoWeb


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


PATHS = ["/market/", "/market/c/opioids?page=2", "/market/item/ck0001", "/shop/api/products?page=1",
         "/s/chemking_direct", "/forum/thread/102", "/b2b/product/1001", "/news/article/2",
         "/harm-reduction/", "/reddit/r/opiates.json", "/mastodon/api/v1/timelines/tag/fentanyl",
         "/feeds/seizures.xml", "/feeds/harm-reduction.xml", "/robots.txt"]


def test_content_is_deterministic(demo_web: str) -> None:
    other = DemoWeb()
    base = other.start()
    try:
        for path in PATHS:
            s1, _, a = get(demo_web + path)
            s2, _, b = get(base + path)
            assert s1 == s2 == 200, path
            assert a.replace(demo_web.encode(), b"BASE") == b.replace(base.encode(), b"BASE"), path
    finally:
        other.stop()


def test_every_site_answers_and_decoys_sell_nothing(demo_web: str) -> None:
    for path in PATHS:
        assert get(demo_web + path)[0] == 200, path
    _, _, robots = get(demo_web + "/robots.txt")
    for rule in (b"Disallow: /market/account/", b"Disallow: /forum/members/", b"Disallow: /shop/checkout"):
        assert rule in robots
    _, _, news = get(demo_web + "/news/")
    assert b"article-link" in news
    for decoy in ("/news/article/1", "/harm-reduction/post/test-your-drugs-fentanyl-test-strips-save-lives"):
        status, _, body = get(demo_web + decoy)
        assert status == 200 and b"price" not in body.lower() and b"vendor" not in body.lower()
    assert get(demo_web + "/broken/")[0] == 200  # the session web includes the test-only variant
    assert get(demo_web + "/nowhere")[0] == 404


def test_mutations(fresh_web: DemoWeb) -> None:
    base = fresh_web.base_url
    fresh_web.set_price("ck0001", "2.00000000")
    assert b"2.00000000 BTC" in get(f"{base}/market/item/ck0001")[2]
    shop_id = next(iter(fresh_web.shop))
    fresh_web.set_price(shop_id, "99.99")
    assert json.loads(get(f"{base}/shop/api/products/{shop_id}")[2])["price"] == "99.99"
    fresh_web.set_stock("ck0002", "sold out")
    assert b"sold out" in get(f"{base}/market/item/ck0002")[2]
    fresh_web.remove_listing("ck0003")
    assert get(f"{base}/market/item/ck0003")[0] == 404
    assert b"ck0003" not in get(f"{base}/market/c/chemicals")[2]
    new = fresh_web.add_listing("Nitazene tablets x 10", "Isotonitazene 10 pills", "0.5", subcategory="Opioids")
    first_page = get(f"{base}/market/c/opioids")[2]
    assert f"/market/item/{new}".encode() in first_page
    with pytest.raises(KeyError, match="no market or shop listing"):
        fresh_web.remove_listing("nope")
    with pytest.raises(ValueError, match="already exists"):
        fresh_web.add_listing("x", "y", "1", listing_id=new)


def test_broken_variant_only_when_asked(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<h1>hi</h1>", encoding="utf-8")
    with DemoWeb(static_dirs={"site": tmp_path}) as web:
        assert get(web.base_url + "/broken/")[0] == 404
        assert get(web.base_url + "/site/")[2] == b"<h1>hi</h1>"
        assert get(web.base_url + "/site/../../etc/passwd")[0] == 404


def test_scale_multiplies_the_market() -> None:
    web = DemoWeb(scale=3)
    assert len(web.market) == 3 * 190 + 4
