"""``crawler.es.indexer.write_actions``: the bulk path of alert records, rules and vendor profiles."""

from __future__ import annotations

import socket

import pytest
from elasticsearch import Elasticsearch

from crawler.es.indexer import IndexerUnavailable, write_actions
from crawler.es.names import IndexNames


def test_items_come_back_in_action_order_with_their_status(es_client: Elasticsearch, es_installed: IndexNames):
    index = es_installed.rules
    first = [{"_op_type": "create", "_index": index, "_id": f"r{i}", "_source": {"name": f"r{i}"}} for i in range(3)]
    assert [i["status"] for i in write_actions(es_client, first, refresh=True)] == [201, 201, 201]
    again = [first[1], {"_op_type": "create", "_index": index, "_id": "r9", "_source": {"name": "r9"}}, first[0]]
    items = write_actions(es_client, again)
    assert [(i["_id"], i["status"]) for i in items] == [("r1", 409), ("r9", 201), ("r0", 409)]
    bad = [{"_op_type": "index", "_index": index, "_id": "x", "_source": {"updated_at": "not a date"}}]
    [item] = write_actions(es_client, bad)
    assert item["status"] == 400 and "document_parsing_exception" in str(item["error"])


def test_a_cluster_that_does_not_answer_raises_after_retries() -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = Elasticsearch(f"http://127.0.0.1:{port}", request_timeout=2, max_retries=0)
    actions = [{"_op_type": "create", "_index": "nw-x", "_id": "a", "_source": {}}]
    with pytest.raises(IndexerUnavailable, match="1 of 1 bulk actions unconfirmed"):
        write_actions(client, actions, connect_retries=2, initial_backoff=0.01)
    assert issubclass(IndexerUnavailable, ConnectionError)  # what BatchProcessor spools on
