"""The rule store: configured rules compiled to queries, kept in ``<prefix>-rules`` with their versions.

``setup()`` makes sure the alerts and rules indices exist (created only from ``index_mappings/``, by
``crawler.es.templates.install``), stores each rule (query, config, version) and asks Elasticsearch
whether each query is valid on the listings alias.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError

from crawler.alerting.query import compile_rule
from crawler.alerting.records import iso
from crawler.alerting.rules import AlertsConfig, Rule
from crawler.common.durations import format_duration
from crawler.es.indexer import write_actions
from crawler.es.names import IndexNames
from crawler.es.templates import install

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompiledRule:
    """An active rule with its version and its compiled Elasticsearch query."""

    rule: Rule
    version: str
    query: dict[str, Any]


def ensure_indices(client: Elasticsearch, names: IndexNames) -> None:
    """Create the alerts and rules indices behind their aliases (from ``index_mappings/``) unless they exist."""
    missing = [k for k, a in (("alerts", names.alerts), ("rules", names.rules)) if not client.indices.exists(index=a)]
    if missing:
        install(client, names, kinds=missing)


class RuleStore:
    """The configured rules, compiled, and their copy in the rules index."""

    def __init__(
        self, client: Elasticsearch, names: IndexNames, config: AlertsConfig, clock: Callable[[], dt.datetime]
    ) -> None:
        self.client = client
        self.names = names
        self.config = config
        self.clock = clock
        self.compiled: dict[str, CompiledRule] = {
            r.name: CompiledRule(r, r.version, compile_rule(r)) for r in config.active_rules
        }

    def rule(self, name: str) -> Rule | None:
        """The active rule called ``name`` as configured now (None: removed or disabled)."""
        c = self.compiled.get(name)
        return c.rule if c is not None else None

    def setup(self) -> None:
        ensure_indices(self.client, self.names)
        self.sync()

    def sync(self) -> dict[str, str]:
        """Store each configured rule (query, config, version) in the rules index; returns name -> action.

        Unchanged rules are left alone; rules no longer configured are marked removed and disabled.
        The writes go through ``write_actions`` (retries); if the cluster stays away this raises, and
        the next start stores the rules again from the configuration, so nothing is lost.
        """
        now = iso(self.clock())
        stored: dict[str, dict[str, Any]] = {}
        res = self.client.search(index=self.names.rules, size=1000, query={"match_all": {}})
        for hit in res["hits"]["hits"]:
            stored[hit["_id"]] = hit["_source"]
        actions: dict[str, str] = {}
        ops: list[dict[str, Any]] = []
        validity = self.validate() if self.client.indices.exists(index=self.names.listings) else {}
        for rule in self.config.rules:
            doc: dict[str, Any] = {
                "name": rule.name,
                "version": rule.version,
                "enabled": rule.enabled,
                "removed": False,
                "mode": rule.mode,
                "period": format_duration(rule.period) if rule.period else None,
                "events": list(rule.events),
                "recipients": list(rule.recipients),
                "query": compile_rule(rule),
                "config": rule.model_dump(mode="json"),
                "updated_at": now,
            }
            if rule.name in validity:
                doc.update(valid=validity[rule.name] is None, error=validity[rule.name])
                if validity[rule.name]:
                    log.error("alert rule %r: Elasticsearch rejects its query: %s", rule.name, validity[rule.name])
            old = stored.get(rule.name)
            if old and old.get("version") == rule.version and not old.get("removed"):
                actions[rule.name] = "unchanged"
                continue
            if old and old.get("last_digest_at"):
                doc["last_digest_at"] = old["last_digest_at"]
            ops.append({"_op_type": "index", "_index": self.names.rules, "_id": rule.name, "_source": doc})
            actions[rule.name] = "updated" if old else "created"
        configured = {r.name for r in self.config.rules}
        for name, old in stored.items():
            if name not in configured and not old.get("removed"):
                ops.append(
                    {
                        "_op_type": "update",
                        "_index": self.names.rules,
                        "_id": name,
                        "doc": {"removed": True, "enabled": False, "updated_at": now},
                    }
                )
                actions[name] = "removed"
        if ops:
            items = write_actions(self.client, ops, refresh=True)
            failed = [i for i in items if i.get("error")]
            if failed:
                raise RuntimeError(f"storing alert rules in {self.names.rules} failed: {failed[:3]}")
        return actions

    def validate(self) -> dict[str, str | None]:
        """Ask Elasticsearch whether each rule's query is valid on the listings alias: name -> error or None."""
        out: dict[str, str | None] = {}
        for name, c in self.compiled.items():
            try:
                res = self.client.indices.validate_query(index=self.names.listings, query=c.query, explain=True)
            except NotFoundError:
                out[name] = f"listings alias {self.names.listings} does not exist yet"
                continue
            if res.get("valid"):
                out[name] = None
            else:
                expl = [e.get("error") for e in res.get("explanations", []) if e.get("error")]
                out[name] = "; ".join(expl) or "invalid query"
        return out

    def mark_digest_sent(self, rule: str, at: dt.datetime) -> None:
        """Remember when ``rule``'s last digest went out (informational: a lost write only loses the date)."""
        self.client.update(index=self.names.rules, id=rule, doc={"last_digest_at": iso(at)})
