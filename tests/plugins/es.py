"""Pytest fixtures for a real Elasticsearch node: one per session, unique index names per test.

- ``es_url`` (session): ``NARCOWATCH_TEST_ES_URL`` when set, else a managed node started in a temporary
  state home (the distribution cache is shared, so it is downloaded once) and stopped at session end.
- ``es_client`` (session): an ``elasticsearch.Elasticsearch`` for ``es_url``.
- ``index_prefix`` (function): ``nwtest-<8 hex>``; every ``<prefix>-*`` index and template is deleted
  afterwards.
- ``es_names`` (function): ``IndexNames(index_prefix)``.
- ``es_installed`` (function): ``es_names`` with every template installed and every alias created.
- ``es_env`` (function): sets ``NARCOWATCH_ES_URL`` and ``NARCOWATCH_INDEX_PREFIX`` for code (and child
  processes) that read the environment; returns ``es_names``.

The managed test nodes run with security on, all with one user and password generated per test process
(``TEST_CREDENTIALS``); loading this plugin puts them in ``NARCOWATCH_ES_USER``/``_PASSWORD`` of this
process, so ``get_client(url)`` and child processes that inherit the environment authenticate.

Tests using any of these get the ``elasticsearch`` marker automatically.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch, NotFoundError

from crawler import paths
from crawler.es.client import get_client
from crawler.es.names import IndexNames
from crawler.es.node import ES_USER, ManagedNode
from tests.plugins import leftovers

_ES_FIXTURES = {"es_url", "es_client", "index_prefix", "es_names", "es_installed", "es_env"}
TEST_CREDENTIALS = (ES_USER, secrets.token_urlsafe(18))
"""User and password of every managed test node of this process."""


def _export_test_credentials() -> None:
    """Put the test nodes' credentials in this process's environment (before any fixture copies it)."""
    if not os.environ.get("NARCOWATCH_TEST_ES_URL"):  # an external test cluster brings its own auth
        os.environ["NARCOWATCH_ES_USER"], os.environ["NARCOWATCH_ES_PASSWORD"] = TEST_CREDENTIALS
        os.environ.pop("NARCOWATCH_ES_API_KEY", None)


_export_test_credentials()  # environments built by fixtures before the session node starts authenticate too


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that uses an Elasticsearch fixture with ``elasticsearch``."""
    for item in items:
        if _ES_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.elasticsearch)


def start_test_node(http_port: int = 0) -> tuple[ManagedNode, Path]:
    """A managed node in a fresh temporary state home (shared distribution cache); caller stops it.

    Returns the node and its state home; ``node.info().url`` is its URL. The HTTP port is a free one
    (``http_port=0``), never the user's 9200: a test node must not take the port a stale ``node.json`` or a
    user's demo names. The state home is marked as this process's (``leftovers.session_dir``): if the
    session dies, the next one stops the node and removes its files.
    """
    home = leftovers.session_dir("narcowatch-es-test-")  # 0700: the node's files live elsewhere as root
    node = ManagedNode(state_home=home, cache_home=paths.cache_home(), http_port=http_port,
                       password=TEST_CREDENTIALS[1])
    _export_test_credentials()
    os.environ["NARCOWATCH_ES_USER"], os.environ["NARCOWATCH_ES_PASSWORD"] = TEST_CREDENTIALS
    try:
        node.start(timeout=300)
    except BaseException:
        node.remove(timeout=20)
        leftovers.release(home)
        shutil.rmtree(home, ignore_errors=True)
        raise
    return node, home


def stop_test_node(node: ManagedNode, home: Path) -> None:
    """Stop a node from ``start_test_node`` and delete its files and its state home."""
    try:
        node.remove(timeout=30)
    finally:
        leftovers.release(home)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def es_url() -> Iterator[str]:
    """URL of the real Elasticsearch node the tests use."""
    external = os.environ.get("NARCOWATCH_TEST_ES_URL")
    if external:
        yield external.rstrip("/")
        return
    node, home = start_test_node()
    stopped = False

    def _stop() -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            stop_test_node(node, home)

    atexit.register(_stop)  # also when the session dies before fixture teardown
    try:
        info = node.info()
        assert info is not None, "managed test node started but wrote no node.json"
        yield info.url
    finally:
        _stop()
        atexit.unregister(_stop)


@pytest.fixture(scope="session")
def es_client(es_url: str) -> Iterator[Elasticsearch]:
    """A client for the session's node."""
    client = get_client(es_url, request_timeout=60)
    try:
        yield client
    finally:
        client.close()


def delete_prefix(client: Elasticsearch, prefix: str) -> None:
    """Delete every index, alias target and index template named ``<prefix>-*`` (by explicit names)."""
    pattern = f"{prefix}-*"
    try:
        indices = list(client.indices.get(index=pattern, expand_wildcards="all", allow_no_indices=True))
    except NotFoundError:
        indices = []
    for i in range(0, len(indices), 50):
        client.indices.delete(index=",".join(indices[i : i + 50]), ignore_unavailable=True)
    try:
        templates = client.indices.get_index_template(name=pattern).get("index_templates", [])
    except NotFoundError:
        templates = []
    for t in templates:
        client.indices.delete_index_template(name=t["name"])
    try:
        components = client.cluster.get_component_template(name=pattern).get("component_templates", [])
    except NotFoundError:
        components = []
    for c in components:
        client.cluster.delete_component_template(name=c["name"])


@pytest.fixture
def index_prefix(es_client: Elasticsearch) -> Iterator[str]:
    """A unique index prefix for one test; its indices and templates are deleted afterwards."""
    prefix = f"nwtest-{uuid.uuid4().hex[:8]}"
    try:
        yield prefix
    finally:
        delete_prefix(es_client, prefix)


@pytest.fixture
def es_names(index_prefix: str) -> IndexNames:
    """The index names of a test's private installation."""
    return IndexNames(index_prefix)


@pytest.fixture
def es_installed(es_client: Elasticsearch, es_names: IndexNames) -> IndexNames:
    """A test's private installation with all templates, indices and aliases in place."""
    from crawler.es.templates import install

    install(es_client, es_names)
    return es_names


@pytest.fixture
def es_env(es_url: str, es_names: IndexNames, monkeypatch: pytest.MonkeyPatch) -> IndexNames:
    """Point code that reads the environment (and child processes) at the test node and prefix."""
    monkeypatch.setenv("NARCOWATCH_ES_URL", es_url)
    monkeypatch.setenv("NARCOWATCH_INDEX_PREFIX", es_names.prefix)
    if not os.environ.get("NARCOWATCH_TEST_ES_URL"):  # an external test cluster brings its own auth
        for var in ("NARCOWATCH_ES_API_KEY", "NARCOWATCH_ES_CA"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("NARCOWATCH_ES_USER", TEST_CREDENTIALS[0])
        monkeypatch.setenv("NARCOWATCH_ES_PASSWORD", TEST_CREDENTIALS[1])
    return es_names
