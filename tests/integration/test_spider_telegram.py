"""The telegram_public spider reads t.me/s-style previews and follows "load older" to the configured depth."""

from __future__ import annotations

from pathlib import Path

from crawler.demo_web import DemoWeb
from crawler.demo_web.content import telegram_channels
from tests.plugins.web import DEMO_SOURCES, run_crawl


def test_telegram_sales_channel(demo_web_server: DemoWeb, crawl_demo) -> None:
    result = crawl_demo("demo-telegram-sales")
    base = demo_web_server.base_url
    posts = telegram_channels(base)["chemking_direct"]["posts"]
    items = result.by("native_id")
    # newest page (26-45) + two older pages (6-25, 1-5) = all 45 messages
    assert older_pages_fetched(result) == 3
    assert set(items) == {f"chemking_direct/{p.id}" for p in posts}
    for p in posts:
        item = items[f"chemking_direct/{p.id}"]
        assert item["url"] == f"https://t.me/chemking_direct/{p.id}"
        assert (item["source_kind"], item["platform"]) == ("telegram_public", "telegram")
        assert item["description"] == p.text
        assert item["posted_at"] == p.when.strftime("%Y-%m-%dT%H:%M:%SZ")
        shown = p.views if p.views < 1000 else round(p.views / 100) * 100
        assert abs(item["views"] - shown) <= 100  # "1.2K" is all the page says
        assert item["vendor"] == "@chemking_direct"
        assert item["vendor_url"] == "https://t.me/chemking_direct"
        assert item["links"] == p.links
    with_link = items["chemking_direct/3"]
    assert with_link["links"] == [f"{base}/market/vendor/chem_king_rc"]


def older_pages_fetched(result) -> int:
    return result.stats.get("narcowatch/pages/channel", 0)


def test_telegram_depth_is_configurable(demo_web: str, tmp_path: Path) -> None:
    cfg = tmp_path / "sources.yaml"
    cfg.write_text(DEMO_SOURCES.read_text(encoding="utf-8").replace("older_pages: 2", "older_pages: 0"),
                   encoding="utf-8")
    result = run_crawl(cfg, "demo-telegram-sales", tmp_path / "w", env={"NARCOWATCH_DEMO_URL": demo_web})
    assert older_pages_fetched(result) == 1
    assert sorted(int(i["native_id"].split("/")[1]) for i in result.items) == list(range(26, 46))


def test_telegram_news_channel(crawl_demo) -> None:
    result = crawl_demo("demo-telegram-news")
    assert len(result.items) == 24  # 20 on the first page, 4 older
    assert all(i["vendor"] == "@opioid_watch_news" and i["links"] for i in result.items)
