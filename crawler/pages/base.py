"""Shared extraction for page objects: configured selectors, text, prices, dates, counts, CAS numbers, URLs."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any

from parsel import Selector, SelectorList
from scrapy.http import Response, TextResponse

from crawler.common.clock import parse_iso, utc_iso
from crawler.config.regexes import user_search
from crawler.items import Listing
from crawler.sources.models import SelectorSpec, SourceBase

_WS = re.compile(r"\s+")
_SKIP_TEXT = "not(ancestor-or-self::script) and not(ancestor-or-self::style) and not(ancestor-or-self::noscript)"


def clean(text: str | None) -> str | None:
    """Collapse whitespace; empty -> None."""
    if text is None:
        return None
    out = _WS.sub(" ", text).strip()
    return out or None

Selectable = Response | Selector | SelectorList[Selector]
"""What selectors run under: a whole page, one node of it (a listing row), or several nodes."""


def _node_text(node: Selector) -> str:
    if isinstance(node.root, str):
        return node.root
    return " ".join(node.xpath(f".//text()[{_SKIP_TEXT}]").getall())


def select_values(sel: Selectable, spec: SelectorSpec | None) -> list[str]:
    """Every value the spec selects under ``sel`` (a response, Selector or SelectorList): text or attribute,
    after regex and join."""
    if spec is None:
        return []
    if spec.value is not None:
        values = [spec.value]
    elif spec.label is not None:
        from crawler.pages.labels import label_values

        roots: list[Selector] = list(sel) if isinstance(sel, SelectorList) else \
            [sel.selector if isinstance(sel, TextResponse) else sel]  # type: ignore[list-item]
        values = [v for r in roots if not isinstance(r.root, str) for v in label_values(r.root, spec.label)]
    else:
        nodes = sel.css(spec.css) if spec.css is not None else sel.xpath(spec.xpath or "")
        values = []
        for node in nodes:
            if spec.attr is not None and not isinstance(node.root, str):
                got = node.attrib.get(spec.attr)
                if got is not None:
                    values.append(got)
            else:
                values.append(_node_text(node))
    values = [v for v in (clean(v) for v in values) if v]
    if spec.regex is not None:
        rx = spec.regex
        kept = []
        for v in values:
            m = user_search(rx, v, what="selector regex")  # time-limited: page text is hostile
            if m:
                kept.append(clean(m.group(1) if m.re.groups else m.group(0)) or "")
        values = [v for v in kept if v]
    if spec.join is not None and values:
        values = [spec.join.join(values)]
    return values


def select_first(sel: Selectable, spec: SelectorSpec | None) -> str | None:
    values = select_values(sel, spec)
    return values[0] if values else None


def link_values(sel: Selectable, spec: SelectorSpec) -> list[str]:
    """Link targets a selector points at: its ``attr`` if given, else each element's href (or src)."""
    if spec.label is not None:  # a label's value is text: links (vendor_url, images) need css or xpath
        return []
    if spec.attr is not None or spec.value is not None:
        return select_values(sel, spec)
    nodes = sel.css(spec.css) if spec.css is not None else sel.xpath(spec.xpath or "")
    out = []
    for node in nodes:
        if isinstance(node.root, str):
            out.append(node.root.strip())
        else:
            href = node.attrib.get("href") or node.attrib.get("src") or node.attrib.get("data-href")
            if href is None:  # a container: take the first link inside it
                href = node.css("a::attr(href)").get()
            if href:
                out.append(href.strip())
    if spec.regex is not None:
        out = [v for v in out if user_search(spec.regex, v, what="link regex")]
    return out


def absolute_links(response: Response, sel: Selectable, specs: list[SelectorSpec]) -> list[str]:
    """Absolute, de-duplicated http(s) URLs of the links the specs select (page order)."""
    seen: dict[str, None] = {}
    for spec in specs:
        for href in link_values(sel, spec):
            if href.startswith(("javascript:", "mailto:", "#")):
                continue
            url = response.urljoin(href).split("#", 1)[0]
            if url.startswith(("http://", "https://")):
                seen.setdefault(url, None)
    return list(seen)


