"""Vendor profiles: one document per actor, linking sources and platforms by shared identifiers.

Identifiers are typed and normalised (``handle:chemking``, ``telegram:chemking``, ``pgp:<FPR>``,
``wallet:btc:<addr>``, ``email:...``). Listings sharing any identifier belong to one profile; when a
batch links two existing profiles they merge into the one with the smaller ``_id`` (deterministic) and
the other is deleted. A new profile's ``_id`` is derived from its strongest identifier, so two
processes creating the same profile collide on ``create`` instead of writing two.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from typing import Any

from elasticsearch import ConflictError, Elasticsearch, NotFoundError

from crawler.common.clock import utc_now_iso
from crawler.es.documents import WALLET_KINDS
from crawler.es.geo import country_points
from crawler.es.indexer import write_actions
from crawler.es.names import IndexNames

log = logging.getLogger(__name__)

# Handles that name a role, not an actor: never link on them.
GENERIC_HANDLES = frozenset(
    "admin administrator anonymous anon unknown guest support seller vendor shop store deleted moderator "
    "mod user team official bot channel null none".split()
)
_HANDLE_CHARS = re.compile(r"[^a-z0-9_.\-]")
_TG_URL = re.compile(r"^(?:https?://)?(?:t\.me|telegram\.me)/", re.I)
MAX_RETRIES = 5


@dataclass
class VendorResult:
    """What one ``update_vendors`` call did."""

    created: int = 0
    updated: int = 0
    merged: int = 0
    listings: int = 0


def _norm_handle(value: str | None) -> str | None:
    if not value:
        return None
    v = _TG_URL.sub("", value.strip()).lstrip("@").lower()
    v = _HANDLE_CHARS.sub("", v)
    if len(v) < 3 or v in GENERIC_HANDLES:
        return None
    return v


def contact_identifier(kind: str, value: str) -> str | None:
    """The typed, normalised identifier of one contact or payment address (None when unusable)."""
    kind = (kind or "").strip().lower()
    value = (value or "").strip()
    if not kind or not value:
        return None
    if kind in WALLET_KINDS:
        v = value.lower() if kind == "eth" or value.lower().startswith("bc1") else value
        return f"wallet:{kind}:{v}"
    if kind == "pgp":
        hexes = re.sub(r"[^0-9A-Fa-f]", "", value).upper()
        return f"pgp:{hexes}" if len(hexes) >= 16 else None
    if kind == "email":
        return f"email:{value.lower()}"
    if kind == "phone":
        digits = re.sub(r"[^0-9+]", "", value)
        return f"phone:{digits}" if len(digits) >= 7 else None
    h = _norm_handle(value)
    return f"{kind}:{h}" if h else None


def identifiers(doc: dict[str, Any]) -> set[str]:
    """Every identifier a listing document carries about its seller."""
    out: set[str] = set()
    platform = (doc.get("platform") or "").lower()
    for raw in [doc.get("vendor"), *(doc.get("vendor_handles") or [])]:
        h = _norm_handle(raw)
        if h:
            out.add(f"handle:{h}")
            if platform in ("telegram", "t.me"):
                out.add(f"telegram:{h}")  # a channel's author handle is its Telegram handle
    for c in doc.get("vendor_contacts") or []:
        ident = contact_identifier(str(c.get("kind", "")), str(c.get("value", "")))
        if ident:
            out.add(ident)
    return out


def profile_id(idents: set[str]) -> str:
    """Deterministic id of a new profile: from its smallest strong identifier (a handle only if none)."""
    strong = sorted(i for i in idents if not i.startswith("handle:"))
    key = strong[0] if strong else sorted(idents)[0]
    return "v-" + hashlib.sha256(key.encode()).hexdigest()[:24]


def _union(*lists: Any) -> list[Any]:
    out: list[Any] = []
    for lst in lists:
        for v in lst or []:
            if v not in (None, "") and v not in out:
                out.append(v)
    return out


def _min(*values: Any) -> Any:
    vals = [v for v in values if v]
    return min(vals) if vals else None


def _max(*values: Any) -> Any:
    vals = [v for v in values if v]
    return max(vals) if vals else None


def merge_profile(base: dict[str, Any], others: list[dict[str, Any]], docs: list[dict[str, Any]]) -> dict[str, Any]:
    """Fold other profiles and listing documents into ``base`` (a new dict; counts recomputed)."""
    p = {k: (list(v) if isinstance(v, list) else v) for k, v in base.items()}
    for o in others:
        for key in ("handles", "identifiers", "contact_values", "pgp_fingerprints", "wallets", "vendor_urls",
                    "sources", "platforms", "listing_ids", "substances", "substance_classes", "countries",
                    "ships_to", "merged_from"):
            p[key] = _union(p.get(key), o.get(key))
        p["contacts"] = _union(p.get("contacts"), o.get("contacts"))
        p["first_seen"] = _min(p.get("first_seen"), o.get("first_seen"))
        p["last_seen"] = _max(p.get("last_seen"), o.get("last_seen"))
        p["max_risk"] = _max(p.get("max_risk"), o.get("max_risk"))
        p["display_name"] = p.get("display_name") or o.get("display_name")
    for d in docs:
        idents = identifiers(d)
        p["identifiers"] = _union(p.get("identifiers"), sorted(idents))
        handles = [h.split(":", 1)[1] for h in sorted(idents) if h.startswith("handle:")]
        p["handles"] = _union(p.get("handles"), handles)
        contacts = [
            {"kind": c.get("kind"), "value": c.get("value")} for c in d.get("vendor_contacts") or [] if c.get("value")
        ]
        p["contacts"] = _union(p.get("contacts"), contacts)
        p["contact_values"] = _union(p.get("contact_values"), [c["value"] for c in contacts])
        p["pgp_fingerprints"] = _union(
            p.get("pgp_fingerprints"), [i.split(":", 1)[1] for i in idents if i.startswith("pgp:")]
        )
        p["wallets"] = _union(p.get("wallets"), [i.split(":", 2)[2] for i in idents if i.startswith("wallet:")])
        p["vendor_urls"] = _union(p.get("vendor_urls"), [d.get("vendor_url")])
        p["sources"] = _union(p.get("sources"), [d.get("source")])
        p["platforms"] = _union(p.get("platforms"), [d.get("platform")])
        p["listing_ids"] = _union(p.get("listing_ids"), [d.get("fingerprint") or d.get("_id")])
        p["substances"] = _union(p.get("substances"), d.get("substance_names"))
        p["substance_classes"] = _union(p.get("substance_classes"), d.get("substance_classes"))
        p["countries"] = _union(p.get("countries"), d.get("ships_from"))
        p["ships_to"] = _union(p.get("ships_to"), d.get("ships_to"))
        p["first_seen"] = _min(p.get("first_seen"), d.get("first_seen"), d.get("last_seen"))
        p["last_seen"] = _max(p.get("last_seen"), d.get("last_seen"))
        if isinstance(d.get("risk"), int | float):
            p["max_risk"] = _max(p.get("max_risk"), float(d["risk"]))
        p["display_name"] = p.get("display_name") or d.get("vendor") or (handles[0] if handles else None)
    p["platform_count"] = len(p.get("platforms") or [])
    p["source_count"] = len(p.get("sources") or [])
    p["listing_count"] = len(p.get("listing_ids") or [])
    p["countries_geo"] = country_points(p.get("countries"))
    return p


def _components(docs: list[dict[str, Any]]) -> list[tuple[set[str], list[dict[str, Any]]]]:
    """Group the batch's documents that share an identifier (union-find over identifiers)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    with_ids = []
    for d in docs:
        ids = identifiers(d)
        if not ids:
            continue
        with_ids.append((ids, d))
        first, *rest = sorted(ids)
        for other in rest:
            ra, rb = find(first), find(other)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, tuple[set[str], list[dict[str, Any]]]] = {}
    for ids, d in with_ids:
        root = find(next(iter(ids)))
        g = groups.setdefault(root, (set(), []))
        g[0].update(ids)
        g[1].append(d)
    return list(groups.values())


