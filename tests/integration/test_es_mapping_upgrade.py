"""Listings mapping v1 -> v2 on the real node: an installation made before the row-evidence fields were mapped
gets them from ``narcowatch es install``, and a listing indexed before the upgrade becomes findable by its
result page's WARC record and its row (the migration copies every document into the new version's index
by scan + bulk, so old documents are indexed under the new mapping; put-mapping alone would map the fields
for new writes only, and ``_update_by_query`` is not in the minimal distribution)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from elasticsearch import Elasticsearch

from crawler import paths
from crawler.cli import main
from crawler.es.documents import listing_doc
from crawler.es.indexer import ListingIndexer
from crawler.es.indices import alias_targets
from crawler.es.names import IndexNames
from crawler.es.templates import install, mapping_version
from crawler.items import Listing

NOW = "2026-12-03T14:00:00Z"
PAGE = "http://market.example.onion/search?q=fentanyl&pg=1"
PAGE_RECORD = "<urn:uuid:bbbbbbbb-0000-4000-8000-000000000001>"

# index_mappings/listings.json as it was at version 1 (before evidence.page_url / row / page_record_id).
OLD_LISTINGS = {
    "_meta": {"version": 1, "kind": "listings",
              "description": "One document per listing (offer, post or channel message); "
                             "_id is the listing fingerprint."},
    "settings": {"number_of_shards": 1, "auto_expand_replicas": "0-1"},
    "mappings": {"dynamic": False, "properties": {
        "@timestamp": {"type": "date"},
        "fingerprint": {"type": "keyword"},
        "content_hash": {"type": "keyword"},
        "status": {"type": "keyword"},
        "url": {"type": "keyword", "ignore_above": 2048},
        "source": {"type": "keyword"},
        "source_kind": {"type": "keyword"},
        "platform": {"type": "keyword"},
        "native_id": {"type": "keyword"},
        "title": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 512}}},
        "description": {"type": "text"},
        "text_normalized": {"type": "text"},
        "price_raw": {"type": "keyword", "ignore_above": 256},
        "price": {"type": "double"},
        "currency": {"type": "keyword"},
        "price_usd": {"type": "double"},
        "quantity": {"type": "keyword", "ignore_above": 256},
        "stock": {"type": "keyword", "ignore_above": 256},
        "vendor": {"type": "keyword", "ignore_above": 256, "fields": {"text": {"type": "text"}}},
        "vendor_url": {"type": "keyword", "ignore_above": 2048},
        "vendor_handles": {"type": "keyword", "ignore_above": 256},
        "vendor_contacts": {"properties": {"kind": {"type": "keyword"},
                                           "value": {"type": "keyword", "ignore_above": 512}}},
        "contact_values": {"type": "keyword", "ignore_above": 512},
        "vendor_profile_id": {"type": "keyword"},
        "ships_from_raw": {"type": "keyword", "ignore_above": 512, "fields": {"text": {"type": "text"}}},
        "ships_to_raw": {"type": "keyword", "ignore_above": 512, "fields": {"text": {"type": "text"}}},
        "ships_from": {"type": "keyword"},
        "ships_to": {"type": "keyword"},
        "ships_not_to": {"type": "keyword"},
        "ships_from_geo": {"type": "geo_point"},
        "category": {"type": "keyword", "ignore_above": 512},
        "posted_at": {"type": "date"},
        "updated_at": {"type": "date"},
        "images": {"type": "keyword", "index": False, "doc_values": False},
        "links": {"type": "keyword", "ignore_above": 2048},
        "views": {"type": "long"},
        "substances": {"properties": {"name": {"type": "keyword"}, "class": {"type": "keyword"},
                                      "cas": {"type": "keyword"}}},
        "substance_names": {"type": "keyword"},
        "substance_classes": {"type": "keyword"},
        "cas": {"type": "keyword"},
        "entities": {"type": "object", "enabled": False},
        "intent": {"type": "keyword"},
        "risk": {"type": "float"},
        "first_seen": {"type": "date"},
        "last_seen": {"type": "date"},
        "removed_at": {"type": "date"},
        "fetched_at": {"type": "date"},
        "changed_at": {"type": "date"},
        "evidence": {"properties": {
            "response_sha256": {"type": "keyword"},
            "response_status": {"type": "integer"},
            "warc_file": {"type": "keyword", "ignore_above": 1024},
            "warc_record_id": {"type": "keyword"},
            "screenshot": {"type": "keyword", "ignore_above": 1024},
        }},
        "extra": {"type": "object", "enabled": False},
    }},
}


def _listing(n: int, *, row: int | None) -> Listing:
    listing = Listing(
        url=f"http://market.example.onion/item/{n}", source="example-market", source_kind="market",
        title=f"Fentanyl powder {n}", fingerprint=f"fp-{n}", content_hash=f"ch-{n}",
        warc_record_id=f"<urn:uuid:aaaaaaaa-0000-4000-8000-{n:012d}>",
    )
    if row is not None:  # read as a row of the result page: the page's record is the evidence
        listing.source_page, listing.row, listing.source_page_record = PAGE, row, PAGE_RECORD
    return listing


def _find(client: Elasticsearch, names: IndexNames, *terms: dict[str, Any]) -> list[str]:
    client.indices.refresh(index=names.listings)
    resp = client.search(index=names.listings, query={"bool": {"filter": [{"term": t} for t in terms]}})
    return sorted(hit["_id"] for hit in resp["hits"]["hits"])


def test_upgrade_maps_row_evidence_of_existing_listings(
    es_client: Elasticsearch, es_env: IndexNames, tmp_path: Path
) -> None:
    names = es_env
    old_dir = tmp_path / "mappings-v1"
    shutil.copytree(paths.MAPPINGS_DIR, old_dir)
    (old_dir / "listings.json").write_text(json.dumps(OLD_LISTINGS), encoding="utf-8")
    install(es_client, names, kinds=["listings"], mappings_dir=old_dir)
    assert alias_targets(es_client, names.listings) == [names.index("listings", 1)]

    indexer = ListingIndexer(es_client, names, tmp_path / "spool", refresh="wait_for")
    docs = [listing_doc(_listing(1, row=3), NOW), listing_doc(_listing(2, row=None), NOW)]
    assert indexer.index_batch(docs).indexed == 2
    # v1 keeps the row evidence in _source only: no query can find it
    assert es_client.get(index=names.listings, id="fp-1")["_source"]["evidence"]["page_record_id"] == PAGE_RECORD
    assert _find(es_client, names, {"evidence.page_record_id": PAGE_RECORD}) == []

    upgrade = CliRunner().invoke(main, ["es", "install"])
    assert upgrade.exit_code == 0, upgrade.output
    current = names.index("listings", mapping_version("listings"))
    assert mapping_version("listings") >= 2 and f"{names.listings} -> {current}" in upgrade.output
    assert alias_targets(es_client, names.listings) == [current]

    assert _find(es_client, names, {"evidence.page_record_id": PAGE_RECORD}) == ["fp-1"]
    assert _find(es_client, names, {"evidence.page_record_id": PAGE_RECORD}, {"evidence.row": 3}) == ["fp-1"]
    assert _find(es_client, names, {"evidence.page_record_id": PAGE_RECORD}, {"evidence.row": 4}) == []
    assert _find(es_client, names, {"evidence.page_url": PAGE}) == ["fp-1"]
    assert es_client.count(index=names.listings)["count"] == 2  # the listing read from its own page came too

    # listings written after the upgrade are searchable by their row evidence at once
    fresh = ListingIndexer(es_client, names, tmp_path / "spool2", refresh="wait_for")
    assert fresh.index_batch([listing_doc(_listing(3, row=7), NOW)]).indexed == 1
    assert _find(es_client, names, {"evidence.page_record_id": PAGE_RECORD}) == ["fp-1", "fp-3"]
    assert _find(es_client, names, {"evidence.row": 7}) == ["fp-3"]


def test_upgrade_from_v2_drops_the_unwritten_vendor_profile_id(
    es_client: Elasticsearch, es_env: IndexNames, tmp_path: Path
) -> None:
    """Listings v3 no longer maps ``vendor_profile_id`` (declared since v1, never written). An installation at v2
    is copied into v3 by ``install``: every document and its row evidence kept, the dead field gone."""
    names = es_env
    old_dir = tmp_path / "mappings-v2"
    shutil.copytree(paths.MAPPINGS_DIR, old_dir)
    v2 = json.loads((paths.MAPPINGS_DIR / "listings.json").read_text(encoding="utf-8"))
    v2["_meta"]["version"] = 2
    v2["mappings"]["properties"]["vendor_profile_id"] = {"type": "keyword"}
    (old_dir / "listings.json").write_text(json.dumps(v2), encoding="utf-8")
    install(es_client, names, kinds=["listings"], mappings_dir=old_dir)
    v2_index = names.index("listings", 2)
    assert alias_targets(es_client, names.listings) == [v2_index]
    indexer = ListingIndexer(es_client, names, tmp_path / "spool", refresh="wait_for")
    assert indexer.index_batch([listing_doc(_listing(n, row=n), NOW) for n in (1, 2)]).indexed == 2

    assert mapping_version("listings") == 3
    install(es_client, names, kinds=["listings"])
    current = names.index("listings", 3)
    assert alias_targets(es_client, names.listings) == [current]
    props = es_client.indices.get_mapping(index=current)[current]["mappings"]["properties"]
    assert "vendor_profile_id" not in props and "contact_values" in props
    assert "vendor_profile_id" in es_client.indices.get_mapping(index=v2_index)[v2_index]["mappings"]["properties"]
    assert es_client.count(index=names.listings)["count"] == 2
    assert _find(es_client, names, {"evidence.page_record_id": PAGE_RECORD}, {"evidence.row": 2}) == ["fp-2"]


def test_upgrade_of_vendors_from_v1_drops_the_unwritten_merged_into(
    es_client: Elasticsearch, es_env: IndexNames, tmp_path: Path
) -> None:
    """Vendors v2 no longer maps ``merged_into`` (declared since v1, never written: a merge deletes the other
    profiles and the survivor's ``merged_from`` names them). ``install`` copies a v1 installation's profiles."""
    from crawler.es.vendors import update_vendors

    names = es_env
    old_dir = tmp_path / "mappings-vendors-v1"
    shutil.copytree(paths.MAPPINGS_DIR, old_dir)
    v1 = json.loads((paths.MAPPINGS_DIR / "vendors.json").read_text(encoding="utf-8"))
    v1["_meta"]["version"] = 1
    v1["mappings"]["properties"]["merged_into"] = {"type": "keyword"}
    (old_dir / "vendors.json").write_text(json.dumps(v1), encoding="utf-8")
    install(es_client, names, kinds=["vendors"], mappings_dir=old_dir)
    v1_index = names.index("vendors", 1)
    assert alias_targets(es_client, names.vendors) == [v1_index]
    listing = _listing(1, row=None)
    listing.vendor, listing.nlp = "chemking", {"vendor": {"handles": ["chemking"], "contacts": []}}
    assert update_vendors(es_client, names, [listing_doc(listing, NOW)]).created == 1

    assert mapping_version("vendors") == 2
    install(es_client, names, kinds=["vendors"])
    current = names.index("vendors", 2)
    assert alias_targets(es_client, names.vendors) == [current]
    props = es_client.indices.get_mapping(index=current)[current]["mappings"]["properties"]
    assert "merged_into" not in props and "merged_from" in props
    es_client.indices.refresh(index=names.vendors)
    hits = es_client.search(index=names.vendors, query={"term": {"handles": "chemking"}})["hits"]["hits"]
    assert [h["_source"]["listing_ids"] for h in hits] == [["fp-1"]]
