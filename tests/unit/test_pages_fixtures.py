"""Page objects on saved pages: tests/fixtures/<Page>/<case>/ holds the body, how it was served, the expected JSON.

Each case directory has ``meta.json`` (url, headers, the sources file and source name to read the
configuration from, environment for it), the saved body (``input.html`` / ``input.json`` /
``input.xml``) and ``expected.json``. ``NARCOWATCH_UPDATE_FIXTURES=1`` rewrites the expected files
(review the diff before committing).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from scrapy.http import Request
from scrapy.http.response.html import HtmlResponse
from scrapy.http.response.text import TextResponse
from scrapy.http.response.xml import XmlResponse

import crawler.pages as pages
from crawler.paths import ROOT
from crawler.sources import get_source

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PAGE_CLASSES = ["MarketCategoryPage", "MarketListingPage", "B2BProductPage", "ForumIndexPage", "ForumThreadPage",
                "TelegramChannelPage", "RedditListing", "MastodonTimeline", "FeedPage"]
# Evidence fields depend on the fetch, not on the page: left out of the expected JSON.
EVIDENCE = {"fetched_at", "response_sha256", "response_status", "warc_file", "warc_record_id", "screenshot",
            "source_page", "row", "source_page_record"}


def cases() -> list[Any]:
    out = []
    for cls in PAGE_CLASSES:
        for case in sorted((FIXTURES / cls).glob("*/meta.json")):
            out.append(pytest.param(cls, case.parent, id=f"{cls}/{case.parent.name}"))
    return out


def load_response(case: Path) -> tuple[TextResponse, dict[str, Any]]:
    meta = json.loads((case / "meta.json").read_text(encoding="utf-8"))
    body_file = next(case.glob("input.*"))
    body = body_file.read_bytes()
    cls = {".html": HtmlResponse, ".xml": XmlResponse}.get(body_file.suffix, TextResponse)
    headers = meta.get("headers", {})
    response = cls(url=meta["url"], body=body, headers=headers, status=meta.get("status", 200),
                   request=Request(meta["url"]), encoding=meta.get("encoding"))
    return response, meta


def snapshot(cls_name: str, page: Any) -> Any:
    """What a page object reads off its page, as JSON-able data."""

    def item(fields: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in fields.items() if k not in EVIDENCE}

    if cls_name == "MarketCategoryPage":
        return {"category_urls": page.category_urls(), "next_page_urls": page.next_page_urls(),
                "listing_urls": page.listing_urls()}
    if cls_name in ("MarketListingPage", "B2BProductPage"):
        return {"fields": page.fields(), "missing": page.missing()}
    if cls_name == "ForumIndexPage":
        return {"board_urls": page.board_urls(), "thread_urls": page.thread_urls(),
                "next_page_urls": page.next_page_urls()}
    if cls_name == "ForumThreadPage":
        return {"title": page.title(), "board": page.board(), "next_page_urls": page.next_page_urls(),
                "posts": [p.fields() for p in page.posts()]}
    if cls_name == "TelegramChannelPage":
        return {"channel": page.channel(), "channel_title": page.channel_title(), "older_url": page.older_url(),
                "messages": [m.fields() for m in page.messages()]}
    if cls_name == "RedditListing":
        return {"next_url": page.next_url(), "posts": [p.fields() for p in page.posts()]}
    if cls_name == "MastodonTimeline":
        return {"next_url": page.next_url(), "statuses": [s.fields() for s in page.statuses()]}
    if cls_name == "FeedPage":
        return {"feed_title": page.feed_title(), "items": [item(i.__dict__) for i in page.items()]}
    raise AssertionError(f"no snapshot for {cls_name}")


@pytest.mark.parametrize(("cls_name", "case"), cases())
def test_page_object_on_saved_page(cls_name: str, case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    response, meta = load_response(case)
    for key, value in meta.get("env", {}).items():
        monkeypatch.setenv(key, value)
    source = get_source(meta["source"], ROOT / meta["config"])
    page = getattr(pages, cls_name)(response, source)
    got = json.loads(json.dumps(snapshot(cls_name, page), ensure_ascii=False))
    expected_file = case / "expected.json"
    if os.environ.get("NARCOWATCH_UPDATE_FIXTURES") == "1":
        expected_file.write_text(json.dumps(got, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    expected = json.loads(expected_file.read_text(encoding="utf-8"))
    assert got == expected


def test_every_page_class_has_fixtures() -> None:
    missing = [c for c in PAGE_CLASSES if not list((FIXTURES / c).glob("*/meta.json"))]
    assert missing == []
