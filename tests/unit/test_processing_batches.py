"""BatchProcessor's decisions with an in-memory indexer: events, what is analysed, indexed, alerted,
spooled and replayed. (The same path against the real node: tests/integration/test_faults_pipeline.py.)"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from crawler import fingerprint as fp
from crawler.es.indexer import IndexResult
from crawler.events import ListingEvent
from crawler.items import Listing
from crawler.processing import BatchProcessor, BatchResult, BatchSpool, Deliverer

NOW = "2026-01-01T00:00:00.000Z"


def listing(n: int = 1, **kw: Any) -> Listing:
    base: dict[str, Any] = {"url": f"http://m.example/l/{n}", "source": "m", "source_kind": "market",
                            "title": f"Fentanyl HCl lot {n}", "price": "120.00", "currency": "USD",
                            "platform": "m.example"}
    base.update(kw)
    return Listing(**base)


class MemoryIndexer:
    """Listings by fingerprint; ``down`` makes index_batch fail like an unreachable node."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.changes: list[dict[str, Any]] = []
        self.lookups: list[list[str]] = []
        self.down: BaseException | None = None
        self.spooled = 0

    def lookup(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        self.lookups.append(list(ids))
        return {i: dict(self.docs[i]) for i in ids if i in self.docs}

    def index_batch(self, docs: list[dict[str, Any]], changes: list[dict[str, Any]]) -> IndexResult:
        if self.down is not None:
            raise self.down
        if self.spooled:
            return IndexResult(spooled=self.spooled)
        for d in docs:
            d = dict(d)
            if d.pop("_partial", False):
                self.docs[d.pop("_id")].update(d)
            else:
                self.docs[d.pop("_id")] = d
        self.changes += changes
        return IndexResult(indexed=len(docs))


class Recorder:
    def __init__(self) -> None:
        self.calls: list[Any] = []

    def analyze_many(self, texts: list[str], batch_size: int = 64) -> list[dict[str, Any]]:
        self.calls.append(("nlp", list(texts)))
        return [{"intent": "sale", "n": i} for i, _ in enumerate(texts)]

    def on_batch(self, events: list[ListingEvent]) -> SimpleNamespace:
        self.calls.append(("alerts", [(e.fingerprint, e.kind) for e in events]))
        return SimpleNamespace(created=len(events))

    def refresh(self) -> None:
        self.calls.append(("refresh",))

    def poke(self) -> None:
        self.calls.append(("poke",))

    def vendors(self, docs: list[dict[str, Any]]) -> None:
        self.calls.append(("vendors", [d["_id"] for d in docs]))

    def kinds(self, what: str) -> list[Any]:
        return [c[1] for c in self.calls if c[0] == what]


def listing_doc(item: Listing, now: str) -> dict[str, Any]:
    return {"_id": item.fingerprint, "title": item.title, "price": item.price, "currency": item.currency,
            "content_hash": item.content_hash, "status": "active", "last_seen": now, "nlp": item.nlp}


def change_doc(item: Listing, existing: dict[str, Any] | None, kind: str, now: str) -> dict[str, Any]:
    return {"_id": f"{item.fingerprint}-{now}", "kind": kind, "old_price": (existing or {}).get("price")}


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def proc(tmp_path: Path, rec: Recorder) -> BatchProcessor:
    return BatchProcessor(indexer=MemoryIndexer(), analyzer=rec, spool=BatchSpool(tmp_path / "spool"),
                          listing_doc=listing_doc, change_doc=change_doc, vendors=rec.vendors, alerts=rec,
                          before_alerts=rec.refresh, deliverer=rec)


def ids(*items: Listing) -> list[str]:
    return [fp.fingerprint(i) for i in items]


def test_new_listings_are_analysed_indexed_and_alerted(proc: BatchProcessor, rec: Recorder) -> None:
    a, b = listing(1), listing(2)
    res = proc.process([a, b], NOW)
    assert (res.listings, res.indexed, res.failed, res.alerts, res.spooled) == (2, 2, 0, 2, 0)
    assert res.events == {"new": 2}
    assert [c[0] for c in rec.calls] == ["nlp", "vendors", "refresh", "alerts", "poke"]
    assert rec.kinds("alerts") == [[(ids(a)[0], "new"), (ids(b)[0], "new")]]
    assert rec.kinds("vendors") == [ids(a, b)]
    docs = proc.indexer.docs
    assert set(docs) == set(ids(a, b)) and docs[ids(a)[0]]["nlp"] == {"intent": "sale", "n": 0}
    assert set(res.seconds) == {"lookup", "nlp", "index", "vendors", "alerts"}


def test_unchanged_listings_only_refresh_when_seen(proc: BatchProcessor, rec: Recorder) -> None:
    proc.process([listing(1)], NOW)
    rec.calls.clear()
    again = listing(1, fetched_at="2026-01-02T00:00:00.000Z")
    res = proc.process([again], "2026-01-02T00:00:00.000Z")
    assert res.events == {"unchanged": 1} and res.alerts == 0 and res.indexed == 1
    assert rec.calls == []  # not analysed, no vendor update, no alert, no refresh
    doc = proc.indexer.docs[ids(again)[0]]
    assert doc["last_seen"] == "2026-01-02T00:00:00.000Z" and doc["title"] == "Fentanyl HCl lot 1"
    assert doc["fetched_at"] == "2026-01-02T00:00:00.000Z" and doc["status"] == "active"
    # without fetched_at the partial update does not invent one
    proc.process([listing(1)], "2026-01-03T00:00:00.000Z")
    assert proc.indexer.docs[ids(again)[0]]["fetched_at"] == "2026-01-02T00:00:00.000Z"


def test_changes_get_a_change_record_and_an_event(proc: BatchProcessor, rec: Recorder) -> None:
    proc.process([listing(1), listing(2), listing(3)], NOW)
    proc.indexer.docs[ids(listing(3))[0]]["status"] = "removed"
    rec.calls.clear()
    res = proc.process([listing(1, price="99"), listing(2, description="now vacuum sealed"), listing(3)],
                       "2026-01-02T00:00:00.000Z")
    assert res.events == {"price_change": 1, "changed": 1, "relisted": 1}
    assert [(c["kind"], c["old_price"]) for c in proc.indexer.changes] == [
        ("price_change", "120.00"), ("changed", "120.00"), ("relisted", "120.00")]
    assert [k for _f, k in rec.kinds("alerts")[0]] == ["price_change", "changed", "relisted"]
    assert len(rec.kinds("nlp")[0]) == 3


def test_one_batch_keeps_the_last_sighting_of_a_listing(proc: BatchProcessor, rec: Recorder) -> None:
    res = proc.process([listing(1, price="10"), listing(2), listing(1, price="12")], NOW)
    assert res.listings == 3 and res.indexed == 2 and res.events == {"new": 2}
    assert proc.indexer.docs[ids(listing(1))[0]]["price"] == "12"


def test_an_outage_spools_the_batch_with_its_events_and_the_next_batch_replays_it_first(
        proc: BatchProcessor, rec: Recorder) -> None:
    indexer: MemoryIndexer = proc.indexer
    indexer.down = ConnectionError("node gone")
    res = proc.process([listing(1), listing(2)], NOW)
    assert res.spooled == 2 and res.indexed == 0 and res.events == {} and res.alerts == 0
    assert proc.spool.size() == 1 and indexer.docs == {} and rec.kinds("alerts") == []
    indexer.down = None
    rec.calls.clear()
    res = proc.process([listing(3)], "2026-01-02T00:00:00.000Z")
    assert (res.replayed, res.indexed, res.spooled, res.alerts) == (2, 3, 0, 3) and res.events == {"new": 3}
    assert proc.spool.size() == 0
    # the replayed batch kept its decided events (no second lookup) and its own time
    assert indexer.lookups == [ids(listing(1), listing(2)), ids(listing(3))]
    assert indexer.docs[ids(listing(1))[0]]["last_seen"] == NOW
    assert [k for k in rec.kinds("alerts")] == [[(ids(listing(1))[0], "new"), (ids(listing(2))[0], "new")],
                                              [(ids(listing(3))[0], "new")]]


def test_a_replayed_change_keeps_the_previous_document_it_was_decided_on(proc: BatchProcessor) -> None:
    """The lookup saw price 120; the node goes down before the write: the replay's change record still says
    120 was the old price (the listing's current document is not asked again, and may not be there)."""
    indexer: MemoryIndexer = proc.indexer
    proc.process([listing(1)], NOW)
    indexer.down = ConnectionError("node gone")  # the lookup answers, the write fails
    res = proc.process([listing(1, price="99")], "2026-01-02T00:00:00.000Z")
    assert res.spooled == 1 and indexer.changes == [] and indexer.lookups[-1] == ids(listing(1))
    indexer.down = None
    indexer.docs.clear()  # whatever the node holds now, the decision was made against the spooled document
    res = proc.replay()
    assert res.replayed == 1 and res.events == {"price_change": 1}
    assert [(c["kind"], c["old_price"]) for c in indexer.changes] == [("price_change", "120.00")]


def test_a_spool_file_without_previous_documents_still_replays(proc: BatchProcessor, tmp_path: Path) -> None:
    """Spool files written before the previous documents were kept: the change record has no old price."""
    path = proc.spool.put([listing(1, price="99")], [ListingEvent(fingerprint=ids(listing(1))[0],
                          kind="price_change", content_hash="h", source="m", platform="m.example")], NOW)
    payload = json.loads(path.read_text(encoding="utf-8"))
    del payload["previous"]
    path.write_text(json.dumps(payload), encoding="utf-8")
    assert proc.replay().replayed == 1
    assert [(c["kind"], c["old_price"]) for c in proc.indexer.changes] == [("price_change", None)]


def test_a_replay_that_fails_again_spools_the_new_batch_behind_it(proc: BatchProcessor) -> None:
    indexer: MemoryIndexer = proc.indexer
    indexer.down = ConnectionError("node gone")
    proc.process([listing(1)], NOW)
    res = proc.process([listing(2), listing(3)], "2026-01-02T00:00:00.000Z")
    assert res.spooled == 2 and res.replayed == 0 and proc.spool.size() == 2
    indexer.down = None
    res = proc.replay()
    assert res.replayed == 3 and proc.spool.size() == 0 and len(indexer.docs) == 3
    assert indexer.docs[ids(listing(2))[0]]["last_seen"] == "2026-01-02T00:00:00.000Z"  # its own time, kept


def test_actions_the_indexer_had_to_spool_make_the_batch_spool(proc: BatchProcessor) -> None:
    proc.indexer.spooled = 1
    res = proc.process([listing(1)], NOW)
    assert res.spooled == 1 and proc.spool.size() == 1


class _Meta:
    def __init__(self, status: int):
        self.status = status


class HttpError(Exception):
    def __init__(self, status: int):
        super().__init__(f"HTTP {status}")
        self.meta = _Meta(status)


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_not_now_answers_spool(proc: BatchProcessor, status: int) -> None:
    proc.indexer.down = HttpError(status)
    assert proc.process([listing(1)], NOW).spooled == 1


@pytest.mark.parametrize("error", [HttpError(400), ValueError("a bug")])
def test_other_errors_are_raised_not_spooled(proc: BatchProcessor, error: Exception) -> None:
    proc.indexer.down = error
    with pytest.raises(type(error)):
        proc.process([listing(1)], NOW)
    assert proc.spool.size() == 0


def test_configured_unavailable_errors_spool(tmp_path: Path, rec: Recorder) -> None:
    class Down(Exception):
        pass

    indexer = MemoryIndexer()
    p = BatchProcessor(indexer=indexer, analyzer=None, spool=BatchSpool(tmp_path), listing_doc=listing_doc,
                       unavailable=(Down,))
    indexer.down = Down()
    assert p.process([listing(1)], NOW).spooled == 1


def test_empty_batches_do_nothing(proc: BatchProcessor, rec: Recorder) -> None:
    res = proc.process([], NOW)
    assert res.listings == 0 and rec.calls == [] and proc.indexer.lookups == []


def test_already_analysed_listings_are_not_analysed_again(proc: BatchProcessor, rec: Recorder) -> None:
    proc.process([listing(1, nlp={"intent": "other"}), listing(2)], NOW)
    assert [len(texts) for texts in rec.kinds("nlp")] == [1]
    assert proc.indexer.docs[ids(listing(1))[0]]["nlp"] == {"intent": "other"}


def test_batch_results_add_up() -> None:
    a = BatchResult(listings=2, indexed=2, failed=1, alerts=1, spooled=0, replayed=3, seconds={"nlp": 1.0})
    a.events.update({"new": 2})
    b = BatchResult(listings=1, indexed=1, failed=0, alerts=2, spooled=4, replayed=1, seconds={"nlp": 0.5, "index": 2})
    b.events.update({"new": 1, "changed": 1})
    a.add(b)
    assert (a.listings, a.indexed, a.failed, a.alerts, a.spooled, a.replayed) == (3, 3, 1, 3, 4, 4)
    assert a.events == {"new": 3, "changed": 1} and a.seconds == {"nlp": 1.5, "index": 2}


class Engine:
    def __init__(self) -> None:
        self.rounds = 0
        self.fail = False
        self.called = threading.Event()

    def deliver_pending(self) -> None:
        self.rounds += 1
        self.called.set()
        if self.fail:
            raise RuntimeError("smtp down")


def test_deliverer_delivers_when_poked_and_survives_errors() -> None:
    engine = Engine()
    d = Deliverer(engine, interval=3600)
    try:
        assert d.drain(timeout=30) and engine.rounds == 1
        engine.fail = True
        assert d.drain(timeout=30) and engine.rounds == 2  # an error is logged, the thread goes on
        engine.fail = False
        assert d.drain(timeout=30) and engine.rounds == 3
    finally:
        d.close(timeout=30)
    assert not d._thread.is_alive()


def test_deliverer_retries_on_its_interval_without_a_poke() -> None:
    engine = Engine()
    d = Deliverer(engine, interval=0.05)
    try:
        assert engine.called.wait(30)
    finally:
        d.close(timeout=30)
    assert engine.rounds >= 1 and not d._thread.is_alive()


def test_prices_compare_to_eight_decimals_the_satoshi() -> None:
    from crawler.processing import classify

    seen = {"content_hash": "old", "price": "0.25", "currency": "BTC", "status": "active"}
    assert classify(fp.apply(listing(1, price="0.20", currency="BTC")), seen) == "price_change"
    same = {**seen, "price": "0.123456781"}
    assert classify(fp.apply(listing(1, price="0.123456782", currency="BTC")), same) == "changed"
    assert classify(fp.apply(listing(1, price="", currency="BTC")), {**seen, "price": None}) == "changed"


def test_the_partial_update_of_an_unchanged_listing() -> None:
    item = fp.apply(listing(1, fetched_at="2026-01-02T00:00:00.000Z"))
    assert BatchProcessor._seen_doc(item, NOW) == {"_id": item.fingerprint, "_partial": True, "last_seen": NOW,
                                                   "status": "active", "fetched_at": "2026-01-02T00:00:00.000Z"}


def test_stage_times_add_up_to_at_most_the_batch_time(proc: BatchProcessor) -> None:
    import time

    t0 = time.perf_counter()
    res = proc.process([listing(1), listing(2)], NOW)
    elapsed = time.perf_counter() - t0
    assert all(v >= 0 for v in res.seconds.values()) and sum(res.seconds.values()) <= elapsed


def test_an_analyzer_that_loses_texts_is_an_error(tmp_path: Path) -> None:
    class Lossy:
        def analyze_many(self, texts: list[str], batch_size: int = 64) -> list[dict[str, Any]]:
            return [{}] * (len(texts) - 1)

    p = BatchProcessor(indexer=MemoryIndexer(), analyzer=Lossy(), spool=BatchSpool(tmp_path), listing_doc=listing_doc)
    with pytest.raises(ValueError):
        p.process([listing(1), listing(2)], NOW)


def test_rejected_actions_are_counted_failed(tmp_path: Path) -> None:
    class Rejecting(MemoryIndexer):
        def index_batch(self, docs: list[dict[str, Any]], changes: list[dict[str, Any]]) -> IndexResult:
            super().index_batch(docs, changes)
            return IndexResult(indexed=len(docs) - 1, failed=1)

    p = BatchProcessor(indexer=Rejecting(), analyzer=None, spool=BatchSpool(tmp_path), listing_doc=listing_doc)
    res = p.process([listing(1), listing(2)], NOW)
    assert (res.indexed, res.failed, res.spooled) == (1, 1, 0)


def test_a_replay_failing_again_names_the_batch(proc: BatchProcessor) -> None:
    from crawler.processing import ServiceUnavailable

    proc.indexer.down = ConnectionError("node gone")
    proc.process([listing(1)], NOW)
    with pytest.raises(ServiceUnavailable, match=r"replay of \d+-\d+\.json failed again"):
        proc.replay()


def test_deliverer_is_a_daemon_thread_and_logs_failures(caplog: pytest.LogCaptureFixture) -> None:
    engine = Engine()
    engine.fail = True
    d = Deliverer(engine, interval=3600)
    try:
        assert d._thread.daemon and d._thread.name == "narcowatch-deliverer"
        assert d.drain(timeout=30)
    finally:
        d.close(timeout=30)
    assert any(r.getMessage() == "alert delivery failed, will retry: smtp down" for r in caplog.records)


def test_events_carry_the_listing_they_are_about(tmp_path: Path) -> None:
    seen: list[ListingEvent] = []

    class Alerts:
        def on_batch(self, events: list[ListingEvent]) -> SimpleNamespace:
            seen.extend(events)
            return SimpleNamespace(created=0)

    p = BatchProcessor(indexer=MemoryIndexer(), analyzer=None, spool=BatchSpool(tmp_path / "a" / "b"),
                       listing_doc=listing_doc, alerts=Alerts())
    item = listing(1)
    p.process([item], NOW)
    assert seen == [ListingEvent(fingerprint=fp.fingerprint(item), kind="new", content_hash=fp.content_hash(item),
                                 source="m", platform="m.example")]


def test_an_unchanged_listing_does_not_stop_the_rest_of_the_batch(proc: BatchProcessor) -> None:
    proc.process([listing(1)], NOW)
    res = proc.process([listing(1), listing(2), listing(3)], "2026-01-02T00:00:00.000Z")
    assert res.events == {"unchanged": 1, "new": 2} and len(proc.indexer.docs) == 3


def test_a_batch_given_no_time_is_stamped_now_in_utc_to_the_millisecond(proc: BatchProcessor) -> None:
    import re
    from datetime import UTC, datetime, timedelta

    before = datetime.now(UTC) - timedelta(milliseconds=1)
    proc.process([listing(1)])
    after = datetime.now(UTC)
    stamp = proc.indexer.docs[ids(listing(1))[0]]["last_seen"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp), stamp  # what the index mapping parses
    assert before <= datetime.fromisoformat(stamp) <= after


def test_a_replayed_batch_keeps_its_change_records_dated_when_seen(proc: BatchProcessor) -> None:
    indexer: MemoryIndexer = proc.indexer
    proc.process([listing(1), listing(2)], NOW)
    seen = "2026-01-02T00:00:00.000Z"
    indexer.down = ConnectionError("node gone")
    proc.process([listing(1, price="99"), listing(2, description="now vacuum sealed")], seen)
    indexer.down = None
    res = proc.replay()
    assert res.replayed == 2 and res.events == {"price_change": 1, "changed": 1}
    a, b = ids(listing(1), listing(2))
    assert [(c["_id"], c["kind"]) for c in indexer.changes] == [(f"{a}-{seen}", "price_change"),
                                                                (f"{b}-{seen}", "changed")]


def test_an_outage_is_logged_with_its_cause_and_the_spool_file(proc: BatchProcessor,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    proc.indexer.spooled = 2
    proc.process([listing(1), listing(2)], NOW)
    [path] = proc.spool.pending()
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        f"Elasticsearch unavailable (2 actions could not reach Elasticsearch); batch of 2 listings spooled to {path}"]


def test_a_listing_keeps_the_fingerprint_and_hash_it_comes_with_and_gets_both_when_one_is_missing(
        proc: BatchProcessor) -> None:
    # a spooled batch's listings come back with theirs: the replay must match the events decided with them
    given = listing(1, fingerprint="f-given", content_hash="h-given")
    no_hash = listing(2, fingerprint="f-stale")
    no_fingerprint = listing(3, content_hash="h-stale")
    proc.process([given, no_hash, no_fingerprint], NOW)
    docs = proc.indexer.docs
    two, three = listing(2), listing(3)
    assert set(docs) == {"f-given", fp.fingerprint(two), fp.fingerprint(three)}
    assert docs["f-given"]["content_hash"] == "h-given"
    assert docs[fp.fingerprint(two)]["content_hash"] == fp.content_hash(two)
    assert docs[fp.fingerprint(three)]["content_hash"] == fp.content_hash(three)


def test_vendor_profiles_get_the_new_and_changed_listings_not_the_unchanged(proc: BatchProcessor,
                                                                          rec: Recorder) -> None:
    proc.process([listing(1), listing(2)], NOW)
    rec.calls.clear()
    proc.process([listing(1), listing(2, price="99"), listing(3)], "2026-01-02T00:00:00.000Z")
    assert rec.kinds("vendors") == [ids(listing(2), listing(3))]


def test_drain_gives_up_after_its_timeout_while_a_delivery_hangs() -> None:
    # a stuck SMTP server must not hold a crawl's close (which drains) forever
    release = threading.Event()

    class Stuck(Engine):
        def deliver_pending(self) -> None:
            self.rounds += 1
            self.called.set()
            release.wait(30)

    engine = Stuck()
    d = Deliverer(engine, interval=3600)
    try:
        d.poke()
        assert engine.called.wait(30)
        assert d.drain(timeout=0.05) is False
    finally:
        release.set()
        d.close(timeout=30)
    assert not d._thread.is_alive()
