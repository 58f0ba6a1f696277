"""Figures of the selector assistant on the saved real pages (``make suggest-figures``).

For every result page with offer-by-offer gold (apollon, empire: ``<market>/gold/tests_expected.json``) the
suggestion made from the page alone, with no hand edits, is applied to the page and each gold offer is looked up
by its link: the share of gold titles and vendors recovered. Pages without row gold (dream, cryptonia, bohemia,
asean, chemical shops) get their offer count (against the count gold or the README where there is one) and the
fill rate of each suggested field. Then the listing-page assistant on the gold markets' listing and vendor pages
(crawler/sources/listing_eval.py).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from crawler.pages.base import clean, find_cas
from crawler.sources.suggest import Suggestion, source_dict, suggest
from crawler.sources.trial import ITEM_FIELD

PAGES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "real_pages"

ROW_GOLD = {  # page -> indexes of urls, titles, vendors, views, dates (-1: none) in the gold's asserted tuple
    "apollon/results/search_result_0.html": (0, 1, 3, 5, 6),
    "apollon/results/search_result_1.html": (0, 1, 3, 5, 6),
    "empire/results/saved_empire_search_result_0.html": (0, 2, 3, 5, -1),
    "empire/results/saved_empire_search_result_1.html": (0, 2, 3, 5, -1),
}
OTHER = [  # pages without row gold: (page, offers on the page where known and where that figure comes from)
    ("dream/results/search_result_0.html", 32, "pages README: 32 offers"),
    ("cryptonia/results/saved_cryptonia_search_result_in_category_0.html", 25, "gold len(titles)"),
    ("cryptonia/results/saved_cryptonia_search_result_in_category_1.html", 25, "gold len(titles)"),
    ("cryptonia/results/saved_cryptonia_search_result_in_category_2.html", 2, "gold len(titles)"),
    ("cryptonia/results/saved_cryptonia_search_result_in_category_3.html", 15, "gold len(titles)"),
    ("bohemia/results/listings.html", None, ""),
    ("asean/results/home.html", 50, "50 distinct /listing/ links (the README's ~100 counts two links a card)"),
    ("chemshops/loudwolf/search_acid.html", 10, "the shop's limit=10 page"),
    ("chemshops/labchem/search_results.html", None, ""),
    ("chemshops/tcichemicals/search_acetamide.html", None, ""),
    ("chemshops/esdrei/search_wasser.html", None, ""),
    ("chemshops/warchem/search_woda.html", None, ""),
]
BASE = "http://market.example/"


def _key(url: str | None) -> str:
    parts = urlsplit(url or "")
    return parts.path.lstrip("/") + ("?" + parts.query if parts.query else "")


def _norm(text: Any) -> str:
    return (clean(str(text)) or "").casefold() if text is not None else ""


def gold_rows(pages: Path, page: str) -> list[dict[str, str]]:
    """The gold offers of a result page: url, title, vendor."""
    market = page.split("/", 1)[0]
    url_i, title_i, vendor_i, views_i, date_i = ROW_GOLD[page]
    for test in json.loads((pages / market / "gold" / "tests_expected.json").read_text(encoding="utf-8")):
        rel = page.split("/", 1)[1]
        if test["pages"] == [rel] and test["test"].startswith("TestGetListingInfos"):
            values = test["assertions"][0]["expected"]
            n = len(values[url_i])
            views = values[views_i] if views_i >= 0 else [None] * n
            dates = values[date_i] if date_i >= 0 else [None] * n
            return [{"url": u, "title": t, "vendor": v, "views": w, "date": d}
                    for u, t, v, w, d in zip(values[url_i], values[title_i], values[vendor_i], views, dates,
                                             strict=True)]
    raise LookupError(f"no row gold for {page}")


@dataclass
class PageFigures:
    page: str
    rows: int
    gold: int = 0
    titles: int = 0
    vendors: int = 0
    views: int = 0
    views_gold: int = 0
    dates: int = 0
    dates_gold: int = 0
    expected: int | None = None
    fill: dict[str, float] = field(default_factory=dict)
    shown: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Per field: (rows read with a value, rows whose own text shows one): a CAS number with a valid check digit;
    shipping words ("ship", "deliver", "from", "→") for ships from/to."""

    @property
    def title_rate(self) -> float:
        return self.titles / self.gold if self.gold else 0.0

    @property
    def vendor_rate(self) -> float:
        return self.vendors / self.gold if self.gold else 0.0


def crawl_rows(body: bytes, s: Suggestion, url: str = BASE) -> list[dict[str, Any]]:
    """The suggestion as the crawler runs it: validated by the config loader, rows read by the market page
    objects (crawler.pages.market), each row's Listing as a dict."""
    from dataclasses import asdict

    from scrapy.http import HtmlResponse

    from crawler.pages.market import MarketCategoryPage
    from crawler.sources.loader import _ADAPTER

    source = _ADAPTER.validate_python(source_dict(s, start_url=url))
    page = MarketCategoryPage(HtmlResponse(url=url, body=body), source)
    return [asdict(row.to_item()) for row in page.rows()]


