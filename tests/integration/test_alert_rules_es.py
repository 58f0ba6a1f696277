"""The real node runs the compiled rule queries: listings shipping to any one of a rule's countries match,
and the Python evaluator of the unit tests (tests/support/esquery.py) agrees with the node on every one."""

from __future__ import annotations

import itertools
from typing import Any

from elasticsearch import Elasticsearch

from crawler.alerting.query import compile_condition, compile_rule
from crawler.alerting.rules import Condition, load_alerts_config
from crawler.es.names import IndexNames
from crawler.paths import ROOT
from tests.support.esquery import matches

SHIPS = [(["US"], []), (["EU"], []), (["FR"], []), (["DE", "US"], []), (["CA"], []), (["WORLDWIDE"], []),
         (["WORLDWIDE"], ["US"]), (["WORLDWIDE"], ["FR"]), (["EU"], ["FR"]), ([], [])]
CLASSES = [["opioid"], ["fentanyl"], ["precursor"]]


def docs() -> dict[str, dict[str, Any]]:
    out = {}
    for n, ((to, not_to), classes, intent) in enumerate(itertools.product(SHIPS, CLASSES, ["sale", "other"])):
        out[f"l{n}"] = {"fingerprint": f"l{n}", "title": "t", "source": "s", "platform": "p",
                        "substance_classes": classes, "substance_names": [], "ships_from": ["CN"],
                        "ships_to": to, "ships_not_to": not_to, "intent": intent, "risk": 0.2 + 0.1 * (n % 8)}
    return out


def test_rules_match_on_the_node_as_the_evaluator_says(es_client: Elasticsearch, es_installed: IndexNames) -> None:
    listings = docs()
    ops: list[dict[str, Any]] = []
    for i, d in listings.items():
        ops += [{"index": {"_index": es_installed.listings, "_id": i}}, d]
    assert not es_client.bulk(operations=ops, refresh=True)["errors"]
    rules = {r.name: compile_rule(r) for r in load_alerts_config(ROOT / "config" / "alerts.yaml").rules}
    for countries in (["US"], ["FR"], ["US", "EU"], ["CA", "FR", "US"], ["WORLDWIDE"], ["EU"]):
        rules[f"to-{'-'.join(countries)}"] = compile_condition(Condition(ships_to=countries, intent="any"))
    for name, query in rules.items():
        res = es_client.search(index=es_installed.listings, query=query, size=100, source=False)
        on_node = {h["_id"] for h in res["hits"]["hits"]}
        expected = {i for i, d in listings.items() if matches(query, d, i)}
        assert on_node == expected, name
    # the shipped two-country rule: US alone and EU alone both match (OR, not AND)
    two = rules["opioids-daily"]
    hit = {i for i, d in listings.items() if matches(two, d, i)}
    tos = {tuple(listings[i]["ships_to"]) for i in hit}
    assert ("US",) in tos and ("EU",) in tos and ("CA",) not in tos
