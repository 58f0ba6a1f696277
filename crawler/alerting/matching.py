"""Matching: every active rule's stored query run on one batch's listings (one ``_msearch``), each match
recorded once in ``<prefix>-alerts`` (deterministic ``_id``, ``op_type=create``: a repeat is a 409)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from typing import Any

from elasticsearch import Elasticsearch

from crawler.alerting.query import compile_rule, restrict_to_ids
from crawler.alerting.records import SNAPSHOT_FIELDS, BatchAlertResult, build_record, error_text
from crawler.alerting.rulestore import CompiledRule, RuleStore
from crawler.es.indexer import write_actions
from crawler.es.names import IndexNames
from crawler.events import ListingEvent

log = logging.getLogger(__name__)


class Matcher:
    """Runs the rule store's active rules on batches of listing events and records the matches."""

    def __init__(
        self, client: Elasticsearch, names: IndexNames, store: RuleStore, clock: Callable[[], dt.datetime]
    ) -> None:
        self.client = client
        self.names = names
        self.store = store
        self.clock = clock

    def match(self, events: Iterable[ListingEvent]) -> BatchAlertResult:
        """Record the matches of the batch's listings (already indexed and refreshed); no mail.

        The record writes go through ``write_actions`` (retries); when Elasticsearch stays away it raises
        ``IndexerUnavailable`` and the batch processor spools the batch with its events, so the matches
        are recorded on replay (the same ids: no duplicate).
        """
        result = BatchAlertResult()
        by_fp: dict[str, ListingEvent] = {}
        for e in events:
            if e.kind != "unchanged":
                by_fp[e.fingerprint] = e
        result.events = len(by_fp)
        searches: list[dict[str, Any]] = []
        plan: list[tuple[CompiledRule, dict[str, ListingEvent]]] = []
        for c in self.store.compiled.values():
            counted = {fp: e for fp, e in by_fp.items() if c.rule.counts(e.kind, e.vendor_new_platform)}
            if not counted:
                continue
            searches += [
                {"index": self.names.listings},
                {
                    "query": restrict_to_ids(c.query, sorted(counted)),
                    "size": len(counted),
                    "_source": SNAPSHOT_FIELDS,
                },
            ]
            plan.append((c, counted))
        result.rules_run = len(plan)
        if not plan:
            return result
        responses = self.client.msearch(searches=searches)["responses"]
        now = self.clock()
        ops: list[dict[str, Any]] = []
        for (c, counted), resp in zip(plan, responses, strict=True):
            if "error" in resp:
                msg = f"rule {c.rule.name!r}: query failed in Elasticsearch: {error_text(resp['error'])}"
                log.error(msg)
                result.errors.append(msg)
                continue
            for hit in resp["hits"]["hits"]:
                event = counted.get(hit["_id"])
                if event is None:
                    continue
                result.matched += 1
                record = build_record(c.rule, c.version, event, hit, now)
                ops.append(
                    {"_op_type": "create", "_index": self.names.alerts, "_id": record["alert_id"], "_source": record}
                )
        if not ops:
            return result
        for op, info in zip(ops, write_actions(self.client, ops), strict=True):
            status = int(info.get("status", 0) or 0)
            if status in (200, 201):
                result.created += 1
                rule = str(op["_source"]["rule"])
                result.by_rule[rule] = result.by_rule.get(rule, 0) + 1
            elif status == 409:
                result.duplicates += 1
            else:
                msg = f"alert record {op['_id']} not stored in {self.names.alerts}: {error_text(info.get('error'))}"
                log.error(msg)
                result.errors.append(msg)
        if result.created:
            log.info("alerts: %d new records (%s)", result.created, result.by_rule)
        return result

    def dry_run(self, rule_name: str, *, size: int = 20) -> tuple[int, list[dict[str, Any]]]:
        """Which listings already in the index match ``rule_name`` (no record, no mail): (total, hits)."""
        rule = self.store.config.rule(rule_name)
        res = self.client.search(
            index=self.names.listings,
            query=compile_rule(rule),
            size=size,
            track_total_hits=True,
            sort=[{"last_seen": {"order": "desc", "unmapped_type": "date"}}],
            source_includes=SNAPSHOT_FIELDS,
        )
        hits = [h["_source"] | {"_id": h["_id"]} for h in res["hits"]["hits"]]
        return int(res["hits"]["total"]["value"]), hits
