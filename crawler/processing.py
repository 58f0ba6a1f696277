"""One batch of listings through change detection, NLP, indexing, vendor profiles and alert rules.

A plain class, independent of Scrapy, so the crawl pipeline, the benchmarks and the replay of spooled
batches all use the same path. Exactly once: a batch that cannot be finished (Elasticsearch down) is
written whole to a disk spool, with the events already decided, and replayed first on the next call;
indexing is idempotent (``_id`` is the fingerprint) and alert records have deterministic ids, so a
replay never duplicates a document or a mail.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from crawler import fingerprint as fp
from crawler.common.clock import utc_now_iso
from crawler.common.durable import write_atomic
from crawler.common.results import Summable
from crawler.events import EventKind, ListingEvent
from crawler.items import Listing

log = logging.getLogger(__name__)

CHANGE_KINDS: frozenset[str] = frozenset(("price_change", "changed", "relisted"))
"""Event kinds that get a change record (written against the listing's previous document)."""


class Analyzer(Protocol):
    def analyze_many(self, texts: Sequence[str], batch_size: int = ...) -> list[dict[str, Any]]: ...


class IndexOutcome(Protocol):
    """What the processor reads of ``crawler.es.indexer.IndexResult``."""

    @property
    def indexed(self) -> int: ...

    @property
    def failed(self) -> int: ...

    @property
    def spooled(self) -> int: ...


class Indexer(Protocol):
    """What the processor needs of ``crawler.es.indexer.ListingIndexer``."""

    def lookup(self, fingerprints: list[str]) -> dict[str, dict[str, Any]]: ...

    def index_batch(
        self, docs: list[dict[str, Any]], changes: list[dict[str, Any]] | None = None
    ) -> IndexOutcome: ...

    def mark_removed(self, source: str, not_seen_since: str, now: str | None = None) -> int: ...


class AlertOutcome(Protocol):
    """What the processor reads of ``crawler.alerting.records.BatchAlertResult``."""

    @property
    def created(self) -> int: ...


class AlertSink(Protocol):
    """What the processor needs of ``crawler.alerting.engine.AlertEngine``."""

    def on_batch(self, events: list[ListingEvent]) -> AlertOutcome: ...


class PendingMail(Protocol):
    """What the ``Deliverer`` needs of the alert engine."""

    def deliver_pending(self) -> object: ...


class ServiceUnavailable(Exception):
    """Elasticsearch (or another required service) did not answer; the batch was spooled."""


@dataclass
class BatchResult(Summable):
    """What one batch did; summed over a crawl into its run record."""

    listings: int = 0
    events: Counter[str] = field(default_factory=Counter)
    indexed: int = 0
    failed: int = 0
    alerts: int = 0
    spooled: int = 0
    replayed: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    """Time spent per stage (lookup, nlp, index, vendors, alerts)."""


def classify(listing: Listing, existing: dict[str, Any] | None) -> EventKind:
    """What this sighting of a listing means, given what the index holds for its fingerprint."""
    if existing is None:
        return "new"
    if existing.get("status") == "removed":
        return "relisted"
    if existing.get("content_hash") == listing.content_hash:
        return "unchanged"
    old_price, old_currency = existing.get("price"), existing.get("currency")
    if _num(old_price) != _num(listing.price) or (old_currency or None) != (listing.currency or None):
        return "price_change"
    return "changed"


def _num(value: Any) -> float | None:
    """The price as a number to eight decimals (the satoshi); None for no price (None, "" or not a number)."""
    try:
        return round(float(value), 8)
    except (TypeError, ValueError):
        return None


class BatchSpool:
    """Batches that could not be finished, one JSON file each, replayed oldest first."""

    def __init__(self, directory: Path):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def put(
        self,
        listings: list[Listing],
        events: list[ListingEvent] | None,
        now: str,
        previous: dict[str, dict[str, Any]] | None = None,
    ) -> Path:
        """Spool a batch with its decided ``events`` and the ``previous`` documents its change records are
        written against (the lookup's answer), so a replay writes the same change records, old price included."""
        payload = {
            "now": now,
            "listings": [dataclasses.asdict(item) for item in listings],
            "events": [dataclasses.asdict(e) for e in events] if events is not None else None,
            "previous": previous or {},
        }
        name = f"{time.time_ns():020d}-{os.getpid()}.json"
        return write_atomic(self.directory / name, json.dumps(payload, ensure_ascii=False))

    def pending(self) -> list[Path]:
        return sorted(self.directory.glob("*.json"))

    def size(self) -> int:
        return len(self.pending())

    @staticmethod
    def load(path: Path) -> tuple[list[Listing], list[ListingEvent] | None, str]:
        payload = json.loads(path.read_text(encoding="utf-8"))
        listings = [Listing(**row) for row in payload["listings"]]
        events = [ListingEvent(**row) for row in payload["events"]] if payload["events"] is not None else None
        return listings, events, payload["now"]

    @staticmethod
    def load_previous(path: Path) -> dict[str, dict[str, Any]]:
        """The previous documents spooled with the batch (none in spool files written before they were)."""
        previous = json.loads(path.read_text(encoding="utf-8")).get("previous")
        return previous if isinstance(previous, dict) else {}


class BatchProcessor:
    """Runs batches of listings through the whole enrichment and storage path."""

    def __init__(
        self,
        *,
        indexer: Indexer,
        analyzer: Analyzer | None,
        spool: BatchSpool,
        listing_doc: Callable[[Listing, str], dict[str, Any]],
        change_doc: Callable[[Listing, dict[str, Any] | None, str, str], dict[str, Any]] | None = None,
        vendors: Callable[[list[dict[str, Any]]], object] | None = None,
        alerts: AlertSink | None = None,
        unavailable: tuple[type[BaseException], ...] = (ConnectionError,),
        lock_path: Path | None = None,
        before_alerts: Callable[[], object] | None = None,
        deliverer: Deliverer | None = None,
    ):
        """``lock_path``: a file locked (flock) around each batch, so that crawlers in several threads
        or processes sharing one spool never replay or rewrite the same spool file at once."""
        self.indexer = indexer
        self.before_alerts = before_alerts
        self.deliverer = deliverer
        self.lock_path = lock_path or spool.directory / ".lock"
        self._thread_lock = threading.Lock()
        self.analyzer = analyzer
        self.spool = spool
        self.listing_doc = listing_doc
        self.change_doc = change_doc
        self.vendors = vendors
        self.alerts = alerts
        self.unavailable = unavailable

    # -- public -------------------------------------------------------------------------------------
    def process(self, listings: list[Listing], now: str | None = None) -> BatchResult:
        """Process one batch; spooled batches from earlier failures go first, in order."""
        now = now or utc_now_iso()
        with self._locked():
            return self._process(listings, now)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._thread_lock, self.lock_path.open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _process(self, listings: list[Listing], now: str) -> BatchResult:
        result = BatchResult()
        if self.spool.pending():
            try:
                result.add(self._replay())
            except ServiceUnavailable:
                self.spool.put(listings, None, now)
                result.spooled = len(listings)
                return result
        result.add(self._run(listings, None, now))
        return result

    def replay(self) -> BatchResult:
        """Finish every spooled batch, oldest first; stops (raising) at the first that fails again."""
        with self._locked():
            return self._replay()

    def _replay(self) -> BatchResult:
        result = BatchResult()
        for path in self.spool.pending():
            listings, events, now = self.spool.load(path)
            part = self._run(listings, events, now, spool_on_failure=False, previous=self.spool.load_previous(path))
            if part.spooled:
                raise ServiceUnavailable(f"replay of {path.name} failed again")
            path.unlink()
            part.replayed = len(listings)
            result.add(part)
        return result

    # -- the path -----------------------------------------------------------------------------------
    def _run(
        self,
        listings: list[Listing],
        events: list[ListingEvent] | None,
        now: str,
        spool_on_failure: bool = True,
        previous: dict[str, dict[str, Any]] | None = None,
    ) -> BatchResult:
        result = BatchResult(listings=len(listings))
        if not listings:
            return result
        batch = _by_fingerprint(listings)
        listings = list(batch.values())
        existing: dict[str, dict[str, Any]] = dict(previous or {})
        try:
            clock = time.perf_counter()
            if events is None:
                existing = self.indexer.lookup(list(batch))
                events = [
                    ListingEvent(
                        fingerprint=key,
                        kind=classify(item, existing.get(key)),
                        content_hash=str(item.content_hash),  # str: _by_fingerprint filled it
                        source=item.source,
                        platform=item.platform,
                    )
                    for key, item in batch.items()
                ]
            kinds = {e.fingerprint: e.kind for e in events}  # a spooled batch's events cover its listings
            clock = _lap(result, "lookup", clock)
            self._analyze([item for key, item in batch.items() if kinds[key] != "unchanged"])
            clock = _lap(result, "nlp", clock)
            docs, full_docs, changes = [], [], []
            for key, item in batch.items():
                kind = kinds[key]
                if kind == "unchanged":
                    docs.append(self._seen_doc(item, now))
                    continue
                doc = self.listing_doc(item, now)
                docs.append(doc)
                full_docs.append(doc)
                if kind in CHANGE_KINDS and self.change_doc is not None:
                    changes.append(self.change_doc(item, existing.get(key), kind, now))
            outcome = self.indexer.index_batch(docs, changes)
            clock = _lap(result, "index", clock)
            if outcome.spooled:
                raise ServiceUnavailable(f"{outcome.spooled} actions could not reach Elasticsearch")
            result.indexed = outcome.indexed
            result.failed = outcome.failed
            if self.vendors is not None and full_docs:
                self.vendors(full_docs)
            clock = _lap(result, "vendors", clock)
            for e in events:
                result.events[e.kind] += 1
            if self.alerts is not None:
                alert_events = [e for e in events if e.kind != "unchanged"]
                if alert_events:
                    if self.before_alerts is not None:
                        self.before_alerts()  # the rules must see this batch's documents
                    out = self.alerts.on_batch(alert_events)
                    if self.deliverer is not None:
                        self.deliverer.poke()
                    result.alerts = out.created
            _lap(result, "alerts", clock)
        except Exception as exc:
            if not isinstance(exc, (ServiceUnavailable, *self.unavailable)) and not _status_unavailable(exc):
                raise
            if not spool_on_failure:
                result.spooled = len(listings)
                return result
            # the documents the change records are written against go with the events that were decided on them
            changed = {e.fingerprint for e in events or () if e.kind in CHANGE_KINDS}
            path = self.spool.put(listings, events, now, {k: v for k, v in existing.items() if k in changed})
            log.error("Elasticsearch unavailable (%s); batch of %d listings spooled to %s", exc, len(listings), path)
            result.spooled = len(listings)
            result.events.clear()
        return result

    def _analyze(self, listings: list[Listing]) -> None:
        todo = [item for item in listings if item.nlp is None]
        if not todo or self.analyzer is None:
            return
        outputs = self.analyzer.analyze_many([item.text() for item in todo])
        for item, out in zip(todo, outputs, strict=True):
            item.nlp = out

    @staticmethod
    def _seen_doc(item: Listing, now: str) -> dict[str, Any]:
        """Partial update for a listing seen again unchanged: only when and where it was seen."""
        doc: dict[str, Any] = {"_id": item.fingerprint, "_partial": True, "last_seen": now, "status": "active"}
        if item.fetched_at:
            doc["fetched_at"] = item.fetched_at
        return doc


def _lap(result: BatchResult, stage: str, since: float) -> float:
    """Record the time of one stage (each stage runs once per batch) and start the next."""
    now = time.perf_counter()
    result.seconds[stage] = now - since
    return now


def _status_unavailable(exc: BaseException) -> bool:
    """An HTTP answer that means "not now" (overloaded, shutting down, behind a proxy that lost it)."""
    status = getattr(getattr(exc, "meta", None), "status", None)
    return status in (429, 502, 503, 504)


def _by_fingerprint(listings: list[Listing]) -> dict[str, Listing]:
    """The batch by fingerprint, keeping the last sighting of each.

    Fingerprint and content hash are computed where a listing lacks one; a listing that has both (a
    spooled batch, a caller that set them) keeps them, so a replayed batch matches its recorded events.
    """
    batch: dict[str, Listing] = {}
    for item in listings:
        if item.fingerprint is None or item.content_hash is None:
            fp.apply(item)
        batch[str(item.fingerprint)] = item  # str: apply filled it
    return batch


class Deliverer:
    """Sends due alert mails from a background thread, so SMTP round trips never hold up a batch.

    Poked after each batch that recorded alerts, and every ``interval`` seconds anyway (retries after
    an SMTP outage). Exactly once is the alert engine's job (leases and conditional updates), so a
    deliverer in each of several processes is safe.
    """

    def __init__(self, engine: PendingMail, interval: float):
        self.engine = engine
        self.interval = interval
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="narcowatch-deliverer", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        self._idle.clear()
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self.engine.deliver_pending()
            except Exception as exc:  # delivery problems are retried by the next round
                log.error("alert delivery failed, will retry: %s", exc)
            if not self._wake.is_set():
                self._idle.set()

    def drain(self, timeout: float = 120.0) -> bool:
        """Deliver what is due now and wait for it; True when the deliverer went idle in time."""
        self.poke()
        return self._idle.wait(timeout)

    def close(self, timeout: float = 120.0) -> None:
        self.drain(timeout)
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
