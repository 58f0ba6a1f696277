"""Alert records: their states, their deterministic ids, the listing snapshot they carry, and result counts.

An alert record's ``_id`` is derived from rule, listing fingerprint, event kind and content hash, so the
same event is recorded once however often it is seen. The record copies the listing as it was when it
matched: a mail (or a late retry) shows that copy.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

from crawler.alerting.rules import Rule
from crawler.common.clock import utc_iso
from crawler.common.durations import format_duration
from crawler.common.results import Summable
from crawler.events import ListingEvent

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


def iso(ts: dt.datetime) -> str:
    """An alert record's time: UTC, milliseconds, ``+00:00`` (the form alert documents have always had)."""
    return utc_iso(ts, suffix="+00:00")


def alert_id(rule: str, fingerprint: str, kind: str, content_hash: str) -> str:
    """The deterministic ``_id`` of the alert record for one rule and one listing event."""
    return hashlib.sha256("\x1f".join((rule, fingerprint, kind, content_hash)).encode()).hexdigest()


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class DeliveryResult(Summable):
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

    def count(self, state: str, n: int = 1) -> None:
        """Count ``n`` alerts settled in ``state`` (sent, failed, or waiting for a retry)."""
        if state == SENT:
            self.sent += n
        elif state == FAILED:
            self.failed += n
        else:
            self.retry += n


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


def build_record(
    rule: Rule, version: str, event: ListingEvent, hit: dict[str, Any], now: dt.datetime
) -> dict[str, Any]:
    """The alert record of ``rule`` matching the listing ``hit`` (an _msearch hit) for ``event``.

    ``recipients`` is kept for analysts reading the index; delivery never reads it (it resolves the
    recipients from the configured rule at send time, see ``crawler.alerting.outbox``).
    """
    src = dict(hit.get("_source") or {})
    src["marked_terms"] = entity_terms(src.pop("entities", None))
    if isinstance(src.get("description"), str) and len(src["description"]) > DESCRIPTION_CHARS:
        src["description"] = src["description"][:DESCRIPTION_CHARS]
    reason = event.kind if rule.counts(event.kind) else "new_vendor_platform"
    ts = iso(now)
    return {
        "@timestamp": ts,
        "alert_id": alert_id(rule.name, event.fingerprint, event.kind, event.content_hash),
        "rule": rule.name,
        "rule_version": version,
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


def error_text(error: object) -> str:
    """A one-line reason from an Elasticsearch error object (or anything else)."""
    if isinstance(error, dict):
        reason = error.get("reason") or error.get("type") or str(error)
        caused = error.get("caused_by") or {}
        root = (error.get("root_cause") or [{}])[0]
        extra = caused.get("reason") or root.get("reason")
        return f"{reason} ({extra})" if extra and extra != reason else str(reason)
    return str(error)


def entity_terms(entities: object) -> list[str]:
    """Texts of the SUBSTANCE entities the NLP step found (as written, e.g. f3ntanyl), to mark in mails."""
    out: list[str] = []
    for ent in entities if isinstance(entities, list) else []:
        if isinstance(ent, dict) and ent.get("label") == "SUBSTANCE" and isinstance(ent.get("text"), str):
            if ent["text"] not in out:
                out.append(ent["text"])
    return out[:50]


def _list(value: object) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