def _search_body(idents: set[str]) -> dict[str, Any]:
    return {
        "query": {"terms": {"identifiers": sorted(idents)}},
        "size": 100,
        "seq_no_primary_term": True,
        "sort": [{"profile_id": "asc"}],
    }


def _plan(
    found: list[dict[str, Any]], idents: set[str], group: list[dict[str, Any]], now: str, names: IndexNames
) -> tuple[list[dict[str, Any]], str, int]:
    """The bulk actions folding ``group`` into the profiles ``found``: (actions, kind, merged count)."""
    if not found:
        pid = profile_id(idents)
        profile = merge_profile({"profile_id": pid}, [], group)
        profile["@timestamp"] = now
        return [{"_op_type": "create", "_index": names.vendors, "_id": pid, "_source": profile}], "created", 0
    survivor, *others = found
    profile = merge_profile(survivor["_source"], [o["_source"] for o in others], group)
    profile["merged_from"] = _union(profile.get("merged_from"), [o["_id"] for o in others])
    profile["@timestamp"] = now
    actions: list[dict[str, Any]] = [{
        "_op_type": "index", "_index": names.vendors, "_id": survivor["_id"], "_source": profile,
        "if_seq_no": survivor["_seq_no"], "if_primary_term": survivor["_primary_term"],
    }]
    for o in others:
        actions.append({
            "_op_type": "delete", "_index": names.vendors, "_id": o["_id"],
            "if_seq_no": o["_seq_no"], "if_primary_term": o["_primary_term"],
        })
        log.info("vendor profile %s merged into %s", o["_id"], survivor["_id"])
    return actions, "updated", len(others)


