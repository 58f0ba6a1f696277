"""The managed node, the client and the test fixtures, against a real Elasticsearch."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest
from elasticsearch import Elasticsearch

from crawler.es.client import EsUnavailable, get_client, server_version
from crawler.es.node import DEFAULT_HTTP_PORT, ES_VERSION, ManagedNode, free_port
from tests.plugins.es import delete_prefix, start_test_node, stop_test_node


def test_session_node_answers_with_pinned_version(es_client: Elasticsearch) -> None:
    assert server_version(es_client) == ES_VERSION
    health = es_client.cluster.health()
    assert health["status"] in ("green", "yellow")


@pytest.mark.skipif(bool(os.environ.get("NARCOWATCH_TEST_ES_URL")), reason="an external test cluster")
def test_session_node_leaves_the_users_port_alone(es_url: str) -> None:
    """9200 is the user's node's (a stale node.json may name it): the test node never takes it, free or not."""
    assert urlsplit(es_url).port not in (None, DEFAULT_HTTP_PORT)


def test_delete_prefix_removes_indices_and_templates(es_client: Elasticsearch, index_prefix: str) -> None:
    es_client.indices.put_index_template(
        name=f"{index_prefix}-t", index_patterns=[f"{index_prefix}-x*"], priority=100
    )
    es_client.indices.create(index=f"{index_prefix}-x1")
    es_client.indices.create(index=f"{index_prefix}-x2")
    delete_prefix(es_client, index_prefix)
    assert not es_client.indices.exists(index=f"{index_prefix}-x1")
    assert not es_client.indices.exists(index=f"{index_prefix}-x2")
    assert not es_client.indices.exists_index_template(name=f"{index_prefix}-t")


def test_client_error_names_url_and_hides_password() -> None:
    port = free_port()
    with pytest.raises(EsUnavailable) as err:
        get_client(f"http://analyst:s3cret@127.0.0.1:{port}", max_retries=0, request_timeout=2)
    assert f"127.0.0.1:{port}" in str(err.value)
    assert "s3cret" not in str(err.value)


def test_client_reads_url_from_environment(es_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NARCOWATCH_ES_URL", es_url)
    client = get_client()
    try:
        assert server_version(client) == ES_VERSION
    finally:
        client.close()


@pytest.mark.slow
def test_managed_node_lifecycle() -> None:
    node, home = start_test_node()
    try:
        info = node.info()
        assert info is not None and info.version == ES_VERSION
        assert (home / "es" / "node.json").is_file()
        again = ManagedNode(state_home=home, cache_home=node.cache_home).start()
        assert again.pid == info.pid and again.url == info.url  # reused, not a second node
        st = node.status()
        assert st["running"] is True and st["version"] == ES_VERSION and st["health"] in ("green", "yellow")
        # the client finds the node through node.json when nothing else is configured
        client = get_client(state_home=home)
        try:
            assert server_version(client) == ES_VERSION
        finally:
            client.close()
        assert node.stop() is True
        assert node.status()["running"] is False
        assert not (home / "es" / "node.json").exists()
    finally:
        stop_test_node(node, home)
