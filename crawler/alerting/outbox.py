"""The outbox: one delivery state machine for alert records, used by single alerts and digests alike.

    pending | digest ──claim──► sending ──settle──► sent | failed | pending | digest (retry at next_attempt_at)
                                   └── lease_until passed (the sender died) ──► claimable again

Every step is an update conditioned on the ``_seq_no``/``_primary_term`` read before it (optimistic
concurrency): of several processes only one wins a claim, and a settle after a lost lease changes
nothing. ``attempt`` hands one message to SMTP and classifies what happened; ``settle`` (a pure
function) turns that into the record's next state.

None of these conditional writes goes through a spool, on purpose: replaying a stale claim or settle
later would overwrite what another process did since. A claim that is lost leaves the record as it was
(claimed again next pass); a settle that is lost leaves it ``sending`` until its lease runs out, and then
it is sent again (the "crash while sending" window of docs/alerts.md).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Protocol

from elasticsearch import Elasticsearch

from crawler.alerting.faults import crash_point
from crawler.alerting.mailer import MailPermanentError, MailTransportError, SendResult
from crawler.alerting.records import FAILED, SENDING, SENT, iso
from crawler.alerting.rules import Delivery
from crawler.alerting.sentlog import SentLog
from crawler.es.names import IndexNames

log = logging.getLogger(__name__)


class MailSender(Protocol):
    """What the outbox needs of ``crawler.alerting.mailer.Mailer``."""

    sender: str

    def send(self, message: EmailMessage, recipients: list[str]) -> SendResult: ...


@dataclass(frozen=True)
class Claim:
    """An alert record this process moved to ``sending``: the hit as read, and the claim's version."""

    hit: dict[str, Any]
    seq_no: int
    primary_term: int
    attempts: int

    @property
    def id(self) -> str:
        return str(self.hit["_id"])

    @property
    def source(self) -> dict[str, Any]:
        return dict(self.hit["_source"])


@dataclass
class Attempt:
    """What one hand-over to SMTP gave: per-recipient outcome, or the error that stopped it."""

    send: SendResult = field(default_factory=SendResult)
    error: str | None = None
    permanent: bool = False
    """The server refused the message itself (5xx on MAIL FROM or DATA): retrying will not help."""
    replayed: bool = False
    """Taken from the sent log: an earlier attempt's mail was accepted, nothing was sent now."""


@dataclass(frozen=True)
class Outcome:
    """The next state of the claimed records and the fields to write with it."""

    state: str
    doc: dict[str, Any]
    error: str | None


def settle(
    attempt: Attempt,
    *,
    recipients: Sequence[str],
    delivered: Sequence[str],
    rejected: Sequence[dict[str, Any]],
    attempts: int,
    delivery: Delivery,
    waiting: str,
    now: dt.datetime,
    one_shot: bool = False,
) -> Outcome:
    """The record's next state after ``attempt``.

    ``delivered``/``rejected``: what earlier attempts achieved (addresses not tried again). ``waiting``:
    the state a retry returns to (``pending`` or ``digest``). ``one_shot`` (digests): once any recipient
    accepted, the mail counts as sent and recipients that deferred miss it (the next digest is new mail).
    """
    send = attempt.send
    delivered = [*delivered, *send.accepted]
    rejected = [*rejected, *({"address": a, "reply": r, "at": iso(now)} for a, r in send.permanent.items())]
    error = attempt.error
    if send.temporary and error is None:
        error = "; ".join(f"{a}: {r}" for a, r in send.temporary.items())
    gone = set(delivered) | {r["address"] for r in rejected}
    remaining = [] if one_shot and send.accepted else [r for r in recipients if r not in gone]
    doc: dict[str, Any] = {
        "delivered_to": delivered,
        "rejected": rejected,
        "updated_at": iso(now),
        "lease_until": None,
        "throttled": False,
    }
    if attempt.permanent:
        state = FAILED
        doc["last_error"] = error
    elif not remaining:
        if delivered:
            state = SENT
            doc["sent_at"] = iso(now)
            notes = ([error] if error else []) + [f"{r['address']}: {r['reply']}" for r in rejected]
            if notes:
                doc["last_error"] = "; ".join(notes)
        else:
            state = FAILED
            doc["last_error"] = "every recipient was refused permanently"
    elif attempts >= delivery.max_attempts:
        state = FAILED
        doc["last_error"] = f"gave up after {attempts} attempts: {error}"
    else:
        state = waiting
        doc["next_attempt_at"] = iso(now + backoff(delivery, attempts))
        doc["last_error"] = error
    doc["state"] = state
    return Outcome(state, doc, error)


def backoff(delivery: Delivery, attempts: int) -> dt.timedelta:
    """Delay before attempt ``attempts + 1``: retry_base doubled each time, at most retry_max."""
    base = delivery.retry_base.total_seconds()
    seconds = min(base * (2 ** max(0, attempts - 1)), delivery.retry_max.total_seconds())
    return dt.timedelta(seconds=seconds)


