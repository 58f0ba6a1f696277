"""The browser spider renders the JavaScript shop in Chromium: links and content exist only after JS runs."""

from __future__ import annotations

import urllib.request

import pytest

from crawler.demo_web import DemoWeb

pytestmark = pytest.mark.browser


def test_shop_needs_javascript(demo_web: str) -> None:
    """Without a browser the shop has no product links: a plain market crawl would find nothing."""
    with urllib.request.urlopen(f"{demo_web}/shop/") as resp:
        html = resp.read().decode("utf-8")
    assert "product-link" not in html and 'id="app"' in html


def test_browser_shop_field_by_field(demo_web_server: DemoWeb, crawl_demo) -> None:
    result = crawl_demo("demo-shop")
    base = demo_web_server.base_url
    items = result.by("native_id")
    # 8 products a page; four scrolls load all 30 of them
    assert len(result.items) == len(demo_web_server.shop) == 30
    for sid, m in demo_web_server.shop.items():
        item = items[sid]
        assert item["url"] == f"{base}/shop/p/{sid}"
        assert (item["source"], item["source_kind"], item["platform"]) == (
            "demo-shop", "browser", "painfree-pharmacy.example")
        assert item["title"] == " ".join(m.title.split())
        assert item["description"] == " ".join(m.description.split())
        assert item["price_raw"] == f"${m.price:.2f}"
        assert (item["price"], item["currency"]) == (f"{m.price:.2f}", "USD")
        assert item["vendor"] == "PainFree Pharmacy"
        assert item["ships_from_raw"] == m.ships_from and item["ships_to_raw"] == m.ships_to
        assert item["quantity"] == m.quantity and item["stock"] == m.stock
        assert item["category"] == "Pain relief / Opioids"
        assert item["posted_at"] == m.posted_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert item["images"] == [f"{base}/shop/img/{sid}.png"]
    assert result.stat("narcowatch/skipped") == 0
