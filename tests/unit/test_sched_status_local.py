"""`status` without Elasticsearch: the newest run per source from this machine's run log, read from its end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawler.scheduling import status, worker


@pytest.fixture()
def run_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NARCOWATCH_HOME", str(tmp_path))
    path = worker.local_runs_path()
    rows = [
        {"source": "alpha", "run_id": "a1", "started_at": "2026-01-01T00:00:00Z"},
        {"source": "beta", "run_id": "b1", "started_at": "2026-01-02T00:00:00Z"},
        "not json {",
        [1, 2],
        {"run_id": "no-source"},
        {"source": "alpha", "run_id": "a2", "started_at": "2026-01-03T00:00:00Z"},
    ]
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def test_newest_run_of_each_source(run_log: Path) -> None:
    last = status.last_runs_local()
    assert {k: v["run_id"] for k, v in last.items()} == {"alpha": "a2", "beta": "b1"}


def test_reading_stops_once_every_named_source_is_seen(run_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[str] = []
    real = worker.lines_from_end

    def counting(path: Path, block: int = 65536) -> Iterator[str]:
        for line in real(path, block):
            read.append(line)
            yield line

    monkeypatch.setattr(worker, "lines_from_end", counting)
    last = status.last_runs_local(["alpha"])
    assert {k: v["run_id"] for k, v in last.items()} == {"alpha": "a2"}
    assert len(read) == 1  # the last line names alpha: nothing older is read

    read.clear()
    last = status.last_runs_local(["alpha", "beta", "never-ran"])
    assert {k: v["run_id"] for k, v in last.items()} == {"alpha": "a2", "beta": "b1"}
    assert len(read) == 6


def test_missing_log_is_no_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NARCOWATCH_HOME", str(tmp_path))
    assert status.last_runs_local(["alpha"]) == {}
