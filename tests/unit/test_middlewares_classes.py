"""The downloader middlewares as Scrapy builds them (get_crawler), fed hand-made requests and responses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from scrapy import Spider
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import HtmlResponse, Request, Response
from scrapy.settings import Settings
from scrapy.signalmanager import SignalManager
from scrapy.statscollectors import MemoryStatsCollector
from twisted.internet import defer

from crawler.browser import BrowserPageMiddleware
from crawler.evidence import META_EVIDENCE, EvidenceMiddleware, read_record
from crawler.middlewares import BackoffRetryMiddleware, BadPageMiddleware, SourceProxyMiddleware


class _Crawler:
    """Just what the middlewares' from_crawler use, without installing a reactor in the test process."""

    def __init__(self, settings: dict | None = None):
        self.settings = Settings(settings or {})
        self.signals = SignalManager(self)
        self.stats = MemoryStatsCollector(self)  # type: ignore[arg-type]
        self.engine = None


def get_crawler(_spidercls: type, settings: dict | None = None) -> Any:
    return _Crawler(settings)


class _Src:
    name = "src"
    proxy: str | None = None
    max_page_bytes: int | None = None
    session = None


def _spider(crawler, src: _Src | None = None) -> Spider:
    spider = Spider(name="src")
    spider.source = src or _Src()  # type: ignore[attr-defined]
    spider.crawler = crawler
    return spider


def test_bad_page_middleware_skips_and_counts() -> None:
    crawler = get_crawler(Spider, {"NARCOWATCH_MAX_PAGE_BYTES": 1000})
    mw = BadPageMiddleware.from_crawler(crawler)
    spider = _spider(crawler)
    request = Request("http://127.0.0.1/x")
    mw.process_request(request, spider)
    assert request.meta["download_maxsize"] == 1000
    ok = HtmlResponse(request.url, body=b"<html><body>ok</body></html>", request=request,
                      headers={"Content-Type": "text/html; charset=utf-8"})
    assert mw.process_response(request, ok, spider) is ok
    with pytest.raises(IgnoreRequest, match="truncated"):
        mw.process_response(request, HtmlResponse(request.url, body=b"<html><body><p>cut", request=request),
                            spider)
    # Non-2xx pages and images are not judged.
    assert mw.process_response(request, HtmlResponse(request.url, status=404, body=b"", request=request), spider)
    png = Response(request.url, body=b"\x89PNG....", headers={"Content-Type": "image/png"}, request=request)
    assert mw.process_response(request, png, spider) is png
    with pytest.raises(IgnoreRequest, match="too_large"):
        mw.process_exception(request, defer.CancelledError(), spider)
    assert mw.process_exception(request, ValueError("other"), spider) is None
    assert crawler.stats.get_value("narcowatch/bad_page/truncated") == 1
    assert crawler.stats.get_value("narcowatch/bad_page/too_large") == 1
    assert crawler.stats.get_value("narcowatch/bad_page") == 2


def test_source_max_page_bytes_wins() -> None:
    crawler = get_crawler(Spider, {"NARCOWATCH_MAX_PAGE_BYTES": 1000})
    src = _Src()
    src.max_page_bytes = 5000
    mw = BadPageMiddleware.from_crawler(crawler)
    request = Request("http://127.0.0.1/x")
    mw.process_request(request, _spider(crawler, src))
    assert request.meta["download_maxsize"] == 5000


def test_backoff_retry_delays_the_retry_request() -> None:
    crawler = get_crawler(Spider, {"RETRY_TIMES": 2, "NARCOWATCH_RETRY_BACKOFF_BASE": 0.0})
    mw = BackoffRetryMiddleware.from_crawler(crawler)
    spider = _spider(crawler)
    request = Request("http://127.0.0.1/x")
    retry = mw.process_response(request, HtmlResponse(request.url, status=503, request=request), spider)
    assert isinstance(retry, Request) and retry.meta["retry_times"] == 1  # base 0: handed back at once
    slow = BackoffRetryMiddleware.from_crawler(get_crawler(Spider, {"NARCOWATCH_RETRY_BACKOFF_BASE": 5.0,
                                                                    "NARCOWATCH_RETRY_BACKOFF_MAX": 8.0}))
    waits: list[float] = []

    def later(delay: float, result: Request) -> defer.Deferred[Request]:
        waits.append(delay)
        return defer.succeed(result)

    slow.later = later  # type: ignore[method-assign]
    first = slow.process_response(request, HtmlResponse(request.url, status=503, request=request), spider)
    assert isinstance(first, defer.Deferred)
    second_req = first.result
    second = slow.process_exception(second_req, defer.TimeoutError(), spider)
    assert isinstance(second, defer.Deferred) and second.result.meta["retry_times"] == 2
    third = slow.process_response(request, HtmlResponse(request.url, status=429, request=request,
                                                        headers={"Retry-After": "7"}), spider)
    assert waits == [5.0, 8.0, 7.0]  # 5, then 10 capped at 8, then Retry-After 7 over 5
    assert isinstance(third, defer.Deferred)
    ok = HtmlResponse(request.url, status=200, request=request)
    assert mw.process_response(request, ok, spider) is ok


