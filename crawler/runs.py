"""Crawl run records: what one crawl of one source did, stored in ``<prefix>-crawl-runs``, and failure streaks."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from crawler.common.clock import utc_iso
from crawler.common.durable import write_atomic

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

    from crawler.es.names import IndexNames
    from crawler.sources.models import SourceBase

OpsNotifier = Callable[[str, str], object]
"""Sends one operational mail (subject, body); returns False when it did not (e.g. no ops address)."""

log = logging.getLogger(__name__)

Outcome = Literal["success", "empty", "failed", "timeout", "interrupted", "skipped", "degraded", "gated"]
# Outcomes that count towards a failure streak. "interrupted" is our own shutdown, "skipped" a run that
# did not start because the previous one still held the source: neither says the source is broken.
STREAK_OUTCOMES = frozenset({"empty", "failed", "timeout"})


@dataclass(kw_only=True)
class RunRecord:
    """One crawl of one source, as written to the crawl-runs alias (one document, ``_id`` = run_id)."""

    run_id: str
    """Unique id of the run (``<source>-<UTC start, compact>-<random>``)."""
    source: str
    """Configured source name."""
    start: str
    """When the worker was started, UTC ISO 8601."""
    end: str
    """When the worker ended (or was given up on), UTC ISO 8601."""
    duration: float = 0.0
    """Wall time in seconds."""
    outcome: Outcome = "success"
    """success; empty (ran, found nothing); failed; timeout (killed at the per-source limit);
    interrupted (stopped by a daemon shutdown or crash); skipped (the source was still running);
    degraded (ran, but fields or listings fell sharply against recent runs: layout drift, crawler.drift);
    gated (stopped by a login wall, anti-DDoS page or CAPTCHA)."""
    pages: int = 0
    """Pages fetched (responses received)."""
    items: int | None = None
    """Listings seen in this run, changed or not (None when the worker did not say)."""
    listings_new: int = 0
    """Listings seen for the first time."""
    listings_changed: int = 0
    """Listings whose price, stock or text changed."""
    listings_removed: int = 0
    """Listings marked removed by this run."""
    errors: dict[str, int] = field(default_factory=dict)
    """Error counts by kind (``timeout``, ``http_5xx``, ``dns``, ``parse``, ...)."""
    bytes: int = 0
    """Response bytes received."""
    exit_code: int | None = None
    """The worker's exit status (negative: killed by that signal); None when it never ran."""
    message: str | None = None
    """Why the run failed or was skipped, in a sentence."""
    host: str = field(default_factory=socket.gethostname)
    """Machine that ran the worker."""
    trigger: str = "schedule"
    """schedule, manual or recovery (a run found unfinished after a daemon crash)."""
    stats: dict[str, Any] = field(default_factory=dict)
    """Other numbers the worker reported (NLP, indexing and alert counts and latencies)."""
    fill_rates: dict[str, float] = field(default_factory=dict)
    """Share of the run's listings that had each watched field (``title``, ``vendor``, ``price``...)."""
    fill_samples: dict[str, str] = field(default_factory=dict)
    """Per field, the URL of a listing of this run without it."""
    gate: dict[str, Any] | None = None
    """The gate page that stopped the run (kind, url, message), when outcome is ``gated``."""
    drift: list[dict[str, Any]] = field(default_factory=list)
    """Why the run is ``degraded``: per field, before/after rates and a sample URL."""

    def to_document(self) -> dict[str, Any]:
        """The Elasticsearch document, in the field names of ``index_mappings/crawl-runs.json``."""
        return {
            "@timestamp": self.start,
            "run_id": self.run_id,
            "source": self.source,
            "started_at": self.start,
            "ended_at": self.end,
            "duration_s": self.duration,
            "outcome": self.outcome,
            "pages": self.pages,
            "bytes": self.bytes,
            "listings_seen": self.items,
            "listings_new": self.listings_new,
            "listings_changed": self.listings_changed,
            "listings_removed": self.listings_removed,
            "errors": dict(self.errors),
            "error_count": sum(self.errors.values()),
            "exit_code": self.exit_code,
            "message": self.message,
            "host": self.host,
            "trigger": self.trigger,
            "stats": dict(self.stats),
            "fill_rates": dict(self.fill_rates),
            "fill_samples": dict(self.fill_samples),
            "gate": self.gate,
            "drift": list(self.drift),
        }

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> RunRecord:
        """The record back from its document (``to_document``'s inverse)."""
        return cls(
            run_id=doc["run_id"], source=doc["source"], start=doc["started_at"], end=doc["ended_at"],
            duration=float(doc.get("duration_s") or 0.0), outcome=doc.get("outcome", "success"),
            pages=int(doc.get("pages") or 0), items=doc.get("listings_seen"),
            listings_new=int(doc.get("listings_new") or 0), listings_changed=int(doc.get("listings_changed") or 0),
            listings_removed=int(doc.get("listings_removed") or 0), errors=dict(doc.get("errors") or {}),
            bytes=int(doc.get("bytes") or 0), exit_code=doc.get("exit_code"), message=doc.get("message"),
            host=doc.get("host") or socket.gethostname(), trigger=doc.get("trigger") or "schedule",
            stats=dict(doc.get("stats") or {}),
            fill_rates=dict(doc.get("fill_rates") or {}), fill_samples=dict(doc.get("fill_samples") or {}),
            gate=doc.get("gate"), drift=list(doc.get("drift") or []),
        )


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def parse_worker_stats(stdout: str) -> dict[str, Any] | None:
    """The last line of a worker's stdout that is a JSON object, or None (the worker died before it)."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None


def record_from_worker(
    *,
    run_id: str,
    source: str,
    start: datetime,
    end: datetime,
    exit_code: int | None,
    stats: Mapping[str, Any] | None,
    timed_out: bool = False,
    interrupted: bool = False,
    stderr_tail: str = "",
    trigger: str = "schedule",
) -> RunRecord:
    """Build the run record from what the worker printed and how it ended.

    Accepted stats keys (the runner's final JSON line, ``crawler.runner.CrawlOutcome``): ``pages``,
    ``listings`` (count seen) with flat ``new``/``changed``/``price_changes``/``removed``, or ``items``
    with ``listings`` as ``{"new", "changed", "removed"}``; ``errors`` (by kind), ``bytes``, ``outcome``
    (``ok``/``failed``/``empty``); anything else is kept in ``stats``.
    """
    stats = dict(stats or {})
    listings = stats.pop("listings", None)
    items = stats.pop("items", None)
    if isinstance(listings, int | float) and not isinstance(listings, bool):
        # crawler.runner's CrawlOutcome: "listings" is the count seen; new/changed/removed are flat keys
        items, listings = listings, {}
    if not isinstance(listings, Mapping):
        listings = {}
    errors_raw = stats.pop("errors", None) or {}
    errors = {str(k): _int(v) for k, v in errors_raw.items()} if isinstance(errors_raw, Mapping) else {}

    def take(kind: str) -> int:
        return _int(listings.get(kind, stats.pop(f"listings_{kind}", stats.pop(kind, 0))))

    new, changed, removed = take("new"), take("changed"), take("removed")
    changed += _int(stats.get("price_changes", 0))
    rec = RunRecord(
        run_id=run_id,
        source=source,
        start=utc_iso(start),
        end=utc_iso(end),
        duration=round((end - start).total_seconds(), 3),
        pages=_int(stats.pop("pages", 0)),
        items=None if items is None else _int(items),
        listings_new=new,
        listings_changed=changed,
        listings_removed=removed,
        errors=errors,
        bytes=_int(stats.pop("bytes", 0)),
        exit_code=exit_code,
        trigger=trigger,
    )
    for key in ("start", "end", "duration_s"):
        stats.pop(key, None)
    stats.pop("duration", None)
    stats.pop("source", None)
    stats.pop("run_id", None)
    worker_outcome = stats.pop("outcome", None)
    rates, samples, gate = stats.pop("fill_rates", None), stats.pop("fill_samples", None), stats.pop("gate", None)
    rec.fill_rates = {str(k): float(v) for k, v in rates.items()} if isinstance(rates, Mapping) else {}
    rec.fill_samples = {str(k): str(v) for k, v in samples.items()} if isinstance(samples, Mapping) else {}
    rec.gate = dict(gate) if isinstance(gate, Mapping) else None
    rec.stats = stats
    if timed_out:
        rec.outcome, rec.message = "timeout", "no result within the per-source time limit; worker killed"
    elif interrupted:
        rec.outcome, rec.message = "interrupted", "stopped by a scheduler shutdown; resumes on the next run"
    elif worker_outcome == "gated" and rec.gate is not None:
        rec.outcome, rec.message = "gated", str(rec.gate.get("message") or "stopped by a gate page")
    elif exit_code != 0:
        rec.outcome = "failed"
        tail = stderr_tail.strip().splitlines()[-1:] if stderr_tail.strip() else []
        rec.message = f"worker exited with status {exit_code}" + (f": {tail[0][:500]}" if tail else "")
    elif worker_outcome in ("failed", "timeout", "interrupted", "empty"):
        rec.outcome = worker_outcome
    elif (rec.items == 0) or (rec.items is None and rec.pages == 0):
        rec.outcome, rec.message = "empty", "the crawl yielded nothing"
    else:
        rec.outcome = "success"
    return rec


def _index_name(names: IndexNames | str) -> str:
    if isinstance(names, str):
        return names
    alias = getattr(names, "crawl_runs", None)
    if alias is None:
        raise TypeError(f"record_run: names must be an IndexNames or an alias string, got {names!r}")
    return str(alias() if callable(alias) else alias)


def record_run(
    client: Elasticsearch, names: IndexNames | str, record: RunRecord, *, refresh: bool | str = False
) -> str:
    """Write ``record`` to the crawl-runs alias (``names.crawl_runs`` or an alias string); returns the alias.

    Idempotent: the document ``_id`` is the run id, so a retried write does not duplicate the run.
    Not through ``crawler.es.indexer`` on purpose: a write that fails raises, and the caller
    (``crawler.scheduling.worker``) keeps the record in its pending-runs file (and the local run log)
    and writes it with the next run, so a run record is delayed, never lost.
    """
    index = _index_name(names)
    client.index(index=index, id=record.run_id, document=record.to_document(), refresh=refresh)
    return index


class StreakTracker:
    """Counts consecutive failed or empty runs per source, persisted as JSON (survives daemon restarts).

    ``update(record)`` returns the streak length when it is at or past ``threshold`` and its alert has
    not gone out yet (``mark_alerted``), else None; a successful run ends the streak.
    """

    def __init__(self, path: Path, threshold: int) -> None:
        if threshold < 1:
            raise ValueError(f"failure streak threshold must be >= 1, got {threshold}")
        self.path = path
        self.threshold = threshold
        self._lock = threading.Lock()

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except FileNotFoundError:
            return {}
        except ValueError:
            log.warning("streak file %s is not valid JSON; starting the counts again", self.path)
            return {}

    def _save(self, data: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, json.dumps(data, indent=1, sort_keys=True))

    def get(self, source: str) -> int:
        with self._lock:
            return int(self._load().get(source, {}).get("count", 0))

    def mark_alerted(self, source: str) -> None:
        """Remember that this streak's alert went out (so the next failures do not send it again)."""
        with self._lock:
            data = self._load()
            data.setdefault(source, {"count": 0})["alerted"] = True
            self._save(data)

    def update(self, record: RunRecord) -> int | None:
        if record.outcome not in STREAK_OUTCOMES and record.outcome != "success":
            return None  # interrupted / skipped: neither ends nor extends a streak
        with self._lock:
            data = self._load()
            entry = data.get(record.source, {"count": 0, "alerted": False})
            if record.outcome == "success":
                entry = {"count": 0, "alerted": False}
                fire = None
            else:
                entry["count"] = int(entry.get("count", 0)) + 1
                entry["last_outcome"] = record.outcome
                entry["last_run"] = record.run_id
                fire = None
                if entry["count"] >= self.threshold and not entry.get("alerted"):
                    fire = entry["count"]
            data[record.source] = entry
            self._save(data)
            return fire


def streak_alert_text(record: RunRecord, count: int) -> tuple[str, str]:
    """Subject and plain-text body of the operational alert for a source's failure streak."""
    subject = f"[narcowatch ops] source {record.source!r}: {count} failed or empty runs in a row"
    body = (
        f"The source {record.source!r} has failed or yielded nothing in {count} consecutive runs.\n\n"
        f"Last run: {record.run_id}\n"
        f"  outcome:  {record.outcome}\n"
        f"  start:    {record.start}\n"
        f"  end:      {record.end}\n"
        f"  pages:    {record.pages}\n"
        f"  errors:   {json.dumps(record.errors, sort_keys=True)}\n"
        f"  message:  {record.message or '-'}\n"
        f"  host:     {record.host}\n\n"
        "Check the site (moved, down, blocked us, changed its layout) and the source's selectors, then "
        "`narcowatch crawl SOURCE` by hand. This alert is sent once per streak; the next successful run "
        "ends the streak.\n"
    )
    return subject, body


def default_ops_notifier(alerts_path: Path | None = None) -> OpsNotifier | None:
    """alerting's ``send_ops_alert`` (to the ``ops`` addresses of ``alerts_path``), or None without it."""
    try:
        from crawler.alerting.ops import send_ops_alert
    except ImportError:
        return None

    def notify(subject: str, body: str) -> bool:
        path = alerts_path if alerts_path is not None and alerts_path.exists() else None
        return bool(send_ops_alert(subject, body, config_path=path))

    return notify


def handle_streak(
    tracker: StreakTracker,
    record: RunRecord,
    notify: OpsNotifier | None,
) -> bool:
    """Update the streak with ``record``; when it just reached the threshold, send the ops alert once.

    Returns True when an alert was sent. A failing notifier is logged, not raised: the crawl is recorded.
    """
    count = tracker.update(record)
    if count is None:
        return False
    subject, body = streak_alert_text(record, count)
    if notify is None:
        log.error("ops alert not sent (no ops notifier configured): %s", subject)
        return False
    try:
        sent = notify(subject, body)
    except Exception:
        log.exception("ops alert for source %r could not be sent; it is tried again after the next run",
                      record.source)
        return False
    if sent is False:  # e.g. no ops address configured: logged by the notifier; try again next run
        return False
    tracker.mark_alerted(record.source)
    log.warning("ops alert sent: %s", subject)
    return True


def judge_run(
    record: RunRecord, history: Sequence[Mapping[str, Any]], source: SourceBase | None
) -> tuple[str, str] | None:
    """Layout drift and gates of a finished run: marks ``record`` ``degraded`` when its fill rates or listing
    count fell sharply against ``history`` (the source's earlier runs, newest first), and returns the ops mail
    (subject, body) to send, or None. One mail per episode: none when the previous run was already degraded
    (or gated, for a gated run)."""
    from crawler.drift import degraded, degraded_mail, gated_mail

    previous = history[0].get("outcome") if history else None
    if record.outcome == "gated":
        return None if previous == "gated" else gated_mail(record.source, record.to_document())
    if record.outcome not in ("success", "empty") or source is None:
        return None
    start = start_urls_of_source(source)
    drops = degraded(record.to_document(), history, getattr(source, "drift", None), start_url=start)
    if not drops:
        return None
    record.outcome = "degraded"
    record.drift = [{"field": d.field, "before": d.before, "after": d.after, "sample_url": d.sample_url}
                    for d in drops]
    record.message = "layout drift: " + "; ".join(d.line() for d in drops)
    return None if previous == "degraded" else degraded_mail(record.source, record.to_document(), drops)


def start_urls_of_source(source: SourceBase) -> str | None:
    from crawler.addresses import start_urls_of

    urls = start_urls_of(source)
    return urls[0] if urls else None
