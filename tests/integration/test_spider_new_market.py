"""A marketplace unlike every other fixture is crawled correctly by configuration alone.

The site (tests/fixtures/new_market_site/site/), its configuration (sources.yaml) and the expected
items (expected.json) are data; this test holds no code specific to that site.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawler.demo_web import DemoWeb
from tests.plugins.web import run_crawl

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "new_market_site"


@pytest.fixture()
def bazaar() -> Iterator[str]:
    web = DemoWeb(static_dirs={"bazaar": FIXTURE / "site"})
    try:
        yield web.start()
    finally:
        web.stop()


def test_new_marketplace_by_configuration_only(bazaar: str, tmp_path: Path) -> None:
    result = run_crawl(FIXTURE / "sources.yaml", "new-bazaar", tmp_path, env={"NARCOWATCH_DEMO_URL": bazaar})
    expected = json.loads((FIXTURE / "expected.json").read_text(encoding="utf-8"))
    got = result.by("native_id")
    assert sorted(got) == sorted(e["native_id"] for e in expected)
    for exp in expected:
        item = got[exp["native_id"]]
        for key, value in exp.items():
            if key in ("url", "vendor_url"):
                value = bazaar + value
            elif key == "images":
                value = [bazaar + v for v in value]
            assert item[key] == value, f"{exp['native_id']}.{key}"
    assert result.stat("narcowatch/skipped") == 0
