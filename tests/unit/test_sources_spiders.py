"""From source configuration to Scrapy: the spider loader, per-source settings, request routing."""

from __future__ import annotations

from pathlib import Path

import pytest
from scrapy.settings import Settings

from crawler.paths import CONFIG_DIR
from crawler.spiderloader import SourceSpiderLoader
from spiders.base import META_ROLE, META_SOURCE, source_settings
from spiders.browser import BrowserSpider
from spiders.market import B2BSpider, MarketSpider
from spiders.registry import spider_class
from spiders.social import FeedSpider, MastodonSpider, RedditSpider, TelegramSpider

DEMO = CONFIG_DIR / "demo" / "sources.yaml"


@pytest.fixture()
def loader(monkeypatch: pytest.MonkeyPatch) -> SourceSpiderLoader:
    monkeypatch.setenv("NARCOWATCH_DEMO_URL", "http://127.0.0.1:8808")
    return SourceSpiderLoader.from_settings(Settings({"NARCOWATCH_CONFIG": str(DEMO), "SPIDER_MODULES": []}))


def test_loader_lists_and_loads_sources(loader: SourceSpiderLoader) -> None:
    assert "demo-market" in loader.list() and "demo-mastodon" in loader.list()
    cls = loader.load("demo-market")
    assert issubclass(cls, MarketSpider) and cls.name == "demo-market"
    assert cls.allowed_domains == ["127.0.0.1"]
    assert loader.load("demo-market") is cls
    with pytest.raises(KeyError, match=r"configured sources: .*demo-market"):
        loader.load("nope")
    req = type("R", (), {"url": "http://127.0.0.1:8808/market/c/opioids"})()
    assert loader.find_by_request(req) == ["demo-market"]


def test_kinds_map_to_spiders() -> None:
    assert spider_class("market") is MarketSpider
    assert spider_class("browser") is BrowserSpider
    assert spider_class("b2b_chemicals") is B2BSpider
    assert spider_class("telegram_public") is TelegramSpider
    assert spider_class("reddit") is RedditSpider
    assert spider_class("mastodon") is MastodonSpider
    assert spider_class("feed") is FeedSpider
    with pytest.raises(ValueError, match="no spider for source kind"):
        spider_class("irc")


def test_per_source_settings(tmp_path: Path) -> None:
    from crawler.sources import load_sources

    path = tmp_path / "s.yaml"
    path.write_text("""\
sources:
  - name: slow-onion
    kind: market
    start_urls: ["http://abc.onion/"]
    proxy: "http://127.0.0.1:8118"
    robots: ignore
    rate_limit: {download_delay: 7.5, concurrency: 1, randomize: false}
    retry: {times: 6, backoff_base: 10, backoff_max: 300}
    max_depth: 4
    max_pages: 100
    timeout: 90
    user_agent: "custom/1.0"
    links: {listing: a.item}
    fields: {title: h1}
""", encoding="utf-8")
    (src,) = load_sources(path)
    settings = source_settings(src)
    assert settings["DOWNLOAD_DELAY"] == 7.5 and settings["RANDOMIZE_DOWNLOAD_DELAY"] is False
    assert settings["CONCURRENT_REQUESTS_PER_DOMAIN"] == 1
    assert settings["ROBOTSTXT_OBEY"] is False
    assert settings["RETRY_TIMES"] == 6
    assert (settings["NARCOWATCH_RETRY_BACKOFF_BASE"], settings["NARCOWATCH_RETRY_BACKOFF_MAX"]) == (10, 300)
    assert settings["DEPTH_LIMIT"] == 4 and settings["CLOSESPIDER_PAGECOUNT"] == 100
    assert settings["DOWNLOAD_TIMEOUT"] == 90 and settings["USER_AGENT"] == "custom/1.0"
    cls = MarketSpider.for_source(src)
    assert cls.custom_settings == settings
    spider = cls()
    req = spider.request("http://abc.onion/x", spider.parse_listing, "listing")
    assert cls.source.proxy == "http://127.0.0.1:8118"  # applied by crawler.middlewares.SourceProxyMiddleware
    assert req.meta[META_SOURCE] == "slow-onion" and req.meta[META_ROLE] == "listing"


def test_browser_requests_carry_waits_and_scrolls(loader: SourceSpiderLoader) -> None:
    pytest.importorskip("scrapy_playwright")
    cls = loader.load("demo-shop")  # the set-up installs Chromium; without it this fails, as it should
    assert cls.custom_settings["PLAYWRIGHT_MAX_CONTEXTS"] == 2
    assert cls.custom_settings["NARCOWATCH_BROWSER_PAGES_PER_CONTEXT"] == 20
    spider = cls()
    index = spider.request("http://127.0.0.1:8808/shop/", spider.parse_index, "index")
    assert index.meta["playwright"] is True
    methods = [(m.method, m.args) for m in index.meta["playwright_page_methods"]]
    assert methods[0] == ("wait_for_selector", ("a.product-link",))
    assert sum(1 for name, _ in methods if name == "evaluate") == 4  # four scrolls
    listing = spider.request("http://127.0.0.1:8808/shop/p/x", spider.parse_listing, "listing")
    assert [(m.method, m.args) for m in listing.meta["playwright_page_methods"]] == [
        ("wait_for_selector", ("h1.product-title",))]
    assert listing.meta["narcowatch_take_screenshot"] is True


def test_reddit_and_mastodon_start_urls(loader: SourceSpiderLoader) -> None:
    reddit = loader.load("demo-reddit")
    assert reddit().start_urls_list() == [
        "http://127.0.0.1:8808/reddit/r/opiates/new.json?limit=25&raw_json=1",
        "http://127.0.0.1:8808/reddit/r/rcsourcetalk/new.json?limit=25&raw_json=1",
    ]
    masto = loader.load("demo-mastodon")
    assert masto().start_urls_list() == ["http://127.0.0.1:8808/mastodon/api/v1/timelines/tag/fentanyl?limit=10"]
