"""The one indexing path: listings (upserts), change records and removals through ``streaming_bulk``.

Listing documents are keyed by fingerprint. A listing ``lookup`` found is an ``update`` with ``doc``
(never ``first_seen``), so a re-crawl moves ``last_seen`` and never ``first_seen``; any other listing is
a ``create`` carrying ``first_seen``. A ``create`` that finds the document already there (409) is
resent as an ``update``, and a full ``update`` that finds none (404) as a ``create``: the upsert
semantics without sending every document twice, and without scripts.
Change records are ``create`` actions with a deterministic ``_id``: a replay never duplicates one.
When the cluster cannot be reached (or keeps answering 429 / a write block), the actions not yet
confirmed go to a disk spool (JSON lines, fsynced) and are replayed, in order, before anything else.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError, Elasticsearch, helpers

from crawler.common.clock import utc_iso, utc_now_iso
from crawler.common.durable import write_json_lines
from crawler.common.results import Summable
from crawler.es.documents import change_id
from crawler.es.names import IndexNames

log = logging.getLogger(__name__)

LOOKUP_FIELDS = ["content_hash", "price", "currency", "stock", "status", "first_seen", "last_seen", "removed_at"]
# Per-item statuses that mean "not now" rather than "never": the action is spooled, not failed.
_RETRYABLE_STATUS = {429, 502, 503, 504}
_UPSERT_ONLY = ("first_seen",)


class IndexerUnavailable(ConnectionError):
    """Elasticsearch did not answer (a builtin ``ConnectionError``, so callers may catch either)."""


@dataclass
class IndexResult(Summable):
    """What one ``index_batch`` / ``flush`` / ``mark_removed`` call did."""

    indexed: int = 0
    """Listing actions confirmed by Elasticsearch."""
    created: int = 0
    """Of those, listings that did not exist before."""
    changes: int = 0
    """Change records written (or already present from an earlier replay)."""
    failed: int = 0
    """Actions Elasticsearch rejected for good (mapping errors, missing documents); logged."""
    spooled: int = 0
    """Actions written to the disk spool because the cluster was unreachable."""
    replayed: int = 0
    """Actions from the spool confirmed during this call."""
    pending: int = 0
    """Actions waiting in the spool after this call (earlier ones included)."""
    failures: list[str] = field(default_factory=list, metadata={"keep": 20})
    """The first reasons of failed actions (``index/_id: type: reason``); ``add()`` keeps 20."""


class ActionSpool:
    """Bulk actions that could not be sent, as JSON-lines files replayed oldest first."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("*.jsonl"))

    def pending(self) -> int:
        """How many actions wait in the spool."""
        total = 0
        for path in self.files():
            with path.open(encoding="utf-8") as fh:
                total += sum(1 for line in fh if line.strip())
        return total

    def put(self, actions: list[dict[str, Any]]) -> Path | None:
        if not actions:
            return None
        self.directory.mkdir(parents=True, exist_ok=True)
        return write_json_lines(self.directory / f"{time.time_ns():020d}-{os.getpid()}.jsonl", actions)

    @staticmethod
    def read(path: Path) -> list[dict[str, Any]]:
        actions = []
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    actions.append(json.loads(line))
                except ValueError:
                    # a torn last line from a crash while writing; earlier lines are intact
                    log.error("spool file %s line %d is not JSON; skipped", path, n)
        return actions

    def rewrite(self, path: Path, actions: list[dict[str, Any]]) -> None:
        """Replace a spool file's content with the actions still to send (kept in place: same order)."""
        if not actions:
            path.unlink(missing_ok=True)
            return
        write_json_lines(path, actions)


