"""Build the indexed documents from a ``Listing``: the listing itself and its change records."""

from __future__ import annotations

import os
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from crawler.es.geo import country_points
from crawler.items import Listing

# Identifier kinds that name a payment address rather than a way to talk to someone.
WALLET_KINDS = frozenset({"btc", "xmr", "eth", "trx", "ltc", "usdt", "bch", "doge", "wallet"})


@lru_cache(maxsize=8)
def _fx_rates(spec: str) -> dict[str, float]:
    rates = {"USD": 1.0}
    for part in spec.replace(";", ",").split(","):
        if "=" not in part:
            continue
        code, _, value = part.partition("=")
        try:
            rates[code.strip().upper()] = float(value)
        except ValueError:
            continue
    return rates


def fx_rates() -> dict[str, float]:
    """USD per unit of each currency: USD, plus ``NARCOWATCH_FX_RATES`` (``EUR=1.08,BTC=65000``)."""
    return _fx_rates(os.environ.get("NARCOWATCH_FX_RATES", ""))


def to_float(value: Any) -> float | None:
    """A decimal string or number as float; None when it is not a finite number."""
    if value is None or value == "":
        return None
    try:
        d = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        return None
    return float(d) if d.is_finite() else None


def price_usd(price: float | None, currency: str | None) -> float | None:
    """The price in USD where a rate for its currency is known."""
    if price is None or not currency:
        return None
    rate = fx_rates().get(currency.upper())
    return round(price * rate, 2) if rate is not None else None


def _uniq(values: Any) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if v not in (None, "") and v not in out:
            out.append(v)
    return out


def _contacts(nlp: dict[str, Any]) -> list[dict[str, str]]:
    vendor = nlp.get("vendor") or {}
    raw: list[Any] = list(vendor.get("contacts") or [])
    for key in ("wallets", "payments", "payment"):
        extra = nlp.get(key) or vendor.get(key) or []
        raw.extend(extra if isinstance(extra, list) else [])
    for key in ("pgp", "pgp_fingerprints"):
        for fp in nlp.get(key) or vendor.get(key) or []:
            raw.append({"kind": "pgp", "value": fp if isinstance(fp, str) else fp.get("value")})
    out: list[dict[str, str]] = []
    for c in raw:
        if not isinstance(c, dict):
            continue
        kind = str(c.get("kind") or c.get("type") or c.get("chain") or "").strip().lower()
        value = str(c.get("value") or c.get("address") or "").strip()
        if kind and value and {"kind": kind, "value": value} not in out:
            out.append({"kind": kind, "value": value})
    return out


