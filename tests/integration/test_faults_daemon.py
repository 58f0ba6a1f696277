"""Fault drills for the scheduler daemon: kill -9 mid-crawl, a hung source, bad configuration, failure streaks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from test_sched_support import ROOT, SOURCE_ENTRY, SchedEnv, assert_no_overlap, es_runs

from crawler.es.names import IndexNames
from tests.plugins.smtp import SmtpSinkFixture


@pytest.fixture
def env(tmp_path: Path, es_installed: IndexNames, es_env: IndexNames) -> Iterator[SchedEnv]:
    e = SchedEnv(tmp_path, ["alpha", "beta"], {})
    yield e
    e.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_kill_9_mid_crawl_then_restart(env: SchedEnv, es_client: Elasticsearch, es_names: IndexNames) -> None:
    env.write_settings({"alpha": "*/2 * * * * *", "beta": "0 0 1 1 *"})
    env.set_control({"alpha": {"duration": 60.0}})
    env.start_daemon()
    env.wait_for(lambda: any(e["ev"] == "start" for e in env.worker_events()), 30, "alpha to start")
    (first,) = [e for e in env.worker_events() if e["ev"] == "start"]
    env.kill_daemon()  # SIGKILL: no handler runs, nothing is recorded by the dying daemon
    env.daemon = None
    # the worker learns that its parent died (PR_SET_PDEATHSIG -> SIGTERM), stops like Scrapy and keeps its JOBDIR
    env.wait_for(lambda: not _alive(first["pid"]), 15, "the orphaned worker to stop")
    assert [e["ev"] for e in env.worker_events()] == ["start", "term"]
    assert es_runs(es_client, es_names.crawl_runs) == []
    assert (env.home / "scheduler" / "active" / "alpha.json").exists()

    env.set_control({"alpha": {"duration": 0.3}})
    env.start_daemon()
    env.wait_for(lambda: sum(e["ev"] == "end" for e in env.worker_events()) >= 2, 40, "two runs after restart")
    assert env.stop_daemon() == 0

    runs = es_runs(es_client, es_names.crawl_runs, "alpha")
    assert runs[0]["run_id"] == first["run_id"]
    assert runs[0]["outcome"] == "interrupted" and runs[0]["trigger"] == "recovery"
    assert [r["outcome"] for r in runs[1:]].count("success") >= 2
    assert len({r["run_id"] for r in runs}) == len(runs)  # no run recorded twice
    assert_no_overlap(runs)
    starts = [e for e in env.worker_events() if e["ev"] == "start"]
    assert starts[1]["resumed"] is True  # the next crawl found the killed crawl's JOBDIR


@pytest.mark.slow
def test_kill_9_while_orphan_still_runs_never_overlaps(
    env: SchedEnv, es_client: Elasticsearch, es_names: IndexNames
) -> None:
    """A worker that ignores SIGTERM outlives the killed daemon: the restarted daemon must not start the
    source again until the orphan is gone (the orphan holds the source's lock)."""
    env.write_settings({"alpha": "*/2 * * * * *", "beta": "0 0 1 1 *"})
    env.set_control({"alpha": {"duration": 8.0, "ignore_term": True}})
    env.start_daemon()
    env.wait_for(lambda: any(e["ev"] == "start" for e in env.worker_events()), 30, "alpha to start")
    (orphan,) = [e for e in env.worker_events() if e["ev"] == "start"]
    env.kill_daemon()
    env.daemon = None
    env.set_control({"alpha": {"duration": 0.3}})
    env.start_daemon()
    env.wait_for(lambda: not _alive(orphan["pid"]), 20, "the orphan to finish")
    env.wait_for(lambda: sum(e["ev"] == "start" for e in env.worker_events()) >= 2, 20, "a new run")
    assert env.stop_daemon() == 0
    orphan_end = next(e["t"] for e in env.worker_events() if e["ev"] == "end" and e["run_id"] == orphan["run_id"])
    later = [e for e in env.worker_events() if e["ev"] == "start" and e["run_id"] != orphan["run_id"]]
    assert later and all(e["t"] >= orphan_end for e in later), "a run started while the orphan held the source"
    assert any("still going" in str(line.get("message")) for line in env.log_lines())
    runs = es_runs(es_client, es_names.crawl_runs, "alpha")
    assert runs[0]["run_id"] == orphan["run_id"] and runs[0]["outcome"] == "interrupted"
    assert_no_overlap(runs)


@pytest.mark.slow
def test_hung_source_times_out_while_other_goes_on(
    env: SchedEnv, es_client: Elasticsearch, es_names: IndexNames
) -> None:
    env.write_settings({"alpha": "*/2 * * * * *", "beta": "*/20 * * * * *"}, timeouts={"beta": 4}, kill_grace=2)
    env.set_control({"alpha": {"duration": 0.2}, "beta": {"hang": True, "ignore_term": True}})
    env.start_daemon()
    env.wait_for(lambda: any(r["outcome"] == "timeout" for r in es_runs(es_client, es_names.crawl_runs, "beta")),
                 60, "beta to time out")
    assert env.stop_daemon() == 0
    beta = es_runs(es_client, es_names.crawl_runs, "beta")
    hung = next(r for r in beta if r["outcome"] == "timeout")
    # stopped at its limit: SIGTERM (which it logged and ignored), then SIGKILL once the grace ran out;
    # no upper bound on the duration: how fast a loaded machine gets there is not what this tests
    assert hung["duration_s"] >= 4 + 2
    assert hung["exit_code"] == -signal.SIGKILL
    assert [e["ev"] for e in env.worker_events() if e["run_id"] == hung["run_id"]] == ["start", "term"]
    assert "time limit" in hung["message"]
    # alpha kept running on its cron during beta's hang
    alpha = es_runs(es_client, es_names.crawl_runs, "alpha")
    during = [r for r in alpha if hung["started_at"] <= r["started_at"] and r["ended_at"] <= hung["ended_at"]]
    # at least one whole alpha run inside beta's hang shows the hang blocked nothing; how many fit in
    # depends on the machine's speed (alpha's cron is every 2 s), which is not what this tests
    assert len(during) >= 1, during
    assert all(r["outcome"] == "success" for r in during), [(r["outcome"], r["message"]) for r in during]
    assert_no_overlap(alpha + beta)


def test_bad_config_refuses_to_start_naming_file_line_field(env: SchedEnv) -> None:
    env.write_settings({"alpha": "*/2 * * * * *"})
    env.write_sources(["alpha"], extra=SOURCE_ENTRY.format(name="gamma").replace("0 3 * * *", "every minute"))
    sources = env.config / "sources.yaml"
    line = next(n for n, text in enumerate(sources.read_text().splitlines(), 1) if "every minute" in text)
    proc = subprocess.run([sys.executable, "-m", "crawler.scheduling.daemon", "--config", str(env.config)],
                          cwd=ROOT, env=env.env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "configuration error, the scheduler did not start" in proc.stderr
    assert f"{sources}:{line}: sources[1].schedule:" in proc.stderr
    assert "invalid cron 'every minute'" in proc.stderr
    assert not (env.home / "scheduler" / "jobs.sqlite").exists()  # nothing was scheduled, not even alpha


def test_bad_scheduler_settings_refuse_to_start(env: SchedEnv) -> None:
    env.write_settings({"nosuch": "*/2 * * * * *"})
    proc = subprocess.run([sys.executable, "-m", "crawler.scheduling.daemon", "--config", str(env.config)],
                          cwd=ROOT, env=env.env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert f"{env.config / 'scheduler.yaml'}: schedules/timeouts: unknown source(s) nosuch" in proc.stderr


@pytest.mark.slow
def test_reload_keeps_old_config_on_error_then_applies_a_fix(
    env: SchedEnv, es_client: Elasticsearch, es_names: IndexNames
) -> None:
    env.write_settings({"alpha": "*/2 * * * * *", "beta": "0 0 1 1 *"})
    env.set_control({"alpha": {"duration": 0.2}, "gamma": {"duration": 0.2}})
    env.start_daemon()
    env.wait_for(lambda: len(es_runs(es_client, es_names.crawl_runs, "alpha")) >= 1, 30, "alpha to run")
    # a broken edit: picked up by the file watch, reported with file/line/field, old jobs keep running
    sources = env.config / "sources.yaml"
    env.write_sources(["alpha", "beta"], extra=SOURCE_ENTRY.format(name="gamma").replace("0 3 * * *", "bad cron"))
    env.wait_for(lambda: any("keeping the previous configuration" in str(x.get("message"))
                             for x in env.log_lines()), 20, "the reload error")
    msg = next(str(x["message"]) for x in env.log_lines()
               if "keeping the previous configuration" in str(x.get("message")))
    line = next(n for n, text in enumerate(sources.read_text().splitlines(), 1) if "bad cron" in text)
    assert f"{sources}:{line}: sources[2].schedule: invalid cron 'bad cron'" in msg
    n = len(es_runs(es_client, es_names.crawl_runs, "alpha"))
    t_broken = time.time()
    env.wait_for(lambda: len(es_runs(es_client, es_names.crawl_runs, "alpha")) >= n + 2, 30, "alpha to go on")
    # the runs after the broken edit were given the last valid configuration, not the live files
    later = [e for e in env.worker_events() if e["ev"] == "start" and e["t"] > t_broken]
    assert later
    for ev in later:
        given = Path(ev["config"])
        assert given != env.config and "config-snapshots" in str(given)
        assert "bad cron" not in (given / "sources.yaml").read_text()
    # SIGHUP with a fixed file: gamma is added and runs
    env.write_sources(["alpha", "beta", "gamma"])
    env.write_settings({"alpha": "*/2 * * * * *", "beta": "0 0 1 1 *", "gamma": "*/2 * * * * *"})
    assert env.daemon is not None
    env.daemon.send_signal(signal.SIGHUP)
    env.wait_for(lambda: len(es_runs(es_client, es_names.crawl_runs, "gamma")) >= 1, 30, "gamma to run")
    assert env.stop_daemon() == 0
    assert any("configuration reloaded" in str(x.get("message")) for x in env.log_lines())


@pytest.mark.slow
@pytest.mark.smtp
def test_failure_streak_sends_one_ops_alert(
    env: SchedEnv, es_client: Elasticsearch, es_names: IndexNames, smtp_sink: SmtpSinkFixture
) -> None:
    env.write_settings({"alpha": "*/2 * * * * *", "beta": "0 0 1 1 *"}, failure_streak=3)
    (env.config / "alerts.yaml").write_text('ops: ["ops@example.org"]\nsender: "narcowatch@example.org"\n')
    env.set_control({"alpha": {"duration": 0.1, "fail": True}})
    env.es_env["NARCOWATCH_SMTP_URL"] = smtp_sink.url
    env.start_daemon()
    env.wait_for(lambda: len(es_runs(es_client, es_names.crawl_runs, "alpha")) >= 5, 60, "five failed runs")
    assert env.stop_daemon() == 0
    mails = smtp_sink.wait_for(1, timeout=10)
    time.sleep(1)
    mails = smtp_sink.messages()
    assert len(mails) == 1, [m.subject for m in mails]
    (mail,) = mails
    assert mail.rcpt_tos == ("ops@example.org",)
    assert "source 'alpha': 3 failed or empty runs in a row" in mail.subject
    assert "scripted failure of alpha" in mail.text
    runs = es_runs(es_client, es_names.crawl_runs, "alpha")
    assert all(r["outcome"] == "failed" for r in runs)
    assert "scripted failure of alpha" in runs[0]["message"]
