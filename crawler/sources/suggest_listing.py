"""The selector assistant for one listing page (``narcowatch source suggest --listing-page``).

Where ``suggest`` looks for repeating offer rows on a result page, this reads one offer's own page: the title from
the heading the page's ``<title>`` repeats (else the ``<title>`` without the site's name), and the facts a market
prints as label/value pairs (crawler/pages/labels.py) by their label words: "Ships from", "Origin Country",
"Ship to", "Price", "Sold by", "Vendor", "In stock", "Quantity left"... Each proposed field is a ``label``
selector (with a regex where the value needs cutting), so it reads every page of the site that uses the same
words, whatever its markup. Nothing here is fitted to one market.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from crawler.pages.labels import label_pairs, norm_label, text_of
from crawler.sources.suggest import PRICE_YAML_RX, Guess, Suggestion, country_share, is_price, page_response

# label words per field (normalised: lower case, no colon); the first value that looks right wins
LABELS: dict[str, tuple[str, ...]] = {
    "ships_from": ("ships from", "ship from", "shipping from", "shipped from", "ships out from", "sent from",
                   "dispatch from", "dispatched from", "dispatches from", "origin", "origin country",
                   "country of origin", "product origin", "location", "vendor location", "item location",
                   "shipping origin", "from country"),
    "ships_to": ("ships to", "ship to", "shipping to", "shipped to", "sends to", "delivers to", "delivery to",
                 "deliver to", "destination", "destinations", "shipping destinations", "destination countries",
                 "ships worldwide to", "delivery area", "shipping area"),
    "price": ("price", "sale price", "purchase price", "buy price", "unit price", "our price", "cost",
              "price per unit", "listing price"),
    "vendor": ("vendor", "seller", "sold by", "merchant", "supplier", "dealer", "offered by", "listed by",
               "vendor name", "seller name", "shop"),
    "stock": ("in stock", "stock", "quantity left", "quantity available", "available", "availability",
              "items available", "qty available", "items left", "left in stock", "quantity in stock", "quantity"),
    "category": ("category", "categories", "product category"),
}
ALL_LABELS = {w for words in LABELS.values() for w in words} | {
    "escrow", "payment", "payments", "product class", "listing type", "class", "escrow type", "fe or escrow",
    "accepted payments", "views", "sold", "sales", "feedback", "rating", "verifications", "ends in", "shipping",
    "shipping options", "postage options", "quantity", "qty", "description", "terms", "refund policy"}

_WORLD = re.compile(r"(?i)\b(?:world ?wide|world|international|everywhere|any ?where|europe|european union|eu|asia|"
                    r"africa|north america|south america|oceania|scandinavia|domestic)\b")
_ARROW = re.compile(r"\s*(?:→|->|⇒|➜|=>)\s*")
_STOCK = re.compile(r"(?i)\d|unlimited|out of stock|sold out|in stock")
_STOCK_AFTER = re.compile(r"(?i)^(\d[\d,.]*)\s*(?:items?\s+|units?\s+|pcs\.?\s+)?(?:in stock|available|left)\b")
_SITE_WORDS = re.compile(r"(?i)\b(?:market|marketplace|shop|store|bazaar|emporium|pharmacy|drugmarket|forum)\b")
_GENERIC_TITLE = re.compile(r"(?i)^(?=\S)(?:view |show )?(?:product|item|listing|offer|article)?\s*(?:details?|info|"
                            r"information|page|view)?$")
_SEPARATORS = (" - ", " | ", " :: ", " — ", " – ", " » ")


def _is_place(text: str) -> bool:
    return country_share(text) > 0 or bool(_WORLD.search(text))


def _looks_right(field: str, value: str) -> bool:
    if field in ("ships_from", "ships_to"):
        return len(value) <= 300 and _is_place(value)
    if field == "price":
        return is_price(value)
    if field == "vendor":
        first = value.split()[0] if value.split() else ""
        return bool(re.match(r"[\w@.-]{2,40}", first)) and not is_price(first)
    if field == "stock":
        return bool(_STOCK.search(value)) and len(value) <= 80
    if field == "category":
        return 1 < len(value) <= 120
    return True


def _regex(field: str, value: str, label: str) -> str | None:
    """The regex that cuts the value out, where the label's text alone does not."""
    if field == "ships_from" and _ARROW.search(value):  # "Germany → Austria, Belgium": from → to
        return r"^(.+?)\s*(?:→|->)"
    if field == "ships_to" and _ARROW.search(value):
        return r"(?:→|->)\s*(.+)$"
    if field == "price":
        return PRICE_YAML_RX
    if field == "vendor" and len(value.split()) > 1:  # "PHARMORA (1000) (4.97)", "GreenSupreme LEVEL 2 (663)"
        return r"^([^\s(\[|,]+)"
    return None


