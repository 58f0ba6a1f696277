"""Per-source proxies: plain and browser crawls go through a counting HTTP proxy started on 127.0.0.1."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from test_browser_crawl import ROUTES as JS_ROUTES
from test_browser_support import local_server, page, run_crawl, send


@contextmanager
def counting_proxy() -> Iterator[tuple[str, list[str]]]:
    """A forward HTTP proxy on 127.0.0.1 (port 0) that serves loopback targets only and logs each URL."""
    seen: list[str] = []
    lock = threading.Lock()

    class _Proxy(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            target = urlsplit(self.path)
            if target.scheme != "http" or target.hostname not in ("127.0.0.1", "localhost"):
                send(self, 403, b"loopback targets only")
                return
            with lock:
                seen.append(self.path)
            conn = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=10)
            path = target.path + (f"?{target.query}" if target.query else "")
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "connection")}
            conn.request("GET", path or "/", headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            conn.close()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def _market_routes() -> dict:
    def index(req: BaseHTTPRequestHandler) -> None:
        links = "".join(f'<a class="item" href="/item/{i}">item {i}</a>' for i in range(1, 4))
        send(req, 200, page("market", links))

    def item(i: int):
        def handler(req: BaseHTTPRequestHandler) -> None:
            send(req, 200, page(f"item {i}", f'<h1 class="t">Carfentanil {i}</h1>'))
        return handler

    return {"/": index, **{f"/item/{i}": item(i) for i in range(1, 4)}}


def test_plain_crawl_goes_through_the_source_proxy(tmp_path: Path) -> None:
    with local_server(_market_routes()) as (base, hits), counting_proxy() as (proxy, seen):
        source = {
            "name": "viaproxy", "kind": "market", "start_urls": [f"{base}/"], "proxy": proxy, "robots": "obey",
            "allow_private_addresses": True,  # a loopback test site
            "rate_limit": {"download_delay": 0, "concurrency": 2},
            "links": {"listing": "a.item"}, "fields": {"title": "h1.t"},
        }
        result = run_crawl(source, tmp_path)
    assert sorted(i["title"] for i in result.items) == ["Carfentanil 1", "Carfentanil 2", "Carfentanil 3"]
    # robots.txt, the index and three listings: every request the site saw came through the proxy.
    assert sorted(seen) == sorted([f"{base}/robots.txt", f"{base}/", *(f"{base}/item/{i}" for i in range(1, 4))])
    assert sum(hits.values()) == len(seen)


@pytest.mark.browser
def test_browser_crawl_goes_through_the_context_proxy(tmp_path: Path) -> None:
    with local_server(JS_ROUTES) as (base, hits), counting_proxy() as (proxy, seen):
        source = {
            "name": "jsviaproxy", "kind": "browser", "start_urls": [f"{base}/shop/"], "proxy": proxy,
            "allow_private_addresses": True,  # a loopback test site
            "robots": "ignore", "retry": {"times": 0},
            "rate_limit": {"download_delay": 0, "concurrency": 4},
            "links": {"listing": "a.item-link"}, "fields": {"title": "h1.title"},
            "browser": {"wait_for_index": "a.item-link", "wait_for": "h1.title", "wait_timeout": 3,
                        "max_pages_per_context": 3, "screenshot": False},
        }
        result = run_crawl(source, tmp_path)
    assert len(result.items) == 6
    # Pages and their scripts were fetched by Chromium through the proxy, in every recycled context.
    assert f"{base}/shop/" in seen
    assert all(f"{base}/shop/p/{i}" in seen for i in "123456")
    assert sum(1 for u in seen if u.endswith("/static/app.js")) >= 7
    assert sum(hits.values()) == len(seen)
    assert result.stat("narcowatch/browser/contexts_recycled") >= 1
