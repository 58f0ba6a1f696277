"""A vendor dossier asked for by a profile id that a merge deleted (real node, real merge): the report is made
from the surviving profile and says so. The id may come from an older report's custody.json or an analyst's notes;
``merged_from`` of the survivor is what names it (no profile is ever written with ``merged_into``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from crawler import fingerprint as fp
from crawler.es.documents import listing_doc
from crawler.es.indexer import ListingIndexer
from crawler.es.names import IndexNames
from crawler.es.vendors import update_vendors
from crawler.items import Listing
from crawler.reports.data import ReportError, vendor_selection

pytestmark = [pytest.mark.elasticsearch]


def _doc(url: str, platform: str, vendor: str, contacts: list[dict[str, str]], day: str) -> dict:
    listing = fp.apply(Listing(
        url=url, source=platform, source_kind="market", platform=platform, title="fentanyl for sale", vendor=vendor,
        nlp={"substances": [{"name": "fentanyl", "class": "fentanyl", "cas": None}],
             "vendor": {"handles": [vendor], "contacts": contacts}, "intent": "sale", "risk": 0.8},
    ))
    return listing_doc(listing, f"2026-01-0{day}T00:00:00.000Z")


def _profile_ids(client: Elasticsearch, names: IndexNames) -> list[str]:
    client.indices.refresh(index=names.vendors)
    return sorted(h["_id"] for h in client.search(index=names.vendors, size=10)["hits"]["hits"])


def test_a_merged_profile_id_reaches_the_surviving_profile(
    es_client: Elasticsearch, es_installed: IndexNames, tmp_path: Path
) -> None:
    names = es_installed
    a = _doc("http://127.0.0.1/a", "m1", "alpha_one", [{"kind": "xmr", "value": "44AFFq5kSiGBoZ"}], "1")
    b = _doc("http://127.0.0.1/b", "m2", "beta_two", [{"kind": "signal", "value": "+4915112345678"}], "1")
    link = _doc("http://127.0.0.1/c", "m3", "gamma_three", [{"kind": "xmr", "value": "44AFFq5kSiGBoZ"},
                                                            {"kind": "signal", "value": "+4915112345678"}], "3")
    ListingIndexer(es_client, names, tmp_path / "spool", refresh="wait_for").index_batch([a, b, link])
    update_vendors(es_client, names, [a])
    update_vendors(es_client, names, [b])
    before = _profile_ids(es_client, names)
    assert len(before) == 2
    assert update_vendors(es_client, names, [link]).merged == 1
    (survivor,) = _profile_ids(es_client, names)
    (gone,) = [p for p in before if p != survivor]

    selection = vendor_selection(es_client, names, gone)
    assert selection.subject == survivor and selection.vendor_ref["_id"] == survivor
    assert sorted(d.id for d in selection.docs) == sorted(d["fingerprint"] for d in (a, b, link))
    assert selection.notes[0] == f"vendor profile {gone} was merged into {survivor}: this is the merged profile"
    assert vendor_selection(es_client, names, survivor).notes == []  # asked for by its own id: nothing to say
    with pytest.raises(ReportError, match="no vendor profile has the id"):
        vendor_selection(es_client, names, "v-0000000000000000")
