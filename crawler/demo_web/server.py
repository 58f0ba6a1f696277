"""The fixture web: realistic local sites (market, JS shop, channels, forum, B2B, social, feeds, decoys)."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from crawler.demo_web import content as C

MARKET_PAGE = 12
SHOP_PAGE = 8
TG_PAGE = 20
FORUM_THREADS_PAGE = 10
FORUM_POSTS_PAGE = 10
B2B_PAGE = 10
REDDIT_PAGE = 25
HUGE_BYTES = 20 * 1024 * 1024

# A 1x1 grey PNG: every image on the web is this one.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201e2a1a8b00000000049454e44ae426082"
)

ROBOTS = """User-agent: *
# market: account and cart pages are private
Disallow: /market/account/
Disallow: /market/cart
# shop: the checkout
Disallow: /shop/checkout
# forum: member profiles
Disallow: /forum/members/
# b2b: inquiry forms
Disallow: /b2b/inquiry/
# news: the archive search
Disallow: /news/search
"""


def _page(title: str, body: str, *, css: str = "", lang: str = "en") -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{css}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


class DemoWeb:
    """Serve the demo sites on ``host:port`` from a background thread; mutate them for tests.

    ``scale`` multiplies the marketplace's listings (benchmarks); ``include_broken`` adds the
    test-only ``/broken/`` market variant; ``static_dirs`` maps a URL prefix (``"newmarket"``) to a
    directory served as-is (tests write their own sites there).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        scale: int = 1,
        include_broken: bool = False,
        static_dirs: dict[str, Path] | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.include_broken = include_broken
        self.static_dirs = {k.strip("/"): Path(v) for k, v in (static_dirs or {}).items()}
        self._lock = threading.RLock()
        self.market = C.load_market(scale)
        self.shop = C.load_shop()
        self.b2b = C.b2b_products()
        self.news = C.news_articles()
        self.harm = C.harm_reduction_posts()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""
        self.hits: dict[str, int] = {}

    # -- lifecycle
    def start(self) -> str:
        """Start serving; returns the base URL (``http://127.0.0.1:PORT``)."""
        if self._server is not None:
            return self.base_url
        web = self

        class Handler(_Handler):
            demo = web

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base_url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="demo-web", daemon=True)
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> DemoWeb:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- mutations (tests: price changes, removals, new offers)
    def _find(self, listing_id: str) -> C.MarketListing:
        with self._lock:
            if listing_id in self.market:
                return self.market[listing_id]
            if listing_id in self.shop:
                return self.shop[listing_id]
        raise KeyError(f"demo web: no market or shop listing {listing_id!r}")

    def set_price(self, listing_id: str, price: str | Decimal | float) -> None:
        """Change the price of a market or shop listing (same currency)."""
        with self._lock:
            self._find(listing_id).price = Decimal(str(price))

    def set_stock(self, listing_id: str, stock: str) -> None:
        """Change the stock text of a market or shop listing."""
        with self._lock:
            self._find(listing_id).stock = stock

    def remove_listing(self, listing_id: str) -> None:
        """Take a listing down: gone from its category and its page answers 404."""
        with self._lock:
            self._find(listing_id)
            self.market.pop(listing_id, None)
            self.shop.pop(listing_id, None)

    def add_listing(
        self,
        title: str,
        description: str,
        price: str | Decimal,
        *,
        listing_id: str | None = None,
        currency: str = "BTC",
        quantity: str = "1 unit",
        vendor: str = C.CROSS_VENDOR,
        ships_from: str = "China",
        ships_to: str = "Worldwide",
        subcategory: str = "Opioids",
        site: str = "market",
    ) -> str:
        """Add an offer to the market (or ``site="shop"``); it appears first in its category. Returns its id."""
        with self._lock:
            target = self.market if site == "market" else self.shop
            lid = listing_id or f"new{len(target) + 1:05d}"
            if lid in target:
                raise ValueError(f"demo web: listing {lid!r} already exists")
            listing = C.MarketListing(
                id=lid, title=title, description=description, price=Decimal(str(price)), currency=currency,
                quantity=quantity, vendor=vendor if site == "market" else C.SHOP_NAME, ships_from=ships_from,
                ships_to=ships_to, category="Drugs", subcategory=subcategory,
                posted_at=datetime(2026, 11, 20, 12, 0, tzinfo=UTC), stock="10 in stock",
                images=[f"/{site}/img/{lid}-1.png"],
            )
            # new offers go first, as on real markets (newest first)
            items = [(lid, listing), *target.items()]
            target.clear()
            target.update(items)
            return lid

    # -- views used by the handler
    def market_by_cat(self) -> dict[str, list[C.MarketListing]]:
        with self._lock:
            cats: dict[str, list[C.MarketListing]] = {}
            for m in self.market.values():
                cats.setdefault(m.cat_slug, []).append(m)
            return cats


