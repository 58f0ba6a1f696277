"""The selector assistant (`narcowatch source suggest`): propose a source block for a result page.

From one page it finds the repeating offer container (elements with the same tag/class path that each hold a
link and some text), lines up the elements inside the rows, and names fields by what their values look like:
prices and currencies, country names (the NLP country table, nlp/data/countries.tsv), vendor-profile links,
dates, view counts, labels such as "Ships from:". Nothing here is fitted to one market.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from lxml import etree
from parsel import Selector

from crawler.pages.base import clean, find_cas, parse_datetime, parse_price, select_values
from crawler.sources.models import SelectorSpec, parse_selector

MAX_TEXT = 400
"""Characters of an element's text looked at (bounds the work per element on hostile pages)."""
MAX_ELEMENTS = 200_000
"""Elements walked per page; the rest of a bigger page is ignored."""
MAX_GROUPS = 40
"""Candidate row groups analysed in full."""
ROW_ELEMENTS = 200
"""Elements an offer row rarely exceeds; bigger rows score lower."""
MAX_ROWS = 150
"""Rows of a group looked at (the first ones); a group's count is still all of its rows."""

_SKIP_TAGS = {"script", "style", "noscript", "head", "meta", "link", "select", "option", "svg", "path", "br",
              "hr", "input", "textarea", "button", "iframe", "template", "title", "map", "area"}

# ---------------------------------------------------------------- value shapes

_CUR_SYM = r"(?:US\$|zł|[$€£¥₽₹฿₿Ƀɱ])"
_CUR_CODE = r"(?:USD|EUR|GBP|CNY|RMB|RUB|INR|CAD|AUD|CHF|JPY|PLN|BTC|XMR|ETH|LTC|USDT|BCH|ZEC|DASH)"
_NUM = r"\d{1,3}(?:[,.' ]\d{3})*(?:[.,]\d{1,8})?|\d+(?:[.,]\d{1,8})?"
PRICE_RX = (rf"(?:{_CUR_SYM}\s?(?:{_NUM})|(?:{_NUM})\s?{_CUR_SYM}|{_CUR_CODE}\s?(?:{_NUM})|(?:{_NUM})\s?{_CUR_CODE})"
            r"(?![\w])")
_PRICE = re.compile(PRICE_RX)
_CAS_RX = re.compile(r"\d{2,7}-\d{2}-\d")
_CODES = "USD|EUR|GBP|CNY|RMB|RUB|INR|CAD|AUD|CHF|JPY|PLN|BTC|XMR|ETH|LTC|USDT|BCH"
PRICE_YAML_RX = (rf"((?:[$€£¥₽฿₿Ƀɱ]|\b(?:{_CODES})\b)\s?\d[\d,.]*|\d[\d,.]*\s?(?:zł|[$€£¥₽฿₿Ƀɱ]|(?:{_CODES})\b))")
"""The price regex written into suggestions: short enough to read, the same shapes as PRICE_RX."""
_MONTHS = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
DATE_RX = (rf"(?:\d{{4}}-\d{{2}}-\d{{2}}(?:[ T]\d{{2}}:\d{{2}}(?::\d{{2}})?)?|\d{{1,2}}[./]\d{{1,2}}[./]\d{{4}}"
           rf"(?: \d{{2}}:\d{{2}})?|{_MONTHS} \d{{1,2}}, \d{{4}}|\d{{1,2}} {_MONTHS},? \d{{4}}(?:,? \d{{2}}:\d{{2}})?)")
_DATE = re.compile(DATE_RX)
COUNT_RX = r"(\d[\d,.]*\s?[KkMm]?)\b"

# label words (lower case) before a value: "Ships from:", "Vendor", "Views"
_LABELS: dict[str, str] = {
    "vendor": r"vendor|seller|sold by|merchant|supplier|dealer|verkäufer|vendeur|продавец",
    "ships_from": r"ships from|ship from|shipping from|shipped from|sent from|dispatch(?:ed)? from|origin|"
                  r"country of origin|location|from",
    "ships_to": r"ships to|ship to|shipping to|shipped to|sent to|ships worldwide to|delivers to|delivery to|"
                r"destinations?|to",
    "price": r"price|buy price|sale price|cost|preis|prix|цена",
    "views": r"views|viewed|hits|visits|просмотры",
    "posted_at": r"created|posted|added|listed|listed on|date|published|since",
    "category": r"category|categories|section|kategorie",
}
_STOP_LABELS = "|".join(w for f in ("ships_from", "ships_to", "price", "vendor", "category")
                       for w in _LABELS[f].split("|") if len(w) >= 5)
_PLACE_RX = rf"([^\W\d_][^:|/\n]{{1,60}}?)(?=\s*(?:$|\||/|\b(?:{_STOP_LABELS})\b|\b\w+\s*:))"
"""A place name after a label, up to the next label, a bar, a slash or the end."""
_NOT_LISTING_DATE = re.compile(r"(?i)member since|joined|last (?:seen|online|login)|registered")
_VENDOR_HREF = re.compile(r"(?i)(?:^|[/?&=._-])(?:u|users?|vendors?|sellers?|profiles?|members?|stores?|shops?|"
                          r"merchants?|suppliers?|u_id|uid|vendor_id|seller_id)(?:$|[/?&=._-])")
_CATEGORY_HREF = re.compile(r"(?i)(?:^|[/?&=._-])(?:c|cat|cats|category|categories|cid|csid|catid|section)"
                            r"(?:$|[/?&=._-]|\d)")
_NEXT_TEXT = re.compile(r"(?i)^\s*(?:next(?: page)?|nächste|weiter|suivant|siguiente|далее|older|more)?\s*"
                        r"(?:›|»|>|>>|→|&gt;)?\s*$")


@lru_cache(maxsize=1)
def _countries() -> Any:
    from pathlib import Path

    import nlp
    from nlp.extractors import CountryTable

    return CountryTable.from_tsv(Path(nlp.__file__).resolve().parent / "data" / "countries.tsv")


_WORD = re.compile(r"[^\W\d_]+(?:['’.-][^\W\d_]+)*", re.UNICODE)
_COUNTRY_FILLER = {"and", "or", "only", "except", "excl", "to", "from", "the", "of", "all", "countries", "country",
                   "ships", "ship", "shipping", "everywhere", "domestic", "no", "not", "world", "international",
                   "worldwide", "wide", "europe", "eu", "european", "union", "rest"}


