"""One add() for every result dataclass (crawler.common.results.Summable)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from crawler.alerting.records import DeliveryResult
from crawler.common.results import Summable
from crawler.es.indexer import IndexResult
from crawler.processing import BatchResult


@dataclass
class _R(Summable):
    n: int = 0
    x: float = 0.0
    flag: bool = False
    per: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list, metadata={"keep": 3})
    all_errors: list[str] = field(default_factory=list)
    since: int = field(default=0, metadata={"sum": False})
    note: str | None = None


def test_field_by_field() -> None:
    a = _R(n=1, x=0.5, per={"nlp": 1.0}, errors=["e1", "e2"], all_errors=["a"], since=7, note="first")
    b = _R(n=2, x=0.25, flag=True, per={"nlp": 2.0, "index": 1.0}, errors=["e3", "e4"], all_errors=["b"], since=9,
           note="second")
    a.add(b)
    assert (a.n, a.x, a.flag, a.since, a.note) == (3, 0.75, False, 7, "first")
    assert a.per == {"nlp": 3.0, "index": 1.0}
    assert a.errors == ["e1", "e2", "e3"] and a.all_errors == ["a", "b"]
    assert b.n == 2 and b.errors == ["e3", "e4"]  # the added result is unchanged


def test_the_project_results_sum_as_before() -> None:
    total = BatchResult(listings=2, events=Counter(new=2), indexed=2, seconds={"nlp": 0.5})
    total.add(BatchResult(listings=3, events=Counter(new=1, changed=2), failed=1, alerts=4, spooled=5, replayed=6,
                          seconds={"nlp": 0.25, "index": 1.0}))
    assert total == BatchResult(listings=5, events=Counter(new=3, changed=2), indexed=2, failed=1, alerts=4,
                                spooled=5, replayed=6, seconds={"nlp": 0.75, "index": 1.0})
    idx = IndexResult(indexed=1, failures=[f"f{i}" for i in range(19)])
    idx.add(IndexResult(indexed=2, created=1, changes=1, failed=3, spooled=1, replayed=1, pending=4,
                        failures=["x", "y", "z"]))
    assert (idx.indexed, idx.created, idx.changes, idx.failed, idx.spooled, idx.replayed, idx.pending) == (
        3, 1, 1, 3, 1, 1, 4)
    assert len(idx.failures) == 20 and idx.failures[-1] == "x"  # the first 20 reasons are kept
    d = DeliveryResult(sent=1, errors=["a"])
    d.add(DeliveryResult(sent=1, mails=2, retry=3, failed=4, throttled=5, skipped=6, errors=["b"]))
    assert d == DeliveryResult(sent=2, mails=2, retry=3, failed=4, throttled=5, skipped=6, errors=["a", "b"])