def test_backoff_rejects_negative_settings() -> None:
    with pytest.raises(ValueError, match="BACKOFF"):
        BackoffRetryMiddleware.from_crawler(get_crawler(Spider, {"NARCOWATCH_RETRY_BACKOFF_BASE": -1}))


def test_source_proxy_middleware() -> None:
    crawler = get_crawler(Spider)
    mw = SourceProxyMiddleware.from_crawler(crawler)
    src = _Src()
    src.proxy = "http://127.0.0.1:8118"
    plain = Request("http://127.0.0.1/x")
    mw.process_request(plain, _spider(crawler, src))
    assert plain.meta["proxy"] == "http://127.0.0.1:8118"
    rendered = Request("http://127.0.0.1/y", meta={"playwright": True})
    mw.process_request(rendered, _spider(crawler, src))
    assert "proxy" not in rendered.meta  # the browser context carries it
    src.proxy = "socks5://u:pw@127.0.0.1:9050"
    with pytest.raises(IgnoreRequest, match=r"proxy socks5://u:\*\*\*@127\.0\.0\.1:9050 is SOCKS"):
        mw.process_request(Request("http://127.0.0.1/z"), _spider(crawler, src))


def test_evidence_middleware_sets_meta_and_writes(tmp_path: Path) -> None:
    crawler = get_crawler(Spider, {"NARCOWATCH_EVIDENCE_DIR": str(tmp_path), "NARCOWATCH_RUN_ID": "r1"})
    mw = EvidenceMiddleware.from_crawler(crawler)
    spider = _spider(crawler)
    request = Request("http://127.0.0.1/item/1")
    response = HtmlResponse(request.url, body=b"<html><body>NPP</body></html>", request=request)
    assert mw.process_response(request, response, spider) is response
    ev = request.meta[META_EVIDENCE]
    assert ev["warc_file"] == str(tmp_path / "src" / "r1.warc.gz")
    assert read_record(ev["warc_file"], ev["warc_record_id"]) == response.body
    assert request.meta["narcowatch_sha256"] == ev["sha256"]
    assert request.meta["narcowatch_fetched_at"] == ev["fetched_at"]
    mw.spider_closed(spider)


def test_evidence_can_be_switched_off() -> None:
    with pytest.raises(NotConfigured):
        EvidenceMiddleware.from_crawler(get_crawler(Spider, {"NARCOWATCH_EVIDENCE_ENABLED": False}))


def test_browser_middleware_only_in_browser_crawls() -> None:
    with pytest.raises(NotConfigured):
        BrowserPageMiddleware.from_crawler(get_crawler(Spider))
    from crawler.browser import BrowserGuard

    src = _Src()
    src.proxy = "http://127.0.0.1:8118"
    browser_settings = {"NARCOWATCH_BROWSER_ENABLED": True, "NARCOWATCH_BROWSER_PAGES_PER_CONTEXT": 2,
                        "NARCOWATCH_SCREENSHOT_DIR": "/tmp/unused"}
    unconfined = BrowserPageMiddleware.from_crawler(get_crawler(Spider, browser_settings))
    with pytest.raises(IgnoreRequest, match="refusing to render pages unconfined"):
        unconfined.process_request(Request("http://127.0.0.1/", meta={"playwright": True}), _spider(None, src))
    crawler = get_crawler(Spider, {**browser_settings, "PLAYWRIGHT_ABORT_REQUEST": BrowserGuard(src)})
    mw = BrowserPageMiddleware.from_crawler(crawler)
    spider = _spider(crawler, src)
    plain = Request("http://127.0.0.1/a")
    mw.process_request(plain, spider)
    assert "playwright_context" not in plain.meta
    pages = [Request(f"http://127.0.0.1/{i}", meta={"playwright": True}) for i in range(3)]
    for r in pages:
        mw.process_request(r, spider)
    assert [r.meta["playwright_context"] for r in pages] == ["src-0", "src-0", "src-1"]
    assert all(r.meta["playwright_include_page"] for r in pages)
    assert pages[0].meta["playwright_context_kwargs"] == {"proxy": {"server": "http://127.0.0.1:8118"},
                                                          "accept_downloads": False, "service_workers": "block"}


def test_browser_navigation_errors_are_retried_page_method_errors_not() -> None:
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    from crawler.middlewares import is_browser_navigation_error

    assert is_browser_navigation_error(PlaywrightTimeout("Page.goto: Timeout 1500ms exceeded."))
    assert not is_browser_navigation_error(PlaywrightTimeout("Page.wait_for_selector: Timeout 3000ms exceeded."))
    assert not is_browser_navigation_error(TimeoutError("Page.goto: not from playwright"))
    crawler = get_crawler(Spider, {"NARCOWATCH_RETRY_BACKOFF_BASE": 0.0})
    mw = BackoffRetryMiddleware.from_crawler(crawler)
    spider = _spider(crawler)
    request = Request("http://127.0.0.1/x", meta={"playwright": True})
    retry = mw.process_exception(request, PlaywrightTimeout("Page.goto: Timeout 1500ms exceeded."), spider)
    assert isinstance(retry, Request) and retry.meta["retry_times"] == 1
    assert mw.process_exception(request, PlaywrightTimeout("Page.wait_for_selector: Timeout"), spider) is None
