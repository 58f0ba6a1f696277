"""Gold values of the real saved market pages (tests/fixtures/real_pages/<market>/gold/tests_expected.json),
translated to narcowatch Listing fields, and a value-by-value comparison with crawled listings.

The gold comes from the unit tests of the repository the pages were saved by (see each SOURCE.md): one record
per test, with the extractor it tested and its assertions. Only the assertions about what a listing is
(title, vendor, price, currency, ships from/to, category, stock, views, dates, links, row counts) are used;
vendor profiles, feedback, PGP keys and exchange rates are not listing fields. A gold value of None ("the page
does not show it") is not scored: the issue asks for accuracy where the page shows the value.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from tests.real_web import REAL_PAGES

Expect = dict[str, Any]


def _records(market: str) -> list[dict[str, Any]]:
    return json.loads((REAL_PAGES / market / "gold" / "tests_expected.json").read_text(encoding="utf-8"))


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path.lstrip("/") + (f"?{parts.query}" if parts.query else "")


def _categories(value: list[list[Any]]) -> str:
    """``[[name, id, parent, level], ...]`` -> ``"Top / Sub / Leaf"`` (ordered by level)."""
    return " / ".join(c[0] for c in sorted(value, key=lambda c: c[-1]))


def listing_gold(market: str) -> dict[str, Expect]:
    """Per saved listing page (path in the market folder): {field: expected value}."""
    out: dict[str, Expect] = defaultdict(dict)
    for rec in _records(market):
        page = rec["pages"][0]
        if not page.startswith("listings/"):
            continue
        fn = rec["extractor_function"][0]
        values = {a.get("target"): a.get("expected") for a in rec["assertions"]}
        gold = out[page]
        if fn in ("get_destination_countries",):
            gold["ships_to"] = values.get("destination_countries")
        elif fn == "get_origin_country":
            gold["ships_from"] = values["origin_country"]
        elif fn == "get_quantity_in_stock":
            gold["stock"] = values["quantity_in_stock"]
        elif fn == "get_product_class_quantity_left_and_ends_in":
            gold["stock"] = values["quantity_in_stock"]
        elif fn == "get_quantity_in_stock_unit_type_and_minimum_order_unit_amount":
            gold["stock"] = values["quantity"]
        elif fn == "get_fiat_price":
            gold["price"] = values["fiat_price"]
        elif fn == "get_fiat_currency_and_price":
            gold["price"], gold["currency"] = values["price"], values["currency"]
        elif fn == "get_price_and_currency":
            gold["price"], gold["currency"] = values["price_and_currency"]
        elif fn == "get_listing_title":
            gold["title"] = values["title"]
        elif fn == "get_seller_name_from_listing":
            gold["vendor"] = values["seller_name"]
        elif fn in ("get_categories", "get_listing_categories"):
            gold["category"] = _categories(values.get("listing_categories") or [])
        elif fn in ("get_origin_country_and_destinations", "get_origin_country_and_destinations_and_payment_type"):
            gold["ships_from"] = values["origin_country"]
            if "destination_countries" in values:
                gold["ships_to"] = values["destination_countries"]
            else:  # asserted one by one: len(...) and destination_countries[i]
                n = values["len(destination_countries)"]
                gold["ships_to"] = [values[f"destination_countries[{i}]"] for i in range(n)
                                    if f"destination_countries[{i}]" in values] or None
    return {page: {k: v for k, v in gold.items()} for page, gold in out.items()}


def row_gold(market: str) -> dict[str, list[Expect]]:
    """Per saved result page: the offers in page order, {field: expected}; or a row count only (Cryptonia)."""
    out: dict[str, list[Expect]] = {}
    for rec in _records(market):
        page, fn = rec["pages"][0], rec["extractor_function"][0]
        if not page.startswith("results/"):
            continue
        if fn == "get_listing_infos" and market == "apollon":
            urls, titles, _sticky, vendors, vendor_urls, views, dates, cats = rec["assertions"][0]["expected"]
            out[page] = [{"url": u, "title": t, "vendor": v, "vendor_url": vu, "views": n,
                          "posted_at": d[:10], "category": _categories(c)}
                         for u, t, v, vu, n, d, c in zip(urls, titles, vendors, vendor_urls, views, dates, cats,
                                                         strict=True)]
        elif fn == "get_listing_infos" and market == "empire":
            urls, _sticky, titles, vendors, vendor_urls, views = rec["assertions"][0]["expected"]
            out[page] = [{"url": u, "title": t, "vendor": v, "vendor_url": vu, "views": n}
                         for u, t, v, vu, n in zip(urls, titles, vendors, vendor_urls, views, strict=True)]
        elif fn == "get_titles_sellers_and_seller_urls":
            out[page] = [{"rows": rec["assertions"][0]["expected"]}]
    return out


# ---------------------------------------------------------------- comparison


def _norm(text: Any) -> str:
    return re.sub(r"\s+", " ", str(text)).strip()


def _first_int(text: Any) -> int | None:
    m = re.search(r"\d[\d,]*", str(text or ""))
    return int(m.group(0).replace(",", "")) if m else None


def same(field: str, got: Any, expected: Any) -> bool:
    """Whether a crawled value equals a gold value, read the way the gold's author meant it."""
    if field in ("url", "vendor_url"):
        return got is not None and _path(got).endswith(str(expected).lstrip("/"))
    if field == "ships_to" and isinstance(expected, list):
        return [_norm(p) for p in str(got or "").split(",")] == [_norm(e) for e in expected]
    if field == "price":
        return got is not None and Decimal(str(got)) == Decimal(str(expected))
    if field == "stock":  # "2 gram (Minimum order 28 gram) Out of Stock" is 0 in stock
        return (0 if "out of stock" in str(got).lower() else _first_int(got)) == int(expected)
    if field == "views" or field == "rows":
        return got is not None and int(got) == int(expected)
    if field == "posted_at":
        return str(got or "")[:10] == expected
    return _norm(got or "") == _norm(expected)


