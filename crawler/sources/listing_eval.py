"""Figures of the listing-page assistant (``source suggest --listing-page``) on the saved real listing and vendor
pages of the four gold markets (part of ``make suggest-figures``).

Gold: each market's ``gold/tests_expected.json`` (the tests of the repository the pages were saved by), read into
the fields an analyst needs and narcowatch has: title, price (+ currency), vendor, ships from, ships to, stock on
listing pages; vendor name (Dream's asserted names; Apollon's read from the profile's own tab links the gold
asserts, ``/user.php?u_id=NAME&tab=6``), ships from, ships to on vendor pages. Sales counts, ratings, escrow,
payment and PGP values are not Listing fields and are not scored. A gold value the page does not show (the
gold's extractor filled a default, e.g. Cryptonia's "Worldwide" for digital goods) is not scored either; how many
were left out is printed.

The pages are read as UTF-8, as tests/real_web.py serves them (several were saved as UTF-8 under a
``charset=ISO-8859-1`` meta tag). Two readings, both through the crawler's own page object (config loader +
MarketListingPage), no hand edits:
- ``own``: the suggestion made from each page, read on that page;
- ``site``: the suggestion made from the market's first saved page only, read on all of them (what an analyst
  does: suggest once, crawl the site).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import asdict
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from crawler.pages.base import clean

MARKETS = ("apollon", "cryptonia", "dream", "empire")
LISTING_FIELDS = ("title", "price", "currency", "vendor", "ships_from", "ships_to", "stock", "category")
VENDOR_FIELDS = ("vendor", "ships_from", "ships_to")
ITEM = {"ships_from": "ships_from_raw", "ships_to": "ships_to_raw"}


def _values(rec: dict[str, Any]) -> dict[str, Any]:
    return {a.get("target"): a.get("expected") for a in rec["assertions"]}


def _destinations(v: dict[str, Any]) -> list[str] | None:
    if "destination_countries" in v:
        return v["destination_countries"]
    n = v.get("len(destination_countries)")
    if n is None:
        return None
    got = [v[f"destination_countries[{i}]"] for i in range(n) if f"destination_countries[{i}]" in v]
    return got if len(got) == n else None


def gold(pages: Path, market: str) -> dict[str, dict[str, Any]]:
    """``{page: {field: expected}}`` for the market's listing and vendor pages."""
    out: dict[str, dict[str, Any]] = defaultdict(dict)
    for rec in json.loads((pages / market / "gold" / "tests_expected.json").read_text(encoding="utf-8")):
        page, fn, v = rec["pages"][0], rec["extractor_function"][0], _values(rec)
        g = out[page]
        if page.startswith("listings/"):
            if fn == "get_listing_title":
                g["title"] = v["title"]
            elif fn == "get_seller_name_from_listing":
                g["vendor"] = v["seller_name"]
            elif fn == "get_fiat_price":
                g["price"] = v["fiat_price"]
            elif fn == "get_fiat_currency_and_price":
                g["price"], g["currency"] = v["price"], v["currency"]
            elif fn == "get_price_and_currency":
                g["price"], g["currency"] = v["price_and_currency"]
            elif fn == "get_origin_country":
                g["ships_from"] = v["origin_country"]
            elif fn == "get_destination_countries":
                g["ships_to"] = v["destination_countries"]
            elif fn.startswith("get_origin_country_and_destinations"):
                g["ships_from"], g["ships_to"] = v["origin_country"], _destinations(v)
            elif fn == "get_quantity_in_stock":
                g["stock"] = v["quantity_in_stock"]
            elif fn == "get_product_class_quantity_left_and_ends_in":
                g["stock"] = v["quantity_in_stock"]
            elif fn == "get_quantity_in_stock_unit_type_and_minimum_order_unit_amount":
                g["stock"] = v["quantity"]
            elif fn in ("get_categories", "get_listing_categories"):  # [[name, id, parent, level], ...]
                levels = sorted(v.get("listing_categories") or [], key=lambda c: c[-1])
                g["category"] = " / ".join(c[0] for c in levels) or None
            elif fn == "has_unlimited_dispatch_and_quantity_in_stock":
                g.setdefault("stock", v["has_unlimited_dispatch"][1])
        elif page.startswith("vendors/"):
            if fn == "get_seller_name":
                g["vendor"] = v["name"]
            elif fn in ("get_pgp_url", "get_feedback_categories_and_urls"):  # the profile's own tab links
                url = v.get("pgp_url") or (v.get("urls") or [None])[0]
                m = re.search(r"u_id=([^&]+)", url or "")
                if m:
                    g["vendor"] = m.group(1)
            elif fn == "get_seller_info":
                g["ships_from"], g["ships_to"] = v.get("ships_from"), v.get("ships_to")
    return {p: {k: x for k, x in g.items() if x is not None} for p, g in out.items() if g}


def _norm(text: Any) -> str:
    return re.sub(r"\s+", " ", str(text)).strip().casefold()


def _first_int(text: Any) -> int | None:
    m = re.search(r"\d[\d,]*", str(text or ""))
    return int(m.group(0).replace(",", "")) if m else None


def same(field: str, got: Any, expected: Any) -> bool:
    """A read value equals a gold value (as tests/real_gold.py reads them)."""
    if got in (None, "", []):
        return False
    if field == "ships_to" and isinstance(expected, list):
        return [_norm(p) for p in str(got).split(",")] == [_norm(e) for e in expected]
    if field == "price":
        try:
            return Decimal(str(got)) == Decimal(str(expected))
        except InvalidOperation:
            return False
    if field == "stock":
        return (0 if "out of stock" in str(got).lower() else _first_int(got)) == int(expected)
    return _norm(got) == _norm(expected)