def listing_doc(listing: Listing, now: str) -> dict[str, Any]:
    """The full listings document for a new or changed listing (``_id`` is ``fingerprint``).

    ``first_seen`` is included; the indexer writes it only when the document is created (upsert), so a
    re-crawl never moves it. The NLP output (``listing.nlp``, DESIGN.md section 4) is flattened into
    keyword fields analysts filter on.
    """
    if not listing.fingerprint:
        raise ValueError(f"listing from {listing.url} has no fingerprint; run crawler.fingerprint.apply first")
    nlp: dict[str, Any] = listing.nlp or {}
    substances = [
        {"name": s.get("name"), "class": s.get("class"), "cas": s.get("cas")}
        for s in nlp.get("substances") or []
        if isinstance(s, dict) and s.get("name")
    ]
    vendor = nlp.get("vendor") or {}
    contacts = _contacts(nlp)
    handles = _uniq([listing.vendor, *(vendor.get("handles") or [])])
    ships_from = _uniq(c.upper() for c in nlp.get("ships_from") or [] if isinstance(c, str))
    raw_shipping = nlp.get("shipping")
    shipping: dict[str, Any] = raw_shipping if isinstance(raw_shipping, dict) else {}
    price = to_float(listing.price)
    currency = listing.currency.upper() if listing.currency else None
    doc: dict[str, Any] = {
        "@timestamp": now,
        "fingerprint": listing.fingerprint,
        "content_hash": listing.content_hash,
        "status": "active",
        "url": listing.url,
        "source": listing.source,
        "source_kind": listing.source_kind,
        "platform": listing.platform,
        "native_id": listing.native_id,
        "title": listing.title,
        "description": listing.description,
        "text_normalized": nlp.get("text_normalized") or nlp.get("normalized_text"),
        "price_raw": listing.price_raw,
        "price": price,
        "currency": currency,
        "price_usd": price_usd(price, currency),
        "quantity": listing.quantity,
        "stock": listing.stock,
        "vendor": listing.vendor,
        "vendor_url": listing.vendor_url,
        "vendor_handles": handles,
        "vendor_contacts": contacts,
        "contact_values": _uniq(c["value"] for c in contacts),
        "ships_from_raw": listing.ships_from_raw,
        "ships_to_raw": listing.ships_to_raw,
        "ships_from": ships_from,
        "ships_to": _uniq(c.upper() for c in nlp.get("ships_to") or [] if isinstance(c, str)),
        "ships_not_to": _uniq(c.upper() for c in nlp.get("ships_not_to") or [] if isinstance(c, str)),
        "ships_from_geo": country_points(ships_from),
        "carriers": _uniq(str(c) for c in shipping.get("carriers") or [] if c),
        "stealth": bool(shipping.get("stealth")) if "stealth" in shipping else None,
        "domestic_only": bool(shipping.get("domestic_only")) if "domestic_only" in shipping else None,
        "category": listing.category,
        "posted_at": listing.posted_at,
        "updated_at": listing.updated_at,
        "images": list(listing.images),
        "links": list(listing.links),
        "views": listing.views,
        "substances": substances,
        "substance_names": _uniq(s["name"] for s in substances),
        "substance_classes": _uniq(s["class"] for s in substances),
        "cas": _uniq([*(s["cas"] for s in substances), *listing.cas_numbers]),
        "entities": nlp.get("entities") or [],
        "intent": nlp.get("intent"),
        "risk": nlp.get("risk"),
        "first_seen": now,
        "last_seen": now,
        "changed_at": now,
        "removed_at": None,
        "fetched_at": listing.fetched_at or now,
        "evidence": {
            "response_sha256": listing.response_sha256,
            "response_status": listing.response_status,
            "warc_file": listing.warc_file,
            "warc_record_id": listing.warc_record_id,
            "screenshot": listing.screenshot,
        },
        "extra": dict(listing.extra),
    }
    if listing.source_page:  # an offer read as a row of a result page: that page's record, the row's place
        doc["evidence"].update(page_url=listing.source_page, row=listing.row,
                               page_record_id=listing.source_page_record)
    return doc


def change_id(fingerprint: str, kind: str, content_hash: str | None, marker: str | None = None) -> str:
    """Deterministic ``_id`` of a change record: a replayed batch never records a change twice."""
    parts = [fingerprint, kind, content_hash or "-"]
    if marker:
        parts.append(marker)
    return ":".join(parts)


def change_doc(listing: Listing, previous: dict[str, Any] | None, kind: str, now: str) -> dict[str, Any]:
    """A record for the changes index: what changed between ``previous`` (from ``lookup``) and ``listing``."""
    prev = previous or {}
    price, prev_price = to_float(listing.price), to_float(prev.get("price"))
    currency = listing.currency.upper() if listing.currency else None
    fields: list[str] = []
    if price != prev_price or (currency or None) != (prev.get("currency") or None):
        fields.append("price")
    if (listing.stock or None) != (prev.get("stock") or None):
        fields.append("stock")
    if prev.get("content_hash") != listing.content_hash and not fields:
        fields.append("text")
    if prev.get("status") == "removed":
        fields.append("status")
    # a relisting may come back with the same content: the removal it ends tells it apart
    marker = str(prev.get("removed_at") or "") if kind == "relisted" else None
    fingerprint = listing.fingerprint or ""
    nlp = listing.nlp or {}
    return {
        "_id": change_id(fingerprint, kind, listing.content_hash, marker),
        "@timestamp": now,
        "fingerprint": fingerprint,
        "kind": kind,
        "content_hash": listing.content_hash,
        "previous_content_hash": prev.get("content_hash"),
        "fields_changed": fields,
        "source": listing.source,
        "platform": listing.platform,
        "url": listing.url,
        "title": listing.title,
        "price": price,
        "previous_price": prev_price,
        "currency": currency,
        "previous_currency": prev.get("currency"),
        "price_usd": price_usd(price, currency),
        "stock": listing.stock,
        "previous_stock": prev.get("stock"),
        "status": "active",
        "previous_status": prev.get("status"),
        "substance_classes": _uniq(
            s.get("class") for s in nlp.get("substances") or [] if isinstance(s, dict)
        ),
    }