ITEM_NAME = {"ships_from": "ships_from_raw", "ships_to": "ships_to_raw"}


def score(checks: list[tuple[str, str, Any, Any]]) -> dict[str, tuple[int, int]]:
    """{field: (right, total)} over (page, field, got, expected) checks."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for _page, field, got, expected in checks:
        out[field][1] += 1
        out[field][0] += same(field, got, expected)
    return {k: (v[0], v[1]) for k, v in sorted(out.items())}


def report(market: str, scores: dict[str, tuple[int, int]]) -> str:
    return f"{market:10s} " + "  ".join(f"{f}={r}/{n} ({r / n:.2f})" for f, (r, n) in scores.items())


def shown(market: str, page: str, field: str, expected: Any) -> bool:
    """Whether a textual gold value is on the page at all (the gold's extractor sometimes filled a default,
    e.g. Cryptonia's "Worldwide" for digital listings that name no country): values not shown are not scored."""
    if not isinstance(expected, str | list) and field != "price":
        return True
    from parsel import Selector

    text = _norm(" ".join(Selector(text=(REAL_PAGES / market / page).read_text("utf-8", "replace"))
                          .xpath("//body//text()").getall()))
    if field == "price":  # Dream's listing_2 gold is 50.96 USD; the page says "฿0.000272 ($3.1096000000000004)"
        return any(v in text for v in (str(expected), f"{float(expected):.2f}", f"{float(expected):,.2f}"))
    parts = expected if isinstance(expected, list) else expected.split(" / ")  # categories: each level shown
    return all(_norm(e) in text for e in parts)


def listing_checks(market: str, items: list[dict[str, Any]]) -> list[tuple[str, str, Any, Any]]:
    """Checks of crawled listing-page items (URL ``.../<market>/listings/<file>``) against the listing gold;
    gold values that are None or not on the page are left out (see ``shown``)."""
    by_page = {_path(i["url"]).split(f"{market}/", 1)[-1]: i for i in items}
    checks = []
    for page, gold in listing_gold(market).items():
        item = by_page.get(page, {})
        for field, expected in gold.items():
            if expected is None or not shown(market, page, field, expected):
                continue
            checks.append((page, field, item.get(ITEM_NAME.get(field, field)), expected))
    return checks


def row_checks(market: str, items: list[dict[str, Any]], page_urls: dict[str, str]) -> list[tuple[str, str, Any, Any]]:
    """Checks of row items against the row gold; ``page_urls`` maps gold page -> URL it was served at."""
    checks = []
    for page, rows in row_gold(market).items():
        served = page_urls.get(page)
        got_rows = sorted((i for i in items if i.get("source_page") == served), key=lambda i: i.get("row") or 0)
        if rows and "rows" in rows[0]:
            checks.append((page, "rows", len(got_rows), rows[0]["rows"]))
            continue
        for n, gold in enumerate(rows):
            item = got_rows[n] if n < len(got_rows) else {}
            for field, expected in gold.items():
                checks.append((f"{page}#{n + 1}", field, item.get(field), expected))
    return checks


