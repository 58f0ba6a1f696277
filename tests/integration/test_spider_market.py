"""The market spider crawls the fixture marketplace through configuration; items checked field by field."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from crawler.demo_web import DemoWeb
from crawler.paths import ROOT
from tests.plugins.web import DEMO_SOURCES, run_crawl


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_scrapy_crawl_cli_market(demo_web_server: DemoWeb, tmp_path: Path) -> None:
    """`scrapy crawl demo-market -O out.jsonl` from the repository root yields every listing of the site."""
    web = demo_web_server
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "NARCOWATCH_CONFIG": str(DEMO_SOURCES), "NARCOWATCH_DEMO_URL": web.base_url,
           "NARCOWATCH_HOME": str(tmp_path / "home")}
    listed = subprocess.run([sys.executable, "-m", "scrapy", "list"], cwd=ROOT, env=env, capture_output=True,
                            text=True, check=True)
    assert "demo-market" in listed.stdout.split()
    proc = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "demo-market", "-O", str(out), "-s", "ITEM_PIPELINES={}",
         "-s", "LOG_LEVEL=WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    items = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(items) == len(web.market) == 194
    by_id = {i["native_id"]: i for i in items}
    assert set(by_id) == set(web.market)

    # the hand-written cross-platform vendor's first offer, every field
    ck = by_id["ck0001"]
    base = web.base_url
    assert ck["url"] == f"{base}/market/item/ck0001"
    assert (ck["source"], ck["source_kind"], ck["platform"]) == ("demo-market", "market", "agora-demo.onion")
    assert ck["title"] == "Fentanyl HCl 99% pure powder - 5 g"
    assert ck["description"].startswith("Fentanyl HCl lab tested 99%.")
    assert "Telegram @chemking_direct" in ck["description"]
    assert (ck["price_raw"], ck["price"], ck["currency"]) == ("1.25000000 BTC", "1.25000000", "BTC")
    assert ck["quantity"] == "5 g"
    assert ck["stock"] == "20 in stock"
    assert ck["vendor"] == "chem_king_rc"
    assert ck["vendor_url"] == f"{base}/market/vendor/chem_king_rc"
    assert ck["ships_from_raw"] == "China"
    assert ck["ships_to_raw"] == "Worldwide except Australia"
    assert ck["category"] == "Drugs / Opioids"
    assert ck["posted_at"] == "2014-01-02T13:00:00Z"
    assert ck["images"] == [f"{base}/market/img/ck0001-1.png"]
    assert ck["response_status"] == 200
    assert re.fullmatch(r"[0-9a-f]{64}", ck["response_sha256"])

    # every Agora row as the site shows it
    for lid, m in web.market.items():
        item = by_id[lid]
        assert item["title"] == _norm(m.title), lid
        assert item["description"] == _norm(m.description), lid
        assert item["price"] == str(m.price) and item["currency"] == "BTC", lid
        assert item["vendor"] == m.vendor and item["ships_from_raw"] == m.ships_from, lid
        assert item["ships_to_raw"] == m.ships_to and item["quantity"] == m.quantity, lid
        assert item["category"] == f"{m.category} / {m.subcategory}", lid
        assert item["posted_at"] == m.posted_at.strftime("%Y-%m-%dT%H:%M:%SZ"), lid
        assert len(item["images"]) == len(m.images), lid

    # robots.txt disallows the account and cart pages that every page links to
    assert web.hits.get("/market/account/", 0) == 0
    assert web.hits.get("/market/cart", 0) == 0


def test_market_changes_are_seen(fresh_web: DemoWeb, tmp_path: Path) -> None:
    """A changed price, a removed listing and a new listing show up in the next crawl."""
    env = {"NARCOWATCH_DEMO_URL": fresh_web.base_url}
    first = run_crawl(DEMO_SOURCES, "demo-market", tmp_path / "a", env=env).by("native_id")
    assert first["ck0002"]["price"] == "0.90000000"
    fresh_web.set_price("ck0002", "0.75")
    fresh_web.remove_listing("ck0003")
    new_id = fresh_web.add_listing("Carfentanil 1g 99%", "Carfentanil powder, ships from China. Telegram @new_vendor",
                                   "2.5", vendor="new_vendor")
    second = run_crawl(DEMO_SOURCES, "demo-market", tmp_path / "b", env=env)
    items = second.by("native_id")
    assert items["ck0002"]["price"] == "0.75000000"  # shown with 8 decimals
    assert "ck0003" not in items
    assert items[new_id]["title"] == "Carfentanil 1g 99%"
    assert items[new_id]["vendor"] == "new_vendor"
    assert len(items) == len(first)  # one removed, one added
    for lid in set(first) - {"ck0002", "ck0003"}:
        assert items[lid]["price"] == first[lid]["price"]


def test_market_rate_limit_and_page_budget(demo_web: str, tmp_path: Path) -> None:
    """max_pages stops the crawl; the source's concurrency and delay reach Scrapy's settings."""
    cfg = tmp_path / "sources.yaml"
    text = DEMO_SOURCES.read_text(encoding="utf-8").replace(
        "rate_limit: {download_delay: 0, concurrency: 8}", "rate_limit: {download_delay: 0, concurrency: 1}\n"
        "    max_pages: 15", 1)
    cfg.write_text(text, encoding="utf-8")
    result = run_crawl(cfg, "demo-market", tmp_path / "c", env={"NARCOWATCH_DEMO_URL": demo_web})
    assert result.stats["finish_reason"] == "closespider_pagecount"
    # requests already handed to the downloader still finish, so a few more than 15 arrive
    assert result.stats["response_received_count"] < 60
    assert 0 < len(result.items) < 60
