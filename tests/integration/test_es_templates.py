"""Templates, aliases and mapping migrations against the real node."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch, helpers

from crawler import paths
from crawler.es.indices import alias_targets
from crawler.es.names import KINDS, IndexNames
from crawler.es.templates import MappingError, install, mapping_version


def test_install_creates_templates_indices_and_aliases(es_client: Elasticsearch, es_names: IndexNames) -> None:
    result = install(es_client, es_names)
    assert set(result) == {es_names.alias(k) for k in KINDS}
    for kind in KINDS:
        alias = es_names.alias(kind)
        target = es_names.index(kind, mapping_version(kind))
        assert alias_targets(es_client, alias) == [target]
        assert es_client.indices.exists_index_template(name=es_names.template(kind))
        meta = es_client.indices.get_mapping(index=target)[target]["mappings"]["_meta"]
        assert meta["version"] == mapping_version(kind)
    listing_props = es_client.indices.get_mapping(index=es_names.listings)
    props = next(iter(listing_props.values()))["mappings"]["properties"]
    assert props["ships_from_geo"]["type"] == "geo_point"
    assert props["title"]["fields"]["keyword"]["type"] == "keyword"
    # a second install changes nothing
    assert install(es_client, es_names) == result


def _bumped_mappings(tmp_path: Path, kind: str) -> Path:
    d = tmp_path / "mappings"
    shutil.copytree(paths.MAPPINGS_DIR, d)
    spec = json.loads((d / f"{kind}.json").read_text())
    spec["_meta"]["version"] += 1
    spec["mappings"]["properties"]["added_in_bump"] = {"type": "keyword"}
    (d / f"{kind}.json").write_text(json.dumps(spec))
    return d


def test_version_bump_migrates_1000_documents(
    es_client: Elasticsearch, es_names: IndexNames, tmp_path: Path
) -> None:
    install(es_client, es_names)
    old = es_names.index("listings", mapping_version("listings"))
    docs = [
        {"_index": es_names.listings, "_id": f"fp{i:04d}", "_source": {"fingerprint": f"fp{i:04d}", "risk": i / 1000}}
        for i in range(1000)
    ]
    ok, errors = helpers.bulk(es_client, docs, refresh="wait_for")
    assert ok == 1000 and not errors

    bumped = _bumped_mappings(tmp_path, "listings")
    install(es_client, es_names, mappings_dir=bumped)

    new = es_names.index("listings", mapping_version("listings") + 1)
    assert alias_targets(es_client, es_names.listings) == [new]
    assert es_client.count(index=es_names.listings)["count"] == 1000
    ids = {h["_id"] for h in helpers.scan(es_client, index=es_names.listings, query={"query": {"match_all": {}}})}
    assert ids == {f"fp{i:04d}" for i in range(1000)}
    got = es_client.get(index=es_names.listings, id="fp0500")["_source"]
    assert got == {"fingerprint": "fp0500", "risk": 0.5}
    props = es_client.indices.get_mapping(index=new)[new]["mappings"]["properties"]
    assert props["added_in_bump"]["type"] == "keyword"
    # the old index is kept, write-blocked, and no longer behind the alias
    settings = es_client.indices.get_settings(index=old)[old]["settings"]["index"]
    assert settings["blocks"]["write"] == "true"
    # writes through the alias land in the new index
    es_client.index(index=es_names.listings, id="after", document={"fingerprint": "after"}, refresh="wait_for")
    assert es_client.count(index=new)["count"] == 1001


def test_concrete_index_squatting_the_alias_is_migrated(es_client: Elasticsearch, es_names: IndexNames) -> None:
    es_client.index(index=es_names.changes, id="c1", document={"fingerprint": "x"}, refresh="wait_for")
    install(es_client, es_names, kinds=["changes"])
    assert alias_targets(es_client, es_names.changes) == [es_names.index("changes", mapping_version("changes"))]
    assert es_client.get(index=es_names.changes, id="c1")["_source"] == {"fingerprint": "x"}


def test_newer_index_in_cluster_is_refused(es_client: Elasticsearch, es_names: IndexNames, tmp_path: Path) -> None:
    install(es_client, es_names, kinds=["rules"], mappings_dir=_bumped_mappings(tmp_path, "rules"))
    with pytest.raises(MappingError, match="newer"):
        install(es_client, es_names, kinds=["rules"])