def country_share(text: str) -> float:
    """The share of the words of ``text`` that name countries (0 when it names none): "US -> US" is 1."""
    table = _countries()
    raw_words = _WORD.findall(text[:MAX_TEXT])
    words = [w.lower() for w in raw_words]
    if not words or len(words) > 25:
        return 0.0
    covered, hits, i = 0, 0, 0
    while i < len(words):
        found = 0
        first = words[i]
        for n in range(min(table.max_len.get(first, 1), len(words) - i), 0, -1):
            if " ".join(words[i:i + n]) in table.by_key:
                found = n
                break
        if found == 0 and len(first) == 2 and raw_words[i].isupper() and first.upper() in table.codes:
            found = 1
        if found:
            covered += found
            hits += 1
            i += found
            continue
        if first in _COUNTRY_FILLER:
            covered += 1
            if first in ("worldwide", "world", "international", "europe", "eu"):
                hits += 1
        i += 1
    return covered / len(words) if hits else 0.0


def is_price(text: str) -> bool:
    return bool(_PRICE.search(text[:MAX_TEXT])) and parse_price(text[:MAX_TEXT])[0] is not None


def is_date(text: str) -> bool:
    m = _DATE.search(text[:MAX_TEXT])
    return m is not None and parse_datetime(m.group(0)) is not None


# ---------------------------------------------------------------- the tree


def _classes(el: Any) -> list[str]:
    """Stable class names (generated ones, with long digit runs, are left out)."""
    out = []
    for c in (el.get("class") or "").split():
        if re.search(r"\d{3,}", c) or len(c) > 40 or not re.fullmatch(r"-?[A-Za-z_][\w-]*", c):
            continue
        out.append(c)
    return sorted(set(out))


def _sig(el: Any) -> str:
    return el.tag + "".join("." + c for c in _classes(el))


def _stable_id(el: Any) -> str | None:
    i = el.get("id")
    if i and re.fullmatch(r"[A-Za-z][\w-]{0,40}", i) and not re.search(r"\d{2,}", i):
        return i
    return None


def _elements(el: Any) -> Any:
    """Element children, comments and processing instructions left out."""
    return (c for c in el if isinstance(c.tag, str))


def _text(el: Any, limit: int = MAX_TEXT) -> str:
    """Text of an element (scripts and comments were stripped at parse), whitespace-collapsed, at most ``limit``
    characters."""
    parts: list[str] = []
    size = 0
    for piece in el.itertext():
        parts.append(piece)
        size += len(piece)
        if size > limit * 3:
            break
    return (clean(" ".join(parts)) or "")[:limit]


def _column_header(el: Any, row: Any) -> str:
    """The ``<th>`` text above the table cell holding ``el`` (rows of a table: "Supplier", "CAS", "Origin")."""
    cell = el
    while cell is not None and cell is not row and cell.tag not in ("td", "th"):
        cell = cell.getparent()
    if cell is None or cell.tag != "td":
        return ""
    tr = cell.getparent()
    table = tr.getparent() if tr is not None else None
    while table is not None and table.tag != "table":
        table = table.getparent()
    if tr is None or table is None:
        return ""
    index = [c for c in tr if c.tag in ("td", "th")].index(cell)
    for head in table.iter("tr"):
        ths = [c for c in head if c.tag == "th"]
        if ths:
            return _text(ths[index], 60) if index < len(ths) else ""
        break
    return ""


def _own_label(el: Any) -> str:
    """The text just before ``el`` inside its parent (or grandparent): where "Vendor:" or "Ships to" stand."""
    for _ in range(2):
        parent = el.getparent()
        if parent is None:
            return ""
        parts = [parent.text or ""]
        for sib in parent:
            if sib is el:
                break
            if isinstance(sib.tag, str):
                parts.append(_text(sib, 80))
            parts.append(sib.tail or "")
        got = clean(" ".join(parts)) or ""
        if got:
            return got[-60:]
        el = parent
    return ""


# ---------------------------------------------------------------- results


@dataclass
class Guess:
    """One proposed selector: how it is written, how sure we are and why."""

    spec: dict[str, str] | str
    confidence: float
    why: str

    @property
    def level(self) -> str:
        return "sure" if self.confidence >= 0.8 else "likely" if self.confidence >= 0.5 else "guess"


@dataclass
class Suggestion:
    """A proposed source block and the offers it reads on the page it came from."""

    rows: Guess | None = None
    row_count: int = 0
    listing: Guess | None = None
    pagination: Guess | None = None
    native_id_regex: Guess | None = None
    fields: dict[str, Guess] = field(default_factory=dict)
    preview: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


FIELD_ORDER = ("title", "price", "vendor", "vendor_url", "ships_from", "ships_to", "category", "views",
               "posted_at", "cas_numbers", "images")


# ---------------------------------------------------------------- row groups


@dataclass
class _Slot:
    path: tuple[str, ...]
    nth: int
    nodes: dict[int, Any] = field(default_factory=dict)
    texts: dict[int, str] = field(default_factory=dict)
    hrefs: dict[int, str] = field(default_factory=dict)
    labels: dict[int, str] = field(default_factory=dict)


def _row_groups(root: Any) -> list[list[Any]]:
    """Candidate offer rows: 2+ elements with the same tag/class path from the root, and 2+ elements of one tag
    under the same parent path (rows whose own class alternates: ``tr.odd``/``tr.even``), page order."""
    groups: dict[tuple[str, ...], list[Any]] = {}
    loose: dict[tuple[str, ...], list[Any]] = {}
    stack: list[tuple[Any, tuple[str, ...]]] = [(root, ())]
    seen = 0
    while stack and seen < MAX_ELEMENTS:
        el, parent_path = stack.pop()
        seen += 1
        if el.tag in _SKIP_TAGS:
            continue
        path = (*parent_path, _sig(el))
        if len(path) > 120:  # nested without end: not a page an analyst reads
            continue
        groups.setdefault(path, []).append(el)
        loose.setdefault((*parent_path, "~" + el.tag), []).append(el)
        kids = list(_elements(el))
        stack.extend((k, path) for k in reversed(kids))
    out = [g for g in groups.values() if len(g) >= 2]
    known = {tuple(id(e) for e in g) for g in out}
    out += [g for g in loose.values() if len(g) >= 2 and tuple(id(e) for e in g) not in known]
    for g in out:
        g.sort(key=_doc_order)
    return out


def _doc_order(el: Any) -> int:
    line = el.sourceline or 0
    return line


