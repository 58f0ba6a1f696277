"""Alert engine: stored rule queries run on each indexed batch (one _msearch), records created once, mails sent once.

An alert record's ``_id`` is derived from rule, listing fingerprint, event kind and content hash and is
written with ``op_type=create``: the same event is recorded once however often it is seen, by however
many processes. Delivery moves a record pending -> sending -> sent (or failed) with optimistic
concurrency (``if_seq_no``/``if_primary_term``), so two processes never both claim one alert.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from elasticsearch import ConflictError, Elasticsearch, NotFoundError

from crawler.alerting.mailer import MailConfigError, Mailer, MailPermanentError, MailTransportError, SendResult
from crawler.alerting.query import compile_rule, restrict_to_ids
from crawler.alerting.render import AlertView, render_alert, render_digest
from crawler.alerting.rules import AlertsConfig, Delivery, Rule, format_duration, parse_period
from crawler.events import ListingEvent

log = logging.getLogger(__name__)

# Listing fields copied into each alert record: the mail shows the listing as it was when it matched.
SNAPSHOT_FIELDS = [
    "title",
    "description",
    "url",
    "source",
    "platform",
    "substances",
    "substance_names",
    "substance_classes",
    "cas",
    "vendor",
    "vendor_handles",
    "vendor_contacts",
    "ships_from",
    "ships_to",
    "ships_not_to",
    "price",
    "price_raw",
    "currency",
    "quantity",
    "ships_from_raw",
    "ships_to_raw",
    "posted_at",
    "intent",
    "risk",
    "response_sha256",
    "evidence.response_sha256",
    "entities.text",
    "entities.label",
    "first_seen",
    "last_seen",
    "fingerprint",
]
DESCRIPTION_CHARS = 4000

# States of an alert record.
PENDING, SENDING, SENT, FAILED, DIGEST = "pending", "sending", "sent", "failed", "digest"

ALERTS_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "@timestamp": {"type": "date"},
        "alert_id": {"type": "keyword"},
        "rule": {"type": "keyword"},
        "rule_version": {"type": "keyword"},
        "mode": {"type": "keyword"},
        "period": {"type": "keyword"},
        "recipients": {"type": "keyword"},
        "fingerprint": {"type": "keyword"},
        "listing_id": {"type": "keyword"},
        "event_kind": {"type": "keyword"},
        "reason": {"type": "keyword"},
        "content_hash": {"type": "keyword"},
        "source": {"type": "keyword"},
        "platform": {"type": "keyword"},
        "substance_names": {"type": "keyword"},
        "substance_classes": {"type": "keyword"},
        "ships_from": {"type": "keyword"},
        "risk": {"type": "float"},
        "title": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 512}}},
        "state": {"type": "keyword"},
        "attempts": {"type": "integer"},
        "next_attempt_at": {"type": "date"},
        "lease_until": {"type": "date"},
        "owner": {"type": "keyword"},
        "created_at": {"type": "date"},
        "sent_at": {"type": "date"},
        "updated_at": {"type": "date"},
        "delivered_to": {"type": "keyword"},
        "rejected": {
            "properties": {"address": {"type": "keyword"}, "reply": {"type": "text"}, "at": {"type": "date"}}
        },
        "last_error": {"type": "text"},
        "throttled": {"type": "boolean"},
        "digest_id": {"type": "keyword"},
        "listing": {"type": "object", "enabled": False},
    },
}

RULES_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "name": {"type": "keyword"},
        "version": {"type": "keyword"},
        "enabled": {"type": "boolean"},
        "removed": {"type": "boolean"},
        "valid": {"type": "boolean"},
        "error": {"type": "text"},
        "mode": {"type": "keyword"},
        "period": {"type": "keyword"},
        "events": {"type": "keyword"},
        "recipients": {"type": "keyword"},
        "query": {"type": "object", "enabled": False},
        "config": {"type": "object", "enabled": False},
        "updated_at": {"type": "date"},
        "last_digest_at": {"type": "date"},
    },
}


class Names(Protocol):
    """What the engine needs of ``crawler.es.names.IndexNames``."""

    @property
    def listings(self) -> str: ...

    @property
    def alerts(self) -> str: ...

    @property
    def rules(self) -> str: ...


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(ts: dt.datetime) -> str:
    return ts.astimezone(dt.UTC).isoformat(timespec="milliseconds")


def parse_iso(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def alert_id(rule: str, fingerprint: str, kind: str, content_hash: str) -> str:
    """The deterministic ``_id`` of the alert record for one rule and one listing event."""
    return hashlib.sha256("\x1f".join((rule, fingerprint, kind, content_hash)).encode()).hexdigest()


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class DeliveryResult:
    """What one ``deliver_pending()`` or ``send_digests()`` call did."""

    sent: int = 0
    """Alerts now in state sent (each delivered to at least one recipient)."""
    mails: int = 0
    """Messages the SMTP server accepted."""
    retry: int = 0
    """Alerts that failed for now and wait for their next attempt."""
    failed: int = 0
    """Alerts that failed for good (every recipient refused with 5xx, or too many attempts)."""
    throttled: int = 0
    """Alerts held back by their rule's throttle."""
    skipped: int = 0
    """Alerts another process claimed first."""
    errors: list[str] = field(default_factory=list)

    def add(self, other: DeliveryResult) -> None:
        for name in ("sent", "mails", "retry", "failed", "throttled", "skipped"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)