def shown(text: str, field: str, expected: Any) -> bool:
    """Whether the page's visible ``text`` shows the gold value at all."""
    if field == "price":
        return any(v in text for v in (str(expected), f"{float(expected):.2f}", f"{float(expected):,.2f}"))
    if field == "stock":
        return str(expected) in text
    parts = expected if isinstance(expected, list) else expected.split(" / ") if field == "category" else [expected]
    return all(_norm(p) in _norm(text) for p in parts)


def _visible(body: bytes) -> str:
    from parsel import Selector

    sel = Selector(text=body.decode("utf-8", "replace"))
    return clean(" ".join(sel.xpath("//body//text()[not(ancestor::script) and not(ancestor::style)]"
                                    "[not(ancestor::option)]").getall())) or ""


def read_page(body: bytes, suggestion: Any, url: str = "http://market.example/listing") -> dict[str, Any]:
    """The suggestion as the crawler runs it on one page: validated by the config loader, read by
    MarketListingPage; {} when the suggestion is not a valid source (no title found)."""
    from scrapy.http import HtmlResponse

    from crawler.pages.market import MarketListingPage
    from crawler.sources.loader import _ADAPTER
    from crawler.sources.suggest import source_dict

    src = source_dict(suggestion, start_url=url)
    src["links"] = {"listing": "a.change-me"}  # the listing pages' links are not on a listing page
    try:
        source = _ADAPTER.validate_python(src)
    except ValueError:
        return {}
    response = HtmlResponse(url=url, body=body, headers={"Content-Type": "text/html; charset=utf-8"})
    return asdict(MarketListingPage(response, source).to_item())


def figures(pages: Path) -> dict[tuple[str, str, str], dict[str, list[int]]]:
    """``{(market, kind, mode): {field: [right, scored, not shown]}}``, kind ``listings``/``vendors``."""
    from crawler.sources.suggest_listing import suggest_listing

    out: dict[tuple[str, str, str], dict[str, list[int]]] = {}
    for market in MARKETS:
        if not (pages / market / "gold").is_dir():
            continue
        golds = gold(pages, market)
        for kind, fields in (("listings", LISTING_FIELDS), ("vendors", VENDOR_FIELDS)):
            files = sorted((pages / market / kind).glob("*.html"), key=lambda p: _natural(p.name))
            if not files:
                continue
            first = suggest_listing(_utf8(files[0].read_bytes()))
            for mode in ("own", "site"):
                counts: dict[str, list[int]] = {f: [0, 0, 0] for f in fields}
                for path in files:
                    g = golds.get(f"{kind}/{path.name}", {})
                    if not any(f in g for f in fields):
                        continue
                    body = path.read_bytes()
                    s = first if mode == "site" else suggest_listing(_utf8(body))
                    item = read_page(body, s)
                    text = _visible(body)
                    for f in fields:
                        if f not in g:
                            continue
                        if not shown(text, f, g[f]) or (f == "currency" and not shown(text, "price", g["price"])):
                            counts[f][2] += 1
                            continue
                        counts[f][1] += 1
                        counts[f][0] += same(f, item.get(ITEM.get(f, f)), g[f])
                out[(market, kind, mode)] = {f: c for f, c in counts.items() if c[1] or c[2]}
    return out


def _utf8(body: bytes) -> str:
    return body.decode("utf-8", "replace")


def _natural(name: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def misses(pages: Path, market: str, kind: str = "listings") -> list[tuple[str, str, Any, Any]]:
    """(page, field, read, gold) of every scored miss of the ``own`` reading (for looking into them)."""
    from crawler.sources.suggest_listing import suggest_listing

    golds = gold(pages, market)
    fields = LISTING_FIELDS if kind == "listings" else VENDOR_FIELDS
    out = []
    for path in sorted((pages / market / kind).glob("*.html"), key=lambda p: _natural(p.name)):
        g = golds.get(f"{kind}/{path.name}", {})
        body = path.read_bytes()
        item = read_page(body, suggest_listing(_utf8(body))) if g else {}
        text = _visible(body) if g else ""
        for f in fields:
            if f == "currency" and f in g and not shown(text, "price", g["price"]):
                continue
            if f in g and shown(text, f, g[f]) and not same(f, item.get(ITEM.get(f, f)), g[f]):
                out.append((path.name, f, item.get(ITEM.get(f, f)), g[f]))
    return out


def report(found: dict[tuple[str, str, str], dict[str, list[int]]]) -> str:
    lines = ["source suggest --listing-page on the saved listing and vendor pages (suggestion alone, no hand edits;",
             "read by the crawler's page object). own: suggested from each page; site: suggested from the first",
             "page of the market only. right/scored per field (gold values the page does not show: not scored)"]
    for (market, kind, mode), counts in found.items():
        if not counts:
            continue
        cells = []
        for f, (right, n, hidden) in counts.items():
            cell = f"{f} {right}/{n}" + (f" ({right / n:.0%})" if n else "")
            cells.append(cell + (f" [+{hidden} not shown]" if hidden else ""))
        lines.append(f"  {market:<10} {kind:<8} {mode:<4} " + "  ".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import sys

    args = sys.argv[1:] if argv is None else argv
    # The saved real pages' copy in the checkout (suggest_eval.PAGES; not imported: suggest_eval imports us).
    pages = Path(args[0]) if args else Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "real_pages"
    print(report(figures(pages)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