# ---------------------------------------------------------------- value parsing

_CURRENCY_SYMBOLS = {"$": "USD", "US$": "USD", "€": "EUR", "£": "GBP", "¥": "CNY", "₽": "RUB", "₹": "INR",
                     "฿": "BTC", "Ƀ": "BTC", "₿": "BTC", "ɱ": "XMR", "zł": "PLN"}
_CURRENCY_CODES = {"USD", "EUR", "GBP", "CNY", "RMB", "RUB", "INR", "CAD", "AUD", "MXN", "CHF", "JPY", "PLN", "BTC",
                   "XMR", "ETH", "LTC", "USDT", "TRX", "BCH"}
_NUMBER = re.compile(r"\d[\d\s.,']*")


def parse_price(text: str | None, default_currency: str | None = None) -> tuple[str | None, str | None]:
    """``"0.09925558 BTC"`` -> ("0.09925558", "BTC"); ``"$1,234.50"`` -> ("1234.50", "USD"); ``"12,50 €"``."""
    if not text:
        return None, default_currency
    m = _NUMBER.search(text)
    if m:  # the currency written next to the number read: "฿0.000787 (€7.28)" is BTC
        before, after = text[max(0, m.start() - 4):m.start()].rstrip(), text[m.end():m.end() + 6].lstrip()
        for sym in sorted(_CURRENCY_SYMBOLS, key=len, reverse=True):
            if before.endswith(sym) or after.startswith(sym):
                return _decimal(m.group(0)), _CURRENCY_SYMBOLS[sym]
        code = re.match(r"[A-Za-z]{3,4}\b", after) or re.search(r"\b([A-Za-z]{3,4})$", before)
        if code and code.group(0).upper() in _CURRENCY_CODES:
            word = code.group(0).upper()
            return _decimal(m.group(0)), "CNY" if word == "RMB" else word
    currency = None
    for sym in sorted(_CURRENCY_SYMBOLS, key=len, reverse=True):
        if sym in text:
            currency = _CURRENCY_SYMBOLS[sym]
            break
    if currency is None:
        for word in re.findall(r"[A-Za-z]{3,4}", text):
            if word.upper() in _CURRENCY_CODES:
                currency = "CNY" if word.upper() == "RMB" else word.upper()
                break
    m = _NUMBER.search(text)
    if not m:
        return None, currency or default_currency
    return _decimal(m.group(0)), currency or default_currency


def _decimal(raw: str) -> str | None:
    s = re.sub(r"[\s']", "", raw).rstrip(".,")
    if "," in s and "." in s:
        # the later separator is the decimal one: 1,234.50 / 1.234,50
        if s.rfind(",") > s.rfind("."):
            s = s.replace(".", "").replace(",", ".")
        else:
            s = s.replace(",", "")
    elif "," in s:
        head, _, tail = s.rpartition(",")
        s = s.replace(",", "") if len(tail) == 3 and head else s.replace(",", ".")
    try:
        value = Decimal(s)
    except InvalidOperation:
        return None
    return format(value, "f")  # the digits as shown: "42.00000000" stays, "1,234.50" -> "1234.50"


_DATE_FORMATS = ["%d %b %Y %H:%M", "%d %b %Y, %H:%M", "%d %B %Y %H:%M", "%d %b %Y", "%d %B %Y", "%B %d, %Y",
                 "%b %d, %Y", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y", "%d/%m/%Y",
                 "%Y/%m/%d"]


