"""Vendor profiles against the real node: one actor across a market and a Telegram-style channel."""

from __future__ import annotations

from pathlib import Path

from elasticsearch import Elasticsearch

from crawler import fingerprint as fp
from crawler.es.documents import listing_doc
from crawler.es.indexer import ListingIndexer
from crawler.es.names import IndexNames
from crawler.es.vendors import update_vendors
from crawler.items import Listing


def _listing(url: str, source: str, kind: str, platform: str, vendor: str, contacts: list[dict[str, str]],
             substance: str = "fentanyl", country: str = "CN") -> Listing:
    return fp.apply(Listing(
        url=url, source=source, source_kind=kind, platform=platform, title=f"{substance} for sale", vendor=vendor,
        nlp={"substances": [{"name": substance, "class": "fentanyl", "cas": None}],
             "vendor": {"handles": [vendor], "contacts": contacts}, "ships_from": [country], "ships_to": ["US"],
             "intent": "sale", "risk": 0.8},
    ))


def _profiles(client: Elasticsearch, names: IndexNames) -> list[dict]:
    client.indices.refresh(index=names.vendors)
    return [h["_source"] for h in client.search(index=names.vendors, size=100)["hits"]["hits"]]


def test_same_telegram_handle_on_market_and_channel_is_one_profile(
    es_client: Elasticsearch, es_installed: IndexNames, tmp_path: Path
) -> None:
    idx = ListingIndexer(es_client, es_installed, tmp_path / "spool")
    market = _listing("http://127.0.0.1/market/l/1", "demo_market", "market", "demomarket.onion", "ChemKing",
                      [{"kind": "telegram", "value": "@chemking_rx"}])
    other = _listing("http://127.0.0.1/market/l/2", "other_market", "market", "othermarket.onion", "unrelated99",
                     [{"kind": "wickr", "value": "unrelated99"}])
    d1 = [listing_doc(market, "2026-01-01T00:00:00.000Z"), listing_doc(other, "2026-01-01T00:00:00.000Z")]
    idx.index_batch(d1, [])
    r1 = update_vendors(es_client, es_installed, d1)
    assert r1.created == 2

    channel = _listing("http://127.0.0.1/s/chemking_rx/17", "demo_channel", "telegram_public", "telegram",
                       "chemking_rx", [], substance="4-ANPP", country="MX")
    d2 = [listing_doc(channel, "2026-01-02T00:00:00.000Z")]
    idx.index_batch(d2, [])
    r2 = update_vendors(es_client, es_installed, d2)
    assert (r2.created, r2.updated) == (0, 1)

    profiles = _profiles(es_client, es_installed)
    assert len(profiles) == 2
    king = next(p for p in profiles if "telegram:chemking_rx" in p["identifiers"])
    assert sorted(king["platforms"]) == ["demomarket.onion", "telegram"]
    assert king["listing_count"] == 2 and king["platform_count"] == 2
    assert sorted(king["substances"]) == ["4-ANPP", "fentanyl"] and sorted(king["countries"]) == ["CN", "MX"]
    assert king["first_seen"] == "2026-01-01T00:00:00.000Z" and king["last_seen"] == "2026-01-02T00:00:00.000Z"

    # the same batch again changes no counts
    update_vendors(es_client, es_installed, d2)
    king2 = next(p for p in _profiles(es_client, es_installed) if "telegram:chemking_rx" in p["identifiers"])
    assert king2["listing_count"] == 2


def test_a_linking_listing_merges_two_profiles(es_client: Elasticsearch, es_installed: IndexNames) -> None:
    a = listing_doc(_listing("http://127.0.0.1/a", "s1", "market", "m1", "alpha_one",
                             [{"kind": "xmr", "value": "44AFFq5kSiGBoZ"}]), "2026-01-01T00:00:00.000Z")
    b = listing_doc(_listing("http://127.0.0.1/b", "s2", "forum", "m2", "beta_two",
                             [{"kind": "signal", "value": "+4915112345678"}]), "2026-01-01T00:00:00.000Z")
    update_vendors(es_client, es_installed, [a])
    update_vendors(es_client, es_installed, [b])
    assert len(_profiles(es_client, es_installed)) == 2
    link = listing_doc(_listing("http://127.0.0.1/c", "s3", "market", "m3", "gamma_three",
                                [{"kind": "xmr", "value": "44AFFq5kSiGBoZ"},
                                 {"kind": "signal", "value": "+4915112345678"}]), "2026-01-03T00:00:00.000Z")
    r = update_vendors(es_client, es_installed, [link])
    assert r.merged == 1
    profiles = _profiles(es_client, es_installed)
    assert len(profiles) == 1
    assert profiles[0]["listing_count"] == 3 and profiles[0]["platform_count"] == 3
    assert len(profiles[0]["merged_from"]) == 1


def test_two_groups_of_one_batch_hitting_one_profile(es_client: Elasticsearch, es_installed: IndexNames) -> None:
    both = listing_doc(_listing("http://127.0.0.1/p", "s1", "market", "m1", "omega_one",
                                [{"kind": "session", "value": "05abcdef0123"}]), "2026-01-01T00:00:00.000Z")
    update_vendors(es_client, es_installed, [both])
    # two listings of the batch that do not share an identifier with each other, only with the profile
    a = listing_doc(_listing("http://127.0.0.1/q", "s2", "forum", "m2", "omega_one", []), "2026-01-02T00:00:00.000Z")
    b = listing_doc(_listing("http://127.0.0.1/r", "s3", "market", "m3", "someone_else",
                             [{"kind": "session", "value": "05ABCDEF0123"}]), "2026-01-02T00:00:00.000Z")
    r = update_vendors(es_client, es_installed, [a, b])
    assert r.created == 0 and r.listings == 2
    profiles = _profiles(es_client, es_installed)
    assert len(profiles) == 1
    assert profiles[0]["listing_count"] == 3 and profiles[0]["platform_count"] == 3
