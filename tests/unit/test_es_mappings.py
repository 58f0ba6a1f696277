"""The mapping files: valid, versioned, and core-only (nothing the minimal distribution lacks)."""

from __future__ import annotations

from typing import Any

import pytest

from crawler.es.geo import country_point, country_points
from crawler.es.names import KINDS, IndexNames
from crawler.es.templates import load_mapping

CORE_TYPES = {
    "keyword", "text", "date", "long", "integer", "short", "byte", "double", "float", "half_float",
    "boolean", "geo_point", "object", "nested", "ip", "binary", "flattened",
}
BUILTIN_ANALYZERS = {"standard", "simple", "whitespace", "keyword"}


def _walk(props: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name, spec in props.items():
        full = f"{path}{name}"
        out.append((full, spec))
        out.extend(_walk(spec.get("properties", {}), full + "."))
        out.extend(_walk(spec.get("fields", {}), full + "."))
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_mapping_is_versioned_and_core_only(kind: str) -> None:
    spec = load_mapping(kind)
    assert spec["_meta"]["version"] >= 1 and spec["_meta"]["kind"] == kind
    assert "analysis" not in spec.get("settings", {})
    for path, field in _walk(spec["mappings"]["properties"]):
        ftype = field.get("type", "object")
        assert ftype in CORE_TYPES, f"{kind}.json: {path} uses {ftype}, not in the core distribution"
        for key in ("analyzer", "search_analyzer"):
            if key in field:
                assert field[key] in BUILTIN_ANALYZERS, f"{kind}.json: {path} uses analyzer {field[key]}"


def test_listing_mapping_has_the_analyst_fields() -> None:
    props = load_mapping("listings")["mappings"]["properties"]
    for name, ftype in {
        "@timestamp": "date", "first_seen": "date", "last_seen": "date", "removed_at": "date",
        "substance_names": "keyword", "substance_classes": "keyword", "cas": "keyword",
        "ships_from": "keyword", "ships_to": "keyword", "ships_not_to": "keyword", "ships_from_geo": "geo_point",
        "price": "double", "price_usd": "double", "currency": "keyword", "risk": "float", "intent": "keyword",
        "text_normalized": "text", "platform": "keyword", "source": "keyword", "status": "keyword",
    }.items():
        assert props[name]["type"] == ftype, name
    assert props["title"]["type"] == "text" and props["title"]["fields"]["keyword"]["type"] == "keyword"
    assert props["evidence"]["properties"]["response_sha256"]["type"] == "keyword"


def test_index_names() -> None:
    names = IndexNames("acme")
    assert names.listings == "acme-listings"
    assert names.crawl_runs == "acme-crawl-runs"
    assert names.index("crawl_runs", 3) == "acme-crawl-runs-v3"
    assert names.index_pattern("vendors") == "acme-vendors-v*"
    with pytest.raises(ValueError, match="prefix"):
        IndexNames("Bad Prefix")
    with pytest.raises(KeyError):
        names.alias("nonsense")


def test_index_names_default_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NARCOWATCH_INDEX_PREFIX", "nw2")
    assert IndexNames().rules == "nw2-rules"
    monkeypatch.delenv("NARCOWATCH_INDEX_PREFIX")
    assert IndexNames().rules == "narcowatch-rules"


def test_country_centroids() -> None:
    cn = country_point("CN")
    assert cn is not None and 20 < cn["lat"] < 50 and 75 < cn["lon"] < 135
    us = country_point("us")
    assert us is not None and -125 < us["lon"] < -65  # corrected: contiguous US, not the Pacific
    assert country_point("UK") == country_point("GB")
    assert country_point("WORLDWIDE") is None and country_point("EU") is None
    assert len(country_points(["CN", "WORLDWIDE", "CN", "NL"])) == 2


def test_docker_compose_pins_the_tested_version() -> None:
    import yaml

    from crawler import paths
    from crawler.es.node import ES_VERSION

    compose = yaml.safe_load((paths.ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    images = {name: svc["image"] for name, svc in compose["services"].items()}
    assert images["elasticsearch"] == f"docker.elastic.co/elasticsearch/elasticsearch:{ES_VERSION}"
    assert images["kibana"] == f"docker.elastic.co/kibana/kibana:{ES_VERSION}"
    assert "narcowatch schedule" in compose["services"]["narcowatch"]["command"]
