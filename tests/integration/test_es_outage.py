"""Stopping the node in the middle of indexing 5,000 listings loses and duplicates nothing.

Uses a second managed node in its own temporary home, so the session's node stays up.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from crawler.es.client import get_client
from crawler.es.documents import listing_doc
from crawler.es.indexer import IndexResult, ListingIndexer
from crawler.es.names import IndexNames
from crawler.es.node import ManagedNode
from crawler.es.templates import install
from tests.integration.test_es_indexer import make_listing
from tests.plugins.es import start_test_node, stop_test_node

TOTAL = 5000
BATCH = 250


@pytest.mark.slow
@pytest.mark.elasticsearch
def test_node_stopped_during_indexing_ends_with_every_listing_once(tmp_path: Path) -> None:
    node, home = start_test_node()
    try:
        info = node.info()
        assert info is not None
        port = int(info.url.rsplit(":", 1)[1])
        client = get_client(info.url, check=False, request_timeout=20, max_retries=1, retry_on_timeout=True)
        names = IndexNames("nwoutage")
        install(client, names)
        indexer = ListingIndexer(client, names, tmp_path / "spool", chunk_size=500, connect_retries=1,
                                 initial_backoff=0.2, max_backoff=1)
        docs = [listing_doc(make_listing(i), "2026-01-01T00:00:00.000Z") for i in range(TOTAL)]
        results: list[IndexResult] = []
        errors: list[BaseException] = []

        def run() -> None:
            try:
                for start in range(0, TOTAL, BATCH):
                    results.append(indexer.index_batch(docs[start : start + BATCH], []))
            except BaseException as exc:  # surfaced by the assertion below
                errors.append(exc)

        worker = threading.Thread(target=run)
        worker.start()
        deadline = time.monotonic() + 120
        while sum(r.indexed for r in results) < 1000 and worker.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert worker.is_alive(), "indexing finished before the node could be stopped"
        node.stop(timeout=30)  # SIGTERM while bulk requests are in flight
        worker.join(timeout=600)
        assert not worker.is_alive() and not errors, errors
        spooled = sum(r.spooled for r in results)
        assert spooled > 0, "the outage did not reach the indexer"
        assert indexer.spool.pending() > 0

        ManagedNode(state_home=home, cache_home=node.cache_home, http_port=port).start(timeout=300)
        replay = indexer.flush()
        assert replay.pending == 0 and replay.failed == 0
        assert indexer.spool.files() == []
        client.indices.refresh(index=names.listings)
        assert client.count(index=names.listings)["count"] == TOTAL
        ids = {h["_id"] for h in client.search(index=names.listings, size=TOTAL, source=False)["hits"]["hits"]}
        assert ids == {d["fingerprint"] for d in docs}
        # every listing landed with its content, not a partial document
        assert client.count(index=names.listings, query={"term": {"status": "active"}})["count"] == TOTAL
        client.close()
    finally:
        stop_test_node(node, home)