def _title(root: Any) -> Guess | None:
    """The heading the ``<title>`` repeats; else the ``<title>`` without the segment naming the site."""
    head = root.find(".//title")
    page_title = re.sub(r"\s+", " ", head.text_content() if head is not None else "").strip()
    low = page_title.casefold()
    best: tuple[int, Any, str] | None = None
    body = root.find(".//body")
    for n, el in enumerate((body if body is not None else root).iter()):
        if n > 100_000:
            break
        if not isinstance(el.tag, str):
            continue
        tag = el.tag.lower()
        classes = (el.get("class") or "").split()
        if tag not in ("h1", "h2", "h3", "h4") and not any("title" in c.lower() for c in classes):
            continue
        text = text_of(el, 301)
        if not 3 <= len(text) <= 300:
            continue
        links = el.findall(".//a")
        if links and all((a.get("href") or "").strip() in ("/", "./", "#", "") for a in links):
            continue  # the site's logo or name, linking home
        rank = {"h1": 0, "h2": 1, "h3": 2, "h4": 3}.get(tag, 2)
        if page_title and text.casefold() in low:
            rank -= 10
        elif _SITE_WORDS.search(text) and len(text.split()) <= 3:
            continue
        if best is None or rank < best[0]:
            best = (rank, el, text)
    if best is not None and best[0] < 0:
        el = best[1]
        tag = el.tag.lower()
        classes = [c for c in (el.get("class") or "").split() if re.fullmatch(r"[A-Za-z][\w-]*", c)]
        css = tag + "".join(f".{c}" for c in classes)
        return Guess(css, 0.8, f"the heading the page's <title> repeats ({best[2][:60]!r})")
    if page_title:
        for sep in _SEPARATORS:
            parts = page_title.split(sep)
            if len(parts) < 2:
                continue
            if best is not None and any(_GENERIC_TITLE.match(p.strip()) for p in parts):
                break  # "Cryptonia Market - Product Details": the <title> does not name the offer
            if _SITE_WORDS.search(parts[-1]) and len(parts[-1].split()) <= 4:
                site = re.escape(parts[-1].strip())
                return Guess({"xpath": "//title", "regex": rf"^\s*(.+?)\s*{re.escape(sep.strip())}\s*{site}\s*$"},
                             0.7, f"the page's <title> without the site's name ({parts[-1].strip()!r})")
            if _SITE_WORDS.search(parts[0]) and len(parts[0].split()) <= 4:
                site = re.escape(parts[0].strip())
                return Guess({"xpath": "//title", "regex": rf"^\s*{site}\s*{re.escape(sep.strip())}\s*(.+?)\s*$"},
                             0.7, f"the page's <title> without the site's name ({parts[0].strip()!r})")
    if best is not None:
        el = best[1]
        return Guess(el.tag.lower(), 0.4, f"the first main heading ({best[2][:60]!r})")
    if page_title:
        return Guess({"xpath": "//title"}, 0.3, "the page's <title>")
    return None


_PROFILE_WORDS = (r"(?:contact|profile|user profile|vendor profile|seller profile|profile of|vendor|seller|user|"
                  r"member|shop of|store of)")
_PROFILE = re.compile(rf"(?i)^\s*(?:{_PROFILE_WORDS}\s+)?([\w.@-]{{2,40}})(?:\s+{_PROFILE_WORDS})?\s*$")


