"""ListingIndexer against the real node: idempotent upserts, first/last seen, changes, spool, removals."""

from __future__ import annotations

from pathlib import Path

from elasticsearch import Elasticsearch

from crawler import fingerprint as fp
from crawler.es.documents import change_doc, listing_doc
from crawler.es.indexer import ListingIndexer
from crawler.es.names import IndexNames
from crawler.es.node import free_port
from crawler.items import Listing


def make_listing(i: int, price: str = "120.00", title: str | None = None) -> Listing:
    item = Listing(
        url=f"http://127.0.0.1/market/listing/{i}",
        source="testmarket",
        source_kind="market",
        platform="testmarket.onion",
        native_id=str(i),
        title=title or f"Fentanyl powder 99% batch {i}",
        description="Pure fentanyl, ships from CN, contact telegram @chemking",
        price=price,
        price_raw=f"${price}",
        currency="USD",
        stock="in stock",
        vendor="chemking",
        nlp={
            "substances": [{"name": "fentanyl", "class": "fentanyl", "cas": "437-38-7"}],
            "vendor": {"handles": ["chemking"], "contacts": [{"kind": "telegram", "value": "@chemking"}]},
            "ships_from": ["CN"],
            "ships_to": ["US", "WORLDWIDE"],
            "ships_not_to": ["AU"],
            "intent": "sale",
            "risk": 0.9,
            "text_normalized": "pure fentanyl ships from cn",
        },
    )
    return fp.apply(item)


def _indexer(client: Elasticsearch, names: IndexNames, tmp_path: Path, **kw: object) -> ListingIndexer:
    return ListingIndexer(client, names, tmp_path / "spool", refresh="wait_for", **kw)  # type: ignore[arg-type]


def test_same_batch_twice_leaves_count_unchanged(
    es_client: Elasticsearch, es_installed: IndexNames, tmp_path: Path
) -> None:
    idx = _indexer(es_client, es_installed, tmp_path)
    batch = [make_listing(i) for i in range(50)]
    first = idx.index_batch([listing_doc(x, "2026-01-01T00:00:00.000Z") for x in batch], [])
    assert (first.indexed, first.created, first.failed, first.spooled) == (50, 50, 0, 0)
    second = idx.index_batch([listing_doc(x, "2026-01-02T00:00:00.000Z") for x in batch], [])
    assert (second.indexed, second.created, second.failed) == (50, 0, 0)
    assert es_client.count(index=es_installed.listings)["count"] == 50


def test_reindex_keeps_first_seen_and_moves_last_seen(
    es_client: Elasticsearch, es_installed: IndexNames, tmp_path: Path
) -> None:
    idx = _indexer(es_client, es_installed, tmp_path)
    item = make_listing(1)
    idx.index_batch([listing_doc(item, "2026-01-01T00:00:00.000Z")], [])
    changed = make_listing(1, price="99.00")
    prev = idx.lookup([changed.fingerprint or ""])[changed.fingerprint or ""]
    assert prev["price"] == 120.0 and prev["first_seen"] == "2026-01-01T00:00:00.000Z"
    change = change_doc(changed, prev, "price_change", "2026-01-05T00:00:00.000Z")
    res = idx.index_batch([listing_doc(changed, "2026-01-05T00:00:00.000Z")], [change])
    assert (res.indexed, res.changes, res.failed) == (1, 1, 0)
    src = es_client.get(index=es_installed.listings, id=item.fingerprint)["_source"]
    assert src["first_seen"] == "2026-01-01T00:00:00.000Z"
    assert src["last_seen"] == "2026-01-05T00:00:00.000Z"
    assert src["price"] == 99.0 and src["substance_classes"] == ["fentanyl"]
    assert src["ships_from_geo"] and src["vendor_contacts"] == [{"kind": "telegram", "value": "@chemking"}]
    # replaying the same change never duplicates it
    again = idx.index_batch([listing_doc(changed, "2026-01-05T00:00:00.000Z")], [change])
    assert again.changes == 1 and again.failed == 0
    es_client.indices.refresh(index=es_installed.changes)
    hits = es_client.search(index=es_installed.changes, query={"term": {"fingerprint": item.fingerprint}})
    assert hits["hits"]["total"]["value"] == 1
    rec = hits["hits"]["hits"][0]["_source"]
    assert rec["kind"] == "price_change" and rec["previous_price"] == 120.0 and rec["price"] == 99.0
    assert rec["fields_changed"] == ["price"]


def test_partial_seen_update_only_moves_last_seen(
    es_client: Elasticsearch, es_installed: IndexNames, tmp_path: Path
) -> None:
    idx = _indexer(es_client, es_installed, tmp_path)
    item = make_listing(7)
    idx.index_batch([listing_doc(item, "2026-01-01T00:00:00.000Z")], [])
    seen = {"_id": item.fingerprint, "_partial": True, "last_seen": "2026-02-01T00:00:00.000Z", "status": "active"}
    res = idx.index_batch([seen], [])
    assert res.indexed == 1
    src = es_client.get(index=es_installed.listings, id=item.fingerprint)["_source"]
    assert src["last_seen"] == "2026-02-01T00:00:00.000Z"
    assert src["first_seen"] == "2026-01-01T00:00:00.000Z" and src["title"] == item.title


