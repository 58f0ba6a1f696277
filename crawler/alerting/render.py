"""Alert and digest emails: HTML and plain-text parts from Jinja2 templates, every crawled value escaped."""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2

REASON_LABELS = {
    "new": "new listing",
    "price_change": "price change",
    "changed": "listing changed",
    "relisted": "relisted",
    "new_vendor_platform": "vendor on a new platform",
}
CLASS_ORDER = {"fentanyl": 0, "precursor": 1, "opioid": 2}
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
EXCERPT_CHARS = 400


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("crawler.alerting", "templates"),
        # HTML templates escape every value: listings are written by the people we watch.
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default_for_string=True),
        undefined=jinja2.ChainableUndefined,
        keep_trailing_newline=True,
    )


_ENV: jinja2.Environment | None = None


def environment() -> jinja2.Environment:
    global _ENV
    if _ENV is None:
        _ENV = _env()
    return _ENV


def one_line(text: Any, limit: int = 200) -> str:
    """Whitespace and control characters collapsed (safe in a mail header), shortened to ``limit``."""
    out = _CONTROL.sub(" ", str(text or ""))
    out = re.sub(r"\s+", " ", out).strip()
    return out if len(out) <= limit else out[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class Segment:
    text: str
    marked: bool = False


def mark_terms(text: str, terms: list[str], limit: int = EXCERPT_CHARS) -> list[Segment]:
    """An excerpt of ``text`` around the first matched term, split into marked and unmarked segments."""
    text = re.sub(r"\s+", " ", _CONTROL.sub(" ", text or "")).strip()
    terms = sorted({t.strip() for t in terms if t and len(t.strip()) >= 2}, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(t) for t in terms), re.IGNORECASE) if terms else None
    start = 0
    if pattern and len(text) > limit:
        first = pattern.search(text)
        if first and first.start() > limit // 3:
            start = max(0, first.start() - limit // 3)
    end = min(len(text), start + limit)
    window = text[start:end]
    segments: list[Segment] = []
    if start > 0:
        segments.append(Segment("… "))
    pos = 0
    if pattern:
        for m in pattern.finditer(window):
            if m.start() > pos:
                segments.append(Segment(window[pos : m.start()]))
            segments.append(Segment(m.group(0), True))
            pos = m.end()
    if pos < len(window):
        segments.append(Segment(window[pos:]))
    if end < len(text):
        segments.append(Segment(" …"))
    return segments


def safe_link(url: Any) -> str | None:
    """``url`` if it is http(s) (a crawled ``javascript:`` or ``data:`` URL never becomes a link)."""
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def kibana_link(kibana_url: str | None, data_view: str, fingerprint: str) -> str | None:
    """A Discover link showing the one listing (by ``_id``) in the listings data view."""
    if not kibana_url:
        return None
    query = quote(f"_id:\"{fingerprint}\"", safe="")
    return (
        f"{kibana_url.rstrip('/')}/app/discover#/?_a=(dataSource:(dataViewId:'{quote(data_view, safe='')}'"
        f",type:dataView),query:(language:kuery,query:'{query}'))&_g=(time:(from:now-5y,to:now))"
    )


def _as_list(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value if v]


def _join(values: Any) -> str:
    if not values:
        return "-"
    if isinstance(values, str):
        return values
    return ", ".join(str(v) for v in values if v is not None) or "-"


@dataclass
class AlertView:
    """What the templates see of one alert record (values raw: the templates escape them)."""

    alert_id: str
    rule: str
    reason: str
    fingerprint: str
    listing: dict[str, Any]
    terms: list[str] = field(default_factory=list)
    kibana_url: str | None = None
    kibana_data_view: str = "narcowatch-listings"
    focus_classes: list[str] = field(default_factory=list)
    """The rule's substance classes: substances of these classes come first in subject and body."""
    focus_names: list[str] = field(default_factory=list)

    @property
    def reason_label(self) -> str:
        return REASON_LABELS.get(self.reason, self.reason)

    @property
    def substances(self) -> list[str]:
        """Substance names, the ones the rule asked for first, then by class (fentanyl, precursor, opioid)."""
        names = [str(s) for s in self.listing.get("substance_names") or []]
        classes: dict[str, str] = {}
        for s in self.listing.get("substances") or []:
            if isinstance(s, dict) and s.get("name"):
                classes.setdefault(str(s["name"]), str(s.get("class") or ""))

        def rank(item: tuple[int, str]) -> tuple[int, int, int]:
            pos, name = item
            cls = classes.get(name, "")
            asked = name.lower() in self.focus_names or cls in self.focus_classes
            return (0 if asked else 1, CLASS_ORDER.get(cls, len(CLASS_ORDER)), pos)

        return [name for _, name in sorted(enumerate(names), key=rank)]

    @property
    def title_text(self) -> str:
        """The title, or the start of the description for posts that have none."""
        title = one_line(self.listing.get("title"), 300)
        return title or one_line(self.listing.get("description"), 90) or "(no title)"

    @property
    def substances_text(self) -> str:
        names = self.substances
        classes = self.listing.get("substance_classes") or []
        cas = self.listing.get("cas") or []
        text = _join(names)
        if classes:
            text += f" (class {_join(classes)})"
        if cas:
            text += f", CAS {_join(cas)}"
        return text

    @property
    def excerpt(self) -> list[Segment]:
        terms = list(self.terms) + self.substances + [str(c) for c in self.listing.get("cas") or []]
        terms += [str(t) for t in self.listing.get("marked_terms") or []]
        return mark_terms(str(self.listing.get("description") or ""), terms)

    @property
    def price_text(self) -> str:
        price = self.listing.get("price")
        if price is None or price == "":
            text = one_line(self.listing.get("price_raw"), 80)
        else:
            text = f"{price:g}" if isinstance(price, float) else str(price)
            text = f"{text} {self.listing.get('currency') or ''}".strip()
        quantity = one_line(self.listing.get("quantity"), 60)
        if text and quantity:
            return f"{text} ({quantity})"
        return text or "-"

    @property
    def vendor(self) -> dict[str, Any]:
        """Vendor as ``{handles, contacts}`` from either document shape (nested, or vendor_* fields)."""
        vendor = self.listing.get("vendor")
        nested = vendor if isinstance(vendor, dict) else {}
        handles = _as_list(self.listing.get("vendor_handles")) or _as_list(nested.get("handles"))
        if isinstance(vendor, str) and vendor and vendor not in handles:
            handles = [vendor, *handles]
        if nested.get("name") and nested["name"] not in handles:
            handles = [nested["name"], *handles]
        contacts = self.listing.get("vendor_contacts") or nested.get("contacts") or []
        return {"handles": handles, "contacts": contacts if isinstance(contacts, list) else []}

    @property
    def vendor_text(self) -> str:
        return _join(self.vendor["handles"])

    @property
    def evidence_sha256(self) -> str | None:
        sha = self.listing.get("response_sha256")
        evidence = self.listing.get("evidence")
        if not sha and isinstance(evidence, dict):
            sha = evidence.get("response_sha256")
        return str(sha) if sha else None

    @property
    def contacts(self) -> list[dict[str, str]]:
        out = []
        for c in self.vendor["contacts"]:
            if isinstance(c, dict):
                out.append({"kind": str(c.get("kind") or "?"), "value": str(c.get("value") or "")})
        return out

    @property
    def ships_from_text(self) -> str:
        text = _join(self.listing.get("ships_from"))
        if text == "-" and self.listing.get("ships_from_raw"):
            text = one_line(self.listing["ships_from_raw"], 80)
        return text

    @property
    def ships_to_text(self) -> str:
        text = _join(self.listing.get("ships_to"))
        if text == "-" and self.listing.get("ships_to_raw"):
            text = one_line(self.listing["ships_to_raw"], 80)
        if self.listing.get("ships_not_to"):
            text += f" (not to {_join(self.listing.get('ships_not_to'))})"
        return text

    @property
    def risk_text(self) -> str:
        risk = self.listing.get("risk")
        try:
            return f"{float(risk):.2f}"  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return "-"

    @property
    def source_link(self) -> str | None:
        return safe_link(self.listing.get("url"))

    @property
    def kibana_link(self) -> str | None:
        return kibana_link(self.kibana_url, self.kibana_data_view, self.fingerprint)

    @property
    def subject(self) -> str:
        substance = ", ".join(self.substances[:3]) or _join(self.listing.get("substance_classes")) or "listing"
        if substance == "-":
            substance = "listing"
        platform = self.listing.get("platform") or self.listing.get("source") or "unknown platform"
        origin = one_line(self.ships_from_text, 40)
        origin = "unknown origin" if origin == "-" else f"ships from {origin}"
        label = self.reason_label[:1].upper() + self.reason_label[1:]
        return one_line(f"[narcowatch] {label}: {substance} on {platform}, {origin} ({self.rule})", 250)


def _message(
    subject: str, sender: str, recipients: list[str], text: str, html: str, stable_id: str | None = None
) -> EmailMessage:
    """``stable_id``: the same Message-ID for every send of one alert (or digest), so that a resend after a
    crash (docs/alerts.md) can be recognised as the same mail by the recipient's server or client."""
    domain = one_line(sender.rsplit("@", 1)[-1], 200).strip("<> ") or "narcowatch"
    msg = EmailMessage()
    msg["Subject"] = one_line(subject, 250)
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = f"<{stable_id}@{domain}>" if stable_id else make_msgid(domain=domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


def render_alert(view: AlertView, *, sender: str, recipients: list[str]) -> EmailMessage:
    """One alert as a multipart/alternative message (plain text + HTML)."""
    env = environment()
    subject = view.subject
    ctx = {"alert": view, "subject": subject}
    text = env.get_template("alert.txt.j2").render(ctx)
    html = env.get_template("alert.html.j2").render(ctx)
    msg = _message(subject, sender, recipients, text, html, stable_id=f"alert.{view.alert_id}")
    msg["X-Narcowatch-Alert"] = view.alert_id
    return msg


def render_digest(
    views: list[AlertView], *, sender: str, recipients: list[str], period_text: str = ""
) -> EmailMessage:
    """Several alerts in one message, grouped by rule then by substance."""
    by_rule: dict[str, dict[str, list[AlertView]]] = defaultdict(lambda: defaultdict(list))
    for v in views:
        by_rule[v.rule][(v.substances or ["(no substance named)"])[0]].append(v)
    rules = [
        {
            "rule": rule,
            "count": sum(len(a) for a in subs.values()),
            # the largest groups first; ties alphabetically
            "substances": [
                {"name": name, "alerts": subs[name]} for name in sorted(subs, key=lambda n: (-len(subs[n]), n))
            ],
        }
        for rule, subs in sorted(by_rule.items())
    ]
    sizes: dict[str, int] = defaultdict(int)
    for subs in by_rule.values():
        for name, alerts in subs.items():
            sizes[name] += len(alerts)
    top = sorted(sizes, key=lambda n: (-sizes[n], n))
    subject = f"[narcowatch] Digest: {len(views)} alert{'s' if len(views) != 1 else ''}"
    if top:
        subject += f" ({', '.join(one_line(t, 40) for t in top[:3])}{', …' if len(top) > 3 else ''})"
    subject += f" - {', '.join(sorted(by_rule))}"
    env = environment()
    ctx = {"rules": rules, "total": len(views), "period_text": period_text, "subject": subject}
    text = env.get_template("digest.txt.j2").render(ctx)
    html = env.get_template("digest.html.j2").render(ctx)
    ids = hashlib.sha256("\n".join(sorted(v.alert_id for v in views)).encode()).hexdigest()[:40]
    return _message(subject, sender, recipients, text, html, stable_id=f"digest.{ids}")


def render_ops(subject: str, body: str, *, sender: str, recipients: list[str]) -> EmailMessage:
    """An operational alert (plain text with an escaped HTML copy)."""
    html = jinja2.Environment(autoescape=True).from_string(
        "<pre style='font-family: monospace'>{{ body }}</pre>"
    ).render(body=body)
    return _message(f"[narcowatch ops] {subject}", sender, recipients, body, html)
