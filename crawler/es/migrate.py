"""Mapping migrations without ``_reindex``: copy into the new version's index by scan + bulk, verify, switch."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from elasticsearch import Elasticsearch, helpers

from crawler.es.indices import create_index
from crawler.es.names import IndexNames

log = logging.getLogger(__name__)


class MigrationError(RuntimeError):
    """A migration could not copy every document; the alias was left where it was."""


@dataclass
class MigrationResult:
    """What one migration did."""

    kind: str
    alias: str
    sources: list[str]
    target: str
    source_count: int = 0
    copied: int = 0
    target_count: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _is_alias_squatter(client: Elasticsearch, alias: str, index: str) -> bool:
    return index == alias


def migrate(
    client: Elasticsearch,
    names: IndexNames,
    kind: str,
    *,
    sources: list[str],
    target: str,
    batch_size: int = 1000,
    delete_old: bool = False,
) -> MigrationResult:
    """Move the documents of ``sources`` (the indices behind the alias) into ``target`` and switch the alias.

    The sources are write-blocked while copying (writers see a block error and retry or spool), every
    document is copied with its ``_id`` by scan + bulk, the target's count is checked against the
    sources', and the alias moves in one ``_aliases`` call. The old indices are kept (write-blocked)
    unless ``delete_old``; a failure before the switch lifts the block and leaves the alias as it was.
    """
    alias = names.alias(kind)
    result = MigrationResult(kind=kind, alias=alias, sources=list(sources), target=target)
    started = time.monotonic()
    log.info("migrating %s: %s -> %s", alias, ", ".join(sources), target)
    switched = False
    client.indices.add_block(index=",".join(sources), block="write")
    try:
        create_index(client, target)
        client.indices.refresh(index=",".join(sources))
        result.source_count = int(client.count(index=",".join(sources))["count"])

        def actions() -> Iterator[dict[str, Any]]:
            for hit in helpers.scan(
                client, index=",".join(sources), query={"query": {"match_all": {}}}, size=batch_size,
                scroll="5m", preserve_order=False,
            ):
                yield {"_op_type": "index", "_index": target, "_id": hit["_id"], "_source": hit["_source"]}

        for ok, item in helpers.streaming_bulk(
            client, actions(), chunk_size=batch_size, raise_on_error=False, raise_on_exception=True,
            max_retries=5, initial_backoff=1, max_backoff=30,
        ):
            if ok:
                result.copied += 1
            else:
                info = item.get("index", item)
                result.failures.append(f"{info.get('_id')}: {info.get('error')}")
        client.indices.refresh(index=target)
        result.target_count = int(client.count(index=target)["count"])
        if result.failures or result.target_count < result.source_count:
            raise MigrationError(
                f"migration of {alias} to {target} incomplete: {result.source_count} documents in "
                f"{', '.join(sources)}, {result.target_count} in {target}, {len(result.failures)} failed "
                f"(first: {result.failures[:3]}); alias left on {', '.join(sources)}"
            )
        actions_: list[dict[str, object]] = []
        for src in sources:
            if _is_alias_squatter(client, alias, src):
                actions_.append({"remove_index": {"index": src}})
            else:
                actions_.append({"remove": {"index": src, "alias": alias}})
        actions_.insert(0, {"add": {"index": target, "alias": alias, "is_write_index": True}})
        client.indices.update_aliases(actions=actions_)
        switched = True
        if delete_old:
            remaining = [s for s in sources if not _is_alias_squatter(client, alias, s)]
            if remaining:
                client.indices.delete(index=",".join(remaining))
    finally:
        if not switched:
            client.indices.put_settings(index=",".join(sources), settings={"index.blocks.write": None})
    result.seconds = time.monotonic() - started
    log.info(
        "migrated %s: %d documents from %s to %s in %.1fs",
        alias, result.target_count, ", ".join(sources), target, result.seconds,
    )
    return result
