"""Alert engine: the front of alerting. Stored rule queries run on each indexed batch (one _msearch),
matches recorded once, mails sent once.

The work is done by the parts it wires together: ``rulestore`` (rules compiled, stored, validated),
``matching`` (batch -> alert records), ``outbox`` (the one claim/lease/settle state machine),
``delivery`` (immediate alerts, throttle) and ``digests``. See docs/alerts.md.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch

from crawler.alerting.delivery import ImmediateDelivery
from crawler.alerting.digests import Digests
from crawler.alerting.mailer import MailConfigError, Mailer
from crawler.alerting.matching import Matcher
from crawler.alerting.outbox import Claim, Outbox
from crawler.alerting.outbox import backoff as _backoff
from crawler.alerting.records import (
    DIGEST,
    FAILED,
    PENDING,
    SENDING,
    SENT,
    SNAPSHOT_FIELDS,
    BatchAlertResult,
    DeliveryResult,
    alert_id,
    default_owner,
)
from crawler.alerting.rules import AlertsConfig, Delivery, Rule, default_alerts_path, load_alerts_config
from crawler.alerting.rulestore import RuleStore
from crawler.alerting.sentlog import SentLog
from crawler.alerting.views import Views
from crawler.common.clock import utc_now
from crawler.es.names import IndexNames
from crawler.events import ListingEvent
from crawler.paths import state_home

__all__ = [
    "DIGEST",
    "FAILED",
    "PENDING",
    "SENDING",
    "SENT",
    "SNAPSHOT_FIELDS",
    "AlertEngine",
    "BatchAlertResult",
    "DeliveryResult",
    "alert_id",
    "engine_from_config",
]

log = logging.getLogger(__name__)


class AlertEngine:
    """Runs alert rules on indexed batches and delivers the resulting alerts by email.

    ``rules`` is an ``AlertsConfig`` (sender, Kibana URL and retry settings taken from it) or a list of
    rules. ``mailer`` None means ``Mailer.from_env()`` at the first delivery. ``clock`` returns the
    current UTC time (tests move it forward instead of sleeping). ``sent_log``: the directory of the
    sent log (default ``<state home>/outbox/<prefix>``, see ``crawler.alerting.sentlog``).
    """

    def __init__(
        self,
        client: Elasticsearch,
        names: IndexNames,
        rules: AlertsConfig | Sequence[Rule],
        mailer: Mailer | None = None,
        *,
        kibana_url: str | None = None,
        sender: str | None = None,
        delivery: Delivery | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
        owner: str | None = None,
        lease: dt.timedelta | None = None,
        deliver_after_batch: bool = True,
        setup: bool = True,
        sent_log: Path | None = None,
    ):
        config = rules if isinstance(rules, AlertsConfig) else AlertsConfig(rules=list(rules))
        self.client = client
        self.names = names
        self.config = config
        self._mailer = mailer
        self.sender = sender or (mailer.sender if mailer and mailer.sender else config.sender)
        self.deliver_after_batch = deliver_after_batch
        self.store = RuleStore(client, names, config, clock)
        self.matcher = Matcher(client, names, self.store, clock)
        delivery = delivery or config.delivery
        self.outbox = Outbox(
            client,
            names,
            delivery,
            clock=clock,
            owner=owner or default_owner(),
            lease=lease or delivery.lease,
            sent_log=SentLog(sent_log or state_home() / "outbox" / names.prefix),
        )
        views = Views(self.store, (kibana_url or config.kibana_url or "").rstrip("/") or None, config.kibana_data_view)
        self.immediate = ImmediateDelivery(self.outbox, self.store, views, lambda: self.mailer, self.sender)
        self.digests = Digests(self.outbox, self.store, views, lambda: self.mailer, self.sender)
        self._setup_done = False
        if setup:
            self.setup()

    @property
    def mailer(self) -> Mailer:
        if self._mailer is None:
            self._mailer = Mailer.from_env(sender=self.sender)
        return self._mailer

    @property
    def delivery(self) -> Delivery:
        return self.outbox.delivery

    def setup(self) -> None:
        """Make sure the alerts and rules indices exist, and store every rule with its version."""
        self.store.setup()
        self._setup_done = True

    def sync_rules(self) -> dict[str, str]:
        """Store each configured rule in the rules index; returns name -> created/updated/unchanged/removed."""
        return self.store.sync()

    def validate_rules(self) -> dict[str, str | None]:
        """Ask Elasticsearch whether each rule's query is valid on the listings alias: name -> error or None."""
        return self.store.validate()

    def on_batch(self, events: Iterable[ListingEvent], *, deliver: bool | None = None) -> BatchAlertResult:
        """Run every active rule on the batch's listings (already indexed and refreshed), record matches.

        New records of immediate rules are then delivered (``deliver_pending``) unless ``deliver`` is
        False (default: the engine's ``deliver_after_batch``).
        """
        if not self._setup_done:
            self.setup()
        result = self.matcher.match(events)
        if not result.rules_run:
            return result
        if deliver if deliver is not None else self.deliver_after_batch:
            try:
                result.delivery = self.deliver_pending()
            except Exception as exc:  # records are stored; the next deliver_pending() sends them
                log.exception("alerts recorded but delivery failed; they are retried later")
                result.errors.append(f"delivery failed: {exc}")
        return result

    def dry_run(self, rule_name: str, *, size: int = 20) -> tuple[int, list[dict[str, Any]]]:
        """Which listings already in the index match ``rule_name`` (no record, no mail): (total, hits)."""
        return self.matcher.dry_run(rule_name, size=size)

    def deliver_pending(self, *, limit: int = 500, max_passes: int = 20) -> DeliveryResult:
        """Send every immediate alert that is due (new, or waiting for a retry), oldest first.

        Safe to call from several processes at once: each alert is claimed with optimistic concurrency.
        """
        result = DeliveryResult()
        if self._mailer_ready(result):
            result.add(self.immediate.deliver(limit=limit, max_passes=max_passes))
        return result

    def send_digests(
        self, *, period: str | dt.timedelta | None = None, rule: str | None = None, due_only: bool = False
    ) -> DeliveryResult:
        """Send one digest mail per digest rule (of ``period`` / named ``rule``) with its waiting alerts.

        ``due_only`` limits it to digests with a failed earlier attempt whose retry time has come
        (what ``deliver_pending`` callers use to retry digests between scheduled runs).
        """
        result = DeliveryResult()
        if self._mailer_ready(result):
            result.add(self.digests.send(period=period, rule=rule, due_only=due_only))
        return result

    def deliver_all(self) -> DeliveryResult:
        """Immediate alerts that are due plus digests whose retry is due (the scheduler's periodic call)."""
        result = self.deliver_pending()
        result.add(self.send_digests(due_only=True))
        return result

    def backoff(self, attempts: int) -> dt.timedelta:
        """Delay before attempt ``attempts + 1``: retry_base doubled each time, at most retry_max."""
        return _backoff(self.outbox.delivery, attempts)

    def claim(self, hit: dict[str, Any]) -> Claim | None:
        """Move one record (a search hit with ``_seq_no``/``_primary_term``) to ``sending``; None if taken."""
        claims = self.outbox.claim([hit], self.outbox.clock())
        return claims[0] if claims else None

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


def engine_from_config(
    client: Elasticsearch,
    names: IndexNames,
    path: Path | str | None = None,
    *,
    mailer: Mailer | None = None,
    deliver_after_batch: bool = True,
) -> AlertEngine | None:
    """An engine for ``alerts.yaml`` (``path``, else ``NARCOWATCH_ALERTS_FILE``, else the configuration
    directory); None when that file does not exist or has no enabled rule. Invalid files raise ConfigError.
    """
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
    return AlertEngine(client, names, config, mailer, deliver_after_batch=deliver_after_batch)