class _Handler(BaseHTTPRequestHandler):
    demo: DemoWeb
    protocol_version = "HTTP/1.1"
    server_version = "DemoWeb/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        return

    # -- responses
    def _send(self, status: int, body: bytes | str, ctype: str = "text/html; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _json(self, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(200, json.dumps(obj, ensure_ascii=False, indent=1), "application/json; charset=utf-8", headers)

    def _not_found(self, what: str = "Page") -> None:
        self._send(404, _page("Not found", f'<h1 class="error">{escape(what)} not found</h1>'))

    @property
    def base(self) -> str:
        return self.demo.base_url

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self.demo._lock:
            self.demo.hits[path] = self.demo.hits.get(path, 0) + 1
        for pattern, name in _ROUTES:
            m = pattern.fullmatch(path)
            if m:
                try:
                    getattr(self, name)(query, *m.groups())
                except (BrokenPipeError, ConnectionResetError):
                    pass
                return
        first = path.strip("/").split("/", 1)[0]
        if first in self.demo.static_dirs:
            self._static(self.demo.static_dirs[first], path.strip("/").split("/", 1)[1:])
            return
        self._not_found()

    # -- root
    def root(self, q: dict[str, str]) -> None:
        links = ["/market/", "/shop/", f"/s/{C.CROSS_TELEGRAM}", "/s/opioid_watch_news", "/forum/", "/b2b/",
                 "/news/", "/harm-reduction/", "/reddit/r/opiates.json", "/mastodon/api/v1/timelines/tag/fentanyl",
                 "/feeds/seizures.xml", "/feeds/harm-reduction.xml"]
        body = "<h1>narcowatch demo web</h1><ul>" + "".join(
            f'<li><a href="{u}">{u}</a></li>' for u in links) + "</ul>"
        self._send(200, _page("Demo web", body))

    def robots(self, q: dict[str, str]) -> None:
        self._send(200, ROBOTS, "text/plain; charset=utf-8")

    def image(self, q: dict[str, str], *_: str) -> None:
        self._send(200, PNG, "image/png")

    def _static(self, root: Path, rest: list[str]) -> None:
        rel = rest[0] if rest and rest[0] else "index.html"
        target = (root / rel).resolve()
        if target.is_dir():
            target = target / "index.html"
        if root.resolve() not in target.parents or not target.is_file():
            self._not_found()
            return
        ctype = {".html": "text/html; charset=utf-8", ".json": "application/json", ".xml": "application/xml",
                 ".js": "application/javascript", ".txt": "text/plain; charset=utf-8"}.get(
            target.suffix, "application/octet-stream")
        self._send(200, target.read_bytes(), ctype)

    # -- /market/
    def market_home(self, q: dict[str, str], prefix: str = "market") -> None:
        cats = self.demo.market_by_cat()
        items = "".join(
            f'<li class="cat"><a class="cat-link" href="/{prefix}/c/{s}">{escape(ls[0].subcategory)}</a>'
            f' <span class="count">({len(ls)})</span></li>'
            for s, ls in sorted(cats.items())
        )
        body = (
            f'<header class="site"><a class="logo" href="/{prefix}/">Agora-style Market</a>'
            f' <a href="/{prefix}/account/">My account</a></header>'
            f'<nav class="sidebar"><h2>Categories</h2><ul class="categories">{items}</ul></nav>'
            '<main><h1>Welcome</h1><p>Always use escrow. Report scams to support.</p></main>'
        )
        self._send(200, _page("Market - Home", body))

    def market_category(self, q: dict[str, str], cat: str, prefix: str = "market") -> None:
        listings = self.demo.market_by_cat().get(cat)
        if not listings:
            self._not_found("Category")
            return
        page = _int(q.get("page"), 1)
        pages = max(1, -(-len(listings) // MARKET_PAGE))
        chunk = listings[(page - 1) * MARKET_PAGE: page * MARKET_PAGE]
        cards = "".join(
            f'<div class="listing-card" data-id="{m.id}">'
            f'<img class="thumb" src="{m.images[0]}" alt="">'
            f'<a class="listing-link" href="/{prefix}/item/{m.id}">{escape(m.title)}</a>'
            f'<span class="card-price">{m.price_text()}</span>'
            f'<span class="card-vendor">by <a href="/{prefix}/vendor/{escape(m.vendor)}">{escape(m.vendor)}</a></span>'
            "</div>"
            for m in chunk
        )
        pager = ['<nav class="pager">']
        if page > 1:
            pager.append(f'<a class="prev" rel="prev" href="/{prefix}/c/{cat}?page={page - 1}">« Prev</a>')
        pager.append(f'<span class="current">Page {page} of {pages}</span>')
        if page < pages:
            pager.append(f'<a class="next" rel="next" href="/{prefix}/c/{cat}?page={page + 1}">Next »</a>')
        pager.append("</nav>")
        body = (
            f'<header class="site"><a class="logo" href="/{prefix}/">Agora-style Market</a>'
            f' <a href="/{prefix}/cart">Cart</a></header>'
            f'<h1 class="category-title">{escape(listings[0].category)} / {escape(listings[0].subcategory)}</h1>'
            f'<div class="listings">{cards}</div>{"".join(pager)}'
        )
        self._send(200, _page(f"{listings[0].subcategory} - page {page}", body))

    def market_item(self, q: dict[str, str], lid: str, prefix: str = "market") -> None:
        with self.demo._lock:
            m = self.demo.market.get(lid)
            if m is None:
                self._not_found("Listing")
                return
            self._send(200, _market_listing_html(m, prefix))

    def market_vendor(self, q: dict[str, str], name: str, prefix: str = "market") -> None:
        with self.demo._lock:
            mine = [m for m in self.demo.market.values() if m.vendor == name]
        if not mine:
            self._not_found("Vendor")
            return
        contact = ""
        if mine[0].telegram:
            contact = f'<p class="contact">Telegram: <a href="https://t.me/{mine[0].telegram}">@{mine[0].telegram}</a></p>'
        rows = "".join(f'<li><a class="listing-link" href="/{prefix}/item/{m.id}">{escape(m.title)}</a></li>'
                       for m in mine)
        body = (f'<div class="vendor-profile"><h1 class="vendor-name">{escape(name)}</h1>{contact}'
                f'<p class="rating">Rating 4.8/5</p></div><ul class="vendor-listings">{rows}</ul>')
        self._send(200, _page(f"Vendor {name}", body))

    # -- /broken/ (test-only): a market variant whose category links to broken pages
    def broken_category(self, q: dict[str, str]) -> None:
        if not self.demo.include_broken:
            self._not_found()
            return
        ok = list(self.demo.market.values())[:2]
        links = [f"/broken/item/{m.id}" for m in ok] + [
            "/broken/item/bad-encoding", "/broken/item/truncated", "/broken/item/huge", "/broken/item/binary"]
        cards = "".join(f'<div class="listing-card"><a class="listing-link" href="{u}">{u}</a></div>' for u in links)
        self._send(200, _page("Broken market", f'<div class="listings">{cards}</div>'))

    def broken_item(self, q: dict[str, str], what: str) -> None:
        if not self.demo.include_broken:
            self._not_found()
            return
        if what == "bad-encoding":
            html = _page("bad encoding", '<article class="listing"><h1 class="listing-title">Fentanyl '
                         'MARKER</h1><div class="description">x</div></article>')
            data = html.encode("utf-8").replace(b"MARKER", b"\xff\xfe\xfa\xc3\x28 \xa0\xa1")
            self._send(200, data)
        elif what == "truncated":
            html = _market_listing_html(next(iter(self.demo.market.values())), "broken")
            self._send(200, html[: len(html) // 3].encode("utf-8"))
        elif what == "huge":
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(HUGE_BYTES))
            self.end_headers()
            chunk = (b"<p>" + b"fentanyl " * 113 + b"</p>\n")
            sent = 0
            try:
                while sent < HUGE_BYTES:
                    part = chunk[: HUGE_BYTES - sent]
                    self.wfile.write(part)
                    sent += len(part)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif what == "binary":
            data = bytes((i * 73 + 41) % 256 for i in range(64 * 1024))
            self._send(200, PNG + data)
        else:
            m = self.demo.market.get(what)
            if m is None:
                self._not_found("Listing")
            else:
                self._send(200, _market_listing_html(m, "broken"))

    # -- /shop/ (JavaScript)
    def shop_shell(self, q: dict[str, str], *_: str) -> None:
        body = (
            '<header><a class="logo" href="/shop/">PainFree Pharmacy</a> '
            '<a href="/shop/checkout">Checkout</a></header>'
            '<div id="app"><p class="loading">Loading…</p></div>'
            '<script src="/shop/static/shop.js"></script>'
        )
        self._send(200, _page("PainFree Pharmacy", body))

    def shop_js(self, q: dict[str, str]) -> None:
        js = resources.files("crawler.demo_web").joinpath("static", "shop.js").read_text(encoding="utf-8")
        self._send(200, js, "application/javascript; charset=utf-8")

    def shop_api_list(self, q: dict[str, str]) -> None:
        with self.demo._lock:
            items = list(self.demo.shop.values())
        page = _int(q.get("page"), 1)
        chunk = items[(page - 1) * SHOP_PAGE: page * SHOP_PAGE]
        self._json({"page": page, "has_more": page * SHOP_PAGE < len(items),
                    "products": [{"id": m.id, "title": m.title, "price_text": m.price_text(),
                                  "image": m.images[0]} for m in chunk]})

    def shop_api_item(self, q: dict[str, str], sid: str) -> None:
        with self.demo._lock:
            m = self.demo.shop.get(sid)
            data = m.to_json() if m else None
        if data is None:
            self._send(404, json.dumps({"error": "not found"}), "application/json")
        else:
            self._json(data)

    # -- /s/<channel> (Telegram public preview)
    def telegram(self, q: dict[str, str], name: str) -> None:
        channels = C.telegram_channels(self.base)
        ch = channels.get(name)
        if ch is None:
            self._not_found("Channel")
            return
        posts: list[C.Post] = ch["posts"]
        last = posts[-1].id
        before = _int(q.get("before"), last + 1)
        shown = [p for p in posts if before - TG_PAGE <= p.id < before]
        bubbles = []
        if shown and shown[0].id > 1:
            bubbles.append(f'<a class="tme_messages_more js-messages_more" data-before="{shown[0].id}" '
                           f'href="/s/{name}?before={shown[0].id}"></a>')
        for p in shown:
            text = escape(p.text).replace("\n", "<br/>")
            for link in p.links:
                text = text.replace(escape(link), f'<a href="{escape(link)}" target="_blank">{escape(link)}</a>')
            bubbles.append(
                '<div class="tgme_widget_message_wrap js-widget_message_wrap">'
                f'<div class="tgme_widget_message text_not_supported_wrap js-widget_message" data-post="{name}/{p.id}">'
                f'<div class="tgme_widget_message_user"><a href="https://t.me/{name}">'
                '<i class="tgme_widget_message_user_photo"></i></a></div>'
                '<div class="tgme_widget_message_bubble">'
                f'<div class="tgme_widget_message_author accent_color"><a class="tgme_widget_message_owner_name" '
                f'href="https://t.me/{name}"><span dir="auto">{escape(ch["title"])}</span></a></div>'
                f'<div class="tgme_widget_message_text js-message_text" dir="auto">{text}</div>'
                + "".join(f'<a class="tgme_widget_message_link_preview" href="{escape(u)}">'
                          f'<div class="link_preview_title">{escape(u)}</div></a>' for u in p.links)
                + '<div class="tgme_widget_message_footer compact js-message_footer">'
                '<div class="tgme_widget_message_info short js-message_info">'
                f'<span class="tgme_widget_message_views">{_views(p.views or 0)}</span>'
                f'<span class="copyonly"> views</span><span class="tgme_widget_message_meta">'
                f'<a class="tgme_widget_message_date" href="https://t.me/{name}/{p.id}">'
                f'<time datetime="{p.when.strftime("%Y-%m-%dT%H:%M:%S+00:00")}" class="time">{p.when:%H:%M}</time>'
                "</a></span></div></div></div></div></div>"
            )
        body = (
            '<header class="tgme_header"><div class="tgme_channel_info">'
            f'<div class="tgme_channel_info_header_title"><span dir="auto">{escape(ch["title"])}</span></div>'
            f'<div class="tgme_channel_info_header_username"><a href="https://t.me/{name}">@{name}</a></div>'
            f'<div class="tgme_channel_info_description">{escape(ch["description"])}</div>'
            f'<div class="tgme_channel_info_counters"><span class="counter_value">{len(posts)}</span> photos</div>'
            "</div></header>"
            '<main class="tgme_main"><section class="tgme_channel_history js-message_history">'
            + "".join(bubbles) + "</section></main>"
        )
        self._send(200, _page(f"{ch['title']} – Telegram", body))

    # -- /forum/
    def forum_index(self, q: dict[str, str]) -> None:
        f = C.forum(self.base)
        rows = "".join(
            f'<tr class="board"><td><a class="board-link" href="/forum/board/{b["id"]}">{escape(b["name"])}</a></td>'
            f'<td class="threads">{len(b["threads"])}</td></tr>' for b in f["boards"])
        body = ('<h1>Opioid Talk Forums</h1><p><a href="/forum/members/">Members</a></p>'
                f'<table class="boards"><tr><th>Board</th><th>Threads</th></tr>{rows}</table>')
        self._send(200, _page("Forum index", body))

    def forum_board(self, q: dict[str, str], bid: str) -> None:
        f = C.forum(self.base)
        board = next((b for b in f["boards"] if str(b["id"]) == bid), None)
        if board is None:
            self._not_found("Board")
            return
        page = _int(q.get("page"), 1)
        tids = board["threads"]
        chunk = tids[(page - 1) * FORUM_THREADS_PAGE: page * FORUM_THREADS_PAGE]
        items = "".join(
            f'<li class="thread"><a class="thread-link" href="/forum/thread/{t}">{escape(f["threads"][t]["title"])}</a>'
            f' <span class="replies">{len(f["threads"][t]["posts"]) - 1} replies</span></li>' for t in chunk)
        pager = ""
        if page * FORUM_THREADS_PAGE < len(tids):
            pager = (f'<div class="pagination"><a class="next" href="/forum/board/{bid}?page={page + 1}">'
                     "Next ›</a></div>")
        body = f'<h1 class="board-title">{escape(board["name"])}</h1><ul class="threads">{items}</ul>{pager}'
        self._send(200, _page(board["name"], body))

    def forum_thread(self, q: dict[str, str], tid: str) -> None:
        f = C.forum(self.base)
        thread = f["threads"].get(int(tid))
        if thread is None:
            self._not_found("Thread")
            return
        board = next(b for b in f["boards"] if b["id"] == thread["board"])
        page = _int(q.get("page"), 1)
        posts: list[C.Post] = thread["posts"]
        chunk = posts[(page - 1) * FORUM_POSTS_PAGE: page * FORUM_POSTS_PAGE]
        items = "".join(
            f'<div class="post" id="p{p.id}" data-post-id="{p.id}">'
            f'<div class="post-head"><a class="post-author" href="/forum/members/{escape(p.author)}">'
            f"{escape(p.author)}</a>"
            f' <time class="post-date" datetime="{C.iso(p.when)}">{p.when:%d %b %Y, %H:%M}</time>'
            f' <a class="permalink" href="/forum/thread/{tid}?page={page}#p{p.id}">#{p.id}</a></div>'
            f'<div class="post-body">{escape(p.text)}</div></div>' for p in chunk)
        pager = ""
        if page * FORUM_POSTS_PAGE < len(posts):
            pager = (f'<div class="pagination"><a class="next" href="/forum/thread/{tid}?page={page + 1}">'
                     "Next ›</a></div>")
        body = (f'<div class="breadcrumbs"><a href="/forum/">Forums</a> › '
                f'<a class="board" href="/forum/board/{board["id"]}">{escape(board["name"])}</a></div>'
                f'<h1 class="thread-title">{escape(thread["title"])}</h1><div class="posts">{items}</div>{pager}')
        self._send(200, _page(thread["title"], body))

    # -- /b2b/
    def b2b_home(self, q: dict[str, str]) -> None:
        page = _int(q.get("page"), 1)
        rows = self.demo.b2b
        chunk = rows[(page - 1) * B2B_PAGE: page * B2B_PAGE]
        items = "".join(
            f'<tr class="product-row"><td><a class="product-link" href="/b2b/product/{r["id"]}">'
            f'{escape(r["name"])}</a></td>'
            f'<td class="cas">{r["cas"]}</td><td class="supplier">{escape(r["supplier"])}</td></tr>' for r in chunk)
        pager = ""
        if page * B2B_PAGE < len(rows):
            pager = f'<div class="pages"><a class="next-page" href="/b2b/?page={page + 1}">Next</a></div>'
        body = ('<header><span class="logo">ChemSourcing B2B</span> — verified chemical suppliers</header>'
                '<table class="products"><tr><th>Product</th><th>CAS</th><th>Supplier</th></tr>'
                f"{items}</table>{pager}")
        self._send(200, _page("Chemical products", body))

    def b2b_product(self, q: dict[str, str], pid: str) -> None:
        r = next((r for r in self.demo.b2b if r["id"] == pid), None)
        if r is None:
            self._not_found("Product")
            return
        body = (
            '<div class="product-detail">'
            f'<h1 class="product-name">{escape(r["name"])}</h1>'
            f'<p class="synonyms">Synonyms: {escape(r["synonyms"])}</p>'
            '<dl class="specs">'
            f'<dt>CAS No.</dt><dd class="cas">{r["cas"]}</dd>'
            f'<dt>Purity</dt><dd class="purity">{r["purity"]}</dd>'
            f'<dt>MOQ</dt><dd class="moq">{escape(r["moq"])}</dd>'
            f'<dt>Price</dt><dd class="price">{r["currency"]} {r["price"]} / {escape(r["unit"])}</dd>'
            "</dl>"
            f'<div class="supplier-card"><a class="supplier" href="/b2b/supplier/{C.slug(r["supplier"])}">'
            f'{escape(r["supplier"])}</a> <span class="country">{escape(r["country"])}</span>'
            f' <a class="inquiry" href="/b2b/inquiry/{r["id"]}">Send inquiry</a></div>'
            f'<div class="product-desc">{escape(r["description"])}</div>'
            '</div>'
        )
        self._send(200, _page(f'{r["name"]} CAS {r["cas"]}', body))

    def b2b_supplier(self, q: dict[str, str], sslug: str) -> None:
        rows = [r for r in self.demo.b2b if C.slug(r["supplier"]) == sslug]
        if not rows:
            self._not_found("Supplier")
            return
        items = "".join(f'<li><a class="product-link" href="/b2b/product/{r["id"]}">{escape(r["name"])}</a></li>'
                        for r in rows)
        body = (f'<h1 class="supplier-name">{escape(rows[0]["supplier"])}</h1>'
                f'<p class="country">{escape(rows[0]["country"])}</p><ul>{items}</ul>')
        self._send(200, _page(rows[0]["supplier"], body))

    # -- decoys: /news/, /harm-reduction/
    def news_index(self, q: dict[str, str]) -> None:
        items = "".join(f'<li><a class="article-link" href="/news/article/{a["id"]}">{escape(a["headline"])}</a></li>'
                        for a in self.demo.news)
        self._send(200, _page("Seizure news", f'<h1>Drug seizure news</h1><ul class="articles">{items}</ul>'))

    def news_article(self, q: dict[str, str], aid: str) -> None:
        a = next((a for a in self.demo.news if str(a["id"]) == aid), None)
        if a is None:
            self._not_found("Article")
            return
        body = (f'<article class="news"><h1 class="headline">{escape(a["headline"])}</h1>'
                f'<p class="byline">By <span class="author">{escape(a["author"])}</span>, '
                f'<time datetime="{C.iso(a["when"])}">{a["when"]:%d %B %Y}</time></p>'
                f'<div class="article-body"><p>{escape(a["text"])}</p></div></article>')
        self._send(200, _page(a["headline"], body))

    def harm_index(self, q: dict[str, str]) -> None:
        items = "".join(f'<li><a class="article-link" href="/harm-reduction/post/{p["slug"]}">'
                        f'{escape(p["title"])}</a></li>' for p in self.demo.harm)
        self._send(200, _page("Harm reduction", f'<h1>Stay safe</h1><ul class="articles">{items}</ul>'))

    def harm_post(self, q: dict[str, str], pslug: str) -> None:
        p = next((p for p in self.demo.harm if p["slug"] == pslug), None)
        if p is None:
            self._not_found("Post")
            return
        body = (f'<article class="news"><h1 class="headline">{escape(p["title"])}</h1>'
                f'<p class="byline">By <span class="author">{escape(p["author"])}</span>, '
                f'<time datetime="{C.iso(p["when"])}">{p["when"]:%d %B %Y}</time></p>'
                f'<div class="article-body"><p>{escape(p["text"])}</p></div></article>')
        self._send(200, _page(p["title"], body))

    # -- /reddit/
    def reddit_sub(self, q: dict[str, str], sub: str, _sort: str | None = None) -> None:
        self._reddit(C.reddit_posts(sub, self.base), q)

    def reddit_search(self, q: dict[str, str]) -> None:
        term = q.get("q", "").lower()
        posts = [p for s in ("opiates", "rcsourcetalk") for p in C.reddit_posts(s, self.base)
                 if term in (p["data"]["title"] + " " + p["data"]["selftext"]).lower()]
        posts.sort(key=lambda p: -p["data"]["created_utc"])
        self._reddit(posts, q)

    def _reddit(self, posts: list[dict[str, Any]], q: dict[str, str]) -> None:
        limit = min(_int(q.get("limit"), REDDIT_PAGE), 100)
        start = 0
        if q.get("after"):
            names = [p["data"]["name"] for p in posts]
            start = names.index(q["after"]) + 1 if q["after"] in names else len(posts)
        chunk = posts[start: start + limit]
        after = chunk[-1]["data"]["name"] if chunk and start + limit < len(posts) else None
        self._json({"kind": "Listing", "data": {"after": after, "before": None, "dist": len(chunk),
                                                "modhash": "", "children": chunk}})

    # -- /mastodon/
    def mastodon_tag(self, q: dict[str, str], tag: str) -> None:
        self._mastodon(C.mastodon_statuses(tag, self.base), q, f"/mastodon/api/v1/timelines/tag/{tag}")

    def mastodon_account(self, q: dict[str, str], acct_id: str) -> None:
        statuses = [s for t in ("fentanyl",) for s in C.mastodon_statuses(t, self.base)
                    if s["account"]["id"] == acct_id]
        self._mastodon(statuses, q, f"/mastodon/api/v1/accounts/{acct_id}/statuses")

    def _mastodon(self, statuses: list[dict[str, Any]], q: dict[str, str], path: str) -> None:
        limit = min(_int(q.get("limit"), 20), 40)
        if q.get("max_id"):
            statuses = [s for s in statuses if int(s["id"]) < int(q["max_id"])]
        chunk = statuses[:limit]
        headers = {}
        if len(statuses) > limit:
            headers["Link"] = (f'<{self.base}{path}?max_id={chunk[-1]["id"]}&limit={limit}>; rel="next", '
                               f'<{self.base}{path}?min_id={chunk[0]["id"]}>; rel="prev"')
        self._json(chunk, headers)

    # -- /feeds/
    def feed(self, q: dict[str, str], name: str) -> None:
        if name == "seizures":
            items = "".join(
                f"<item><title>{escape(a['headline'])}</title><link>{self.base}/news/article/{a['id']}</link>"
                f"<guid isPermaLink=\"false\">seizure-{a['id']}</guid>"
                f"<pubDate>{format_datetime(a['when'])}</pubDate><author>news@example.org ({a['author']})</author>"
                f"<description>{escape(a['text'])}</description></item>" for a in self.demo.news)
            xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
                   f"<title>Seizure news</title><link>{self.base}/news/</link>"
                   f"<description>Drug seizure reports</description>{items}</channel></rss>")
            self._send(200, xml, "application/rss+xml; charset=utf-8")
        elif name == "harm-reduction":
            entries = "".join(
                f"<entry><title>{escape(p['title'])}</title>"
                f'<link rel="alternate" href="{self.base}/harm-reduction/post/{p["slug"]}"/>'
                f"<id>urn:demo:hr:{p['slug']}</id><updated>{C.iso(p['when'])}</updated>"
                f"<published>{C.iso(p['when'])}</published><author><name>{escape(p['author'])}</name></author>"
                f'<summary type="text">{escape(p["text"])}</summary></entry>' for p in self.demo.harm)
            updated = C.iso(max(p["when"] for p in self.demo.harm))
            xml = ('<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
                   f"<title>Harm reduction updates</title><id>urn:demo:hr</id><updated>{updated}</updated>"
                   f'<link rel="self" href="{self.base}/feeds/harm-reduction.xml"/>{entries}</feed>')
            self._send(200, xml, "application/atom+xml; charset=utf-8")
        else:
            self._not_found("Feed")


def _market_listing_html(m: C.MarketListing, prefix: str) -> str:
    imgs = "".join(f'<img class="listing-image" src="{u}" alt="">' for u in m.images)
    body = (
        f'<header class="site"><a class="logo" href="/{prefix}/">Agora-style Market</a></header>'
        f'<article class="listing" data-listing-id="{m.id}">'
        f'<div class="breadcrumbs"><a href="/{prefix}/">{escape(m.category)}</a> › '
        f'<a class="crumb-cat" href="/{prefix}/c/{m.cat_slug}">{escape(m.subcategory)}</a></div>'
        f'<h1 class="listing-title">{escape(m.title)}</h1>'
        f'<div class="gallery">{imgs}</div>'
        '<table class="listing-meta">'
        f'<tr><th>Price</th><td class="price">{m.price_text()}</td></tr>'
        f'<tr><th>Quantity</th><td class="qty">{escape(m.quantity)}</td></tr>'
        f'<tr><th>Vendor</th><td><a class="vendor" href="/{prefix}/vendor/{escape(m.vendor)}">'
        f"{escape(m.vendor)}</a></td></tr>"
        f'<tr><th>Ships from</th><td class="ships-from">{escape(m.ships_from)}</td></tr>'
        f'<tr><th>Ships to</th><td class="ships-to">{escape(m.ships_to)}</td></tr>'
        f'<tr><th>Stock</th><td class="stock">{escape(m.stock)}</td></tr>'
        f'<tr><th>Listed</th><td><time class="posted" datetime="{C.iso(m.posted_at)}">'
        f"{m.posted_at:%d %b %Y %H:%M}</time></td></tr>"
        "</table>"
        f'<div class="description"><h2>Description</h2><p>{escape(m.description)}</p></div>'
        "</article>"
    )
    return _page(f"{m.title} - Market", body)


def _views(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M".replace(".0M", "M")
    if n >= 1000:
        return f"{n / 1000:.1f}K".replace(".0K", "K")
    return str(n)


def _int(value: str | None, default: int) -> int:
    try:
        return max(1, int(value)) if value is not None else default
    except ValueError:
        return default


_ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p), n)
    for p, n in [
        (r"/", "root"),
        (r"/robots\.txt", "robots"),
        (r"/(?:market|shop|broken)/img/([\w.-]+)\.png", "image"),
        (r"/market/?", "market_home"),
        (r"/market/c/([\w-]+)/?", "market_category"),
        (r"/market/item/([\w-]+)", "market_item"),
        (r"/market/vendor/([^/]+)", "market_vendor"),
        (r"/broken/?(?:c/all)?", "broken_category"),
        (r"/broken/item/([\w-]+)", "broken_item"),
        (r"/shop/?", "shop_shell"),
        (r"/shop/p/([\w-]+)", "shop_shell"),
        (r"/shop/static/shop\.js", "shop_js"),
        (r"/shop/api/products", "shop_api_list"),
        (r"/shop/api/products/([\w-]+)", "shop_api_item"),
        (r"/s/([\w]+)", "telegram"),
        (r"/forum/?", "forum_index"),
        (r"/forum/board/(\d+)", "forum_board"),
        (r"/forum/thread/(\d+)", "forum_thread"),
        (r"/b2b/?", "b2b_home"),
        (r"/b2b/product/(\d+)", "b2b_product"),
        (r"/b2b/supplier/([\w-]+)", "b2b_supplier"),
        (r"/news/?", "news_index"),
        (r"/news/article/(\d+)", "news_article"),
        (r"/harm-reduction/?", "harm_index"),
        (r"/harm-reduction/post/([\w-]+)", "harm_post"),
        (r"/reddit/r/(\w+)(?:/(new|hot|top))?\.json", "reddit_sub"),
        (r"/reddit/search\.json", "reddit_search"),
        (r"/mastodon/api/v1/timelines/tag/(\w+)", "mastodon_tag"),
        (r"/mastodon/api/v1/accounts/(\d+)/statuses", "mastodon_account"),
        (r"/feeds/([\w-]+)\.xml", "feed"),
    ]
]