@dataclass
class BatchAlertResult:
    """What ``on_batch`` did with one batch of listing events."""

    events: int = 0
    """Events considered (kind other than unchanged)."""
    rules_run: int = 0
    """Rules that had events of their kinds in the batch and ran in the _msearch."""
    matched: int = 0
    """(rule, listing event) matches."""
    created: int = 0
    """New alert records (matches not recorded before)."""
    duplicates: int = 0
    """Matches already recorded earlier (re-crawl, restart, other process)."""
    by_rule: dict[str, int] = field(default_factory=dict)
    """New records per rule."""
    errors: list[str] = field(default_factory=list)
    delivery: DeliveryResult | None = None


@dataclass(frozen=True)
class _Compiled:
    rule: Rule
    version: str
    query: dict[str, Any]


class AlertEngine:
    """Runs alert rules on indexed batches and delivers the resulting alerts by email.

    ``rules`` is an ``AlertsConfig`` (sender, Kibana URL and retry settings taken from it) or a list of
    rules. ``mailer`` None means ``Mailer.from_env()`` at the first delivery. ``clock`` returns the
    current UTC time (tests move it forward instead of sleeping).
    """

    def __init__(
        self,
        client: Elasticsearch,
        names: Names,
        rules: AlertsConfig | Sequence[Rule],
        mailer: Mailer | None = None,
        *,
        kibana_url: str | None = None,
        sender: str | None = None,
        delivery: Delivery | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
        owner: str | None = None,
        lease: dt.timedelta = dt.timedelta(minutes=5),
        deliver_after_batch: bool = True,
        setup: bool = True,
    ):
        config = rules if isinstance(rules, AlertsConfig) else AlertsConfig(rules=list(rules))
        self.client = client
        self.names = names
        self.config = config
        self._mailer = mailer
        self.kibana_url = (kibana_url or config.kibana_url or "").rstrip("/") or None
        self.kibana_data_view = config.kibana_data_view
        self.sender = sender or (mailer.sender if mailer and mailer.sender else config.sender)
        self.delivery = delivery or config.delivery
        self.clock = clock
        self.owner = owner or default_owner()
        self.lease = lease
        self.deliver_after_batch = deliver_after_batch
        self._compiled: dict[str, _Compiled] = {
            r.name: _Compiled(r, r.version, compile_rule(r)) for r in config.active_rules
        }
        self._setup_done = False
        if setup:
            self.setup()

    # -- set-up ------------------------------------------------------------------------------------
    @property
    def mailer(self) -> Mailer:
        if self._mailer is None:
            self._mailer = Mailer.from_env(sender=self.sender)
        return self._mailer

    def setup(self) -> None:
        """Make sure the alerts and rules indices exist, and store every rule with its version."""
        ensure_indices(self.client, self.names)
        self.sync_rules()
        self._setup_done = True

    def sync_rules(self) -> dict[str, str]:
        """Store each configured rule (query, config, version) in the rules index; returns name -> action.

        Unchanged rules are left alone; rules no longer configured are marked removed and disabled.
        """
        now = iso(self.clock())
        stored: dict[str, dict[str, Any]] = {}
        res = self.client.search(index=self.names.rules, size=1000, query={"match_all": {}})
        for hit in res["hits"]["hits"]:
            stored[hit["_id"]] = hit["_source"]
        actions: dict[str, str] = {}
        ops: list[dict[str, Any]] = []
        validity = self.validate_rules() if self.client.indices.exists(index=self.names.listings) else {}
        for rule in self.config.rules:
            query = compile_rule(rule)
            doc = {
                "name": rule.name,
                "version": rule.version,
                "enabled": rule.enabled,
                "removed": False,
                "mode": rule.mode,
                "period": format_duration(rule.period) if rule.period else None,
                "events": list(rule.events),
                "recipients": list(rule.recipients),
                "query": query,
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
            ops += [{"index": {"_index": self.names.rules, "_id": rule.name}}, doc]
            actions[rule.name] = "updated" if old else "created"
        configured = {r.name for r in self.config.rules}
        for name, old in stored.items():
            if name not in configured and not old.get("removed"):
                ops += [
                    {"update": {"_index": self.names.rules, "_id": name}},
                    {"doc": {"removed": True, "enabled": False, "updated_at": now}},
                ]
                actions[name] = "removed"
        if ops:
            res = self.client.bulk(operations=ops, refresh=True)
            if res.get("errors"):
                failed = [i for i in res["items"] if next(iter(i.values())).get("error")]
                raise RuntimeError(f"storing alert rules in {self.names.rules} failed: {failed[:3]}")
        return actions

    def validate_rules(self) -> dict[str, str | None]:
        """Ask Elasticsearch whether each rule's query is valid on the listings alias: name -> error or None."""
        out: dict[str, str | None] = {}
        for name, c in self._compiled.items():
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

    # -- matching ----------------------------------------------------------------------------------
    def on_batch(self, events: Iterable[ListingEvent], *, deliver: bool | None = None) -> BatchAlertResult:
        """Run every active rule on the batch's listings (already indexed and refreshed), record matches.

        One ``_msearch``: each rule's stored query restricted to the ids of the events it counts.
        New records of immediate rules are then delivered (``deliver_pending``) unless ``deliver`` is
        False (default: the engine's ``deliver_after_batch``).
        """
        if not self._setup_done:
            self.setup()
        result = BatchAlertResult()
        by_fp: dict[str, ListingEvent] = {}
        for e in events:
            if e.kind != "unchanged":
                by_fp[e.fingerprint] = e
        result.events = len(by_fp)
        searches: list[dict[str, Any]] = []
        plan: list[tuple[_Compiled, dict[str, ListingEvent]]] = []
        for c in self._compiled.values():
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
                msg = f"rule {c.rule.name!r}: query failed in Elasticsearch: {_error_text(resp['error'])}"
                log.error(msg)
                result.errors.append(msg)
                continue
            for hit in resp["hits"]["hits"]:
                event = counted.get(hit["_id"])
                if event is None:
                    continue
                result.matched += 1
                record = self._record(c, event, hit, now)
                ops += [{"create": {"_index": self.names.alerts, "_id": record["alert_id"]}}, record]
        if ops:
            res = self.client.bulk(operations=ops)
            for item in res["items"]:
                info = item["create"]
                status = info.get("status", 0)
                if status in (200, 201):
                    result.created += 1
                    rule = _rule_of(ops, info["_id"])
                    result.by_rule[rule] = result.by_rule.get(rule, 0) + 1
                elif status == 409:
                    result.duplicates += 1
                else:
                    why = _error_text(info.get("error"))
                    msg = f"alert record {info.get('_id')} not stored in {self.names.alerts}: {why}"
                    log.error(msg)
                    result.errors.append(msg)
        if result.created:
            log.info("alerts: %d new records (%s)", result.created, result.by_rule)
        if deliver if deliver is not None else self.deliver_after_batch:
            try:
                result.delivery = self.deliver_pending()
            except Exception as exc:  # records are stored; the next deliver_pending() sends them
                log.exception("alerts recorded but delivery failed; they are retried later")
                result.errors.append(f"delivery failed: {exc}")
        return result

    def _record(self, c: _Compiled, event: ListingEvent, hit: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
        src = dict(hit.get("_source") or {})
        src["marked_terms"] = _entity_terms(src.pop("entities", None))
        if isinstance(src.get("description"), str) and len(src["description"]) > DESCRIPTION_CHARS:
            src["description"] = src["description"][:DESCRIPTION_CHARS]
        reason = event.kind if c.rule.counts(event.kind) else "new_vendor_platform"
        rule = c.rule
        ts = iso(now)
        return {
            "@timestamp": ts,
            "alert_id": alert_id(rule.name, event.fingerprint, event.kind, event.content_hash),
            "rule": rule.name,
            "rule_version": c.version,
            "mode": rule.mode,
            "period": format_duration(rule.period) if rule.period else None,
            "recipients": list(rule.recipients),
            "fingerprint": event.fingerprint,
            "listing_id": event.fingerprint,
            "event_kind": event.kind,
            "reason": reason,
            "content_hash": event.content_hash,
            "source": src.get("source") or event.source,
            "platform": src.get("platform") or event.platform,
            "substance_names": _list(src.get("substance_names")),
            "substance_classes": _list(src.get("substance_classes")),
            "ships_from": _list(src.get("ships_from")),
            "risk": _float(src.get("risk")),
            "title": str(src.get("title") or "")[:1000],
            "state": DIGEST if rule.mode == "digest" else PENDING,
            "attempts": 0,
            "next_attempt_at": ts,
            "created_at": ts,
            "updated_at": ts,
            "delivered_to": [],
            "rejected": [],
            "listing": src,
        }

    def dry_run(self, rule_name: str, *, size: int = 20) -> tuple[int, list[dict[str, Any]]]:
        """Which listings already in the index match ``rule_name`` (no record, no mail): (total, hits)."""
        rule = self.config.rule(rule_name)
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

    # -- delivery ----------------------------------------------------------------------------------
    def deliver_pending(self, *, limit: int = 500, max_passes: int = 20) -> DeliveryResult:
        """Send every immediate alert that is due (new, or waiting for a retry), oldest first.

        Safe to call from several processes at once: each alert is claimed with optimistic concurrency.
        Works in passes of ``limit`` alerts while full passes keep finding work.
        """
        result = DeliveryResult()
        if not self._mailer_ready(result):
            return result
        for _ in range(max_passes):
            part, seen = self._deliver_pass(limit)
            result.add(part)
            if seen < limit or not (part.sent or part.failed or part.retry):
                break
        if result.sent or result.retry or result.failed:
            log.info(
                "alerts delivered: %d sent, %d to retry, %d failed, %d throttled, %d taken by others",
                result.sent, result.retry, result.failed, result.throttled, result.skipped,
            )
        return result

    def _deliver_pass(self, limit: int) -> tuple[DeliveryResult, int]:
        result = DeliveryResult()
        now = self.clock()
        # One refresh per call: the search must see records other calls created or updated. Updates
        # below need no refresh of their own: they are conditional on seq_no, so a stale search hit
        # only costs a version conflict (counted as skipped), never a double send.
        self.client.indices.refresh(index=self.names.alerts)
        res = self.client.search(
            index=self.names.alerts,
            size=limit,
            seq_no_primary_term=True,
            sort=[{"created_at": "asc"}],
            query={
                "bool": {
                    "filter": [{"term": {"mode": "immediate"}}],
                    "should": [
                        {
                            "bool": {
                                "filter": [
                                    {"term": {"state": PENDING}},
                                    {"range": {"next_attempt_at": {"lte": iso(now)}}},
                                ]
                            }
                        },
                        {
                            "bool": {
                                "filter": [
                                    {"term": {"state": SENDING}},
                                    {"range": {"lease_until": {"lt": iso(now)}}},
                                ]
                            }
                        },
                    ],
                    "minimum_should_match": 1,
                }
            },
        )
        hits = res["hits"]["hits"]
        if not hits:
            return result, 0
        budget: dict[str, int | None] = {}
        for hit in hits:
            src = hit["_source"]
            rule_name = src["rule"]
            compiled = self._compiled.get(rule_name)
            rule = compiled.rule if compiled else None
            if rule_name not in budget:
                budget[rule_name] = self._throttle_budget(rule, now)
            if budget[rule_name] is not None and budget[rule_name] <= 0:  # type: ignore[operator]
                if self._defer_throttled(hit, rule, now):
                    result.throttled += 1
                else:
                    result.skipped += 1
                continue
            claim = self._claim(hit, now)
            if claim is None:
                result.skipped += 1
                continue
            outcome = self._send_one(hit, claim, rule)
            result.add(outcome)
            if outcome.mails and budget[rule_name] is not None:
                budget[rule_name] = budget[rule_name] - 1  # type: ignore[operator]
        return result, len(hits)

    def _mailer_ready(self, result: DeliveryResult) -> bool:
        """False (error logged and noted) when no SMTP server is configured: alerts stay pending."""
        try:
            self.mailer  # noqa: B018 - builds the mailer from NARCOWATCH_SMTP_URL
        except MailConfigError as exc:
            msg = f"alert mails not sent, they wait in {self.names.alerts}: {exc}"
            log.error(msg)
            result.errors.append(msg)
            return False
        return True

    def _throttle_budget(self, rule: Rule | None, now: dt.datetime) -> int | None:
        """How many more mails ``rule`` may send now (None: unlimited)."""
        if rule is None or rule.throttle is None:
            return None
        since = now - rule.throttle.per
        count = self.client.count(
            index=self.names.alerts,
            query={
                "bool": {
                    "filter": [
                        {"term": {"rule": rule.name}},
                        {"exists": {"field": "sent_at"}},
                        {"range": {"sent_at": {"gt": iso(since)}}},
                    ]
                }
            },
        )["count"]
        return max(0, rule.throttle.max - int(count))

    def _defer_throttled(self, hit: dict[str, Any], rule: Rule | None, now: dt.datetime) -> bool:
        """Push a throttled alert's next attempt to when its rule's window has room again."""
        assert rule is not None and rule.throttle is not None
        res = self.client.search(
            index=self.names.alerts,
            size=1,
            sort=[{"sent_at": "asc"}],
            query={
                "bool": {
                    "filter": [
                        {"term": {"rule": rule.name}},
                        {"range": {"sent_at": {"gt": iso(now - rule.throttle.per)}}},
                    ]
                }
            },
            source_includes=["sent_at"],
        )
        oldest = res["hits"]["hits"][0]["_source"]["sent_at"] if res["hits"]["hits"] else None
        reopen = (parse_iso(oldest) or now) + rule.throttle.per
        try:
            self.client.update(
                index=hit["_index"],
                id=hit["_id"],
                doc={"next_attempt_at": iso(max(reopen, now)), "throttled": True, "updated_at": iso(now)},
                if_seq_no=hit["_seq_no"],
                if_primary_term=hit["_primary_term"],
            )
        except ConflictError:
            return False
        return True

    def _claim(self, hit: dict[str, Any], now: dt.datetime) -> dict[str, Any] | None:
        """Move one alert to ``sending`` if nobody changed it since we read it; returns seq_no/term."""
        attempts = int(hit["_source"].get("attempts") or 0) + 1
        try:
            res = self.client.update(
                index=hit["_index"],
                id=hit["_id"],
                doc={
                    "state": SENDING,
                    "attempts": attempts,
                    "owner": self.owner,
                    "lease_until": iso(now + self.lease),
                    "updated_at": iso(now),
                },
                if_seq_no=hit["_seq_no"],
                if_primary_term=hit["_primary_term"],
            )
        except ConflictError:
            return None
        return {"_seq_no": res["_seq_no"], "_primary_term": res["_primary_term"], "attempts": attempts}

    def _view(self, src: dict[str, Any], terms: list[str] | None = None) -> AlertView:
        rule = self._compiled.get(src["rule"])
        cond = rule.rule.condition if rule is not None else None
        if terms is None:
            terms = list(cond.substances) + _query_words(cond.query) if cond is not None else []
        return AlertView(
            alert_id=src["alert_id"],
            rule=src["rule"],
            reason=src.get("reason") or src.get("event_kind") or "new",
            fingerprint=src["fingerprint"],
            listing=dict(src.get("listing") or {}),
            terms=terms,
            kibana_url=self.kibana_url,
            kibana_data_view=self.kibana_data_view,
            focus_classes=list(cond.substance_classes) if cond is not None else [],
            focus_names=list(cond.substances) if cond is not None else [],
        )

    def _send_one(self, hit: dict[str, Any], claim: dict[str, Any], rule: Rule | None) -> DeliveryResult:
        out = DeliveryResult()
        src = hit["_source"]
        now = self.clock()
        delivered = list(src.get("delivered_to") or [])
        rejected = list(src.get("rejected") or [])
        gone = set(delivered) | {r["address"] for r in rejected}
        recipients = list(src.get("recipients") or [])
        todo = [r for r in recipients if r not in gone]
        error: str | None = None
        permanent_error = False
        send = SendResult()
        try:
            if todo:
                message = render_alert(self._view(src), sender=self.sender, recipients=recipients)
                send = self.mailer.send(message, todo)
        except MailPermanentError as exc:
            error, permanent_error = str(exc), True
        except MailTransportError as exc:
            error = str(exc)
        except Exception as exc:  # a bug in rendering must not lose the alert: keep it for a retry
            log.exception("alert %s: unexpected error while sending", hit["_id"])
            error = f"{type(exc).__name__}: {exc}"
        if send.accepted:
            out.mails += 1
        delivered += send.accepted
        rejected += [{"address": a, "reply": reply, "at": iso(now)} for a, reply in send.permanent.items()]
        for address, reply in send.permanent.items():
            log.warning("alert %s: %s refused permanently (%s); not retried", hit["_id"], address, reply)
        if send.temporary and error is None:
            error = "; ".join(f"{a}: {r}" for a, r in send.temporary.items())
        remaining = [r for r in recipients if r not in set(delivered) | {x["address"] for x in rejected}]
        doc: dict[str, Any] = {
            "delivered_to": delivered,
            "rejected": rejected,
            "updated_at": iso(now),
            "lease_until": None,
            "throttled": False,
        }
        attempts = claim["attempts"]
        if permanent_error:
            doc.update(state=FAILED, last_error=error)
            out.failed += 1
        elif not remaining:
            if delivered:
                doc.update(state=SENT, sent_at=iso(now))
                out.sent += 1
            else:
                doc.update(state=FAILED, last_error="every recipient was refused permanently")
                out.failed += 1
        elif attempts >= self.delivery.max_attempts:
            doc.update(state=FAILED, last_error=f"gave up after {attempts} attempts: {error}")
            out.failed += 1
        else:
            doc.update(
                state=PENDING,
                next_attempt_at=iso(now + self.backoff(attempts)),
                last_error=error,
            )
            out.retry += 1
        if doc["state"] == SENT and delivered and remaining == [] and rejected:
            doc["last_error"] = "; ".join(f"{r['address']}: {r['reply']}" for r in rejected)
        if error:
            out.errors.append(f"alert {hit['_id']} ({src['rule']}): {error}")
            log.warning("alert %s (%s) attempt %d: %s", hit["_id"], src["rule"], attempts, error)
        try:
            self.client.update(
                index=hit["_index"],
                id=hit["_id"],
                doc=doc,
                if_seq_no=claim["_seq_no"],
                if_primary_term=claim["_primary_term"],
            )
        except ConflictError:
            # Our lease ran out and another process took the alert over; it owns the outcome now.
            log.error("alert %s: lost its claim while sending (lease %s too short?)", hit["_id"], self.lease)
        return out

    def backoff(self, attempts: int) -> dt.timedelta:
        """Delay before attempt ``attempts + 1``: retry_base doubled each time, at most retry_max."""
        base = self.delivery.retry_base.total_seconds()
        seconds = min(base * (2 ** max(0, attempts - 1)), self.delivery.retry_max.total_seconds())
        return dt.timedelta(seconds=seconds)

    # -- digests -----------------------------------------------------------------------------------
    def send_digests(
        self, *, period: str | dt.timedelta | None = None, rule: str | None = None, due_only: bool = False
    ) -> DeliveryResult:
        """Send one digest mail per digest rule (of ``period`` / named ``rule``) with its waiting alerts.

        ``due_only`` limits it to digests with a failed earlier attempt whose retry time has come
        (what ``deliver_pending`` callers use to retry digests between scheduled runs).
        """
        result = DeliveryResult()
        wanted = parse_period(period) if period is not None else None
        if not self._mailer_ready(result):
            return result
        for c in self._compiled.values():
            r = c.rule
            if r.mode != "digest" or (wanted is not None and r.period != wanted) or (rule and r.name != rule):
                continue
            result.add(self._send_digest(r, due_only=due_only))
        return result

    def _send_digest(self, rule: Rule, *, due_only: bool) -> DeliveryResult:
        out = DeliveryResult()
        now = self.clock()
        self.client.indices.refresh(index=self.names.alerts)
        filters: list[dict[str, Any]] = [{"term": {"rule": rule.name}}]
        should = [
            {"bool": {"filter": [{"term": {"state": DIGEST}}, {"range": {"next_attempt_at": {"lte": iso(now)}}}]}},
            {"bool": {"filter": [{"term": {"state": SENDING}}, {"range": {"lease_until": {"lt": iso(now)}}}]}},
        ]
        if due_only:
            filters.append({"range": {"attempts": {"gt": 0}}})
        res = self.client.search(
            index=self.names.alerts,
            size=1000,
            seq_no_primary_term=True,
            sort=[{"created_at": "asc"}],
            query={"bool": {"filter": filters, "should": should, "minimum_should_match": 1}},
        )
        hits = res["hits"]["hits"]
        if not hits:
            return out
        # Claim them all in one bulk request; the ones another process changed first stay with it.
        digest_id = uuid.uuid4().hex
        ops: list[dict[str, Any]] = []
        for hit in hits:
            ops += [
                {
                    "update": {
                        "_index": hit["_index"],
                        "_id": hit["_id"],
                        "if_seq_no": hit["_seq_no"],
                        "if_primary_term": hit["_primary_term"],
                    }
                },
                {
                    "doc": {
                        "state": SENDING,
                        "attempts": int(hit["_source"].get("attempts") or 0) + 1,
                        "owner": self.owner,
                        "digest_id": digest_id,
                        "lease_until": iso(now + self.lease),
                        "updated_at": iso(now),
                    }
                },
            ]
        res = self.client.bulk(operations=ops)
        claimed: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for hit, item in zip(hits, res["items"], strict=True):
            info = item["update"]
            if info.get("status") in (200, 201):
                claimed.append((hit, {"_seq_no": info["_seq_no"], "_primary_term": info["_primary_term"]}))
            else:
                out.skipped += 1
        if not claimed:
            return out
        views = [self._view(h["_source"]) for h, _ in claimed]
        recipients = list(rule.recipients)
        error: str | None = None
        permanent_error = False
        send = SendResult()
        try:
            period_text = f"every {format_duration(rule.period)}" if rule.period else ""
            message = render_digest(views, sender=self.sender, recipients=recipients, period_text=period_text)
            send = self.mailer.send(message, recipients)
        except MailPermanentError as exc:
            error, permanent_error = str(exc), True
        except MailTransportError as exc:
            error = str(exc)
        except Exception as exc:
            log.exception("digest of rule %s: unexpected error", rule.name)
            error = f"{type(exc).__name__}: {exc}"
        if send.temporary and error is None:
            error = "; ".join(f"{a}: {r}" for a, r in send.temporary.items())
        if send.accepted:
            out.mails += 1
        rejected = [{"address": a, "reply": reply, "at": iso(now)} for a, reply in send.permanent.items()]
        attempts = max(int(h["_source"].get("attempts") or 0) + 1 for h, _ in claimed)
        doc: dict[str, Any] = {"updated_at": iso(now), "lease_until": None}
        if send.accepted:
            # Recipients that deferred (4xx) miss this digest; the alert is delivered to the others.
            doc.update(state=SENT, sent_at=iso(now), delivered_to=send.accepted, rejected=rejected)
            if error:
                doc["last_error"] = error
            out.sent += len(claimed)
        elif permanent_error or (rejected and not send.temporary):
            doc.update(state=FAILED, last_error=error or "every recipient was refused permanently", rejected=rejected)
            out.failed += len(claimed)
        elif attempts >= self.delivery.max_attempts:
            doc.update(state=FAILED, last_error=f"gave up after {attempts} attempts: {error}")
            out.failed += len(claimed)
        else:
            doc.update(state=DIGEST, next_attempt_at=iso(now + self.backoff(attempts)), last_error=error)
            out.retry += len(claimed)
        if error:
            out.errors.append(f"digest of rule {rule.name}: {error}")
            log.warning("digest of rule %s (%d alerts): %s", rule.name, len(claimed), error)
        ops = []
        for hit, claim in claimed:
            ops += [
                {
                    "update": {
                        "_index": hit["_index"],
                        "_id": hit["_id"],
                        "if_seq_no": claim["_seq_no"],
                        "if_primary_term": claim["_primary_term"],
                    }
                },
                {"doc": doc},
            ]
        res = self.client.bulk(operations=ops)
        if res.get("errors"):
            log.error("digest of rule %s: some alert records could not be updated after sending", rule.name)
        if send.accepted:
            self.client.update(
                index=self.names.rules, id=rule.name, doc={"last_digest_at": iso(now)}
            )
        return out

    def deliver_all(self) -> DeliveryResult:
        """Immediate alerts that are due plus digests whose retry is due (the scheduler's periodic call)."""
        result = self.deliver_pending()
        result.add(self.send_digests(due_only=True))
        return result


def engine_from_config(
    client: Elasticsearch,
    names: Names,
    path: Path | str | None = None,
    *,
    mailer: Mailer | None = None,
    **kwargs: Any,
) -> AlertEngine | None:
    """An engine for ``alerts.yaml`` (``path``, else ``NARCOWATCH_ALERTS_FILE``, else the configuration
    directory); None when that file does not exist or has no enabled rule. Invalid files raise ConfigError.
    """
    from crawler.alerting.rules import default_alerts_path, load_alerts_config

    file = Path(path) if path else default_alerts_path()
    if file.is_dir():
        file = file / "alerts.yaml"
    if not file.exists():
        log.info("no alert rules: %s does not exist", file)
        return None
    config = load_alerts_config(file)
    if not config.active_rules:
        log.info("no enabled alert rule in %s", file)
        return None
    return AlertEngine(client, names, config, mailer, **kwargs)


def ensure_indices(client: Elasticsearch, names: Names) -> None:
    """Create the alerts and rules indices behind their aliases unless they exist.

    With ``IndexNames`` the Elasticsearch part's installer does it from ``index_mappings/`` (versioned
    templates); otherwise ``<alias>-v1`` is created with this module's mappings.
    """
    missing = [k for k, a in (("alerts", names.alerts), ("rules", names.rules)) if not client.indices.exists(index=a)]
    if not missing:
        return
    try:
        from crawler.es.names import IndexNames
        from crawler.es.templates import install
    except ImportError:  # pragma: no cover - the Elasticsearch part is always installed with this one
        install = None  # type: ignore[assignment]
    if install is not None and isinstance(names, IndexNames):
        install(client, names, kinds=missing)
        return
    for alias, mapping in ((names.alerts, ALERTS_MAPPING), (names.rules, RULES_MAPPING)):
        if client.indices.exists(index=alias):
            continue
        try:
            client.indices.create(
                index=f"{alias}-v1",
                mappings=mapping,
                aliases={alias: {"is_write_index": True}},
                settings={"number_of_shards": 1, "number_of_replicas": 0},
            )
        except Exception as exc:  # another process created it in between
            if "resource_already_exists" not in str(exc):
                raise


def _rule_of(ops: list[dict[str, Any]], record_id: str) -> str:
    for i in range(0, len(ops), 2):
        if ops[i]["create"]["_id"] == record_id:
            return str(ops[i + 1]["rule"])
    return "?"


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        reason = error.get("reason") or error.get("type") or str(error)
        caused = error.get("caused_by") or {}
        root = (error.get("root_cause") or [{}])[0]
        extra = caused.get("reason") or root.get("reason")
        return f"{reason} ({extra})" if extra and extra != reason else str(reason)
    return str(error)


def _entity_terms(entities: Any) -> list[str]:
    """Texts of the SUBSTANCE entities the NLP step found (as written, e.g. f3ntanyl), to mark in mails."""
    out: list[str] = []
    for ent in entities if isinstance(entities, list) else []:
        if isinstance(ent, dict) and ent.get("label") == "SUBSTANCE" and isinstance(ent.get("text"), str):
            if ent["text"] not in out:
                out.append(ent["text"])
    return out[:50]


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _query_words(query: str | None) -> list[str]:
    """Plain words and quoted phrases of a Lucene query string (for marking them in the excerpt)."""
    if not query:
        return []
    import re

    phrases = re.findall(r'"([^"]+)"', query)
    rest = re.sub(r'"[^"]*"', " ", query)
    words = [
        w
        for w in re.findall(r"[\w][\w\-.]*", rest)
        if w.upper() not in ("AND", "OR", "NOT", "TO") and ":" not in w and len(w) > 2
    ]
    # field names before ':' are not terms
    fields = set(re.findall(r"([\w.]+):", rest))
    return phrases + [w for w in words if w not in fields]