class ListingIndexer:
    """Writes listings, their changes and removals; spools to disk while Elasticsearch is away."""

    def __init__(
        self,
        client: Elasticsearch,
        names: IndexNames,
        spool_dir: Path,
        chunk_size: int = 500,
        max_retries: int = 5,
        *,
        initial_backoff: float = 0.5,
        max_backoff: float = 30.0,
        connect_retries: int = 2,
        refresh: bool | str = False,
    ) -> None:
        """``max_retries``/``initial_backoff``/``max_backoff`` apply to 429 answers (per item, by
        streaming_bulk); ``connect_retries`` is how often a connection error is retried, with the same
        backoff, before the remaining actions are spooled. ``refresh`` is passed to each bulk request."""
        self.client = client
        self.names = names
        self.spool = ActionSpool(Path(spool_dir))
        self.chunk_size = chunk_size
        self.max_retries = max_retries
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.connect_retries = connect_retries
        self.refresh = refresh
        self._known: set[str] = set()  # fingerprints the last lookup found: sent as updates

    # ------------------------------------------------------------------ reading

    def lookup(self, fingerprints: list[str]) -> dict[str, dict[str, Any]]:
        """One ``_mget``: for each known fingerprint, what change detection needs.

        Spooled actions are replayed first so the answer is not stale; raises ``IndexerUnavailable``
        when the cluster does not answer.
        """
        ids = [f for f in dict.fromkeys(fingerprints) if f]
        if not ids:
            return {}
        if self.spool.files():
            pending = self.flush()
            if pending.pending:
                raise IndexerUnavailable(
                    f"Elasticsearch unavailable: {pending.pending} spooled actions could not be replayed"
                )
        try:
            resp = self.client.mget(index=self.names.listings, ids=ids, source_includes=LOOKUP_FIELDS)
        except (TransportConnectionError, ConnectionTimeout) as exc:
            raise IndexerUnavailable(f"Elasticsearch unavailable during lookup: {exc}") from exc
        except ApiError as exc:
            if exc.meta.status in _RETRYABLE_STATUS:
                raise IndexerUnavailable(f"Elasticsearch unavailable during lookup: {exc}") from exc
            raise
        out: dict[str, dict[str, Any]] = {}
        for d in resp["docs"]:
            if d.get("found"):
                src = d.get("_source") or {}
                out[d["_id"]] = {k: src.get(k) for k in LOOKUP_FIELDS}
        self._known = set(out)
        return out

    # ------------------------------------------------------------------ writing

    def listing_action(self, doc: dict[str, Any]) -> dict[str, Any]:
        """The bulk action for one listing document (full, or ``_partial`` last-seen refresh).

        Partial documents and listings the last ``lookup`` found are updates (``doc`` without
        ``first_seen``); other listings are creates with ``first_seen``. Conflicts either way are
        resolved by ``send`` (see the module docstring).
        """
        body = dict(doc)
        doc_id = body.pop("_id", None) or body.get("fingerprint")
        if not doc_id:
            raise ValueError(f"listing document for {body.get('url')!r} has neither _id nor fingerprint")
        partial = bool(body.pop("_partial", False))
        if partial or doc_id in self._known:
            update = {k: v for k, v in body.items() if k not in _UPSERT_ONLY}
            return {"_op_type": "update", "_index": self.names.listings, "_id": doc_id, "doc": update}
        body.setdefault("first_seen", body.get("last_seen") or utc_now_iso())
        return {"_op_type": "create", "_index": self.names.listings, "_id": doc_id, "_source": body}

    def change_action(self, change: dict[str, Any]) -> dict[str, Any]:
        """The ``create`` action of one change record (deterministic ``_id``)."""
        body = dict(change)
        doc_id = body.pop("_id", None) or change_id(
            str(body.get("fingerprint")), str(body.get("kind")), body.get("content_hash")
        )
        return {"_op_type": "create", "_index": self.names.changes, "_id": doc_id, "_source": body}

    def index_batch(self, docs: list[dict[str, Any]], changes: list[dict[str, Any]] | None = None) -> IndexResult:
        """Index listing documents and change records; earlier spooled actions go first."""
        actions = [self.listing_action(d) for d in docs] + [self.change_action(c) for c in changes or []]
        return self.send(actions)

    def send(self, actions: list[dict[str, Any]]) -> IndexResult:
        """Send bulk actions after the spool; what cannot be sent now is spooled in order."""
        result = IndexResult()
        if self.spool.files():
            result.add(self.flush())
            if result.pending:  # still down: keep order by queueing behind the spool
                self.spool.put(actions)
                result.spooled = len(actions)
                result.pending += len(actions)
                log.warning("Elasticsearch unavailable; %d actions spooled to %s", len(actions), self.spool.directory)
                return result
        if not actions:
            return result
        part, remaining = self._stream(actions)
        result.add(part)
        if remaining:
            self.spool.put(remaining)
            result.spooled += len(remaining)
            result.pending += len(remaining)
            log.warning(
                "Elasticsearch unavailable; %d of %d actions spooled to %s",
                len(remaining), len(actions), self.spool.directory,
            )
        return result

    def flush(self) -> IndexResult:
        """Replay the spool oldest first; stops at the first file that cannot be finished (``pending`` > 0)."""
        result = IndexResult()
        files = self.spool.files()
        for i, path in enumerate(files):
            actions = self.spool.read(path)
            part, remaining = self._stream(actions)
            part.replayed = part.indexed + part.changes
            result.add(part)
            if remaining:
                self.spool.rewrite(path, remaining)
                later = sum(len(self.spool.read(p)) for p in files[i + 1 :])
                result.pending = len(remaining) + later
                return result
            path.unlink(missing_ok=True)
            log.info("replayed spool file %s (%d actions)", path.name, len(actions))
        return result

    # ------------------------------------------------------------------ the bulk loop

    def _stream(self, actions: list[dict[str, Any]]) -> tuple[IndexResult, list[dict[str, Any]]]:
        """Send ``actions``; return what happened and the actions still unconfirmed (to spool)."""
        result = IndexResult()
        todo = list(actions)
        attempt = passes = 0
        while todo:
            part, unconfirmed, error, followups = self._stream_once(todo)
            result.add(part)
            if error is None:
                # creates that met an existing listing, updates that met none; bounded in case another
                # process keeps deleting and recreating the same documents
                passes += 1
                if passes > 3 and followups:
                    result.failed += len(followups)
                    result.failures.append(f"{len(followups)} listings kept conflicting: {followups[0]['_id']}")
                    log.error("%d listings kept conflicting between create and update", len(followups))
                    return result, []
                todo = followups
                continue
            todo = unconfirmed + followups
            if attempt >= self.connect_retries or not todo:
                log.warning("bulk request failed (%s); %d actions left unsent", error, len(todo))
                return result, todo
            delay = _backoff(attempt, self.initial_backoff, self.max_backoff)
            attempt += 1
            log.warning("bulk request failed (%s); retry %d in %.1fs", error, attempt, delay)
            time.sleep(delay)
        return result, []

    def _stream_once(
        self, actions: list[dict[str, Any]]
    ) -> tuple[IndexResult, list[dict[str, Any]], BaseException | None, list[dict[str, Any]]]:
        result = IndexResult()
        followups: list[dict[str, Any]] = []
        positions: dict[tuple[str, str], deque[int]] = defaultdict(deque)
        for n, a in enumerate(actions):
            positions[(a["_op_type"], str(a["_id"]))].append(n)
        settled: set[int] = set()
        retry_later: list[int] = []

        def settle(op: str, doc_id: str) -> int | None:
            q = positions.get((op, doc_id))
            if q:
                pos = q.popleft()
                settled.add(pos)
                return pos
            return None

        try:
            for ok, op, info in _bulk_items(
                self.client,
                actions,
                chunk_size=self.chunk_size,
                max_retries=self.max_retries,
                initial_backoff=self.initial_backoff,
                max_backoff=self.max_backoff,
                refresh=self.refresh,
            ):
                doc_id = str(info.get("_id"))
                pos = settle(op, doc_id)
                status = int(info.get("status", 0) or 0)
                is_listing = pos is not None and actions[pos]["_index"] == self.names.listings
                if ok:
                    if is_listing:
                        result.indexed += 1
                        if op == "create":
                            result.created += 1
                    else:
                        result.changes += 1
                elif is_listing and op == "create" and status == 409 and pos is not None:
                    followups.append(_as_update(actions[pos]))
                elif is_listing and op == "update" and status == 404 and pos is not None and _is_full(actions[pos]):
                    followups.append(_as_create(actions[pos]))
                elif op == "create" and status == 409:
                    result.changes += 1  # recorded by an earlier (replayed) attempt
                elif status in _RETRYABLE_STATUS or _is_block(info.get("error")):
                    if pos is not None:
                        retry_later.append(pos)
                else:
                    result.failed += 1
                    reason = _reason(info)
                    if len(result.failures) < 20:
                        result.failures.append(reason)
                    log.error("Elasticsearch rejected %s %s: %s", op, doc_id, reason)
        except _Unreachable as exc:
            return result, _unsettled(actions, settled), exc.cause, followups
        if retry_later:
            settled.difference_update(retry_later)
            return result, _unsettled(actions, settled), IndexerUnavailable(
                f"{len(retry_later)} actions refused with 429/503 or a write block after retries"
            ), followups
        return result, [], None, followups

    # ------------------------------------------------------------------ removals

    def mark_removed(self, source: str, not_seen_since: str | datetime, now: str | None = None) -> int:
        """Mark active listings of ``source`` whose ``last_seen`` is older than ``not_seen_since`` removed.

        Search + bulk partial updates (no update_by_query scripts); a ``removed`` change record is
        written for each. Returns how many were marked.
        """
        cutoff = utc_iso(not_seen_since) if isinstance(not_seen_since, datetime) else not_seen_since
        now = now or utc_now_iso()
        query = {
            "bool": {
                "filter": [{"term": {"source": source}}, {"range": {"last_seen": {"lt": cutoff}}}],
                "must_not": [{"term": {"status": "removed"}}],
            }
        }
        try:
            self.client.indices.refresh(index=self.names.listings)
            hits = list(
                helpers.scan(
                    self.client,
                    index=self.names.listings,
                    query={"query": query, "_source": ["content_hash", "last_seen", "platform", "url", "title"]},
                    size=1000,
                )
            )
        except (TransportConnectionError, ConnectionTimeout) as exc:
            raise IndexerUnavailable(f"Elasticsearch unavailable while finding removed listings: {exc}") from exc
        actions: list[dict[str, Any]] = []
        for hit in hits:
            src = hit.get("_source") or {}
            actions.append(
                {
                    "_op_type": "update",
                    "_index": self.names.listings,
                    "_id": hit["_id"],
                    "doc": {"status": "removed", "removed_at": now},
                }
            )
            actions.append(
                {
                    "_op_type": "create",
                    "_index": self.names.changes,
                    "_id": change_id(hit["_id"], "removed", src.get("content_hash"), str(src.get("last_seen"))),
                    "_source": {
                        "@timestamp": now,
                        "fingerprint": hit["_id"],
                        "kind": "removed",
                        "content_hash": src.get("content_hash"),
                        "fields_changed": ["status"],
                        "source": source,
                        "platform": src.get("platform"),
                        "url": src.get("url"),
                        "title": src.get("title"),
                        "status": "removed",
                        "previous_status": "active",
                    },
                }
            )
        if actions:
            res = self.send(actions)
            log.info("marked %d listings of %s removed (not seen since %s)", len(hits), source, cutoff)
            if res.failed:
                log.error("%d removal actions failed: %s", res.failed, res.failures[:3])
        return len(hits)


