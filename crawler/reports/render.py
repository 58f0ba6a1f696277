"""report.html (self-contained, every field escaped, no script, no network) and listings.csv of a report."""

from __future__ import annotations

import base64
import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from crawler.reports.bundle import Bundle, Capture
from crawler.reports.charts import offer_price, parse_time, price_history_svg, price_points, weekly_offers_svg
from crawler.reports.data import Doc, Selection

THUMB_WIDTH = 280
THUMB_MAX_HEIGHT = 360
NO_SELLER = "(no seller named)"

CSV_FIELDS = [
    "listing_id", "platform", "source", "account", "account_url", "title", "text", "substances",
    "substance_classes", "cas", "price", "currency", "price_usd", "quantity", "contacts", "ships_from",
    "ships_to", "risk", "intent", "url", "posted_at", "first_seen", "last_seen", "captured_at", "status",
    "response_sha256", "evidence_warc", "warc_record_id", "screenshot", "es_index", "es_version", "es_seq_no",
]
"""listings.csv columns: what a platform's abuse form asks for, then the evidence references."""

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet shows as text: lists joined with ``; ``, formulas defused with ``'``."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        value = "; ".join(csv_cell(v) for v in value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def safe_url(url: Any) -> str | None:
    """``url`` when it is http(s) (a report links to nothing else: no ``javascript:``, ``data:`` or ``file:``)."""
    if not isinstance(url, str):
        return None
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return None
    return url.strip() if scheme in ("http", "https") else None


