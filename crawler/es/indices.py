"""Concrete index and alias operations shared by the installer (templates.py) and migrations (migrate.py)."""

from __future__ import annotations

from elasticsearch import BadRequestError, Elasticsearch, NotFoundError


def alias_targets(client: Elasticsearch, alias: str) -> list[str]:
    """The concrete indices behind ``alias`` (empty when the alias does not exist)."""
    try:
        return sorted(client.indices.get_alias(name=alias).keys())
    except NotFoundError:
        return []


def create_index(client: Elasticsearch, index: str) -> bool:
    """Create ``index`` from its template; False when it already existed (another process was first)."""
    try:
        client.indices.create(index=index, wait_for_active_shards="1")
        return True
    except BadRequestError as exc:
        if exc.error == "resource_already_exists_exception":
            return False
        raise