def update_vendors(
    client: Elasticsearch, names: IndexNames, docs: list[dict[str, Any]], now: str | None = None
) -> VendorResult:
    """Fold a batch of listing documents into vendor profiles (after the listings were indexed).

    One ``_msearch`` finds the profiles of every group of linked listings and one bulk writes them,
    with optimistic concurrency; groups whose profiles changed meanwhile are folded again one by one.
    """
    result = VendorResult()
    now = now or utc_now_iso()
    comps = _components(docs)
    if not comps:
        return result
    searches: list[dict[str, Any]] = []
    for idents, _group in comps:
        searches.extend([{"index": names.vendors}, _search_body(idents)])
    responses = client.msearch(searches=searches)["responses"]
    actions: list[dict[str, Any]] = []
    deletes: dict[int, list[dict[str, Any]]] = {}
    owner: dict[str, int] = {}
    retry: set[int] = set()
    for i, ((idents, group), resp) in enumerate(zip(comps, responses, strict=True)):
        if "error" in resp:
            retry.add(i)
            continue
        found = resp["hits"]["hits"]
        if any(h["_id"] in owner for h in found):
            retry.add(i)  # another group of this batch already rewrites that profile
            continue
        planned, kind, merged = _plan(found, idents, group, now, names)
        if any(a["_id"] in owner for a in planned):
            retry.add(i)
            continue
        for a in planned:
            owner[a["_id"]] = i
        actions.append(planned[0])
        deletes[i] = planned[1:]
        setattr(result, kind, getattr(result, kind) + 1)
        result.merged += merged
    if actions:
        # profiles first; the profiles merged into them are deleted only once that write succeeded
        # write_actions retries 429s and connection errors; if the cluster stays away it raises
        # IndexerUnavailable and the batch processor spools the batch (vendor folding is idempotent)
        for action, info in zip(actions, write_actions(client, actions), strict=True):
            if not info.get("error"):
                continue
            op = action["_op_type"]
            i = owner.get(str(action["_id"]), -1)
            if i < 0:
                continue
            retry.add(i)
            result.merged -= len(deletes.pop(i, []))
            if op == "create":
                result.created -= 1
            else:
                result.updated -= 1
        to_delete = [a for i, acts in deletes.items() if i not in retry for a in acts]
        if to_delete:
            for action, info in zip(to_delete, write_actions(client, to_delete), strict=True):
                if info.get("error") and info.get("status") != 404:  # 404: merged away by someone else already
                    retry.add(owner.get(str(action["_id"]), -1))
            retry.discard(-1)
    if retry:
        client.indices.refresh(index=names.vendors)
        for i in sorted(retry):
            idents, group = comps[i]
            for attempt in range(MAX_RETRIES):
                try:
                    _apply(client, names, idents, group, now, result)
                    break
                except ConflictError:
                    # another writer changed a profile we read: see its latest state and fold again
                    client.indices.refresh(index=names.vendors)
                    if attempt == MAX_RETRIES - 1:
                        raise
    result.listings = sum(len(g) for _, g in comps)
    client.indices.refresh(index=names.vendors)
    return result


def _apply(
    client: Elasticsearch,
    names: IndexNames,
    idents: set[str],
    group: list[dict[str, Any]],
    now: str,
    result: VendorResult,
) -> None:
    # Single conditional writes, not through write_actions: a connection error raises to the batch
    # processor, which spools the batch (folding again on replay gives the same profile).
    resp = client.search(
        index=names.vendors,
        query={"terms": {"identifiers": sorted(idents)}},
        size=100,
        seq_no_primary_term=True,
        sort=[{"profile_id": "asc"}],
    )
    found = resp["hits"]["hits"]
    if not found:
        pid = profile_id(idents)
        profile = merge_profile({"profile_id": pid}, [], group)
        profile["@timestamp"] = now
        client.index(index=names.vendors, id=pid, document=profile, op_type="create")
        result.created += 1
        return
    survivor, *others = found
    profile = merge_profile(survivor["_source"], [o["_source"] for o in others], group)
    profile["merged_from"] = _union(profile.get("merged_from"), [o["_id"] for o in others])
    profile["@timestamp"] = now
    client.index(
        index=names.vendors,
        id=survivor["_id"],
        document=profile,
        if_seq_no=survivor["_seq_no"],
        if_primary_term=survivor["_primary_term"],
    )
    result.updated += 1
    for o in others:
        try:
            client.delete(
                index=names.vendors, id=o["_id"], if_seq_no=o["_seq_no"], if_primary_term=o["_primary_term"]
            )
        except NotFoundError:
            pass
        result.merged += 1
        log.info("vendor profile %s merged into %s", o["_id"], survivor["_id"])