def _profile_vendor(root: Any) -> Guess | None:
    """A vendor profile page names its vendor in the ``<title>``: "Contact JoyInc", "Profile of 60Agent",
    "21Savage - User Profile - Apollon Market", "Cryptonia Market - GreenSupreme Profile"."""
    head = root.find(".//title")
    page_title = re.sub(r"\s+", " ", head.text_content() if head is not None else "").strip()
    if not re.search(rf"(?i)\b{_PROFILE_WORDS}\b", page_title):
        return None
    sep = next((x for x in _SEPARATORS if x in page_title), None)
    parts = page_title.split(sep) if sep else [page_title]
    words_only = re.compile(rf"(?i)\s*{_PROFILE_WORDS}\s*")
    # a part that names the handle beside a profile word: "Contact JoyInc", "GreenSupreme Profile"
    for part in parts:
        m = _PROFILE.match(part)
        if m and m.group(0).strip() != m.group(1) and not words_only.fullmatch(m.group(1)):
            prefix, suffix = part[: m.start(1)].strip(), part[m.end(1):].strip()
            rx = rf"(?:^|{re.escape(sep.strip())})\s*{re.escape(prefix)}\s*([\w.@-]{{2,40}})\s*{re.escape(suffix)}" \
                if sep else rf"^\s*{re.escape(prefix)}\s*([\w.@-]{{2,40}})\s*{re.escape(suffix)}"
            return Guess({"xpath": "//title", "regex": rx}, 0.6,
                         f"a profile page: the <title> names the vendor ({m.group(1)!r})")
    # a part that is only profile words ("User Profile"): the bare handle in another part that names no site
    if sep and any(words_only.fullmatch(p) for p in parts):
        for n, part in enumerate(parts):
            if re.fullmatch(r"\s*[\w.@-]{2,40}\s*", part) and not words_only.fullmatch(part) \
                    and not _SITE_WORDS.search(part):
                before = re.escape(sep.join(parts[:n]) + sep) if n else ""
                rx = rf"^\s*{before}\s*([\w.@-]{{2,40}})\s*(?:{re.escape(sep.strip())}|$)"
                return Guess({"xpath": "//title", "regex": rx}, 0.5,
                             f"a profile page: the <title> names the vendor ({part.strip()!r})")
    return None


def _profile_link(root: Any) -> Guess | None:
    """The vendor's profile link: a link to a user/vendor/shop address whose text starts with the handle the
    address ends in (``<a href="user.php?u_id=DutchTopBoy">DutchTopBoy (97%)</a>``, ``/u/LenasBioLaden``)."""
    from urllib.parse import unquote, urlsplit

    from crawler.sources.suggest import _VENDOR_HREF

    for n, a in enumerate(root.iter("a")):
        if n > 20_000:
            break
        href = (a.get("href") or "").strip()
        if not href or not _VENDOR_HREF.search(href):
            continue
        parts = urlsplit(href)
        if parts.query:
            handle = unquote(parts.query.split("&")[0].partition("=")[2])
            token = parts.query.split("&")[0].partition("=")[0] + "="
        else:
            handle = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1])
            token = parts.path.rstrip("/").rsplit("/", 1)[0] + "/"
        text = text_of(a, 80)
        if len(handle) < 2 or not text.split() or text.split()[0] != handle or len(token.strip("/")) < 1:
            continue
        if any(_tag(x) in ("nav", "header") for x in a.iterancestors()):
            continue
        token = token if token.startswith("/") or "=" in token else "/" + token.lstrip("/")
        lit = _literal(token)
        handle_x = f"substring-before(concat(translate(substring-after(@href, {lit}), '/', '&'), '&'), '&')"
        spec = {"xpath": f"//a[contains(@href, {lit})][string-length({handle_x}) > 1]"
                         f"[starts-with(normalize-space(.), {handle_x})][not(ancestor::nav)][not(ancestor::header)]",
                "regex": r"^([^\s(\[|,]+)"}
        return Guess(spec, 0.5, f"a profile link named by its handle ({handle!r})")
    return None


def _tag(el: Any) -> str:
    return el.tag.lower() if isinstance(el.tag, str) else ""


