"""What a report is made of: the listings (with their index versions) and the vendor profile, from Elasticsearch.

Every listing document is read with its ``_version``, ``_seq_no`` and ``_primary_term`` so that the custody
record says exactly which state of the index the report shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError

from crawler.es.names import IndexNames
from crawler.es.search import build_query
from crawler.es.vendors import _norm_handle

PAGE = 500
"""Listings fetched per request (search_after pages)."""
MAX_LISTINGS = 20_000
"""A report larger than this is refused: narrow it with --since, --class or --min-risk."""


class ReportError(RuntimeError):
    """A report cannot be made (no such vendor, nothing matches, too many listings); the message says why."""


@dataclass
class Doc:
    """One listing document as read for a report: its source and where it stands in the index."""

    id: str
    index: str
    version: int | None
    seq_no: int | None
    primary_term: int | None
    source: dict[str, Any]

    @classmethod
    def from_hit(cls, hit: dict[str, Any]) -> Doc:
        return cls(
            id=str(hit["_id"]), index=str(hit.get("_index", "")), version=hit.get("_version"),
            seq_no=hit.get("_seq_no"), primary_term=hit.get("_primary_term"), source=hit.get("_source") or {},
        )

    def ref(self) -> dict[str, Any]:
        """The custody reference of this document."""
        return {"_index": self.index, "_id": self.id, "_version": self.version, "_seq_no": self.seq_no,
                "_primary_term": self.primary_term}


@dataclass
class Selection:
    """The documents of one report and how they were chosen."""

    kind: str  # "platform" or "vendor"
    subject: str
    query: dict[str, Any]
    params: dict[str, Any]
    docs: list[Doc]
    vendor: dict[str, Any] | None = None
    vendor_ref: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def _search_all(client: Elasticsearch, index: str, query: dict[str, Any]) -> list[Doc]:
    """Every document matching ``query``, oldest first, with versions (search_after on first_seen, fingerprint)."""
    docs: list[Doc] = []
    after: list[Any] | None = None
    while True:
        kwargs: dict[str, Any] = {}
        if after is not None:
            kwargs["search_after"] = after
        resp = client.search(
            index=index, query=query, size=PAGE, version=True, seq_no_primary_term=True,
            sort=[{"first_seen": {"order": "asc", "missing": "_last"}}, {"fingerprint": "asc"}], **kwargs,
        )
        hits = resp["hits"]["hits"]
        docs.extend(Doc.from_hit(h) for h in hits)
        if len(docs) > MAX_LISTINGS:
            raise ReportError(f"more than {MAX_LISTINGS} listings match: narrow the report with --since, "
                              "--class or --min-risk")
        if len(hits) < PAGE:
            return docs
        after = hits[-1]["sort"]


def platform_selection(
    client: Elasticsearch,
    names: IndexNames,
    platform: str,
    *,
    since: str | None = "30d",
    classes: list[str] | None = None,
    min_risk: float | None = None,
) -> Selection:
    """The listings of one platform seen within ``since`` (on ``last_seen``), of ``classes``, risk >= ``min_risk``."""
    query = build_query(None, platform=[platform], since=since, substance_class=classes or None, min_risk=min_risk)
    docs = _search_all(client, names.listings, query)
    if not docs:
        known = client.search(index=names.listings, size=0, aggs={"p": {"terms": {"field": "platform", "size": 50}}})
        platforms = [b["key"] for b in known["aggregations"]["p"]["buckets"]]
        raise ReportError(
            f"no listings of platform {platform!r} match (since {since}, classes {classes or 'any'}, "
            f"min risk {min_risk}); platforms in {names.listings}: {', '.join(platforms) or 'none'}"
        )
    params = {"platform": platform, "since": since, "classes": classes or [], "min_risk": min_risk}
    return Selection("platform", platform, query, params, docs)


def find_vendor(client: Elasticsearch, names: IndexNames, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The vendor profile for a profile id (``v-...``) or any handle or contact it carries; its source and ref."""
    key = key.strip()
    if not key:
        raise ReportError("empty vendor handle or id")
    try:
        hit = client.get(index=names.vendors, id=key)
        if hit.get("found"):
            return dict(hit["_source"]), _vendor_ref(dict(hit))
    except NotFoundError:
        pass
    # a profile id from before a merge (an older report's custody.json, an analyst's notes): the merge deleted
    # that profile, and the surviving one lists it in merged_from (unions carry it through later merges too)
    merged = client.search(index=names.vendors, size=1, version=True, seq_no_primary_term=True,
                           query={"term": {"merged_from": key}})["hits"]["hits"]
    if merged:
        return merged[0]["_source"], _vendor_ref(merged[0])
    handle = _norm_handle(key)
    should: list[dict[str, Any]] = [{"term": {"contact_values": key}}, {"term": {"handles": key.lower()}}]
    if handle:
        should += [{"term": {"handles": handle}}, {"term": {"identifiers": f"handle:{handle}"}},
                   {"term": {"identifiers": f"telegram:{handle}"}}]
    resp = client.search(index=names.vendors, size=10, version=True, seq_no_primary_term=True,
                         query={"bool": {"should": should, "minimum_should_match": 1}},
                         sort=[{"listing_count": {"order": "desc", "missing": "_last"}}])
    hits = resp["hits"]["hits"]
    if not hits:
        raise ReportError(f"no vendor profile has the id, handle or contact {key!r} in {names.vendors}")
    if len(hits) > 1:
        others = ", ".join(f"{h['_id']} ({(h['_source'] or {}).get('display_name')})" for h in hits[1:])
        raise ReportError(f"{key!r} names more than one vendor profile: {hits[0]['_id']} "
                          f"({hits[0]['_source'].get('display_name')}), {others}; give the profile id")
    return hits[0]["_source"], _vendor_ref(hits[0])


