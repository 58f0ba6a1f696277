"""Rule conditions compile to core-only Elasticsearch bool queries."""

from __future__ import annotations

import json

from crawler.alerting.query import compile_condition, restrict_to_ids
from crawler.alerting.rules import Condition

ALLOWED = {"bool", "term", "terms", "range", "query_string", "ids", "match", "exists"}


def query_types(node: object) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ALLOWED or key in ("script", "percolate", "script_score"):
                found.add(key)
            found |= query_types(value)
    elif isinstance(node, list):
        for value in node:
            found |= query_types(value)
    return found


def test_default_condition_is_sale_intent_only() -> None:
    assert compile_condition(Condition()) == {"bool": {"filter": [{"term": {"intent": "sale"}}]}}
    assert compile_condition(Condition(intent="any")) == {"bool": {"filter": []}}


def test_full_condition() -> None:
    cond = Condition.model_validate(
        {
            "substance_classes": ["fentanyl", "precursor"],
            "substances": ["carfentanil"],
            "ships_from": ["CN", "IN"],
            "ships_to": ["FR"],
            "platforms": ["telegram"],
            "sources": ["demo-market"],
            "min_risk": 0.5,
            "query": 'title:"china white" OR vacuum',
        }
    )
    q = compile_condition(cond)
    filters = q["bool"]["filter"]
    assert filters[0] == {
        "bool": {
            "should": [
                {"terms": {"substance_classes": ["fentanyl", "precursor"]}},
                {"terms": {"substance_names": ["carfentanil"]}},
            ],
            "minimum_should_match": 1,
        }
    }
    assert {"terms": {"ships_from": ["CN", "IN"]}} in filters
    assert {"terms": {"platform": ["telegram"]}} in filters
    assert {"terms": {"source": ["demo-market"]}} in filters
    assert {"range": {"risk": {"gte": 0.5}}} in filters
    assert {"term": {"intent": "sale"}} in filters
    ships_to = json.dumps(filters)
    # FR is named, or covered by WORLDWIDE / EU without an exclusion of FR
    assert '"terms": {"ships_to": ["WORLDWIDE", "EU"]}' in ships_to
    assert '"must_not": [{"term": {"ships_not_to": "FR"}}]' in ships_to
    assert q["bool"]["must"] == [{"query_string": {"query": 'title:"china white" OR vacuum', "lenient": True}}]
    assert query_types(q) <= ALLOWED


def test_non_eu_country_is_not_covered_by_eu() -> None:
    q = json.dumps(compile_condition(Condition(ships_to=["US"])))
    assert '["WORLDWIDE"]' in q and '"EU"' not in q


def test_restrict_to_ids() -> None:
    inner = compile_condition(Condition())
    assert restrict_to_ids(inner, ["a", "b"]) == {"bool": {"filter": [{"ids": {"values": ["a", "b"]}}, inner]}}