def thumbnail_data_uri(path: Path) -> str | None:
    """A small PNG of the top of a screenshot, as a ``data:`` URI (None when it cannot be read)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            rgb = img.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError):
        return None
    w, h = rgb.size
    if w < 1 or h < 1:
        return None
    crop_h = min(h, int(w * THUMB_MAX_HEIGHT / THUMB_WIDTH))
    thumb = rgb.crop((0, 0, w, crop_h))
    thumb.thumbnail((THUMB_WIDTH, THUMB_MAX_HEIGHT))
    buf = io.BytesIO()
    thumb.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def contacts_of(src: dict[str, Any]) -> list[str]:
    return [f"{c.get('kind')}: {c.get('value')}" for c in src.get("vendor_contacts") or [] if c.get("value")]


def account_of(src: dict[str, Any]) -> str:
    return str(src.get("vendor") or "").strip() or NO_SELLER


def _fmt_price(src: dict[str, Any]) -> str:
    price, currency, raw = src.get("price"), src.get("currency"), src.get("price_raw")
    if isinstance(price, int | float):
        text = f"{price:,.2f} {currency or ''}".strip()
        usd = src.get("price_usd")
        if currency and currency != "USD" and isinstance(usd, int | float):
            text += f" (≈ {usd:,.2f} USD)"
        return text
    if raw:
        return str(raw)
    found = offer_price(src)  # no price field: the first price the NLP read in the text
    return f"{found[0]:,.2f} {found[1]} (in the text)" if found else ""


def _fmt_time(value: Any) -> str:
    dt = parse_time(value)
    return dt.strftime("%Y-%m-%d %H:%M UTC") if dt else ""


@dataclass
class Offer:
    """One listing as the report shows it."""

    doc: Doc
    capture: Capture | None
    thumbnail: str | None = None

    @property
    def src(self) -> dict[str, Any]:
        return self.doc.source

    @property
    def heading(self) -> str:
        title = str(self.src.get("title") or "").strip()
        if title:
            return title
        text = " ".join(str(self.src.get("description") or "").split())
        return text[:120] + ("..." if len(text) > 120 else "") or "(untitled)"

    def row(self) -> dict[str, Any]:
        s, ev, cap = self.src, self.src.get("evidence") or {}, self.capture
        return {
            "listing_id": self.doc.id, "platform": s.get("platform"), "source": s.get("source"),
            "account": s.get("vendor"), "account_url": s.get("vendor_url"), "title": s.get("title"),
            "text": s.get("description"), "substances": s.get("substance_names"),
            "substance_classes": s.get("substance_classes"), "cas": s.get("cas"), "price": s.get("price"),
            "currency": s.get("currency"), "price_usd": s.get("price_usd"), "quantity": s.get("quantity"),
            "contacts": contacts_of(s), "ships_from": s.get("ships_from") or s.get("ships_from_raw"),
            "ships_to": s.get("ships_to") or s.get("ships_to_raw"), "risk": s.get("risk"),
            "intent": s.get("intent"), "url": s.get("url"), "posted_at": s.get("posted_at"),
            "first_seen": s.get("first_seen"), "last_seen": s.get("last_seen"),
            "captured_at": s.get("fetched_at"), "status": s.get("status"),
            "response_sha256": ev.get("response_sha256"), "evidence_warc": cap.warc if cap else None,
            "warc_record_id": ev.get("warc_record_id"), "screenshot": cap.screenshot if cap else None,
            "es_index": self.doc.index, "es_version": self.doc.version, "es_seq_no": self.doc.seq_no,
        }


@dataclass
class Section:
    """One account, channel or vendor (platform report) or one platform (vendor dossier)."""

    title: str
    anchor: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    offers: list[Offer] = field(default_factory=list)


def write_csv(path: Path, offers: list[Offer]) -> None:
    """listings.csv: one row per offer (UTF-8 with BOM so spreadsheets read the accents)."""
    with open(path, "w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for offer in offers:
            writer.writerow({k: csv_cell(v) for k, v in offer.row().items()})


def _span(values: list[Any]) -> tuple[str, str]:
    times = sorted(t for t in (parse_time(v) for v in values) if t)
    return (_fmt_time(times[0].isoformat()), _fmt_time(times[-1].isoformat())) if times else ("", "")


def _facts_of(offers: list[Offer]) -> tuple[list[tuple[str, str]], list[str]]:
    srcs = [o.src for o in offers]
    first, _ = _span([s.get("first_seen") for s in srcs])
    _, last = _span([s.get("last_seen") for s in srcs])
    classes = Counter(c for s in srcs for c in s.get("substance_classes") or [])
    countries = Counter(c for s in srcs for c in s.get("ships_from") or [])
    contacts = sorted({c for s in srcs for c in contacts_of(s)})
    risks = [s["risk"] for s in srcs if isinstance(s.get("risk"), int | float)]
    facts = [
        ("offers", str(len(offers))),
        ("first seen", first), ("last seen", last),
        ("substance classes", ", ".join(f"{c} ({n})" for c, n in classes.most_common()) or "none"),
        ("ships from", ", ".join(f"{c} ({n})" for c, n in countries.most_common()) or "not stated"),
        ("contacts", "; ".join(contacts) or "none found"),
        ("highest risk", f"{max(risks):.2f}" if risks else ""),
    ]
    links = sorted({u for s in srcs if (u := safe_url(s.get("vendor_url")))})
    return facts, links


def build_offers(selection: Selection, bundle: Bundle, directory: Path) -> list[Offer]:
    offers = []
    thumbs: dict[str, str | None] = {}
    for doc in selection.docs:
        cap = bundle.by_listing.get(doc.id)
        thumb = None
        if cap and cap.screenshot:
            if cap.screenshot not in thumbs:
                thumbs[cap.screenshot] = thumbnail_data_uri(directory / cap.screenshot)
            thumb = thumbs[cap.screenshot]
        offers.append(Offer(doc, cap, thumb))
    return offers


def sections_by(offers: list[Offer], key: str) -> list[Section]:
    """Offers grouped by account (``key="account"``) or platform (``key="platform"``), biggest first."""
    groups: dict[str, list[Offer]] = {}
    for o in offers:
        name = account_of(o.src) if key == "account" else str(o.src.get("platform") or o.src.get("source") or "?")
        groups.setdefault(name, []).append(o)
    out = []
    for i, (name, group) in enumerate(sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0].lower()))):
        group.sort(key=lambda o: (-(o.src.get("risk") or 0), o.src.get("first_seen") or "", o.doc.id))
        facts, links = _facts_of(group)
        if key == "platform":
            facts.insert(1, ("sources", ", ".join(sorted({str(o.src.get("source")) for o in group}))))
            facts.insert(2, ("names used", ", ".join(sorted({account_of(o.src) for o in group}))))
        out.append(Section(name, f"s{i + 1}", facts, links, group))
    return out


def cover_facts(selection: Selection, offers: list[Offer]) -> list[tuple[str, str]]:
    srcs = [o.src for o in offers]
    first, _ = _span([s.get("first_seen") for s in srcs])
    _, last = _span([s.get("last_seen") for s in srcs])
    classes = Counter(c for s in srcs for c in s.get("substance_classes") or [])
    substances = Counter(c for s in srcs for c in s.get("substance_names") or [])
    countries = Counter(c for s in srcs for c in s.get("ships_from") or [])
    accounts = {account_of(s) for s in srcs}
    shots = sum(1 for o in offers if o.capture and o.capture.screenshot)
    warcs = sum(1 for o in offers if o.capture and o.capture.warc)
    facts = [
        ("offers", str(len(offers))),
        ("accounts / channels / vendors", str(len(accounts))),
        ("first seen", first), ("last seen", last),
        ("by substance class", ", ".join(f"{c} ({n})" for c, n in classes.most_common()) or "none"),
        ("substances", ", ".join(f"{c} ({n})" for c, n in substances.most_common(12)) or "none"),
        ("ships from", ", ".join(f"{c} ({n})" for c, n in countries.most_common()) or "not stated"),
        ("evidence", f"{warcs} offers with a raw capture (WARC), {shots} with a screenshot"),
    ]
    return facts


def _env() -> Environment:
    return Environment(loader=PackageLoader("crawler.reports", "templates"),
                       autoescape=select_autoescape(default=True, default_for_string=True),
                       trim_blocks=True, lstrip_blocks=True)


def render_html(
    selection: Selection,
    offers: list[Offer],
    *,
    created_at: str,
    command: str,
    changes: list[dict[str, Any]] | None = None,
    notes: list[str] | None = None,
) -> str:
    """The whole report page. Every value goes through Jinja's autoescape; only our own SVG is marked safe.

    ``notes`` (default: the selection's) are shown under the cover facts."""
    srcs = [o.src for o in offers]
    vendor = selection.vendor or {}
    if selection.kind == "platform":
        title = f"Referral report: {selection.subject}"
        sections = sections_by(offers, "account")
        section_kind = "Account / channel / vendor"
        profile: list[tuple[str, str]] = []
    else:
        title = f"Vendor dossier: {vendor.get('display_name') or selection.subject}"
        sections = sections_by(offers, "platform")
        section_kind = "Platform"
        profile = [
            ("profile id", str(selection.subject)),
            ("handles", ", ".join(vendor.get("handles") or []) or "none"),
            ("contacts", "; ".join(f"{c.get('kind')}: {c.get('value')}" for c in vendor.get("contacts") or [])
             or "none found"),
            ("wallets", ", ".join(vendor.get("wallets") or []) or "none found"),
            ("PGP keys", ", ".join(vendor.get("pgp_fingerprints") or []) or "none found"),
            ("platforms", ", ".join(vendor.get("platforms") or [])),
            ("sources", ", ".join(vendor.get("sources") or [])),
            ("first seen", _fmt_time(vendor.get("first_seen"))), ("last seen", _fmt_time(vendor.get("last_seen"))),
        ]
    price_charts = []
    if selection.kind == "vendor":
        for (name, unit), points in price_points(srcs, changes or []).items():
            price_charts.append((name, Markup(price_history_svg(name, unit, points))))
    params = {k: (", ".join(v) if isinstance(v, list) else v) for k, v in selection.params.items()}
    return _env().get_template("report.html.j2").render(
        title=title, kind=selection.kind, subject=selection.subject, created_at=_fmt_time(created_at),
        command=command, params=params, cover=cover_facts(selection, offers), profile=profile,
        weekly_chart=Markup(weekly_offers_svg(srcs)), price_charts=price_charts, sections=sections,
        section_kind=section_kind, notes=selection.notes if notes is None else notes, fmt_time=_fmt_time,
        fmt_price=_fmt_price, contacts_of=contacts_of, safe_url=safe_url,
    )