def _vendor_ref(hit: dict[str, Any]) -> dict[str, Any]:
    return {"_index": hit.get("_index"), "_id": hit.get("_id"), "_version": hit.get("_version"),
            "_seq_no": hit.get("_seq_no"), "_primary_term": hit.get("_primary_term")}


def vendor_selection(client: Elasticsearch, names: IndexNames, key: str) -> Selection:
    """Every listing of one vendor profile, across platforms and sources."""
    vendor, ref = find_vendor(client, names, key)
    ids = [str(i) for i in vendor.get("listing_ids") or []]
    docs: list[Doc] = []
    missing: list[str] = []
    for i in range(0, len(ids), PAGE):
        resp = client.mget(index=names.listings, ids=ids[i : i + PAGE])
        for d in resp["docs"]:
            if d.get("found"):
                docs.append(Doc.from_hit(d))
            else:
                missing.append(str(d.get("_id")))
    if not docs:
        raise ReportError(f"vendor profile {ref['_id']} has no listings in {names.listings}")
    docs.sort(key=lambda d: (d.source.get("first_seen") or "", d.id))
    notes = [f"{len(missing)} listing(s) of the profile are no longer in the index: {', '.join(missing[:10])}"] \
        if missing else []
    if key.strip() != ref["_id"] and key.strip() in (vendor.get("merged_from") or []):
        notes.insert(0, f"vendor profile {key.strip()} was merged into {ref['_id']}: this is the merged profile")
    query = {"ids": {"values": ids}}
    return Selection("vendor", str(ref["_id"]), query, {"vendor": key, "profile_id": ref["_id"]}, docs,
                     vendor=vendor, vendor_ref=ref, notes=notes)


def current_docs(client: Elasticsearch, index: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The index's current state of ``ids``: ``{id: hit}`` (``found`` False for deleted documents)."""
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(ids), PAGE):
        resp = client.mget(index=index, ids=ids[i : i + PAGE], source_includes=["evidence", "fingerprint"])
        for d in resp["docs"]:
            out[str(d["_id"])] = d
    return out
