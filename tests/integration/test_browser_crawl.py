"""Browser crawls for real: Chromium through scrapy-playwright on a local page whose content only JavaScript makes."""

from __future__ import annotations

import hashlib
import urllib.request
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from test_browser_support import local_server, page, run_crawl, send

from crawler.evidence import read_record, read_record_headers

pytestmark = pytest.mark.browser

APP_JS = b"""
function render() {
  var app = document.getElementById('app');
  var m = location.pathname.match(/\\/shop\\/p\\/(\\w+)$/);
  if (m && m[1] === 'slow') { return; }  // never renders: the crawl must give up and close the page
  if (m) {
    app.innerHTML = '<h1 class="title">Fentanyl patch ' + m[1] + '</h1>' +
                    '<div class="desc">100mcg/h, ships from CN, item ' + m[1] + '</div>';
  } else {
    var html = '';
    ['1', '2', '3', '4', '5', '6', 'slow'].forEach(function (id) {
      html += '<a class="item-link" href="/shop/p/' + id + '">item ' + id + '</a> ';
    });
    app.innerHTML = html;
  }
}
setTimeout(render, 200);
"""


def _shell(req: BaseHTTPRequestHandler) -> None:
    send(req, 200, page("JS shop", '<div id="app">Loading...</div><script src="/static/app.js"></script>'))


def _js(req: BaseHTTPRequestHandler) -> None:
    send(req, 200, APP_JS, "application/javascript")


ROUTES = {"/shop/": _shell, "/static/app.js": _js, **{f"/shop/p/{i}": _shell for i in [*"123456", "slow"]}}


def _source(base: str, **browser: object) -> dict:
    return {
        "name": "jsshop",
        "kind": "browser",
        "allow_private_addresses": True,
        "start_urls": [f"{base}/shop/"],
        "robots": "ignore",
        "rate_limit": {"download_delay": 0, "concurrency": 4, "randomize": False},
        "retry": {"times": 0},
        "links": {"listing": "a.item-link"},
        "fields": {"title": "h1.title", "description": "div.desc"},
        "browser": {"wait_for_index": "a.item-link", "wait_for": "h1.title", "wait_timeout": 3,
                    "max_pages_per_context": 2, "max_contexts": 2, "screenshot": True, **browser},
    }


def test_rendered_content_screenshots_evidence_and_closed_pages(tmp_path: Path) -> None:
    with local_server(ROUTES) as (base, hits):
        raw = urllib.request.urlopen(f"{base}/shop/p/1", timeout=5).read()
        assert b"Fentanyl patch" not in raw  # only JavaScript writes the listing
        result = run_crawl(_source(base), tmp_path)

    titles = sorted(item["title"] for item in result.items)
    assert titles == [f"Fentanyl patch {i}" for i in "123456"]
    for item in result.items:
        assert item["description"].startswith("100mcg/h, ships from CN")
        shot = Path(item["screenshot"])
        assert shot.is_file() and shot.read_bytes()[:4] == b"\x89PNG"
        assert shot.is_relative_to(tmp_path / "home" / "evidence" / "jsshop")
        body = read_record(item["warc_file"], item["warc_record_id"])
        assert hashlib.sha256(body).hexdigest() == item["response_sha256"]
        assert b"Fentanyl patch" in body  # the rendered DOM, not the shell
        headers = read_record_headers(item["warc_file"], item["warc_record_id"])
        assert headers["Narcowatch-Rendered"] == "chromium"
        assert headers["Narcowatch-Screenshot"] == item["screenshot"]
        assert headers["Narcowatch-Screenshot-SHA256"] == hashlib.sha256(shot.read_bytes()).hexdigest()
        assert item["warc_file"].endswith(".warc.gz")

    # Every page Chromium opened was closed, the never-rendering one too (by the error path).
    assert hits["/shop/p/slow"] >= 1
    assert result.stat("playwright/page_count") == 8
    assert result.stat("narcowatch/browser/pages_closed") == 8
    assert result.stat("playwright/page_count/closed", 0) == 0  # scrapy-playwright closed none itself
    # 8 pages at 2 per context: contexts were recycled, never more than 2 open at once.
    assert result.stat("narcowatch/browser/contexts_recycled") >= 3
    assert result.stat("playwright/context_count") >= 4
    assert result.stat("playwright/context_count/max_concurrent") <= 2
    assert result.stat("finish_reason") == "finished"
    assert "TimeoutError" in " ".join(k for k in result.stats if k.startswith("narcowatch/errors/"))


def test_browser_crawl_without_screenshots(tmp_path: Path) -> None:
    with local_server(ROUTES) as (base, _):
        result = run_crawl(_source(base, screenshot=False, max_pages_per_context=50), tmp_path)
    assert len(result.items) == 6
    assert all(item["screenshot"] is None for item in result.items)
    assert result.stat("narcowatch/browser/screenshots") == 0
    assert result.stat("narcowatch/browser/contexts_recycled") == 0
    assert result.stat("playwright/context_count") == 1


def test_navigation_timeout_is_retried_with_the_source_timeout(tmp_path: Path) -> None:
    import time

    stamps: list[float] = []

    def sleepy(req: BaseHTTPRequestHandler) -> None:
        stamps.append(time.monotonic())
        if len(stamps) == 1:
            time.sleep(3)  # longer than the source's 1.5 s timeout: the first navigation gives up
        try:
            _shell(req)
        except OSError:
            pass

    routes = {"/shop/": _shell, "/static/app.js": _js, "/shop/p/1": sleepy}
    index_js = APP_JS.replace(b"['1', '2', '3', '4', '5', '6', 'slow']", b"['1']")
    routes["/static/app.js"] = lambda req: send(req, 200, index_js, "application/javascript")
    with local_server(routes) as (base, _):
        source = _source(base, screenshot=False)
        source.update({"timeout": 1.5, "retry": {"times": 2, "backoff_base": 0.2}})
        result = run_crawl(source, tmp_path)
    assert [i["title"] for i in result.items] == ["Fentanyl patch 1"]
    assert len(stamps) == 2 and stamps[1] - stamps[0] >= 1.5 + 0.2 - 0.05
    assert result.stat("retry/count") == 1
    assert result.stat("narcowatch/browser/pages_closed") == result.stat("playwright/page_count") == 3


def test_needless_resources_aborted_when_configured(tmp_path: Path) -> None:
    png = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000")

    def shell_with_image(req: BaseHTTPRequestHandler) -> None:
        send(req, 200, page("JS shop", '<img src="/img/a.png"><div id="app">Loading...</div>'
                                       '<script src="/static/app.js"></script>'))

    routes = {**ROUTES, "/shop/p/1": shell_with_image, "/img/a.png": lambda r: send(r, 200, png, "image/png")}
    index_js = APP_JS.replace(b"['1', '2', '3', '4', '5', '6', 'slow']", b"['1']")
    routes["/static/app.js"] = lambda req: send(req, 200, index_js, "application/javascript")
    for abort, expected_hits in ((False, 1), (True, 0)):
        settings = {"NARCOWATCH_BROWSER_ABORT_RESOURCES": True} if abort else {}
        with local_server(routes) as (base, hits):
            result = run_crawl(_source(base, screenshot=False), tmp_path / str(abort), settings=settings)
        assert [i["title"] for i in result.items] == ["Fentanyl patch 1"]
        assert hits.get("/img/a.png", 0) == expected_hits, (abort, hits)