def _read(pages: Path, page: str) -> tuple[Suggestion, list[dict[str, Any]]]:
    body = (pages / page).read_bytes()
    s = suggest(body, BASE)
    return s, crawl_rows(body, s) if s.rows is not None else []


_SHIPPING_WORDS = re.compile(r"(?i)\bship|\bdeliver|\bfrom\b|→|->")


def _row_texts(body: bytes, s: Suggestion) -> list[str]:
    """The visible text of each suggested row, in page order (what a reader of the row sees)."""
    from scrapy.http import HtmlResponse

    from crawler.sources.suggest import _spec

    spec = _spec(s.rows)
    if spec is None:
        return []
    response = HtmlResponse(url=BASE, body=body)
    nodes = response.css(spec.css) if spec.css is not None else response.xpath(spec.xpath or "")
    return [" ".join(n.xpath(".//text()[not(ancestor::script) and not(ancestor::style)]").getall()) for n in nodes]


def measure(pages: Path, page: str, expected: int | None = None) -> PageFigures:
    s, rows = _read(pages, page)
    texts = _row_texts((pages / page).read_bytes(), s) if rows else []
    pairs = [(r, t) for r, t in zip(rows, texts + [""] * (len(rows) - len(texts)), strict=True) if r.get("title")]
    rows = [r for r, _t in pairs]
    fig = PageFigures(page, len(rows), expected=expected)
    if rows:
        for fname in s.fields:
            attr = ITEM_FIELD.get(fname, fname)
            fig.fill[fname] = sum(1 for r in rows if r.get(attr) not in (None, "", [])) / len(rows)
            if fname == "cas_numbers":
                named = [r for r, t in pairs if find_cas([t])]
            elif fname in ("ships_from", "ships_to"):
                named = [r for r, t in pairs if _SHIPPING_WORDS.search(t)]
            else:
                continue
            fig.shown[fname] = (sum(1 for r in named if r.get(attr) not in (None, "", [])), len(named))
    if page in ROW_GOLD:
        by_url = {_key(r.get("url")): r for r in rows}
        gold = gold_rows(pages, page)
        fig.gold = len(gold)
        for g in gold:
            got = by_url.get(_key(g["url"]))
            if got is None:
                continue
            fig.titles += _norm(got.get("title")) == _norm(g["title"])
            fig.vendors += _norm(got.get("vendor")) == _norm(g["vendor"])
            if g["views"] is not None:
                fig.views_gold += 1
                fig.views += str(got.get("views")) == str(g["views"])
            if g["date"] is not None:
                fig.dates_gold += 1
                fig.dates += str(got.get("posted_at") or "")[:10] == str(g["date"])[:10]
    return fig


def figures(pages: Path = PAGES) -> tuple[list[PageFigures], list[PageFigures]]:
    gold = [measure(pages, p) for p in ROW_GOLD]
    other = [measure(pages, p, n) for p, n, _why in OTHER if (pages / p).is_file()]
    return gold, other


def report(pages: Path = PAGES, found: tuple[list[PageFigures], list[PageFigures]] | None = None) -> str:
    gold, other = found or figures(pages)
    lines = ["source suggest on the saved real pages (suggestion alone, no hand edits; validated by the config",
             "loader and read by the crawler's row page objects)", "",
             "pages with row gold: offers matched by link, exact title / vendor (whitespace and case folded), views,",
             "creation dates (day)"]
    for f in gold:
        lines.append(f"  {f.page:<58} rows {f.rows:>3}  titles {f.titles:>2}/{f.gold} ({f.title_rate:.0%})  "
                     f"vendors {f.vendors:>2}/{f.gold} ({f.vendor_rate:.0%})  views {f.views}/{f.views_gold}"
                     + (f"  dates {f.dates}/{f.dates_gold}" if f.dates_gold else ""))
    for market in sorted({f.page.split('/')[0] for f in gold}):
        fs = [f for f in gold if f.page.startswith(market + "/")]
        n = sum(f.gold for f in fs)
        lines.append(f"  {market:<10} titles {sum(f.titles for f in fs) / n:.1%}  "
                     f"vendors {sum(f.vendors for f in fs) / n:.1%}  ({n} gold offers)")
    lines += ["", "pages without row gold: offers found (expected) and fill rate of each suggested field"]
    for f in other:
        exp = "" if f.expected is None else f" (expected {f.expected})"
        fills = ", ".join(f"{k} {v:.0%}" + (f" ({f.shown[k][0]}/{f.shown[k][1]} of rows showing one)"
                                             if k in f.shown else "") for k, v in f.fill.items())
        lines.append(f"  {f.page:<58} rows {f.rows:>3}{exp}: {fills}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    pages = Path(args[0]) if args else PAGES
    found = figures(pages)
    print(report(pages, found))
    from crawler.sources import listing_eval

    print()
    print(listing_eval.report(listing_eval.figures(pages)))
    gold = found[0]
    worst = min(min(f.title_rate, f.vendor_rate) for f in gold)
    return 0 if worst >= 0.9 else 1


if __name__ == "__main__":
    raise SystemExit(main())
