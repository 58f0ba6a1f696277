"""Install the versioned index templates, indices and aliases from ``index_mappings/*.json`` (idempotent)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from elasticsearch import BadRequestError, Elasticsearch

from crawler import paths
from crawler.es.indices import alias_targets, create_index
from crawler.es.migrate import migrate
from crawler.es.names import KINDS, IndexNames

log = logging.getLogger(__name__)

TEMPLATE_PRIORITY = 200
_VERSION_SUFFIX = re.compile(r"-v(\d+)$")


class MappingError(RuntimeError):
    """A mapping file is missing or malformed, or the cluster holds a newer version than the files."""


def mapping_path(kind: str, mappings_dir: Path | None = None) -> Path:
    """``index_mappings/<kind>.json``."""
    return (mappings_dir or paths.MAPPINGS_DIR) / f"{kind}.json"


def load_mapping(kind: str, mappings_dir: Path | None = None) -> dict[str, Any]:
    """The parsed mapping file of ``kind``: ``{_meta: {version}, settings, mappings}``."""
    path = mapping_path(kind, mappings_dir)
    try:
        spec: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError(f"{path}: cannot read mapping file: {exc}") from exc
    except ValueError as exc:
        raise MappingError(f"{path}: not valid JSON: {exc}") from exc
    version = spec.get("_meta", {}).get("version")
    if not isinstance(version, int) or version < 1:
        raise MappingError(f"{path}: _meta.version must be a positive integer, got {version!r}")
    if not isinstance(spec.get("mappings"), dict) or "properties" not in spec["mappings"]:
        raise MappingError(f"{path}: mappings.properties is missing")
    return spec


def mapping_version(kind: str, mappings_dir: Path | None = None) -> int:
    """The version the mapping file of ``kind`` declares."""
    return int(load_mapping(kind, mappings_dir)["_meta"]["version"])


def index_version(index: str) -> int | None:
    """The mapping version encoded in a concrete index name (``...-v3`` -> 3)."""
    m = _VERSION_SUFFIX.search(index)
    return int(m.group(1)) if m else None


def put_template(client: Elasticsearch, names: IndexNames, kind: str, spec: dict[str, Any]) -> None:
    """Create or replace the index template of ``kind`` from its mapping file."""
    mappings = {**spec["mappings"], "_meta": spec["_meta"]}
    client.indices.put_index_template(
        name=names.template(kind),
        index_patterns=[names.index_pattern(kind)],
        priority=TEMPLATE_PRIORITY,
        template={"settings": spec.get("settings", {}), "mappings": mappings},
        meta={"managed_by": "narcowatch", "version": spec["_meta"]["version"]},
    )


def install(
    client: Elasticsearch,
    names: IndexNames | None = None,
    *,
    kinds: tuple[str, ...] | list[str] = KINDS,
    mappings_dir: Path | None = None,
) -> dict[str, str]:
    """Put every template, create the current version's index and point its alias at it.

    When an alias points at an older version's index, its documents are migrated (scan + bulk) first.
    Idempotent and safe to run from several processes. Returns ``{alias: concrete index}``.
    """
    names = names or IndexNames()
    out: dict[str, str] = {}
    for kind in kinds:
        spec = load_mapping(kind, mappings_dir)
        version = int(spec["_meta"]["version"])
        alias = names.alias(kind)
        target = names.index(kind, version)
        put_template(client, names, kind, spec)
        current = alias_targets(client, alias)
        if current == [target]:
            out[alias] = target
            continue
        newer = [i for i in current if (index_version(i) or 0) > version]
        if newer:
            raise MappingError(
                f"alias {alias} points at {', '.join(newer)}, newer than {mapping_path(kind, mappings_dir)} "
                f"(version {version}); upgrade narcowatch before writing to this cluster"
            )
        if not current and client.indices.exists(index=alias) and not client.indices.exists_alias(name=alias):
            current = [alias]  # a concrete index squatting the alias name (auto-created by an early write)
        if current:
            migrate(client, names, kind, sources=current, target=target)
        else:
            create_index(client, target)
            try:
                client.indices.update_aliases(
                    actions=[{"add": {"index": target, "alias": alias, "is_write_index": True}}]
                )
            except BadRequestError as exc:  # lost a race with another installer: fine if it did the same
                if alias_targets(client, alias) != [target]:
                    raise MappingError(f"cannot point alias {alias} at {target}: {exc}") from exc
            log.info("created %s behind alias %s", target, alias)
        out[alias] = target
    return out


def installed_versions(client: Elasticsearch, names: IndexNames | None = None) -> dict[str, list[str]]:
    """``{alias: [concrete indices]}`` for every kind: what ``narcowatch es status`` shows."""
    names = names or IndexNames()
    return {names.alias(k): alias_targets(client, names.alias(k)) for k in KINDS}
