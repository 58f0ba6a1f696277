"""Digests: the waiting alerts of each digest rule claimed together, sent as one mail, settled together
through the outbox."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from crawler.alerting.delivery import AlertSender
from crawler.alerting.outbox import Attempt, Claim, settle
from crawler.alerting.records import DIGEST, SENDING, DeliveryResult
from crawler.alerting.render import render_digest
from crawler.alerting.rules import Rule, parse_period
from crawler.common.durations import format_duration

log = logging.getLogger(__name__)


class Digests(AlertSender):
    """Sends one digest mail per digest rule (``send_digests``)."""

    def send(
        self, *, period: str | dt.timedelta | None = None, rule: str | None = None, due_only: bool = False
    ) -> DeliveryResult:
        """One digest per digest rule of ``period`` (all without it) / named ``rule``.

        ``due_only``: only digests with a failed earlier attempt whose retry time has come.
        """
        result = DeliveryResult()
        wanted = parse_period(period) if period is not None else None
        for c in self.store.compiled.values():
            r = c.rule
            if r.mode != "digest" or (wanted is not None and r.period != wanted) or (rule and r.name != rule):
                continue
            result.add(self._send(r, due_only=due_only))
        return result

    def _send(self, rule: Rule, *, due_only: bool) -> DeliveryResult:
        out = DeliveryResult()
        now = self.outbox.clock()
        filters: list[dict[str, Any]] = [{"term": {"rule": rule.name}}]
        if due_only:
            filters.append({"range": {"attempts": {"gt": 0}}})
        hits = self.outbox.due(filters, DIGEST, 1000)
        if not hits:
            return out
        digest_id = uuid.uuid4().hex
        claims = self.outbox.claim(hits, now, digest_id=digest_id)
        out.skipped += len(hits) - len(claims)
        claims = self._settle_crashed(claims, rule, out)
        if not claims:
            return out
        what = f"digest of rule {rule.name}"
        recipients = list(rule.recipients)
        period_text = f"every {format_duration(rule.period)}" if rule.period else ""
        attempt = self.outbox.attempt(
            self.mailer(),
            lambda: render_digest(
                [self.views.view(c.source) for c in claims],
                sender=self.sender,
                recipients=recipients,
                period_text=period_text,
            ),
            recipients,
            what,
            key=f"digest-{digest_id}",
        )
        if attempt.send.accepted:
            out.mails += 1
        outcome = settle(
            attempt,
            recipients=recipients,
            delivered=[],
            rejected=[],
            attempts=max(c.attempts for c in claims),
            delivery=self.outbox.delivery,
            waiting=DIGEST,
            now=now,
            one_shot=True,
        )
        out.count(outcome.state, len(claims))
        if outcome.error:
            out.errors.append(f"{what}: {outcome.error}")
            log.warning("%s (%d alerts): %s", what, len(claims), outcome.error)
        self.outbox.finish(claims, outcome, what, key=f"digest-{digest_id}")
        if attempt.send.accepted:
            self.store.mark_digest_sent(rule.name, now)
        return out

    def _settle_crashed(self, claims: list[Claim], rule: Rule, out: DeliveryResult) -> list[Claim]:
        """Settle, from the sent log, the records of an earlier digest whose mail the server accepted before
        its sender died (they were still ``sending``); returns the claims still to send."""
        if self.outbox.sent_log is None:
            return claims
        earlier: dict[str, list[Claim]] = {}
        for c in claims:
            if c.source.get("state") == SENDING and c.source.get("digest_id"):
                earlier.setdefault(str(c.source["digest_id"]), []).append(c)
        done: set[str] = set()
        for old_id, group in earlier.items():
            key = f"digest-{old_id}"
            prior = self.outbox.sent_log.get(key)
            if prior is None:
                continue
            what = f"digest of rule {rule.name}"
            log.warning("%s: %d alerts were mailed before a crash (sent log); not sent again", what, len(group))
            outcome = settle(
                Attempt(send=prior, replayed=True),
                recipients=list(rule.recipients),
                delivered=[],
                rejected=[],
                attempts=max(c.attempts for c in group),
                delivery=self.outbox.delivery,
                waiting=DIGEST,
                now=self.outbox.clock(),
                one_shot=True,
            )
            out.count(outcome.state, len(group))
            self.outbox.finish(group, outcome, what, key=key)
            done.update(c.id for c in group)
        return [c for c in claims if c.id not in done]