def test_unreachable_cluster_spools_and_replays_in_order(
    es_client: Elasticsearch, es_installed: IndexNames, tmp_path: Path, es_url: str
) -> None:
    dead = Elasticsearch(f"http://127.0.0.1:{free_port()}", max_retries=0, request_timeout=2)
    down = ListingIndexer(dead, es_installed, tmp_path / "spool", connect_retries=1, initial_backoff=0.05)
    v1 = [listing_doc(make_listing(i, price="10.00"), "2026-01-01T00:00:00.000Z") for i in range(30)]
    v2 = [listing_doc(make_listing(i, price="20.00"), "2026-01-02T00:00:00.000Z") for i in range(30)]
    r1 = down.index_batch(v1, [])
    r2 = down.index_batch(v2, [])
    assert (r1.spooled, r1.indexed, r2.spooled, r2.pending) == (30, 0, 30, 60)
    assert down.spool.pending() == 60
    dead.close()

    up = _indexer(es_client, es_installed, tmp_path)
    res = up.flush()
    assert (res.replayed, res.pending, res.failed) == (60, 0, 0)
    assert up.spool.files() == []
    assert es_client.count(index=es_installed.listings)["count"] == 30
    src = es_client.get(index=es_installed.listings, id=make_listing(3).fingerprint)["_source"]
    assert src["price"] == 20.0  # the later batch was applied last
    assert src["first_seen"] == "2026-01-01T00:00:00.000Z"


def test_mark_removed_then_relisted(es_client: Elasticsearch, es_installed: IndexNames, tmp_path: Path) -> None:
    idx = _indexer(es_client, es_installed, tmp_path)
    old, fresh = make_listing(1), make_listing(2)
    idx.index_batch([listing_doc(old, "2026-01-01T00:00:00.000Z")], [])
    idx.index_batch([listing_doc(fresh, "2026-01-10T00:00:00.000Z")], [])
    n = idx.mark_removed("testmarket", "2026-01-05T00:00:00.000Z", now="2026-01-10T00:00:00.000Z")
    assert n == 1
    assert idx.mark_removed("testmarket", "2026-01-05T00:00:00.000Z") == 0  # already removed
    got = idx.lookup([old.fingerprint or "", fresh.fingerprint or ""])
    assert got[old.fingerprint or ""]["status"] == "removed"
    assert got[old.fingerprint or ""]["removed_at"] == "2026-01-10T00:00:00.000Z"
    assert got[fresh.fingerprint or ""]["status"] == "active"
    # it comes back: status active again, removed_at cleared, first_seen kept
    back = change_doc(old, got[old.fingerprint or ""], "relisted", "2026-01-12T00:00:00.000Z")
    idx.index_batch([listing_doc(old, "2026-01-12T00:00:00.000Z")], [back])
    src = es_client.get(index=es_installed.listings, id=old.fingerprint)["_source"]
    assert src["status"] == "active" and src["removed_at"] is None
    assert src["first_seen"] == "2026-01-01T00:00:00.000Z"
    es_client.indices.refresh(index=es_installed.changes)
    kinds = sorted(
        h["_source"]["kind"]
        for h in es_client.search(index=es_installed.changes, query={"term": {"fingerprint": old.fingerprint}})[
            "hits"
        ]["hits"]
    )
    assert kinds == ["relisted", "removed"]


def test_rejected_document_is_counted_not_raised(
    es_client: Elasticsearch, es_installed: IndexNames, tmp_path: Path
) -> None:
    idx = _indexer(es_client, es_installed, tmp_path)
    good = listing_doc(make_listing(1), "2026-01-01T00:00:00.000Z")
    bad = listing_doc(make_listing(2), "2026-01-01T00:00:00.000Z")
    bad["price"] = "not a number"
    res = idx.index_batch([good, bad], [])
    assert (res.indexed, res.failed, res.spooled) == (1, 1, 0)
    assert "price" in res.failures[0] or "number" in res.failures[0]


def test_known_listing_deleted_meanwhile_is_created_again(
    es_client: Elasticsearch, es_installed: IndexNames, tmp_path: Path
) -> None:
    idx = _indexer(es_client, es_installed, tmp_path)
    item = make_listing(9)
    idx.index_batch([listing_doc(item, "2026-01-01T00:00:00.000Z")], [])
    assert item.fingerprint in idx.lookup([item.fingerprint or ""])  # now sent as an update
    es_client.delete(index=es_installed.listings, id=item.fingerprint, refresh=True)
    res = idx.index_batch([listing_doc(item, "2026-01-03T00:00:00.000Z")], [])
    assert (res.indexed, res.created, res.failed) == (1, 1, 0)
    src = es_client.get(index=es_installed.listings, id=item.fingerprint)["_source"]
    assert src["first_seen"] == "2026-01-03T00:00:00.000Z" and src["title"] == item.title


def test_write_block_during_a_migration_spools_instead_of_failing(
    es_client: Elasticsearch, es_installed: IndexNames, tmp_path: Path
) -> None:
    idx = ListingIndexer(es_client, es_installed, tmp_path / "spool", connect_retries=0)
    es_client.indices.add_block(index=es_installed.listings, block="write")
    try:
        res = idx.index_batch([listing_doc(make_listing(i), "2026-01-01T00:00:00.000Z") for i in range(5)], [])
        assert (res.indexed, res.failed, res.spooled) == (0, 0, 5)
    finally:
        es_client.indices.put_settings(index=es_installed.listings, settings={"index.blocks.write": None})
    again = idx.flush()
    assert (again.replayed, again.pending, again.failed) == (5, 0, 0)
    es_client.indices.refresh(index=es_installed.listings)
    assert es_client.count(index=es_installed.listings)["count"] == 5
