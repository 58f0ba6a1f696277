"""The scheduler daemon as a process: two sources on seconds-level crons, run records, metrics, clean stop."""

from __future__ import annotations

import itertools
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from test_sched_support import SchedEnv, assert_no_overlap, assert_workers_never_overlap, es_runs

from crawler.es.names import IndexNames


@pytest.fixture
def env(tmp_path: Path, es_installed: IndexNames, es_env: IndexNames) -> Iterator[SchedEnv]:
    e = SchedEnv(tmp_path, ["alpha", "beta"], {})
    yield e
    e.close()


@pytest.mark.slow
def test_two_sources_run_on_their_crons_without_overlap(
    env: SchedEnv, es_client: Elasticsearch, es_names: IndexNames
) -> None:
    # alpha every 2 s but each crawl takes 3 s: max_instances/locks must keep its runs apart
    env.write_settings({"alpha": "*/2 * * * * *", "beta": "*/3 * * * * *"})
    env.set_control({"alpha": {"duration": 3.0}, "beta": {"duration": 0.3, "pages": 5}})
    env.start_daemon("--metrics-port", "0")
    env.wait_for(lambda: len(es_runs(es_client, es_names.crawl_runs, "beta")) >= 4, 60, "4 runs of beta")
    env.wait_for(lambda: len(es_runs(es_client, es_names.crawl_runs, "alpha")) >= 3, 60, "3 runs of alpha")
    url = env.metrics_url()
    assert url is not None
    with urllib.request.urlopen(url, timeout=5) as resp:
        metrics = resp.read().decode()
    assert env.stop_daemon() == 0

    runs = es_runs(es_client, es_names.crawl_runs)
    alpha = [r for r in runs if r["source"] == "alpha"]
    beta = [r for r in runs if r["source"] == "beta"]
    assert_no_overlap(runs)
    assert_workers_never_overlap(env.worker_events())
    # the stop can land inside beta's 0.3 s crawl: then its last run, and only that one, is interrupted
    outcomes = [r["outcome"] for r in beta]
    assert all(o == "success" for o in outcomes[:-1]) and outcomes[-1] in ("success", "interrupted"), [
        {k: r.get(k) for k in ("outcome", "exit_code", "error", "started_at", "ended_at")} for r in beta]
    done = [r for r in beta if r["outcome"] == "success"]
    assert len(done) >= 3
    assert all(r["pages"] == 5 and r["listings_new"] == 1 and r["bytes"] == 500 for r in done)
    assert all(r["outcome"] in ("success", "interrupted") for r in alpha)
    assert all(r["duration_s"] >= 2.9 for r in alpha if r["outcome"] == "success")
    # beta's cron fires every 3 s: its starts are ~3 s apart, never closer than 2 s
    starts = [time.mktime(time.strptime(r["started_at"][:19], "%Y-%m-%dT%H:%M:%S")) for r in beta]
    assert all(b - a >= 2 for a, b in itertools.pairwise(starts)), starts
    # every record is also in the local run log, and a graceful stop leaves no run marked as running
    local = (env.home / "scheduler" / "runs.jsonl").read_text().splitlines()
    assert len(local) == len(runs)
    assert not list((env.home / "scheduler" / "active").glob("*.json"))
    assert 'narcowatch_crawl_runs_total{outcome="success",source="beta"}' in metrics
    assert "narcowatch_crawl_duration_seconds_bucket" in metrics
    # the job store persisted both jobs with their next run
    from crawler.scheduling.status import next_runs

    jobs = next_runs(f"sqlite:///{env.home / 'scheduler' / 'jobs.sqlite'}")
    assert set(jobs) == {"crawl:alpha", "crawl:beta"}


@pytest.mark.slow
def test_sigterm_stops_running_crawl_cleanly_and_next_start_resumes(
    env: SchedEnv, es_client: Elasticsearch, es_names: IndexNames
) -> None:
    env.write_settings({"alpha": "*/2 * * * * *", "beta": "0 0 1 1 *"})
    env.set_control({"alpha": {"duration": 30.0}})
    env.start_daemon()
    env.wait_for(lambda: any(e["ev"] == "start" for e in env.worker_events()), 30, "alpha to start")
    assert env.stop_daemon() == 0
    events = env.worker_events()
    assert [e["ev"] for e in events] == ["start", "term"]  # the crawl got SIGTERM and stopped
    (rec,) = es_runs(es_client, es_names.crawl_runs, "alpha")
    assert rec["outcome"] == "interrupted"
    assert Path(events[0]["jobdir"], "requests.queue").exists()  # JOBDIR kept for the resume
    env.set_control({"alpha": {"duration": 0.2}})
    env.start_daemon()
    # wait for the second run's record, not the worker's "end" line: a stop between that line and the
    # worker's exit interrupts the run (exit 1 on SIGTERM), which rightly keeps its JOBDIR
    env.wait_for(lambda: len(es_runs(es_client, es_names.crawl_runs, "alpha")) >= 2, 30, "a recorded second run")
    assert env.stop_daemon() == 0
    events = env.worker_events()
    starts = [i for i, e in enumerate(events) if e["ev"] == "start"]
    second = events[starts[1]]
    assert second["resumed"] is True
    # a finished crawl clears its JOBDIR: the run after it (the cron fires every 2 s, so one may have
    # started before the daemon stopped) starts fresh; with none, the JOBDIR is gone
    first_end = next(i for i, e in enumerate(events) if e["ev"] == "end")
    later = [events[i] for i in starts if i > first_end]
    if later:
        assert later[0]["resumed"] is False
    else:
        assert not Path(second["jobdir"], "requests.queue").exists()
