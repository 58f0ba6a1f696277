"""Immediate delivery: due alerts of immediate rules, oldest first, each claimed, mailed and settled
through the outbox, within each rule's throttle."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from crawler.alerting.outbox import Attempt, Claim, MailSender, Outbox, settle
from crawler.alerting.records import PENDING, DeliveryResult, iso
from crawler.alerting.render import render_alert
from crawler.alerting.rules import Rule
from crawler.alerting.rulestore import RuleStore
from crawler.alerting.views import Views
from crawler.common.clock import parse_iso

log = logging.getLogger(__name__)


class AlertSender:
    """What sending alert mail needs, shared by immediate delivery and digests: the outbox, the rules,
    the listing views, an SMTP connection factory and the From address."""

    def __init__(
        self, outbox: Outbox, store: RuleStore, views: Views, mailer: Callable[[], MailSender], sender: str
    ) -> None:
        self.outbox = outbox
        self.store = store
        self.views = views
        self.mailer = mailer
        self.sender = sender


class ImmediateDelivery(AlertSender):
    """Sends the due alerts of immediate rules (``deliver_pending``)."""

    def deliver(self, *, limit: int = 500, max_passes: int = 20) -> DeliveryResult:
        """Work in passes of ``limit`` alerts while full passes keep finding work."""
        result = DeliveryResult()
        for _ in range(max_passes):
            part, seen = self._pass(limit)
            result.add(part)
            if seen < limit or not (part.sent or part.failed or part.retry):
                break
        if result.sent or result.retry or result.failed:
            log.info(
                "alerts delivered: %d sent, %d to retry, %d failed, %d throttled, %d taken by others",
                result.sent, result.retry, result.failed, result.throttled, result.skipped,
            )
        return result

    def _pass(self, limit: int) -> tuple[DeliveryResult, int]:
        result = DeliveryResult()
        now = self.outbox.clock()
        hits = self.outbox.due([{"term": {"mode": "immediate"}}], PENDING, limit)
        if not hits:
            return result, 0
        budget: dict[str, int | None] = {}
        for hit in hits:
            rule_name = hit["_source"]["rule"]
            rule = self.store.rule(rule_name)
            if rule_name not in budget:
                budget[rule_name] = self._throttle_budget(rule, now)
            left = budget[rule_name]
            if left is not None and left <= 0 and rule is not None:
                if self.outbox.defer(hit, self._reopens(rule, now), now):
                    result.throttled += 1
                else:
                    result.skipped += 1
                continue
            claims = self.outbox.claim([hit], now)
            if not claims:
                result.skipped += 1
                continue
            outcome = self._send(claims[0], rule)
            result.add(outcome)
            if outcome.mails and left is not None:
                budget[rule_name] = left - 1
        return result, len(hits)

    def _send(self, claim: Claim, rule: Rule | None) -> DeliveryResult:
        """Mail one claimed alert to its rule's recipients and settle it.

        The recipients are the configured rule's, resolved now: never the ``recipients`` stored in the
        record, so whoever can write to the alerts index cannot make our SMTP account mail anyone else.
        An alert whose rule is no longer configured (removed or disabled) fails without a mail.
        """
        out = DeliveryResult()
        hit, attempts, src = claim.hit, claim.attempts, claim.hit["_source"]
        what = f"alert {hit['_id']}"
        delivered = list(src.get("delivered_to") or [])
        rejected = list(src.get("rejected") or [])
        gone = set(delivered) | {r["address"] for r in rejected}
        recipients = list(rule.recipients) if rule is not None else []
        todo = [r for r in recipients if r not in gone]
        if rule is None:
            attempt = Attempt(error=f"rule {src.get('rule')!r} is not configured (removed or disabled)", permanent=True)
        else:
            attempt = self.outbox.attempt(
                self.mailer(),
                lambda: render_alert(self.views.view(src), sender=self.sender, recipients=recipients),
                todo,
                what,
                key=str(hit["_id"]),
            )
        if attempt.send.accepted and not attempt.replayed:
            out.mails += 1
        outcome = settle(
            attempt,
            recipients=recipients,
            delivered=delivered,
            rejected=rejected,
            attempts=attempts,
            delivery=self.outbox.delivery,
            waiting=PENDING,
            now=self.outbox.clock(),
        )
        out.count(outcome.state)
        if outcome.error:
            out.errors.append(f"alert {hit['_id']} ({src['rule']}): {outcome.error}")
            log.warning("alert %s (%s) attempt %d: %s", hit["_id"], src["rule"], attempts, outcome.error)
        self.outbox.finish([claim], outcome, what, key=str(hit["_id"]))
        return out

    def _throttle_budget(self, rule: Rule | None, now: dt.datetime) -> int | None:
        """How many more mails ``rule`` may send now (None: unlimited)."""
        if rule is None or rule.throttle is None:
            return None
        since = now - rule.throttle.per
        count = self.outbox.client.count(
            index=self.outbox.names.alerts,
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

    def _reopens(self, rule: Rule, now: dt.datetime) -> dt.datetime:
        """When the rule's throttle window has room again (the oldest mail in it leaves the window)."""
        assert rule.throttle is not None
        res = self.outbox.client.search(
            index=self.outbox.names.alerts,
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
        return max((parse_iso(oldest) or now) + rule.throttle.per, now)

