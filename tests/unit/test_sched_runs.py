"""Unit tests: run records from worker output, outcome classification, failure streaks and ops alerts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crawler.runs import (
    RunRecord,
    StreakTracker,
    handle_streak,
    parse_worker_stats,
    record_from_worker,
)

T0 = datetime(2026, 5, 1, 10, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(seconds=42.5)

RUNNER_LINE = json.dumps({
    "source": "m", "run_id": "r1", "start": "x", "end": "y", "duration_s": 42.5, "outcome": "ok",
    "finish_reason": "finished", "pages": 120, "bytes": 99000, "listings": 80, "new": 5, "changed": 2,
    "price_changes": 1, "relisted": 0, "unchanged": 72, "removed": 3, "alerts": 1, "spooled": 0,
    "errors": {"http:404": 2},
})


def rec(outcome: str, source: str = "m", n: int = 0) -> RunRecord:
    return RunRecord(run_id=f"{source}-{n}", source=source, start="2026-05-01T10:00:00.000Z",
                     end="2026-05-01T10:00:01.000Z", outcome=outcome)  # type: ignore[arg-type]


def test_parse_last_json_line() -> None:
    out = "starting\n{not json}\n" + RUNNER_LINE + "\n"
    assert parse_worker_stats(out)["pages"] == 120
    assert parse_worker_stats("crashed\n") is None


def test_record_from_runner_stats() -> None:
    r = record_from_worker(run_id="r1", source="m", start=T0, end=T1, exit_code=0,
                           stats=parse_worker_stats(RUNNER_LINE))
    assert r.outcome == "success"
    assert (r.pages, r.items, r.bytes) == (120, 80, 99000)
    assert (r.listings_new, r.listings_changed, r.listings_removed) == (5, 3, 3)
    assert r.errors == {"http:404": 2}
    assert r.duration == 42.5
    assert r.start == "2026-05-01T10:00:00.000Z" and r.end == "2026-05-01T10:00:42.500Z"
    assert r.stats["alerts"] == 1 and "pages" not in r.stats
    doc = r.to_document()
    assert doc["@timestamp"] == doc["started_at"] == r.start and doc["error_count"] == 2
    assert doc["listings_seen"] == 80 and doc["duration_s"] == 42.5
    assert RunRecord.from_document(doc) == r


@pytest.mark.parametrize(
    ("exit_code", "stats", "kw", "outcome"),
    [
        (1, None, {}, "failed"),
        (-9, None, {"timed_out": True}, "timeout"),
        (-15, None, {"interrupted": True}, "interrupted"),
        (0, {"pages": 0}, {}, "empty"),
        (0, {"pages": 10, "listings": 0}, {}, "empty"),
        (0, {"pages": 10, "listings": 4}, {}, "success"),
        (0, {"pages": 10, "listings": 4, "outcome": "failed"}, {}, "failed"),
    ],
)
def test_outcomes(exit_code: int, stats: dict | None, kw: dict, outcome: str) -> None:
    r = record_from_worker(run_id="r", source="m", start=T0, end=T1, exit_code=exit_code, stats=stats, **kw)
    assert r.outcome == outcome


def test_failed_message_has_stderr_tail() -> None:
    r = record_from_worker(run_id="r", source="m", start=T0, end=T1, exit_code=2, stats=None,
                           stderr_tail="Traceback...\nConfigError: sources.yaml:3: start_urls: required\n")
    assert r.message == "worker exited with status 2: ConfigError: sources.yaml:3: start_urls: required"


def test_streak_alerts_once_per_streak(tmp_path: Path) -> None:
    tracker = StreakTracker(tmp_path / "s.json", threshold=3)
    sent: list[tuple[str, str]] = []

    def notify(subject: str, body: str) -> None:
        sent.append((subject, body))

    outcomes = ["failed", "empty", "timeout", "failed", "failed", "success", "failed", "failed", "failed"]
    fired = [handle_streak(tracker, rec(o, n=i), notify) for i, o in enumerate(outcomes)]
    assert fired == [False, False, True, False, False, False, False, False, True]
    assert len(sent) == 2
    assert "'m': 3 failed or empty runs in a row" in sent[0][0]
    assert "m-2" in sent[0][1]


def test_streak_per_source_and_survives_restart(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    t = StreakTracker(path, threshold=2)
    assert t.update(rec("failed", "a")) is None
    assert t.update(rec("failed", "b")) is None
    t2 = StreakTracker(path, threshold=2)  # a restarted daemon
    assert t2.update(rec("failed", "a")) == 2
    assert t2.get("b") == 1


def test_interrupted_and_skipped_neither_extend_nor_end(tmp_path: Path) -> None:
    t = StreakTracker(tmp_path / "s.json", threshold=2)
    t.update(rec("failed"))
    t.update(rec("interrupted"))
    t.update(rec("skipped"))
    assert t.get("m") == 1
    assert t.update(rec("failed")) == 2


def test_failed_notifier_retries_next_time(tmp_path: Path) -> None:
    t = StreakTracker(tmp_path / "s.json", threshold=1)
    calls = []

    def broken(subject: str, body: str) -> None:
        calls.append(subject)
        raise OSError("smtp down")

    assert handle_streak(t, rec("failed"), broken) is False
    assert handle_streak(t, rec("failed"), lambda s, b: calls.append(s)) is True
    assert handle_streak(t, rec("failed"), lambda s, b: calls.append(s)) is False
    assert len(calls) == 2


def test_lines_from_end_reads_the_run_log_backwards_across_blocks(tmp_path: Path) -> None:
    """The drift history reads the newest runs from the end of an ever-growing log, a block at a time."""
    from crawler.scheduling.worker import lines_from_end

    lines = [f'{{"run": {i}, "text": "{"é" * (i % 7)}{"x" * (i * 3 % 11)}"}}' for i in range(200)]
    path = tmp_path / "runs.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for block in (1, 2, 5, 16, 4096):
        assert list(lines_from_end(path, block=block)) == lines[::-1]
    path.write_text("\n".join(lines), encoding="utf-8")  # no newline at the end; an empty line is skipped
    assert list(lines_from_end(path, block=7)) == lines[::-1]
    path.write_text("", encoding="utf-8")
    assert list(lines_from_end(path)) == []