def _cheap_score(rows: list[Any]) -> float:
    with_link = sum(1 for r in rows if (r.tag == "a" and r.get("href")) or r.find(".//a[@href]") is not None)
    if with_link < 0.6 * len(rows):
        return 0.0
    texts = [_text(r, 300) for r in rows[:60]]
    if sorted(len(t) for t in texts)[len(texts) // 2] < 10:
        return 0.0
    priced = sum(1 for t in texts if _PRICE.search(t)) / len(texts)
    return len(rows) * (0.5 + priced) * min(1.0, with_link / len(rows))


def _walk(row: Any) -> list[tuple[Any, tuple[str, ...]]]:
    """(element, tag path from the row) for the row's descendants, document order, bounded."""
    out: list[tuple[Any, tuple[str, ...]]] = []
    stack: list[tuple[Any, tuple[str, ...]]] = [(k, ()) for k in reversed(list(_elements(row)))]
    while stack and len(out) < 3000:
        el, parent = stack.pop()
        if el.tag in _SKIP_TAGS:
            continue
        path = (*parent, el.tag)
        out.append((el, path))
        stack.extend((k, path) for k in reversed(list(_elements(el))))
    return out


def _slots(rows: list[Any]) -> list[_Slot]:
    """The elements of the rows lined up: same class path from the row and same occurrence = one slot.
    Classes that differ from row to row at the same place (``gridrow``/``gridalt``) are left out."""
    walks = [_walk(r) for r in rows]
    classes: dict[tuple[tuple[str, ...], int], set[str]] = {}
    for walk in walks:
        counts: Counter[tuple[str, ...]] = Counter()
        for el, tpath in walk:
            key = (tpath, counts[tpath])
            counts[tpath] += 1
            got = set(_classes(el))
            classes[key] = got if key not in classes else classes[key] & got
    slots: dict[tuple[tuple[str, ...], int], _Slot] = {}
    for i, walk in enumerate(walks):
        tcounts: Counter[tuple[str, ...]] = Counter()
        counts2: Counter[tuple[str, ...]] = Counter()
        sig_of: dict[int, str] = {}
        paths: dict[int, tuple[str, ...]] = {}
        for el, tpath in walk:
            key = (tpath, tcounts[tpath])
            tcounts[tpath] += 1
            sig = el.tag + "".join("." + c for c in sorted(classes.get(key, set())))
            sig_of[id(el)] = sig
            parent = el.getparent()
            path = (*paths.get(id(parent), ()), sig)
            paths[id(el)] = path
            nth = counts2[path]
            counts2[path] += 1
            slot = slots.setdefault((path, nth), _Slot(path, nth))
            slot.nodes[i] = el
            slot.texts[i] = _text(el)
            href = el.get("href") if el.tag == "a" else (el.get("src") if el.tag == "img" else None)
            if href:
                slot.hrefs[i] = href.strip()
    return list(slots.values())


# ---------------------------------------------------------------- selectors relative to a row


def _css_step(sig: str) -> str:
    return sig


def _xpath_step(sig: str) -> str:
    tag, *classes = sig.split(".")
    preds = "".join(f"[contains(concat(' ', normalize-space(@class), ' '), ' {c} ')]" for c in classes)
    return tag + preds


def _same_node(a: Any, b: Any) -> bool:
    return a is b or (a is not None and b is not None and a == b)


def _row_selector(rows: list[Any], slot: _Slot, label: str | None = None) -> tuple[dict[str, str] | str, float]:
    """The shortest selector that picks the slot's element first in (nearly) every row; its agreement."""
    n_present = len(slot.nodes)
    cands: list[tuple[str, str, str]] = []  # (how, expression, the same as a relative XPath)
    if label and re.fullmatch(r"[\w .-]{2,30}", label):
        xp = f".//{slot.path[-1].split('.')[0]}[contains(., {_xpath_literal(label)})]"
        cands.append(("xpath", xp, xp))
    token = _href_token(list(slot.hrefs.values())) if slot.path[-1].split(".")[0] == "a" else None
    if token and len(slot.hrefs) >= 0.8 * n_present:
        cands.append(("css", f"a[href*='{token}']", f".//a[contains(@href, '{token}')]"))
    for k in range(1, len(slot.path) + 1):
        cands.append(("css", " > ".join(_css_step(s) for s in slot.path[-k:]),
                      ".//" + "/".join(_xpath_step(s) for s in slot.path[-k:])))
    full = "./" + "/".join(_xpath_step(s) for s in slot.path)
    cands.append(("xpath", full, full))
    best: tuple[dict[str, str] | str, float] | None = None
    for how, expr, as_xpath in cands:
        good = wrong = 0
        index_hits: Counter[int] = Counter()
        for i, row in enumerate(rows):
            sel = Selector(root=row)
            try:
                nodes = [n.root for n in (sel.css(expr) if how == "css" else sel.xpath(expr))]
            except Exception:
                nodes = []
            node = slot.nodes.get(i)
            if node is None:
                wrong += 1 if nodes else 0
                continue
            for j, got in enumerate(nodes):
                if got is node:
                    index_hits[j] += 1
                    break
        if not index_hits:
            continue
        j, good = index_hits.most_common(1)[0]
        agreement = good / max(1, n_present + wrong)
        if j == 0:
            spec: dict[str, str] | str = expr if how == "css" else {"xpath": expr}
        else:
            spec = {"xpath": f"({as_xpath})[{j + 1}]"}
            agreement *= 0.97  # positional: a little less robust
        if best is None or agreement > best[1] + 1e-9:
            best = (spec, agreement)
        if agreement >= 0.97 and j == 0:
            break
    return best or ({"xpath": "./" + "/".join(_xpath_step(s) for s in slot.path)}, 0.0)


def _href_token(hrefs: list[str]) -> str | None:
    """What the links' addresses share before the part that differs: ``user.php?u_id=``, ``/u/``."""
    paths = []
    for h in hrefs:
        parts = urlsplit(h)
        paths.append(parts.path + ("?" + parts.query if parts.query else ""))
    if len(paths) < 2:
        return None
    prefix = paths[0]
    for p in paths[1:]:
        k = 0
        while k < min(len(prefix), len(p)) and prefix[k] == p[k]:
            k += 1
        prefix = prefix[:k]
    cut = max(prefix.rfind(c) for c in "/=?&.")
    prefix = prefix[:cut + 1] if cut >= 0 else ""
    token = prefix.lstrip("/.") if len(prefix.strip("/.")) >= 2 else ""
    if prefix.startswith("/") and "/" in prefix[1:]:
        token = prefix  # "/u/": keep the slashes that make it specific
    if len(token.strip("/")) < 1 or not re.fullmatch(r"[\w/.?=&%~+-]{2,60}", token) or token in ("/", "?"):
        return None
    return token


def _css_to_rel_xpath(css: str) -> str:
    from parsel.csstranslator import HTMLTranslator

    return HTMLTranslator().css_to_xpath(css, prefix="descendant-or-self::").replace(
        "descendant-or-self::", ".//", 1)


def _with(spec: dict[str, str] | str, **extra: str) -> dict[str, str] | str:
    if not extra:
        return spec
    base = {"css": spec} if isinstance(spec, str) else dict(spec)
    base.update(extra)
    return base


# ---------------------------------------------------------------- field recognition


def _fill(slot: _Slot, n: int) -> float:
    return len(slot.nodes) / max(1, n)


def _distinct(values: list[str]) -> float:
    return len(set(values)) / max(1, len(values))


def _labelled(slot: _Slot, field_name: str) -> float:
    rx = re.compile(rf"(?i)(?:^|\W)(?:{_LABELS[field_name]})\s*:?\s*$")
    hits = sum(1 for lab in slot.labels.values() if rx.search(lab))
    return hits / max(1, len(slot.nodes))


def _inline_regex(slot: _Slot, field_name: str, value_rx: str) -> tuple[str, float, str] | None:
    """``Label: value`` inside the slot's own text: a regex reading the value after the label, and its fill.
    Short labels ("to", "from", "date") count only with a colon: "add to cart" is no destination."""
    rx = re.compile(rf"(?i)(?<![\w])({_LABELS[field_name]})(\s*:)?\s*(?:{value_rx})")
    found: Counter[tuple[str, bool]] = Counter()
    for text in slot.texts.values():
        for m in rx.finditer(text):
            colon = m.group(2) is not None
            if colon or len(m.group(1)) >= 5:
                found[(m.group(1), colon)] += 1
                break
    if not found:
        return None
    (label, colon), hits = found.most_common(1)[0]
    sep = r"\s*:" if colon else r"\s*:?"
    return rf"(?i){_escape(label)}{sep}\s*{value_rx}", hits / max(1, len(slot.texts)), label


def _escape(text: str) -> str:
    """re.escape, leaving spaces readable."""
    return re.escape(text).replace("\\ ", " ")


@dataclass
class _Cand:
    field: str
    slot: _Slot
    score: float
    why: str
    regex: str | None = None
    join: str | None = None
    label: str | None = None


def _analyse(rows: list[Any], examples: list[str]) -> tuple[dict[str, Guess], float, list[_Slot], _Slot | None]:
    """Fields found in a row group; the group's score."""
    total = len(rows)
    rows = rows[:MAX_ROWS]
    n = len(rows)
    slots = [s for s in _slots(rows) if _fill(s, n) >= 0.3]
    for s in slots:
        for i, node in s.nodes.items():
            header = _column_header(node, rows[i]) if node.tag == "td" or node.getparent().tag == "td" else ""
            s.labels[i] = header or _own_label(node)
    cands: list[_Cand] = []
    ex_norm = [clean(e.lower()) or "" for e in examples if e.strip()]
    for s in slots:
        texts = list(s.texts.values())
        if not texts:
            continue
        fill = _fill(s, n)
        avg = sum(len(t) for t in texts) / len(texts)
        leaf_tag = s.path[-1].split(".")[0]
        is_link = leaf_tag == "a" and len(s.hrefs) >= 0.8 * len(s.nodes)
        pricey = sum(1 for t in texts if is_price(t)) / len(texts)
        datey = sum(1 for t in texts if is_date(t)) / len(texts)
        countryish = sum(1 for t in texts if country_share(t) >= 0.6) / len(texts)
        numeric = sum(1 for t in texts if re.fullmatch(r"[\W\d_]*", t)) / len(texts)
        distinct = _distinct(texts)
        # -- title: a distinct, longish text, best a link to a page of its own
        if avg >= 8 and distinct >= 0.6 and pricey < 0.5 and datey < 0.5 and numeric < 0.3 and countryish < 0.5:
            score = fill * distinct * (min(avg, 80) / 80 + (1.0 if is_link else 0.0))
            if is_link:
                hrefs = list(s.hrefs.values())
                # (the address's path and query: a host named "shop.example" is no profile link)
                if _distinct(hrefs) < 0.6 or sum(1 for h in hrefs if _VENDOR_HREF.search(
                        urlsplit(h).path + "?" + urlsplit(h).query)) > 0.5 * len(hrefs):
                    score *= 0.3
            if leaf_tag in ("h1", "h2", "h3", "h4", "h5", "h6") or "title" in s.path[-1] or "name" in s.path[-1]:
                score += 0.3 * fill
            if ex_norm and any(e in t.lower() for t in texts for e in ex_norm):
                score += 3.0
            cands.append(_Cand("title", s, score, f"{'link text, ' if is_link else ''}distinct in "
                                                  f"{distinct:.0%} of rows, {avg:.0f} chars on average"))
        # -- vendor: a short name behind a profile link or a "Vendor:" label
        label_v = _labelled(s, "vendor")
        vend_href = sum(1 for h in s.hrefs.values() if _VENDOR_HREF.search(urlsplit(h).path + "?" +
                                                                           urlsplit(h).query)) / len(texts)
        short = sum(1 for t in texts if 1 <= len(t) <= 40 and len(t.split()) <= 3) / len(texts)
        if label_v >= 0.5:  # a labelled seller may be a company name: "Hubei Kangsheng Biotech Co. Ltd"
            short = sum(1 for t in texts if 1 <= len(t) <= 80 and len(t.split()) <= 8) / len(texts)
        if (vend_href >= 0.5 or label_v >= 0.5) and short >= 0.6 and pricey < 0.3:
            score = fill * short * (1.5 * vend_href + 1.5 * label_v + (0.3 if distinct < 1 else 0))
            why = ("profile links" if vend_href >= 0.5 else "") + (" after a seller label" if label_v >= 0.5 else "")
            cands.append(_Cand("vendor", s, score, why.strip()))
        # -- price: a number with a currency
        if pricey >= 0.5:
            tight = sum(len(m.group(0)) / max(1, len(t)) for t in texts if (m := _PRICE.search(t)))
            score = fill * pricey * (0.5 + tight / len(texts)) + 0.5 * _labelled(s, "price")
            regex = None if tight / len(texts) > 0.9 and pricey > 0.95 else PRICE_YAML_RX
            cands.append(_Cand("price", s, score, f"a number with a currency in {pricey:.0%} of rows", regex))
        # -- ships from / to: country names
        if countryish >= 0.5:
            lf, lt = _labelled(s, "ships_from"), _labelled(s, "ships_to")
            arrows = sum(1 for t in texts if re.search(r"→|->|=>|»|⇒", t)) / len(texts)
            if arrows >= 0.5:
                cands.append(_Cand("ships_from", s, fill * countryish + 0.5, "countries before an arrow",
                                   regex=r"^(.+?)\s*(?:→|->|=>|»|⇒)"))
                cands.append(_Cand("ships_to", s, fill * countryish + 0.5, "countries after an arrow",
                                   regex=r"(?:→|->|=>|»|⇒)\s*(.+)$"))
            else:
                said_from = sum(1 for t in texts if re.search(rf"(?i)\b(?:{_LABELS['ships_from']})\s*:", t))
                said_to = sum(1 for t in texts if re.search(rf"(?i)\b(?:{_LABELS['ships_to']})\s*:", t))
                if max(said_from, said_to) >= 0.5 * len(texts):
                    lf = lt = -1.0  # "Ships from: X" inside the element: the label regexes below read it
                if lf >= 0.5 or (lt < 0.5 and lf >= 0):
                    cands.append(_Cand("ships_from", s, fill * countryish * (0.6 + lf),
                                       "country names" + (" after a from label" if lf >= 0.5 else "")))
                if lt >= 0.5 or (lf < 0.5 and lt >= 0):
                    cands.append(_Cand("ships_to", s, fill * countryish * (0.55 + lt),
                                       "country names" + (" after a to label" if lt >= 0.5 else "")))
        for fname in ("ships_from", "ships_to"):
            got = _inline_regex(s, fname, _PLACE_RX)
            if got and got[1] >= 0.5:
                values = [m.group(1) for t in texts if (m := re.search(got[0], t))]
                if values and sum(1 for v in values if country_share(v) >= 0.5) >= 0.5 * len(values):
                    cands.append(_Cand(fname, s, fill * got[1] * 0.9 - len(texts[0]) / 5000,
                                       "country names after a label", got[0], label=got[2]))
        # -- views: a count after a label
        got = _inline_regex(s, "views", COUNT_RX)
        if got and got[1] >= 0.5:
            cands.append(_Cand("views", s, fill * got[1] - avg / 10000, "a number after a views label", got[0],
                               label=got[2]))
        if _labelled(s, "views") >= 0.5 and numeric >= 0.8:
            cands.append(_Cand("views", s, fill * 1.05, "a number after a views label"))
        # -- dates
        if datey >= 0.5 and not any(_NOT_LISTING_DATE.search(t + " " + s.labels.get(i, ""))
                                    for i, t in s.texts.items()):
            dtight = sum(1 for t in texts if _DATE.fullmatch(t)) / len(texts)
            regex = None if dtight > 0.95 else f"({DATE_RX})"
            lab = max(_labelled(s, "posted_at"), 0.0)
            cands.append(_Cand("posted_at", s, fill * datey * (0.6 + 0.4 * dtight + lab), "dates", regex))
        # -- category: repeated short link texts behind category-like links, or after a label
        cat_href = sum(1 for h in s.hrefs.values() if _CATEGORY_HREF.search(h)) / len(texts)
        if is_link and (cat_href >= 0.6 or _labelled(s, "category") >= 0.5) and distinct < 0.9 and short >= 0.6:
            cands.append(_Cand("category", s, fill * (cat_href + _labelled(s, "category")), "category links"))
        # -- CAS registry numbers (check digit verified)
        casy = sum(1 for t in texts if find_cas([t])) / len(texts)
        if casy >= 0.5:
            tight = sum(1 for t in texts if _CAS_RX.fullmatch(t)) / len(texts)
            cands.append(_Cand("cas_numbers", s, fill * casy * (0.7 + 0.3 * tight), "CAS numbers (check digit right)",
                               None if tight > 0.95 else r"(\d{2,7}-\d{2}-\d)"))
        # -- images
        if leaf_tag == "img" and len(s.hrefs) >= 0.5 * len(s.nodes):
            http = [h for h in s.hrefs.values() if not h.startswith("data:")]
            if http:
                cands.append(_Cand("images", s, fill * len(http) / len(s.hrefs), "images"))
    # "Shipped From X Shipped To Y": each place stops at the other label seen on this page (not the whole list)
    for c in cands:
        if c.regex and _PLACE_RX in c.regex:
            others = sorted({_escape(o.label) for o in cands if o.slot is c.slot and o.label and o is not c
                             and o.field in ("ships_from", "ships_to")})
            stop = "".join(f"|{o}" for o in others)
            c.regex = c.regex.replace(_PLACE_RX, rf"([^\W\d_][^:|/\n]{{1,60}}?)(?=\s*(?:$|\||/{stop}|\b\w+\s*:))")
    return _choose(rows, cands, slots, total)


def _choose(rows: list[Any], cands: list[_Cand], slots: list[_Slot], total: int
            ) -> tuple[dict[str, Guess], float, list[_Slot], _Slot | None]:
    n = len(rows)
    chosen: dict[str, _Cand] = {}
    used: set[int] = set()
    order = ["title", "price", "vendor", "ships_from", "ships_to", "views", "posted_at", "category", "cas_numbers",
             "images"]
    for fname in order:
        best = None
        for c in sorted((c for c in cands if c.field == fname), key=lambda c: -c.score):
            if id(c.slot) in used and c.regex is None:
                continue
            if fname == "ships_to" and "ships_from" in chosen and chosen["ships_from"].slot is c.slot \
                    and chosen["ships_from"].regex == c.regex:
                continue
            best = c
            break
        if best is not None and best.score > 0.05:
            chosen[fname] = best
            if best.regex is None:
                used.add(id(best.slot))
    title = chosen.get("title")
    if title is None:
        return {}, 0.0, slots, None
    # several category links in a row ("Drugs / Opiates"): all of them, joined
    if "category" in chosen:
        cat = chosen["category"]
        siblings = [s for s in slots if s.path == cat.slot.path]
        if len(siblings) > 1 and cat.slot.nth == 0:
            cat.join = " / "
    guesses: dict[str, Guess] = {}
    for fname, c in chosen.items():
        spec, agreement = _row_selector(rows, c.slot, c.label)
        if c.regex and isinstance(spec, dict) and spec.get("xpath", "").startswith("("):
            # a positional pick ("the 2nd span"): the parent's text read through the regex is sturdier
            parent = _Slot(c.slot.path[:-1], 0, {i: nd.getparent() for i, nd in c.slot.nodes.items()})
            rx = re.compile(c.regex)
            same = sum(1 for i, nd in c.slot.nodes.items()
                       if (a := rx.search(_text(nd))) and (b := rx.search(_text(nd.getparent())))
                       and a.group(0) == b.group(0))
            if parent.path and same >= 0.95 * len(c.slot.nodes):
                pspec, pagree = _row_selector(rows, parent)
                if pagree >= agreement - 0.05 and not (isinstance(pspec, dict) and
                                                      pspec.get("xpath", "").startswith("(")):
                    spec, agreement = pspec, pagree
        if c.join:
            spec = _with(spec, join=c.join)
        if c.regex:
            spec = _with(spec, regex=c.regex)
        conf = min(1.0, agreement * min(1.0, c.score) * (_fill(c.slot, n) ** 0.5))
        if fname == "title" and c.score >= 3:
            conf = max(conf, 0.9)
        guesses[fname] = Guess(spec, round(conf, 2), f"{c.why}; {len(c.slot.nodes)}/{n} rows")
        if fname == "vendor" and c.slot.hrefs and c.regex is None:
            guesses["vendor_url"] = Guess(spec, guesses["vendor"].confidence, "the vendor link's href")
    extra = sum(min(1.0, c.score) for f, c in chosen.items() if f not in ("title", "images"))
    score = len(title.slot.nodes) * (total / n) * min(1.5, title.score) * (0.1 + extra) ** 1.5
    # an offer is a small subtree: page-sized "rows" (a layout's two columns) are unlikely offers
    size = sum(min(2000, sum(1 for _ in r.iter())) for r in rows) / n
    score *= min(1.0, ROW_ELEMENTS / size) ** 0.5
    link = title.slot if title.slot.hrefs else None
    if link is None:
        link_slots = [s for s in slots if s.path[-1].split(".")[0] == "a" and _distinct(list(s.hrefs.values())) > 0.8
                      and len(s.hrefs) >= 0.8 * n]
        link = link_slots[0] if link_slots else None
    return guesses, score, slots, link


# ---------------------------------------------------------------- links and ids


def native_id_regex(hrefs: list[str]) -> str | None:
    """A regex with one group reading a distinct id from each of the hrefs (``/product/(\\d+)``, ``ls_id=(\\d+)``)."""
    hrefs = [h for h in hrefs if h][:200]
    if len(hrefs) < 2:
        return None
    paths = [(urlsplit(h).path + ("?" + urlsplit(h).query if urlsplit(h).query else "")) for h in hrefs]
    token = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|\d+|[\w-]+")
    for i in range(12):
        parts = []
        for p in paths:
            toks = list(token.finditer(p))
            if i >= len(toks):
                break
            parts.append((p[:toks[i].start()], toks[i].group(0)))
        if len(parts) < len(paths):
            break
        values = [v for _, v in parts]
        if len(set(values)) < 0.9 * len(values):
            continue
        prefixes = {pre[-12:] for pre, _ in parts}
        tail = _common_suffix([pre for pre, _ in parts])
        pieces = re.split(r"(?<=[/?&=])", tail)
        lit = "".join(pieces[-2:]) if len(pieces) >= 2 else "".join(pieces)
        if not lit or not prefixes:
            continue
        if all(v.isdigit() for v in values):
            group = r"(\d+)"
        elif all(re.fullmatch(r"[0-9a-fA-F-]{36}", v) for v in values):
            group = r"([0-9a-fA-F-]{36})"
        else:
            group = r"([\w-]+)"
        rx = re.escape(lit).replace("/", "/") + group
        got = [m.group(1) for h in hrefs if (m := re.search(rx, h))]
        if len(got) == len(hrefs) and len(set(got)) >= 0.9 * len(got):
            return rx
    return None


def _common_suffix(items: list[str]) -> str:
    if not items:
        return ""
    s = items[0]
    for other in items[1:]:
        k = 0
        while k < min(len(s), len(other)) and s[-1 - k] == other[-1 - k]:
            k += 1
        s = s[len(s) - k:]
    return s


def _pagination(sel: Selector, rows: list[Any]) -> Guess | None:
    """Next-page links: rel=next, a "Next"/"»" link, else the numbered page links."""
    row_ids = {id(r) for r in rows}  # the rows are alive, so their lxml proxies (and ids) are stable
    links = [a for a in sel.root.iter("a")
             if a.get("href") and id(a) not in row_ids and not any(id(p) in row_ids for p in a.iterancestors())]
    for a in links:
        if "next" in (a.get("rel") or "").lower().split():
            return Guess("a[rel~=next]", 0.9, "a link marked rel=next")
    for a in links:
        text = _text(a, 40)
        if text and _NEXT_TEXT.fullmatch(text) and not a.get("href", "").startswith(("#", "javascript:")):
            cls = _classes(a)
            if cls:
                return Guess("a." + ".".join(cls), 0.7, f"a link reading {text!r}")
            return Guess({"xpath": f"//a[normalize-space(.)={_xpath_literal(text)}]"}, 0.7, f"a link reading {text!r}")
    # numbered pages: links whose text is a small number and whose href carries that number in one parameter
    params: Counter[str] = Counter()
    for a in links:
        text = _text(a, 10)
        if re.fullmatch(r"\d{1,4}", text or ""):
            href = a.get("href") or ""
            m = re.search(rf"(?:^|[?&/])([A-Za-z_]*(?:page|pg|p|pn|offset|start)[A-Za-z_]*)[=/]{text}(?:$|[&/#])", href)
            if m:
                params[m.group(1)] += 1
    if params:
        name, hits = params.most_common(1)[0]
        if hits >= 2:
            return Guess(f"a[href*='{name}=']", 0.5, f"{hits} numbered page links with {name}=N (all are followed, "
                                                       "each page once)")
    return None


def _xpath_literal(text: str) -> str:
    return f"'{text}'" if "'" not in text else f'"{text}"'


def _rows_selector(root: Any, rows: list[Any]) -> tuple[str, float]:
    """The shortest CSS selector that matches exactly the rows (or the fewest extra elements) on the page."""
    chain = []
    el = rows[0]
    while el is not None and isinstance(el.tag, str):
        chain.append(el)
        el = el.getparent()
    sel = Selector(root=root)
    wanted = {id(r) for r in rows}
    best: tuple[str, float] | None = None
    steps: list[str] = []
    for depth, anc in enumerate(chain):
        sid = _stable_id(anc) if depth > 0 else None
        steps.insert(0, f"#{sid}" if sid else _sig(anc))
        for expr in ([" > ".join(steps)] if len(steps) > 1 else [steps[0]]) + (
                [f"{steps[0]} {_sig(rows[0])}"] if len(steps) > 2 else []):
            try:
                got = [n.root for n in sel.css(expr)]
            except Exception:
                continue
            hit = sum(1 for g in got if id(g) in wanted)
            score = hit / max(len(got), len(rows))
            if best is None or score > best[1] + 1e-9:
                best = (expr, score)
            if score >= 0.999:
                return best
        if sid:
            break
    return best or (_sig(rows[0]), 0.0)


# ---------------------------------------------------------------- the assistant


def page_response(html: str | bytes, url: str) -> Any:
    """A Scrapy ``HtmlResponse`` for a page given as text (read as UTF-8) or bytes (its declaration decides)."""
    from scrapy.http import HtmlResponse

    body = html.encode("utf-8") if isinstance(html, str) else html
    return HtmlResponse(url=url, body=body, encoding="utf-8" if isinstance(html, str) else None)


def suggest(html: str | bytes, url: str = "http://example.invalid/", examples: list[str] | None = None,
            preview: int = 10) -> Suggestion:
    """Propose ``listing_rows``, links and fields for the result page ``html`` (read from ``url``)."""
    response = page_response(html, url)
    out = Suggestion()
    try:
        root = response.selector.root
    except (ValueError, etree.ParserError) as exc:
        out.notes.append(f"the page could not be parsed: {exc}")
        return out
    if root is not None:
        etree.strip_elements(root, etree.Comment, "script", "style", "noscript", "template", with_tail=False)
    body_el = root.find(".//body") if root is not None else None
    if body_el is None:
        body_el = root
    if body_el is None:
        out.notes.append("the page is empty")
        return out
    examples = examples or []
    groups = [g for g in _row_groups(body_el) if _cheap_score(g) > 0]
    groups.sort(key=_cheap_score, reverse=True)
    tries = [groups[:MAX_GROUPS]]
    if examples:  # rows holding a known title come first; the others only if none of those has offers
        ex = [clean(e.lower()) or "" for e in examples]
        anchored = [g for g in groups if any(e in _text(r, 2000).lower() for r in g for e in ex)]
        tries.insert(0, anchored[:MAX_GROUPS])
    best: tuple[float, list[Any], dict[str, Guess], _Slot | None] | None = None
    for candidates in tries:
        for g in candidates:
            guesses, score, _, link = _analyse(g, examples)
            if guesses and (best is None or score > best[0]):
                best = (score, g, guesses, link)
        if best is not None:
            break
    if best is None or not best[2]:
        out.notes.append("no repeating offer rows found: is this a result page (many offers)?")
        return out
    score, rows, guesses, link = best
    expr, exact = _rows_selector(root, rows)
    out.rows = Guess(expr, round(min(1.0, exact * min(1.0, score / (3 * len(rows)))), 2),
                     f"{len(rows)} repeated elements with the same tag/class path, each with a title")
    out.row_count = len(rows)
    if len(rows) <= 3:
        out.notes.append(f"only {len(rows)} repeated elements: if this is one offer's own page, use --listing-page")
    out.fields = {f: guesses[f] for f in FIELD_ORDER if f in guesses}
    if link is not None:
        spec, agreement = _row_selector(rows[:MAX_ROWS], link)
        out.listing = Guess(spec, round(agreement, 2), "the link to each offer's own page")
        rx = native_id_regex(list(link.hrefs.values()))
        if rx:
            out.native_id_regex = Guess(rx, 0.8, "the part of the offer link that differs row by row")
    out.pagination = _pagination(response.selector, rows)
    if out.pagination is None:
        out.notes.append("no next-page link recognised: add links.pagination by hand if the results go on")
    for fname in ("price", "vendor", "ships_from", "ships_to"):
        if fname not in out.fields:
            out.notes.append(f"no {fname} recognised")
    out.preview = apply(response, out, limit=preview)
    return out


def _spec(g: Guess | None) -> SelectorSpec | None:
    return None if g is None else SelectorSpec.model_validate(parse_selector(g.spec))


def apply(response: Any, s: Suggestion, limit: int | None = None) -> list[dict[str, Any]]:
    """Read the (first ``limit``) suggested rows of ``response`` the way a ``listing_rows`` source reads them."""
    from crawler.pages.base import absolute_links

    rows_spec = _spec(s.rows)
    if rows_spec is None:
        return []
    sel = response.selector
    nodes = sel.css(rows_spec.css) if rows_spec.css is not None else sel.xpath(rows_spec.xpath or "")
    specs = {f: _spec(g) for f, g in s.fields.items()}
    link = _spec(s.listing)
    out: list[dict[str, Any]] = []
    for node in nodes:
        if limit is not None and len(out) >= limit:
            break
        row: dict[str, Any] = {}
        if link is not None:
            urls = absolute_links(response, node, [link])
            row["url"] = urls[0] if urls else None
        for fname, spec in specs.items():
            if fname in ("vendor_url", "images"):
                urls = absolute_links(response, node, [spec]) if spec is not None else []
                row[fname] = urls[0] if urls else None
                continue
            values = select_values(node, spec)
            if fname == "category" and spec is not None and spec.join is None:
                row[fname] = " / ".join(values) or None
            else:
                row[fname] = values[0] if values else None
        if row.get("title"):  # as the crawler: a row without a title is no listing (listing_must_have)
            out.append(row)
    return out


# ---------------------------------------------------------------- output


def _yaml_scalar(value: str) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def _yaml_spec(spec: dict[str, str] | str) -> str:
    if isinstance(spec, str):
        return _yaml_scalar(spec)
    return "{" + ", ".join(f"{k}: {_yaml_scalar(v)}" for k, v in spec.items()) + "}"


def to_yaml(s: Suggestion, name: str = "suggested", start_url: str | None = None, kind: str = "market",
            page: str = "") -> str:
    """The suggestion as a ``sources:`` file, with a comment on how sure each selector is."""
    lines = [f"# narcowatch source suggest {page}".rstrip(),
             f"# {s.row_count} offer rows found. sure >= 0.8 > likely >= 0.5 > guess; check every 'guess'.",
             "# Try it before saving: narcowatch source try THIS_FILE.yaml --url URL"]
    lines += [f"# note: {n}" for n in s.notes]
    lines += ["sources:", f"  - name: {name}", f"    kind: {kind}"]
    if start_url:
        lines.append(f"    start_urls: [{_yaml_scalar(start_url)}]")
        if _loopback_only((urlsplit(start_url).hostname or "").lower()):
            lines.append("    allow_private_addresses: true   # the page is on this machine (local test sites only)")
    else:
        lines.append('    start_urls: ["https://CHANGE-ME.example/"]   # the result page\'s address')
    if s.rows is not None:
        lines.append(f"    listing_rows: {_yaml_spec(s.rows.spec)}   # {s.rows.level} ({s.rows.confidence:.2f}): "
                     f"{s.rows.why}")
    link_lines = []
    if s.listing is not None:
        link_lines.append(f"      listing: {_yaml_spec(s.listing.spec)}   # {s.listing.level} "
                          f"({s.listing.confidence:.2f}): {s.listing.why}")
    if s.pagination is not None:
        link_lines.append(f"      pagination: {_yaml_spec(s.pagination.spec)}   # {s.pagination.level} "
                          f"({s.pagination.confidence:.2f}): {s.pagination.why}")
    if s.native_id_regex is not None:
        link_lines.append(f"      native_id_regex: {_yaml_scalar(str(s.native_id_regex.spec))}   # "
                          f"{s.native_id_regex.level}: {s.native_id_regex.why}")
    if link_lines:
        lines += ["    links:", *link_lines]
    lines.append("    fields:")
    for fname, g in _kind_fields(s, kind).items():
        lines.append(f"      {fname}: {_yaml_spec(g.spec)}   # {g.level} ({g.confidence:.2f}): {g.why}")
    return "\n".join(lines) + "\n"


def _kind_fields(s: Suggestion, kind: str) -> dict[str, Guess]:
    """The fields, plus what the kind requires: b2b_chemicals needs cas_numbers (else read from the title)."""
    fields = dict(s.fields)
    if kind == "b2b_chemicals" and "cas_numbers" not in fields and "title" in fields:
        fields["cas_numbers"] = Guess(_with(fields["title"].spec, regex=r"(\d{2,7}-\d{2}-\d)"), 0.2,
                                      "no CAS column found: numbers in the title, if any")
    return fields


def source_dict(s: Suggestion, name: str = "suggested", start_url: str = "https://change-me.example/",
                kind: str = "market") -> dict[str, Any]:
    """The suggestion as the mapping the config loader validates."""
    src: dict[str, Any] = {"name": name, "kind": kind, "start_urls": [start_url]}
    if s.rows is not None:
        src["listing_rows"] = s.rows.spec
    links: dict[str, Any] = {}
    if s.listing is not None:
        links["listing"] = s.listing.spec
    if s.pagination is not None:
        links["pagination"] = s.pagination.spec
    if s.native_id_regex is not None:
        links["native_id_regex"] = s.native_id_regex.spec
    src["links"] = links
    src["fields"] = {f: g.spec for f, g in _kind_fields(s, kind).items()}
    return src


# ---------------------------------------------------------------- reading the page


class PageRefused(Exception):
    """A page the assistant will not read: a host not allowed, too big, not HTML."""


MAX_PAGE_BYTES = 10 * 1024 * 1024


def _loopback_only(host: str) -> bool:
    """``localhost`` or a loopback IP literal (no name is resolved: a lookup is traffic, and names can lie)."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False


def fetch_page(url: str, allow_hosts: tuple[str, ...] = (), max_bytes: int = MAX_PAGE_BYTES,
               timeout: float = 30.0, max_redirects: int = 3) -> tuple[str, bytes]:
    """GET one page: only http(s), only loopback hosts or those in ``allow_hosts`` (each redirect checked the
    same way), at most ``max_bytes``, no environment proxies. Returns the final URL and the body."""
    import urllib.error
    import urllib.request

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)
    for _ in range(max_redirects + 1):
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host:
            raise PageRefused(f"{url}: not an http(s) URL")
        if host not in {h.lower() for h in allow_hosts} and not _loopback_only(host):
            raise PageRefused(f"{url}: {host} is not a loopback address; read only pages on this machine or "
                              f"hosts named with --allow-host (or save the page and give its file)")
        request = urllib.request.Request(url, headers={"User-Agent": "narcowatch-suggest"})
        try:
            with opener.open(request, timeout=timeout) as resp:
                body = resp.read(max_bytes + 1)
        except urllib.error.HTTPError as exc:
            if exc.code in (301, 302, 303, 307, 308) and exc.headers.get("Location"):
                from urllib.parse import urljoin

                url = urljoin(url, exc.headers["Location"])
                continue
            raise PageRefused(f"{url}: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise PageRefused(f"{url}: {exc}") from None
        if len(body) > max_bytes:
            raise PageRefused(f"{url}: bigger than {max_bytes} bytes")
        return url, body
    raise PageRefused(f"{url}: more than {max_redirects} redirects")


_DECLARED_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.I)


def saved_page_text(body: bytes) -> str | bytes:
    """A saved file's bytes as the page showed them.

    Browsers' "save page" writes UTF-8 but keeps the page's own ``<meta charset>``, so saved market pages
    often declare ISO-8859-1 or windows-1252 over UTF-8 bytes (the Dream Market pages in
    tests/fixtures/real_pages): read by the declaration, every non-ASCII character comes out garbled.
    Bytes that are valid UTF-8 and hold a multi-byte sequence are read as UTF-8 whatever the page declares
    (text in a single-byte encoding almost never forms valid UTF-8 sequences); anything else is left to
    the declaration, as a browser would. Only for files: a fetched page's HTTP header decides.
    """
    if body.isascii():
        return body
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return body
    declared = _DECLARED_CHARSET.search(body[:4096])
    if declared is None or declared.group(1).decode("ascii").lower().replace("_", "-") in ("utf-8", "utf8"):
        return body
    return text


def read_page(page: str, allow_hosts: tuple[str, ...] = (),
              max_bytes: int = MAX_PAGE_BYTES) -> tuple[str | None, bytes]:
    """A saved file or a URL -> (its URL or None, its bytes)."""
    from pathlib import Path

    if re.match(r"(?i)^https?://", page):
        return fetch_page(page, allow_hosts, max_bytes)
    path = Path(page)
    try:
        with path.open("rb") as fh:
            body = fh.read(max_bytes + 1)
    except OSError as exc:
        raise PageRefused(f"{page}: cannot read: {exc.strerror or exc}") from None
    if len(body) > max_bytes:
        raise PageRefused(f"{page}: bigger than {max_bytes} bytes")
    return None, body
