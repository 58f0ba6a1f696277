"""Compile an alert rule's condition into an Elasticsearch bool query (core query types only)."""

from __future__ import annotations

from typing import Any

from crawler.alerting.rules import Condition, Rule

EU_MEMBERS = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE".split()
)

# Listing document fields the compiled queries use (the listings mapping must have them as keywords,
# except risk: a number, and the free query string's own fields).
FIELDS = {
    "substance_classes": "substance_classes",
    "substances": "substance_names",
    "ships_from": "ships_from",
    "ships_to": "ships_to",
    "ships_not_to": "ships_not_to",
    "platform": "platform",
    "source": "source",
    "risk": "risk",
    "intent": "intent",
}


def _ships_to_clause(code: str) -> dict[str, Any]:
    """Ships to ``code``: named explicitly, or covered by WORLDWIDE / EU and not excluded.

    A rule's ``EU`` stands for the Union: a listing shipping to EU, to any member state, or WORLDWIDE
    (unless it excludes EU) ships there; an analyst watching the EU wants the vendor who ships to France.
    """
    if code == "WORLDWIDE":
        return {"term": {FIELDS["ships_to"]: code}}
    if code == "EU":
        return {
            "bool": {
                "should": [
                    {"terms": {FIELDS["ships_to"]: ["EU", *sorted(EU_MEMBERS)]}},
                    {
                        "bool": {
                            "filter": [{"term": {FIELDS["ships_to"]: "WORLDWIDE"}}],
                            "must_not": [{"term": {FIELDS["ships_not_to"]: "EU"}}],
                        }
                    },
                ],
                "minimum_should_match": 1,
            }
        }
    covering = ["WORLDWIDE"] + (["EU"] if code in EU_MEMBERS else [])
    return {
        "bool": {
            "should": [
                {"term": {FIELDS["ships_to"]: code}},
                {
                    "bool": {
                        "filter": [{"terms": {FIELDS["ships_to"]: covering}}],
                        "must_not": [{"term": {FIELDS["ships_not_to"]: code}}],
                    }
                },
            ],
            "minimum_should_match": 1,
        }
    }


def compile_condition(cond: Condition) -> dict[str, Any]:
    """The condition as an Elasticsearch ``bool`` query: term/terms/range/query_string only, no scripts."""
    filters: list[dict[str, Any]] = []
    substance: list[dict[str, Any]] = []
    if cond.substance_classes:
        substance.append({"terms": {FIELDS["substance_classes"]: cond.substance_classes}})
    if cond.substances:
        substance.append({"terms": {FIELDS["substances"]: cond.substances}})
    if len(substance) == 1:
        filters.append(substance[0])
    elif substance:
        filters.append({"bool": {"should": substance, "minimum_should_match": 1}})
    if cond.ships_from:
        # a rule's EU also means "from any member state"
        origins = sorted(set(cond.ships_from) | (EU_MEMBERS if "EU" in cond.ships_from else set()))
        filters.append({"terms": {FIELDS["ships_from"]: origins}})
    if cond.ships_to:
        clauses = [_ships_to_clause(c) for c in cond.ships_to]
        filters.append(clauses[0] if len(clauses) == 1 else {"bool": {"should": clauses, "minimum_should_match": 1}})
    if cond.platforms:
        filters.append({"terms": {FIELDS["platform"]: cond.platforms}})
    if cond.sources:
        filters.append({"terms": {FIELDS["source"]: cond.sources}})
    if cond.min_risk is not None:
        filters.append({"range": {FIELDS["risk"]: {"gte": cond.min_risk}}})
    if cond.intent != "any":
        filters.append({"term": {FIELDS["intent"]: cond.intent}})
    query: dict[str, Any] = {"bool": {"filter": filters}}
    if cond.query:
        # Scored clause so that Elasticsearch can also highlight it; lenient ignores type mismatches
        # (a word against a numeric field) the way Kibana's search bar does.
        query["bool"]["must"] = [{"query_string": {"query": cond.query, "lenient": True}}]
    return query


def compile_rule(rule: Rule) -> dict[str, Any]:
    """The rule's stored query (what `narcowatch alerts test` and every batch run)."""
    return compile_condition(rule.condition)


def restrict_to_ids(query: dict[str, Any], ids: list[str]) -> dict[str, Any]:
    """``query`` limited to the listing documents with these ``_id`` values (a batch's fingerprints)."""
    return {"bool": {"filter": [{"ids": {"values": ids}}, query]}}