class Outbox:
    """Finds, claims, sends and settles alert records in ``names.alerts``."""

    def __init__(
        self,
        client: Elasticsearch,
        names: IndexNames,
        delivery: Delivery,
        *,
        clock: Callable[[], dt.datetime],
        owner: str,
        lease: dt.timedelta,
        sent_log: SentLog | None = None,
    ) -> None:
        self.client = client
        self.names = names
        self.delivery = delivery
        self.clock = clock
        self.owner = owner
        self.lease = lease
        self.sent_log = sent_log

    def due(self, filters: list[dict[str, Any]], waiting: str, limit: int) -> list[dict[str, Any]]:
        """Records matching ``filters`` that wait in ``waiting`` and are due, or whose lease ran out; oldest first.

        One refresh per call: the search must see records other calls created or updated. A stale hit
        only costs a version conflict at the claim (counted as skipped), never a double send.
        """
        now = iso(self.clock())
        self.client.indices.refresh(index=self.names.alerts)
        res = self.client.search(
            index=self.names.alerts,
            size=limit,
            seq_no_primary_term=True,
            sort=[{"created_at": "asc"}],
            query={
                "bool": {
                    "filter": filters,
                    "should": [
                        _both({"term": {"state": waiting}}, {"range": {"next_attempt_at": {"lte": now}}}),
                        _both({"term": {"state": SENDING}}, {"range": {"lease_until": {"lt": now}}}),
                    ],
                    "minimum_should_match": 1,
                }
            },
        )
        return list(res["hits"]["hits"])

    def claim(self, hits: list[dict[str, Any]], now: dt.datetime, **extra: Any) -> list[Claim]:
        """Move each hit to ``sending`` (with a lease) unless someone changed it since it was read.

        One bulk of conditional updates; the hits another process changed first are left out.
        """
        if not hits:
            return []
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
                        "attempts": _attempts(hit) + 1,
                        "owner": self.owner,
                        "lease_until": iso(now + self.lease),
                        "updated_at": iso(now),
                        **extra,
                    }
                },
            ]
        res = self.client.bulk(operations=ops)
        claims: list[Claim] = []
        for hit, item in zip(hits, res["items"], strict=True):
            info = item["update"]
            if info.get("status") in (200, 201):
                claims.append(Claim(hit, int(info["_seq_no"]), int(info["_primary_term"]), _attempts(hit) + 1))
        return claims

    def defer(self, hit: dict[str, Any], until: dt.datetime, now: dt.datetime) -> bool:
        """Push a waiting record's next attempt to ``until`` (a throttled alert); False if someone else changed it."""
        doc = {"next_attempt_at": iso(until), "throttled": True, "updated_at": iso(now)}
        return self._write([(hit, int(hit["_seq_no"]), int(hit["_primary_term"]))], doc) == 1

    def attempt(
        self,
        mailer: MailSender,
        render: Callable[[], EmailMessage],
        recipients: list[str],
        what: str,
        key: str | None = None,
    ) -> Attempt:
        """Render and hand one message to SMTP for ``recipients``; classify what happened.

        ``key`` names the message in the sent log: when an earlier attempt's message was accepted but
        its record never updated (a crash), that outcome is returned and nothing is sent again; when
        the server accepts this one, the outcome is logged before returning.
        """
        out = Attempt()
        if key is not None and self.sent_log is not None:
            prior = self.sent_log.get(key)
            if prior is not None:
                log.warning("%s: accepted by the server before a crash (sent log); not sent again", what)
                return Attempt(send=prior, replayed=True)
        crash_point("before_send")
        try:
            if recipients:
                message = render()
                out.send = mailer.send(message, recipients)
                crash_point("after_accept")
                if out.send.accepted and key is not None and self.sent_log is not None:
                    self.sent_log.record(key, out.send, message["Message-ID"])
                    crash_point("after_log")
        except MailPermanentError as exc:
            out.error, out.permanent = str(exc), True
        except MailTransportError as exc:
            out.error = str(exc)
        except Exception as exc:  # a bug in rendering must not lose the alert: keep it for a retry
            log.exception("%s: unexpected error while sending", what)
            out.error = f"{type(exc).__name__}: {exc}"
        for address, reply in out.send.permanent.items():
            log.warning("%s: %s refused permanently (%s); not retried", what, address, reply)
        return out

    def finish(self, claims: list[Claim], outcome: Outcome, what: str, key: str | None = None) -> None:
        """Write the outcome onto the claimed records, each conditioned on its claim; then drop the sent log
        entry ``key`` (kept when a record could not be written: whoever takes it over settles from it)."""
        written = self._write([(c.hit, c.seq_no, c.primary_term) for c in claims], outcome.doc)
        if written == len(claims) and key is not None and self.sent_log is not None:
            self.sent_log.clear(key)
        if written < len(claims):
            # Our lease ran out and another process took the alert over; it owns the outcome now.
            log.error("%s: lost its claim while sending (lease %s too short?)", what, self.lease)

    def _write(self, targets: list[tuple[dict[str, Any], int, int]], doc: dict[str, Any]) -> int:
        ops: list[dict[str, Any]] = []
        for hit, seq_no, term in targets:
            ops += [
                {"update": {"_index": hit["_index"], "_id": hit["_id"], "if_seq_no": seq_no, "if_primary_term": term}},
                {"doc": doc},
            ]
        res = self.client.bulk(operations=ops)
        return sum(1 for item in res["items"] if item["update"].get("status") in (200, 201))


def _both(*filters: dict[str, Any]) -> dict[str, Any]:
    return {"bool": {"filter": list(filters)}}


def _attempts(hit: dict[str, Any]) -> int:
    return int(hit["_source"].get("attempts") or 0)
