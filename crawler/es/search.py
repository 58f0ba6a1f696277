"""Analyst search over the listings alias: a free query plus filters, as a small Python API."""

from __future__ import annotations

import re
from typing import Any

from elasticsearch import Elasticsearch

from crawler.es.names import IndexNames

TEXT_FIELDS = [
    "title^3",
    "text_normalized^2",
    "description",
    "vendor.text^2",
    "ships_from_raw.text",
    "ships_to_raw.text",
    "substance_names^3",
    "cas^3",
    "vendor^2",
    "vendor_handles^2",
    "contact_values^2",
]
RESULT_FIELDS = [
    "title", "price", "currency", "price_usd", "vendor", "platform", "source", "substance_names",
    "substance_classes", "ships_from", "ships_to", "risk", "intent", "first_seen", "last_seen", "status", "url",
    "vendor_contacts", "evidence.response_sha256",
]
_RELATIVE = re.compile(r"^(\d+)\s*([mhdwMy])$")


def _values(value: str | list[str] | tuple[str, ...] | None, upper: bool = False) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    out = [v.strip() for v in items if v and v.strip()]
    return [v.upper() for v in out] if upper else out


def since_expr(since: str) -> str:
    """``24h``/``7d``/``2w`` -> ``now-24h`` date math; ISO dates pass through."""
    s = since.strip()
    m = _RELATIVE.match(s)
    if m:
        return f"now-{m.group(1)}{m.group(2)}"
    if s.startswith("now"):
        return s
    if not re.match(r"^\d{4}-\d{2}-\d{2}", s):
        raise ValueError(f"--since {since!r}: use a duration like 24h, 7d, 2w or a date like 2026-01-31")
    return s


def build_query(
    query: str | None,
    *,
    substance_class: str | list[str] | None = None,
    country: str | list[str] | None = None,
    platform: str | list[str] | None = None,
    source: str | list[str] | None = None,
    since: str | None = None,
    min_risk: float | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """The Elasticsearch query for a search: core query types only (no scripts)."""
    filters: list[dict[str, Any]] = []
    if classes := _values(substance_class):
        filters.append({"terms": {"substance_classes": [c.lower() for c in classes]}})
    if countries := _values(country, upper=True):
        filters.append(
            {
                "bool": {
                    "should": [{"terms": {"ships_from": countries}}, {"terms": {"ships_to": countries}}],
                    "minimum_should_match": 1,
                }
            }
        )
    if platforms := _values(platform):
        filters.append({"terms": {"platform": platforms}})
    if sources := _values(source):
        filters.append({"terms": {"source": sources}})
    if since:
        filters.append({"range": {"last_seen": {"gte": since_expr(since)}}})
    if min_risk is not None:
        filters.append({"range": {"risk": {"gte": float(min_risk)}}})
    if status:
        filters.append({"term": {"status": status}})
    bool_q: dict[str, Any] = {"filter": filters}
    if query and query.strip():
        bool_q["must"] = [
            {
                "simple_query_string": {
                    "query": query,
                    "fields": TEXT_FIELDS,
                    "default_operator": "and",
                    "lenient": True,
                }
            }
        ]
    return {"bool": bool_q}


def search(
    client: Elasticsearch,
    names: IndexNames,
    query: str | None,
    *,
    substance_class: str | list[str] | None = None,
    country: str | list[str] | None = None,
    platform: str | list[str] | None = None,
    source: str | list[str] | None = None,
    since: str | None = None,
    min_risk: float | None = None,
    status: str | None = None,
    size: int = 20,
) -> list[dict[str, Any]]:
    """Listings matching ``query`` (title, description, normalised text, vendor, substances, CAS,
    contacts) and the filters, best first (relevance, then risk, then most recently seen).

    ``country`` matches ships-from or ships-to; ``since`` (``24h``, ``7d``, a date) bounds last_seen.
    Each result is the listing's main fields plus ``id`` and ``score``.
    """
    q = build_query(
        query, substance_class=substance_class, country=country, platform=platform, source=source,
        since=since, min_risk=min_risk, status=status,
    )
    sort: list[Any] = ["_score"] if query and query.strip() else []
    sort += [{"risk": {"order": "desc", "missing": "_last"}}, {"last_seen": {"order": "desc", "missing": "_last"}}]
    resp = client.search(
        index=names.listings, query=q, size=size, sort=sort, source_includes=RESULT_FIELDS, track_scores=True
    )
    out = []
    for hit in resp["hits"]["hits"]:
        src = hit.get("_source") or {}
        row = {"id": hit["_id"], "score": hit.get("_score")}
        for f in RESULT_FIELDS:
            if "." in f:
                head, tail = f.split(".", 1)
                row[tail] = (src.get(head) or {}).get(tail)
            else:
                row[f] = src.get(f)
        out.append(row)
    return out
