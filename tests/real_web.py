"""A loopback web server for the real saved pages in tests/fixtures/real_pages/ (tests only).

``/<folder>/<path>`` serves the saved file as it is; ``/<folder>/<dir>/`` is a plain index page of links to
the files of that directory (like a web server's directory listing, ``<a class="file">``); ROUTES serve saved
pages at the URLs the pages themselves link to (Apollon's ``home.php?...&pg=2``, a channel at ``/s/<name>``).
Anything else is a 404. GATES maps paths to saved gate pages (login walls, anti-DDoS) for the gate tests.
"""

from __future__ import annotations

import html
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

REAL_PAGES = Path(__file__).resolve().parent / "fixtures" / "real_pages"
REAL_SOURCES = Path(__file__).resolve().parent / "fixtures" / "real_sites" / "sources.yaml"

ROUTES: dict[str, str] = {
    "/apollon/home.php?cid=2&csid=0&pg=1": "apollon/results/search_result_0.html",
    "/apollon/home.php?cid=2&csid=0&pg=2": "apollon/results/search_result_1.html",
    # detail pages of rows on those result pages that were saved (same id and title)
    "/apollon/listing.php?ls_id=73431": "apollon/listings/listing_1.html",
    "/s/topwar_official": "telegram_tme_s/channel_page/voennoe_obozrenie_t.me_s.html",
}


class RealWeb:
    """``RealWeb().start() -> base_url``; ``stop()``. ``routes`` may be changed while it runs."""

    def __init__(self, routes: dict[str, str] | None = None):
        self.routes = dict(ROUTES if routes is None else routes)
        self.hits: dict[str, int] = {}
        self.rewrite: list[tuple[bytes, bytes]] = []
        """(old, new) replacements applied to every page served: a site changing its layout."""
        web = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                web.hits[self.path] = web.hits.get(self.path, 0) + 1
                body = web.page(self.path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Type", "text/html")
                    self.end_headers()
                    self.wfile.write(b"<html><body>not found</body></html>")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> str:
        self.thread.start()
        return self.base_url

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def page(self, path: str) -> bytes | None:
        body = self._page(path)
        for old, new in self.rewrite if body is not None else []:
            body = body.replace(old, new)
        return body

    def _page(self, path: str) -> bytes | None:
        if path in self.routes:
            return (REAL_PAGES / self.routes[path]).read_bytes()
        rel = unquote(path.split("?", 1)[0]).lstrip("/")
        target = (REAL_PAGES / rel).resolve()
        if REAL_PAGES.resolve() not in target.parents and target != REAL_PAGES.resolve():
            return None
        if target.is_file():
            return target.read_bytes()
        if target.is_dir() and path.endswith("/"):
            links = "".join(f'<li><a class="file" href="{html.escape(p.name)}">{html.escape(p.name)}</a></li>'
                            for p in sorted(target.iterdir()) if p.is_file() and p.suffix == ".html")
            return f"<html><head><title>Index of {html.escape(path)}</title></head><body><ul>{links}</ul>" \
                   "</body></html>".encode()
        return None