def write_actions(
    client: Elasticsearch,
    actions: list[dict[str, Any]],
    *,
    chunk_size: int = 500,
    max_retries: int = 5,
    initial_backoff: float = 0.5,
    max_backoff: float = 30.0,
    connect_retries: int = 2,
    refresh: bool | str = False,
) -> list[dict[str, Any]]:
    """Bulk ``actions`` (``_op_type``/``_index``/``_id`` dicts) with the indexer's retries; the per-action
    result items (``status``, ``error``, ``_seq_no`` ...) in the order of ``actions``.

    For writes other than listings (alert records, rules, vendor profiles, run records) whose caller
    decides what a failed item means: 429 answers are retried per item by ``streaming_bulk``,
    connection errors and 429/503 leftovers ``connect_retries`` times with backoff, and then
    ``IndexerUnavailable`` is raised (a ``ConnectionError``: ``BatchProcessor`` spools the whole batch
    and replays it, so nothing is lost; ids are deterministic, so the replay duplicates nothing). An
    action retried after a connection error may meet its own earlier write (409 for a create, or a
    version conflict for a conditional one); callers treat that as "already there".
    """
    out: list[dict[str, Any] | None] = [None] * len(actions)
    positions: dict[tuple[str, str], deque[int]] = defaultdict(deque)
    for n, a in enumerate(actions):
        positions[(str(a.get("_op_type", "index")), str(a.get("_id")))].append(n)
    attempt = 0
    while True:
        todo = [n for n, r in enumerate(out) if r is None or int(r.get("status", 0) or 0) in _RETRYABLE_STATUS]
        if not todo:
            return [r or {} for r in out]
        for n in todo:
            out[n] = None
        todo_set = set(todo)
        pending = {key: deque(p for p in q if p in todo_set) for key, q in positions.items()}
        error: BaseException | None = None
        try:
            for _ok, op, info in _bulk_items(
                client,
                [actions[n] for n in todo],
                chunk_size=chunk_size,
                max_retries=max_retries,
                initial_backoff=initial_backoff,
                max_backoff=max_backoff,
                refresh=refresh,
            ):
                q = pending.get((op, str(info.get("_id"))))
                if q:
                    out[q.popleft()] = info
        except _Unreachable as exc:
            error = exc.cause
        left = [n for n, r in enumerate(out) if r is None or int(r.get("status", 0) or 0) in _RETRYABLE_STATUS]
        if not left:
            continue
        if attempt >= connect_retries:
            raise IndexerUnavailable(
                f"Elasticsearch unavailable: {len(left)} of {len(actions)} bulk actions unconfirmed ({error})"
            )
        delay = _backoff(attempt, initial_backoff, max_backoff)
        attempt += 1
        log.warning("bulk request failed (%s); retry %d of %d actions in %.1fs", error, attempt, len(left), delay)
        time.sleep(delay)