def suggest_listing(html: str | bytes, url: str = "http://example.invalid/") -> Suggestion:
    """Propose ``fields`` for the single listing page ``html``: title, price, vendor, ships from/to, stock,
    category, as ``label`` selectors where the page labels them."""
    response = page_response(html, url)
    out = Suggestion()
    try:
        root = response.selector.root
    except (ValueError, etree.ParserError) as exc:
        out.notes.append(f"the page could not be parsed: {exc}")
        return out
    if root is None or not isinstance(root.tag, str):
        out.notes.append("the page is empty")
        return out
    title = _title(root)
    if title is not None:
        out.fields["title"] = title
    found: dict[str, tuple[str, str]] = {}
    wanted = {w: f for f, words in LABELS.items() for w in words}
    for label, value, _el in label_pairs(root, set(wanted), ALL_LABELS):
        field = wanted[norm_label(label)]
        targets = [field]
        if field == "ships_from" and _ARROW.search(value):
            targets.append("ships_to")
        for target in targets:
            if target in found or not _looks_right(target, value):
                continue
            found[target] = (label, value)
    for field in ("price", "vendor", "ships_from", "ships_to", "stock", "category"):
        if field not in found:
            if field == "vendor":
                vendor = _profile_vendor(root) or _profile_link(root)
                if vendor is not None:
                    out.fields["vendor"] = vendor
                    continue
            if field == "stock":
                stock = _stock_before_label(root)
                if stock is not None:
                    out.fields["stock"] = stock
                    continue
            out.notes.append(f"no {field} recognised")
            continue
        label, value = found[field]
        spec: dict[str, str] = {"label": label}
        rx = _regex(field, value, label)
        if rx:
            spec["regex"] = rx
        out.fields[field] = Guess(spec, 0.8 if field in ("ships_from", "ships_to", "price") else 0.6,
                                  f"labelled {label!r} on the page: {value[:60]!r}")
    return out


def _stock_before_label(root: Any) -> Guess | None:
    """"99 In stock", "12 available": a count before the words."""
    for n, el in enumerate(root.iter()):
        if n > 100_000:
            break
        if not isinstance(el.tag, str) or el.tag.lower() in ("script", "style", "option", "select"):
            continue
        text = re.sub(r"\s+", " ", el.text or "").strip()
        m = _STOCK_AFTER.match(text)
        if m:
            words = text[m.end(1):].strip().split()[-2:]
            tail = " ".join(words)
            return Guess({"xpath": f"//*[text()[contains(., {_literal(tail)})]]",
                          "regex": rf"(\d[\d,.]*)\s*(?:items?\s+)?{re.escape(tail)}"},
                         0.5, f"a count before {tail!r}: {text[:40]!r}")
    return None


def _literal(text: str) -> str:
    return f"'{text}'" if "'" not in text else f'"{text}"'


def listing_yaml(s: Suggestion, name: str = "suggested", start_url: str | None = None, kind: str = "market",
                 page: str = "") -> str:
    """The suggestion as a ``sources:`` file for a site whose listing pages look like this one."""
    from crawler.sources.suggest import _yaml_scalar, _yaml_spec

    lines = [f"# narcowatch source suggest --listing-page {page}".rstrip(),
             "# Fields of ONE listing page, read by their labels; sure >= 0.8 > likely >= 0.5 > guess.",
             "# Add the links to the listing pages (links.listing) and the pages that hold them (start_urls),",
             "# then: narcowatch source try THIS_FILE.yaml"]
    lines += [f"# note: {n}" for n in s.notes]
    start = _yaml_scalar(start_url or "https://CHANGE-ME.example/")
    lines += ["sources:", f"  - name: {name}", f"    kind: {kind}",
              f"    start_urls: [{start}]   # pages linking to listings",
              "    links:",
              '      listing: "a.CHANGE-ME"   # the links to listing pages like this one', "    fields:"]
    for fname, g in s.fields.items():
        lines.append(f"      {fname}: {_yaml_spec(g.spec)}   # {g.level} ({g.confidence:.2f}): {g.why}")
    return "\n".join(lines) + "\n"


def read_fields(html: str | bytes, s: Suggestion, url: str = "http://example.invalid/") -> dict[str, Any]:
    """The suggested fields read back from the page the way the crawler reads them (for the preview)."""
    from crawler.pages.base import select_first
    from crawler.sources.models import SelectorSpec, parse_selector

    response = page_response(html, url)
    return {f: select_first(response, SelectorSpec.model_validate(parse_selector(g.spec))) for f, g in s.fields.items()}
