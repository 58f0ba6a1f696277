"""Evaluate the core Elasticsearch query subset the alert rules compile to, on one document, in Python.

Only for unit and property tests of ``crawler.alerting.query``: ``bool`` (filter, must, should with
``minimum_should_match``, must_not), ``term``, ``terms``, ``range``, ``ids``, ``exists`` and
``match_all``, over keyword-like fields (a value or a list of values, compared exactly). Anything else
(``query_string``, scripts) raises, so a test never silently evaluates a query it does not understand.
The real node remains the judge in tests/integration/test_alert_rules_es.py; this evaluator and the
node must agree there on the same rules and documents.
"""

from __future__ import annotations

from typing import Any


class Unsupported(ValueError):
    """The query uses a type this evaluator does not implement."""


def _values(doc: dict[str, Any], field: str) -> list[Any]:
    value = doc.get(field)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _range(values: list[Any], spec: dict[str, Any]) -> bool:
    ops = {"gte": lambda a, b: a >= b, "gt": lambda a, b: a > b, "lte": lambda a, b: a <= b, "lt": lambda a, b: a < b}
    unknown = set(spec) - set(ops)
    if unknown:
        raise Unsupported(f"range options {sorted(unknown)}")
    return any(all(ops[op](v, bound) for op, bound in spec.items()) for v in values)


def matches(query: dict[str, Any], doc: dict[str, Any], doc_id: str | None = None) -> bool:
    """Whether ``doc`` (with ``_id`` ``doc_id``) matches ``query`` in a filter context."""
    if len(query) != 1:
        raise Unsupported(f"a query object needs exactly one type, got {sorted(query)}")
    ((kind, body),) = query.items()
    if kind == "match_all":
        return True
    if kind == "term":
        ((field, value),) = body.items()
        value = value["value"] if isinstance(value, dict) else value
        return value in _values(doc, field)
    if kind == "terms":
        ((field, wanted),) = body.items()
        return any(v in wanted for v in _values(doc, field))
    if kind == "range":
        ((field, spec),) = body.items()
        return _range(_values(doc, field), spec)
    if kind == "ids":
        return doc_id in body["values"]
    if kind == "exists":
        return bool(_values(doc, body["field"]))
    if kind == "bool":
        unknown = set(body) - {"filter", "must", "should", "must_not", "minimum_should_match"}
        if unknown:
            raise Unsupported(f"bool options {sorted(unknown)}")
        required = [*body.get("filter", []), *body.get("must", [])]
        if not all(matches(q, doc, doc_id) for q in required):
            return False
        if any(matches(q, doc, doc_id) for q in body.get("must_not", [])):
            return False
        should = body.get("should", [])
        if should:
            # Elasticsearch: minimum_should_match defaults to 1 when a bool has only should clauses
            # (or is in a filter context), else 0
            wanted = body.get("minimum_should_match", 1 if not required else 0)
            return sum(matches(q, doc, doc_id) for q in should) >= int(wanted)
        return True
    raise Unsupported(f"query type {kind!r}")
