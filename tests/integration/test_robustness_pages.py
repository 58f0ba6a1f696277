"""Robustness: broken pages are counted and skipped with a reason; 5xx and timeouts are retried with backoff."""

from __future__ import annotations

import itertools
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from test_browser_support import local_server, page, run_crawl, send

from crawler.demo_web import DemoWeb


def test_broken_pages_counted_by_reason_and_crawl_finishes(demo_web_server: DemoWeb, tmp_path: Path) -> None:
    base = demo_web_server.base_url
    source = {
        "name": "brokenmarket", "kind": "market", "start_urls": [f"{base}/broken/"], "robots": "ignore",
        "allow_private_addresses": True,  # a loopback test site
        "rate_limit": {"download_delay": 0, "concurrency": 4},
        "links": {"listing": "a.listing-link"}, "fields": {"title": "h1.listing-title"},
        "max_page_bytes": 15 * 1024 * 1024,
    }
    # The source's own limit (15 MB) decides, not Scrapy's global DOWNLOAD_MAXSIZE (raised to 64 MB here).
    result = run_crawl(source, tmp_path, settings={"DOWNLOAD_MAXSIZE": 64 * 1024 * 1024})
    assert result.stat("finish_reason") == "finished"
    good = list(demo_web_server.market)[:2]
    assert sorted(i["url"].rsplit("/", 1)[1] for i in result.items) == sorted(good)
    for reason, path in [("bad_encoding", "bad-encoding"), ("truncated", "truncated"), ("too_large", "huge"),
                         ("binary", "binary")]:
        assert result.stat(f"narcowatch/bad_page/{reason}") == 1, (reason, result.stats)
        line = next(ln for ln in result.log.splitlines() if f"/broken/item/{path} ({reason})" in ln)
        assert "WARNING" in line and "bad page skipped" in line
    assert "over 15728640 bytes" in result.log
    assert result.stat("narcowatch/bad_page") == 4
    # Skipped pages still left evidence of what was served (all but the cancelled 20 MB one).
    assert result.stat("narcowatch/evidence/records") == 1 + 2 + 3


def _flaky(fails: int, stamps: list[float]):
    def handler(req: BaseHTTPRequestHandler) -> None:
        stamps.append(time.monotonic())
        if len(stamps) <= fails:
            send(req, 503, page("busy", "try later"))
        else:
            send(req, 200, page("ok", '<h1 class="t">Nitazene powder</h1>'))
    return handler


def test_5xx_retried_with_exponential_backoff(tmp_path: Path) -> None:
    stamps: list[float] = []

    def index(req: BaseHTTPRequestHandler) -> None:
        send(req, 200, page("idx", '<a class="l" href="/item/1">one</a>'))

    with local_server({"/": index, "/item/1": _flaky(2, stamps)}) as (base, hits):
        source = {
            "name": "flaky", "kind": "market", "start_urls": [f"{base}/"], "robots": "ignore",
            "allow_private_addresses": True,  # a loopback test site
            "rate_limit": {"download_delay": 0, "concurrency": 1},
            "retry": {"times": 3, "backoff_base": 0.6, "backoff_max": 5},
            "links": {"listing": "a.l"}, "fields": {"title": "h1.t"},
        }
        result = run_crawl(source, tmp_path)
    assert [i["title"] for i in result.items] == ["Nitazene powder"]
    assert hits["/item/1"] == 3
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert gaps[0] >= 0.55 and gaps[1] >= 1.15, gaps  # 0.6 s, then 1.2 s
    assert result.stat("retry/count") == 2
    assert abs(result.stat("narcowatch/retry/backoff_seconds") - 1.8) < 1e-6


def test_timeouts_retried_then_given_up_without_stopping_the_crawl(tmp_path: Path) -> None:
    stamps: list[float] = []

    def index(req: BaseHTTPRequestHandler) -> None:
        send(req, 200, page("idx", '<a class="l" href="/slow">slow</a><a class="l" href="/fast">fast</a>'))

    def slow(req: BaseHTTPRequestHandler) -> None:
        stamps.append(time.monotonic())
        time.sleep(2.5)
        try:
            send(req, 200, page("late", '<h1 class="t">too late</h1>'))
        except OSError:
            pass

    def fast(req: BaseHTTPRequestHandler) -> None:
        send(req, 200, page("fast", '<h1 class="t">Acetylfentanyl</h1>'))

    with local_server({"/": index, "/slow": slow, "/fast": fast}) as (base, _):
        source = {
            "name": "slowsite", "kind": "market", "start_urls": [f"{base}/"], "robots": "ignore", "timeout": 1,
            "allow_private_addresses": True,  # a loopback test site
            "rate_limit": {"download_delay": 0, "concurrency": 2},
            "retry": {"times": 2, "backoff_base": 0.3, "backoff_max": 5},
            "links": {"listing": "a.l"}, "fields": {"title": "h1.t"},
        }
        result = run_crawl(source, tmp_path)
    assert [i["title"] for i in result.items] == ["Acetylfentanyl"]
    assert len(stamps) == 3  # first try and two retries
    assert result.stat("retry/max_reached") == 1
    assert result.stat("finish_reason") == "finished"