class _Unreachable(Exception):
    """A bulk pass stopped early: no answer, or the whole request refused with 429/50x or a write block."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _bulk_items(
    client: Elasticsearch,
    actions: list[dict[str, Any]],
    *,
    chunk_size: int,
    max_retries: int,
    initial_backoff: float,
    max_backoff: float,
    refresh: bool | str,
) -> Iterator[tuple[bool, str, dict[str, Any]]]:
    """One ``streaming_bulk`` pass (the listing indexer's and ``write_actions``' alike): ``(ok, op, info)``
    per action as Elasticsearch answers, 429 items retried inside the pass. Raises ``_Unreachable`` when
    the pass stops early for a reason worth retrying later; any other ``ApiError`` propagates."""
    kwargs: dict[str, Any] = {"refresh": refresh} if refresh else {}
    try:
        for ok, item in helpers.streaming_bulk(
            client,
            _copies(actions),
            chunk_size=chunk_size,
            max_retries=max_retries,
            initial_backoff=initial_backoff,
            max_backoff=max_backoff,
            raise_on_error=False,
            raise_on_exception=True,
            yield_ok=True,
            **kwargs,
        ):
            op, info = next(iter(item.items()))
            yield ok, op, info
    except (TransportConnectionError, ConnectionTimeout) as exc:
        raise _Unreachable(exc) from exc
    except ApiError as exc:
        if exc.meta.status in _RETRYABLE_STATUS or _is_block(getattr(exc, "body", None)):
            raise _Unreachable(exc) from exc
        raise


def _backoff(attempt: int, initial: float, maximum: float) -> float:
    """The wait before retry ``attempt + 1`` of a bulk pass: doubling from ``initial``, capped at ``maximum``."""
    return float(min(maximum, initial * 2**attempt))


def _copies(actions: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    # streaming_bulk pops keys from the dicts it is given; keep ours intact for the spool
    for a in actions:
        yield dict(a)


def _as_update(create: dict[str, Any]) -> dict[str, Any]:
    """A listing create that found the document: the same content as an update, first_seen left alone."""
    doc = {k: v for k, v in create["_source"].items() if k not in _UPSERT_ONLY}
    return {"_op_type": "update", "_index": create["_index"], "_id": create["_id"], "doc": doc}


def _is_full(update: dict[str, Any]) -> bool:
    return "fingerprint" in (update.get("doc") or {})


def _as_create(update: dict[str, Any]) -> dict[str, Any]:
    """A full listing update that found no document (deleted meanwhile): create it, first seen now."""
    body = dict(update["doc"])
    body.setdefault("first_seen", body.get("last_seen") or utc_now_iso())
    return {"_op_type": "create", "_index": update["_index"], "_id": update["_id"], "_source": body}


def _unsettled(actions: list[dict[str, Any]], settled: set[int]) -> list[dict[str, Any]]:
    return [a for i, a in enumerate(actions) if i not in settled]


def _is_block(error: Any) -> bool:
    text = json.dumps(error) if not isinstance(error, str) else error
    return "cluster_block_exception" in text


def _reason(info: dict[str, Any]) -> str:
    err = info.get("error") or {}
    if isinstance(err, dict):
        text = f"{err.get('type')}: {err.get('reason')}"
        cause = err.get("caused_by")
        if isinstance(cause, dict):
            text += f" ({cause.get('type')}: {cause.get('reason')})"
    else:
        text = str(err)
    return f"{info.get('_index')}/{info.get('_id')}: {text}"
