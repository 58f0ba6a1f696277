"""The scheduler daemon with the real worker (crawler.runner) on the fixture web: runs, records, no duplicates."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from elasticsearch import Elasticsearch
from test_sched_support import ROOT, assert_no_overlap, es_runs

from crawler.es.names import IndexNames

SOURCES = ("demo-telegram-sales", "demo-forum")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    data = yaml.safe_load((ROOT / "config" / "demo" / "sources.yaml").read_text())
    chosen = [s for s in data["sources"] if s["name"] in SOURCES]
    assert len(chosen) == len(SOURCES)
    d = tmp_path / "config"
    d.mkdir()
    (d / "sources.yaml").write_text(yaml.safe_dump({"sources": chosen}, sort_keys=False))
    (d / "scheduler.yaml").write_text(yaml.safe_dump({
        "jitter": 0, "timeout": 240, "misfire_grace_time": 60, "reload_poll": 1,
        "schedules": {name: "*/15 * * * * *" for name in SOURCES},
    }))
    return d


@pytest.fixture
def daemon(config: Path, tmp_path: Path, demo_web: str, es_installed: IndexNames, es_env: IndexNames,
           ) -> Iterator[dict[str, Any]]:
    env = dict(os.environ, NARCOWATCH_HOME=str(tmp_path / "home"), NARCOWATCH_DEMO_URL=demo_web,
               PYTHONPATH=str(ROOT))
    env.pop("NARCOWATCH_SMTP_URL", None)
    log = tmp_path / "daemon.log"
    with log.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "crawler.scheduling.daemon", "--config", str(config),
                                 "--log-json"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
    state: dict[str, Any] = {"proc": proc, "log": log, "home": tmp_path / "home"}
    yield state
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow
@pytest.mark.e2e
def test_daemon_runs_real_crawls_and_records_them(
    daemon: dict[str, Any], es_client: Elasticsearch, es_names: IndexNames
) -> None:
    deadline = time.monotonic() + 420
    runs: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        assert daemon["proc"].poll() is None, daemon["log"].read_text()[-3000:]
        runs = [r for r in es_runs(es_client, es_names.crawl_runs) if r["outcome"] != "interrupted"]
        if all(sum(r["source"] == s for r in runs) >= 2 for s in SOURCES):
            break
        time.sleep(2)
    else:
        seen = [(r["source"], r["outcome"]) for r in runs]
        raise AssertionError(f"not two finished runs of each source in time: {seen}\n"
                             + daemon["log"].read_text()[-3000:])
    daemon["proc"].send_signal(signal.SIGTERM)
    assert daemon["proc"].wait(timeout=120) == 0
    all_runs = es_runs(es_client, es_names.crawl_runs)
    assert_no_overlap(all_runs)
    for source in SOURCES:
        mine = [r for r in all_runs if r["source"] == source and r["outcome"] != "interrupted"]
        first, second = mine[0], mine[1]
        assert first["outcome"] == "success", first
        assert first["pages"] > 0 and first["listings_new"] > 0 and first["listings_seen"] > 0
        # the second crawl of an unchanged site finds the same listings and nothing new
        assert second["outcome"] == "success", second
        assert second["listings_new"] == 0 and second["listings_seen"] == first["listings_seen"]
        # JOBDIR: removed after a finished crawl, kept (to resume) when the stop interrupted one
        jobdir = daemon["home"] / "jobs" / source
        kept = jobdir.exists() and any(jobdir.iterdir())
        last = [r for r in all_runs if r["source"] == source][-1]
        if last["outcome"] != "interrupted":  # (a crawl stopped before Scrapy opened may have written nothing)
            assert not kept, last
    # every listing indexed once: the count equals the distinct listings the first runs saw
    es_client.indices.refresh(index=es_names.listings)
    count = es_client.count(index=es_names.listings)["count"]
    firsts = [next(r for r in all_runs if r["source"] == s and r["outcome"] == "success") for s in SOURCES]
    assert count == sum(r["listings_new"] for r in firsts)
    starts = sorted(r["started_at"] for r in all_runs if r["source"] == SOURCES[0])
    assert all(a != b for a, b in itertools.pairwise(starts))
