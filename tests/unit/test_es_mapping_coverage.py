"""Every field the indexer writes is mapped: documents built from hand-built, fully filled items, checked
against ``index_mappings/*.json`` (``dynamic: false`` indices keep unmapped fields in ``_source`` only, so
an unmapped field is one an analyst cannot search or filter on in Kibana)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from crawler.es.documents import change_doc, listing_doc
from crawler.es.templates import load_mapping
from crawler.es.vendors import merge_profile
from crawler.items import Listing
from crawler.processing import BatchProcessor

NOW = "2026-12-03T14:00:00Z"

# Fields written but deliberately not searchable, per index, with the reason. Keep it short: each entry is
# a field an analyst cannot filter on. (Objects mapped with "enabled": false, like listings' `entities` and
# `extra`, are declared in the mapping itself and need no entry here.)
STORED_NOT_SEARCHED: dict[str, set[str]] = {
    "listings": set(),
    "changes": set(),
    "vendors": set(),
}

NLP = {
    "entities": [{"start": 0, "end": 8, "label": "SUBSTANCE", "text": "fentanyl", "canonical": "fentanyl"}],
    "substances": [{"name": "fentanyl", "class": "fentanyl", "cas": "437-38-7", "control": "schedule II"}],
    "vendor": {
        "handles": ["chemking"],
        "contacts": [{"kind": "telegram", "value": "@chemking"}],
        "wallets": [{"kind": "btc", "value": "bc1qexampleexampleexampleexample0"}],
    },
    "pgp": ["0123456789ABCDEF0123456789ABCDEF01234567"],
    "ships_from": ["CN"],
    "ships_to": ["US", "WORLDWIDE"],
    "ships_not_to": ["AU"],
    "shipping": {"carriers": ["DHL", "EMS"], "stealth": True, "domestic_only": False},
    "intent": "sale",
    "risk": 0.93,
    "text_normalized": "fentanyl powder 10 g ships from china",
}


def full_listing() -> Listing:
    """A listing read as row 3 of a result page, with every item field filled."""
    return Listing(
        url="http://market.example.onion/item/42", source="example-market", source_kind="market",
        platform="market.example.onion", native_id="42", title="Fentanyl powder 10g",
        description="Pure fentanyl, ships from China", price_raw="$120.00", price="120.00", currency="usd",
        quantity="10 g", stock="12 left", vendor="chemking", vendor_url="http://market.example.onion/u/chemking",
        ships_from_raw="China", ships_to_raw="Worldwide except Australia", category="Opioids / Fentanyl",
        posted_at="2026-12-01T10:00:00Z", updated_at="2026-12-02T10:00:00Z",
        images=["http://market.example.onion/img/42.jpg"], links=["https://t.me/chemking"], views=812,
        cas_numbers=["437-38-7"], extra={"escrow": "yes"},
        fetched_at="2026-12-03T13:59:00Z", response_sha256="ab" * 32, response_status=200,
        warc_file="warc/example-market-00001.warc.gz", warc_record_id="<urn:uuid:aaaaaaaa-0000-4000-8000-000000000042>",
        screenshot="screenshots/42.png", source_page="http://market.example.onion/search?q=fentanyl&pg=1", row=3,
        source_page_record="<urn:uuid:bbbbbbbb-0000-4000-8000-000000000001>",
        fingerprint="fp-42", content_hash="ch-42", nlp=NLP,
    )


def unmapped(doc: dict[str, Any], props: dict[str, Any], path: str = "") -> list[str]:
    """Dotted paths of the leaf fields of ``doc`` that ``props`` (mapping properties) does not map."""
    out: list[str] = []
    for key, value in doc.items():
        full = f"{path}{key}"
        spec = props.get(key)
        if spec is None:
            out.append(full)
            continue
        if spec.get("enabled") is False or spec.get("type", "object") not in ("object", "nested"):
            continue  # a leaf type (geo_point values are dicts too), or an object stored on purpose
        for element in value if isinstance(value, list) else [value]:
            if isinstance(element, dict):
                out.extend(unmapped(element, spec.get("properties", {}), full + "."))
            elif element is not None:
                out.append(f"{full} (a value where the mapping has an object)")
    return sorted(set(out))


def test_fixture_fills_every_item_field() -> None:
    """A new Listing field must be filled here, so that the coverage tests below see it in the document."""
    listing = full_listing()
    empty = [f.name for f in dataclasses.fields(Listing) if getattr(listing, f.name) in (None, "", [], {})]
    assert empty == []


def test_listing_document_is_fully_mapped() -> None:
    doc = listing_doc(full_listing(), NOW)
    assert doc["evidence"]["page_record_id"]  # the row evidence really is in the document under test
    props = load_mapping("listings")["mappings"]["properties"]
    assert unmapped(doc, props) == sorted(STORED_NOT_SEARCHED["listings"])


def test_shipping_carriers_and_stealth_are_searchable_fields() -> None:
    """DESIGN's SHIPPING carries carrier and stealth: analysts filter on them (e.g. stealth:true AND carriers:EMS)."""
    doc = listing_doc(full_listing(), NOW)
    assert doc["carriers"] == ["DHL", "EMS"] and doc["stealth"] is True and doc["domestic_only"] is False
    bare = listing_doc(dataclasses.replace(full_listing(), nlp={"intent": "sale"}), NOW)
    assert bare["carriers"] == [] and bare["stealth"] is None and bare["domestic_only"] is None
    props = load_mapping("listings")["mappings"]["properties"]
    assert props["carriers"]["type"] == "keyword"
    assert props["stealth"]["type"] == props["domestic_only"]["type"] == "boolean"


