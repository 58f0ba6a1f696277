"""A run's record is in the history the next run's drift check reads, at once (real node).

A full CI run once judged a run right after a good one against an empty history (no drift found, the
run recorded ``success`` though its vendor links were gone): the record was written without a refresh.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from crawler.common.clock import utc_now
from crawler.es.names import IndexNames
from crawler.runs import RunRecord, record_from_worker
from crawler.scheduling.settings import SchedulerSettings
from crawler.scheduling.worker import RunSink, local_runs_path


def _record(run_id: str, minutes_ago: int) -> RunRecord:
    start = utc_now() - timedelta(minutes=minutes_ago)
    return record_from_worker(run_id=run_id, source="histsrc", start=start, end=start + timedelta(seconds=5),
                              exit_code=0, stats={"item_scraped_count": 3}, trigger="manual")


def test_a_written_run_is_searchable_when_write_returns_and_pending_runs_count(
    es_client: Elasticsearch, es_env: IndexNames, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NARCOWATCH_HOME", str(tmp_path / "home"))
    sink = RunSink(SchedulerSettings(), notify=lambda subject, body: None, config_path=str(tmp_path / "config"))
    first = _record("histsrc-1", 10)
    sink.write(first)
    # no explicit refresh here: the write itself must make it visible (the index refreshes only every second)
    hits = es_client.search(index=es_env.crawl_runs, query={"term": {"source": "histsrc"}})["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["histsrc-1"]
    # a newer run only in this machine's log (its index write is pending: Elasticsearch was down)
    pending = _record("histsrc-2", 1)
    with local_runs_path().open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(pending.to_document(), sort_keys=True) + "\n")
    assert [d["run_id"] for d in sink.recent_runs("histsrc", 5)] == ["histsrc-2", "histsrc-1"]
    assert [d["run_id"] for d in sink.recent_runs("histsrc", 1)] == ["histsrc-2"]
    assert sink.recent_runs("othersrc", 5) == []
