"""Broken pages (bad encoding, truncated HTML, 20 MB body, binary as HTML) are counted and skipped; the crawl ends."""

from __future__ import annotations

from pathlib import Path

from crawler.demo_web import DemoWeb
from tests.plugins.web import run_crawl

CONFIG = Path(__file__).resolve().parent.parent / "fixtures" / "broken_market" / "sources.yaml"


def test_broken_pages_are_skipped_with_a_reason(demo_web_server: DemoWeb, tmp_path: Path) -> None:
    result = run_crawl(CONFIG, "broken-market", tmp_path, env={"NARCOWATCH_DEMO_URL": demo_web_server.base_url})
    assert result.stats["finish_reason"] == "finished"
    good = list(demo_web_server.market)[:2]
    items = result.by("native_id")
    # the two good pages are read in full; the truncated copy of the first stops before its price
    assert set(items) == set(good)
    for lid in good:
        assert items[lid]["title"] == " ".join(demo_web_server.market[lid].title.split())
        assert items[lid]["url"].endswith(f"/broken/item/{lid}")
    # every broken page is counted under its reason and logged with its URL
    reasons = {k.rsplit("/", 1)[1]: v for k, v in result.stats.items() if k.startswith("narcowatch/bad_page/")}
    assert reasons == {"bad_encoding": 1, "truncated": 1, "too_large": 1, "binary": 1}
    assert result.stats["narcowatch/bad_page"] == 4
    for page in ("bad-encoding", "truncated", "huge", "binary"):
        assert f"/broken/item/{page}" in result.log
    assert result.stat("narcowatch/errors") == 0