def test_row_evidence_fields_have_searchable_types() -> None:
    evidence = load_mapping("listings")["mappings"]["properties"]["evidence"]["properties"]
    assert evidence["page_url"] == {"type": "keyword", "ignore_above": 2048}
    assert evidence["page_record_id"]["type"] == "keyword"
    assert evidence["row"]["type"] == "integer"


def test_seen_again_update_is_mapped() -> None:
    doc = BatchProcessor._seen_doc(full_listing(), NOW)
    body = {k: v for k, v in doc.items() if not k.startswith("_")}
    assert set(body) == {"last_seen", "status", "fetched_at"}
    assert unmapped(body, load_mapping("listings")["mappings"]["properties"]) == []


def test_change_document_is_fully_mapped() -> None:
    previous = {"content_hash": "old", "price": 100.0, "currency": "USD", "stock": "20 left", "status": "removed",
                "removed_at": "2026-11-30T00:00:00Z"}
    doc = change_doc(full_listing(), previous, "relisted", NOW)
    body = {k: v for k, v in doc.items() if k != "_id"}
    assert unmapped(body, load_mapping("changes")["mappings"]["properties"]) == sorted(STORED_NOT_SEARCHED["changes"])


def test_vendor_profile_is_fully_mapped() -> None:
    listing_document = listing_doc(full_listing(), NOW)
    other = merge_profile({"profile_id": "v-other"}, [], [listing_document])
    profile = merge_profile({"profile_id": "v-1"}, [other], [listing_document])
    profile["@timestamp"] = NOW
    profile["merged_from"] = ["v-other"]
    assert profile["contacts"] and profile["countries_geo"]  # the nested and geo fields are really there
    assert unmapped(profile, load_mapping("vendors")["mappings"]["properties"]) == sorted(
        STORED_NOT_SEARCHED["vendors"]
    )


@pytest.mark.parametrize("kind", ["listings", "changes", "vendors"])
def test_checked_indices_are_not_dynamic(kind: str) -> None:
    """The check above matters because these indices drop unknown fields from the index."""
    assert load_mapping(kind)["mappings"]["dynamic"] is False


def unwritten(doc: dict[str, Any], props: dict[str, Any], path: str = "") -> list[str]:
    """Dotted paths of the leaf fields ``props`` maps that ``doc`` does not hold (the reverse of ``unmapped``)."""
    out: list[str] = []
    for key, spec in props.items():
        full = f"{path}{key}"
        if key not in doc:
            out.append(full)
        elif "properties" in spec and spec.get("type", "object") in ("object", "nested"):
            elements = [e for e in (doc[key] if isinstance(doc[key], list) else [doc[key]]) if isinstance(e, dict)]
            merged = {k: v for e in elements for k, v in e.items()}
            out.extend(unwritten(merged, spec["properties"], full + "."))
    return sorted(out)


def test_every_listing_change_and_vendor_field_is_written() -> None:
    """A mapped field nothing writes is dead weight analysts search in vain (listings v3 dropped
    ``vendor_profile_id``, vendors v2 ``merged_into``: declared since v1, never written)."""
    listing = listing_doc(full_listing(), NOW)
    assert unwritten(listing, load_mapping("listings")["mappings"]["properties"]) == []
    previous = {"content_hash": "old", "price": 100.0, "currency": "USD", "stock": "20 left", "status": "removed",
                "removed_at": "2026-11-30T00:00:00Z"}
    change = change_doc(full_listing(), previous, "relisted", NOW)
    assert unwritten(change, load_mapping("changes")["mappings"]["properties"]) == []
    other = merge_profile({"profile_id": "v-other"}, [], [listing])
    profile = merge_profile({"profile_id": "v-1"}, [other], [listing])
    profile["@timestamp"] = NOW  # both written by crawler.es.vendors._plan beside merge_profile
    profile["merged_from"] = ["v-other"]
    assert unwritten(profile, load_mapping("vendors")["mappings"]["properties"]) == []


def test_unwritten_names_mapped_fields_missing_from_the_document() -> None:
    props = {"a": {"type": "keyword"}, "dead": {"type": "keyword"},
             "o": {"properties": {"b": {"type": "integer"}, "c": {"type": "keyword"}}}}
    assert unwritten({"a": 1, "o": [{"b": 1}, {"x": 2}]}, props) == ["dead", "o.c"]


def test_unmapped_names_missing_fields() -> None:
    props = {"a": {"type": "keyword"}, "o": {"properties": {"b": {"type": "integer"}}},
             "off": {"type": "object", "enabled": False}, "geo": {"type": "geo_point"}}
    doc = {"a": "x", "o": [{"b": 1, "c": 2}], "off": {"anything": 1}, "geo": [{"lat": 1, "lon": 2}], "z": None}
    assert unmapped(doc, props) == ["o.c", "z"]