def parse_datetime(text: str | None) -> str | None:
    """A date as shown (ISO 8601, RFC 822, unix seconds, ``18 Jan 2014 00:13``) -> UTC ISO 8601, else None."""
    if not text:
        return None
    s = text.strip()
    dt: datetime | None = None
    if re.fullmatch(r"\d{9,11}(\.\d+)?", s):
        dt = datetime.fromtimestamp(float(s), UTC)
    if dt is None:
        try:
            dt = parse_iso(s)
        except ValueError:
            dt = None
    if dt is None:
        try:
            dt = parsedate_to_datetime(s)
        except (TypeError, ValueError, IndexError):
            dt = None
    if dt is None:
        for fmt in _DATE_FORMATS:
            try:
                dt = datetime.strptime(s, fmt)
                break
            except ValueError:
                continue
    if dt is None:
        return None
    return utc_iso(dt, timespec="seconds")  # a date without a zone is taken as UTC


def parse_count(text: str | None) -> int | None:
    """``"1.2K"`` -> 1200, ``"3M"`` -> 3000000, ``"12,345"`` -> 12345."""
    if not text:
        return None
    m = re.search(r"(\d+(?:[.,]\d+)?)\s*([KkMm]?)", text.replace("\u202f", "").replace(" ", ""))
    if not m:
        return None
    number, unit = m.group(1), m.group(2).upper()
    if unit:
        return int(Decimal(number.replace(",", ".")) * (1000 if unit == "K" else 1_000_000))
    return int(number.replace(",", "").replace(".", ""))


_CAS = re.compile(r"\b(\d{2,7})-(\d{2})-(\d)\b")


def cas_valid(cas: str) -> bool:
    """CAS Registry Number check digit."""
    m = _CAS.fullmatch(cas)
    if not m:
        return False
    digits = (m.group(1) + m.group(2))[::-1]
    return sum((i + 1) * int(d) for i, d in enumerate(digits)) % 10 == int(m.group(3))


def find_cas(texts: list[str]) -> list[str]:
    """CAS numbers (check digit verified) in the texts, de-duplicated in order."""
    out: dict[str, None] = {}
    for text in texts:
        for m in _CAS.finditer(text):
            if cas_valid(m.group(0)):
                out.setdefault(m.group(0), None)
    return list(out)


# ---------------------------------------------------------------- evidence

# response.meta keys that the evidence/browser middlewares may set; read here so items carry them.
META_FETCHED_AT = "narcowatch_fetched_at"
META_SHA256 = "narcowatch_sha256"
META_WARC_FILE = "narcowatch_warc_file"
META_WARC_RECORD_ID = "narcowatch_warc_record_id"
META_SCREENSHOT = "narcowatch_screenshot"


def evidence_fields(response: Response) -> dict[str, Any]:
    """Fetch time, status and SHA-256 of the raw body (from the evidence middleware's meta when it ran)."""
    meta = _meta(response)
    return {
        "fetched_at": meta.get(META_FETCHED_AT) or _header_date(response),
        "response_sha256": meta.get(META_SHA256) or hashlib.sha256(response.body).hexdigest(),
        "response_status": response.status,
        "warc_file": meta.get(META_WARC_FILE),
        "warc_record_id": meta.get(META_WARC_RECORD_ID),
        "screenshot": meta.get(META_SCREENSHOT),
    }


def _meta(response: Response) -> dict[str, Any]:
    try:
        return response.meta
    except AttributeError:  # a response built without a request (page-object tests)
        return {}


def _header_date(response: Response) -> str:
    raw = response.headers.get(b"Date")
    parsed = parse_datetime(raw.decode("latin-1")) if raw else None
    return parsed or utc_iso(timespec="seconds")


class Page:
    """A page object: a response and the source's configuration; fields are methods."""

    def __init__(self, response: Response, source: SourceBase):
        self.response = response
        self.source = source

    @property
    def url(self) -> str:
        return self.response.url

    def base_item(self, **fields: Any) -> Listing:
        """A Listing with where-it-was-seen and evidence fields set."""
        return Listing(url=fields.pop("url", self.response.url), source=self.source.name,
                       source_kind=self.source.kind, platform=self.source.platform_name,
                       **evidence_fields(self.response), **fields)
