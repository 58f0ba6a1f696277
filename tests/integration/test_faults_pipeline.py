"""Fault drills with the full pipeline (real worker, fixture web, Elasticsearch): kill -9 of the daemon
mid-crawl, and Elasticsearch stopped mid-run. No listing lost or duplicated, no alert doubled."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from elasticsearch import Elasticsearch
from test_sched_support import ROOT, assert_no_overlap, es_runs

from crawler.es.names import IndexNames
from crawler.es.templates import install

SOURCE = "demo-forum"


def write_config(directory: Path, *, delay: float) -> None:
    data = yaml.safe_load((ROOT / "config" / "demo" / "sources.yaml").read_text())
    (src,) = [s for s in data["sources"] if s["name"] == SOURCE]
    src["rate_limit"] = {"download_delay": delay, "concurrency": 1}
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sources.yaml").write_text(yaml.safe_dump({"sources": [src]}, sort_keys=False))
    (directory / "scheduler.yaml").write_text(yaml.safe_dump({
        "jitter": 0, "timeout": 300, "misfire_grace_time": 60, "reload_poll": 1, "kill_grace": 60,
        "schedules": {SOURCE: "*/10 * * * * *"},
    }))
    shutil.copy(ROOT / "config" / "demo" / "alerts.yaml", directory / "alerts.yaml")


class Daemon:
    def __init__(self, config: Path, home: Path, env: dict[str, str], log: Path) -> None:
        self.config, self.home, self.env, self.log = config, home, env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "crawler.scheduling.daemon", "--config", str(self.config), "--log-json"],
                cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=err,
            )

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=180)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def local_runs(self) -> list[dict[str, Any]]:
        import json

        path = self.home / "scheduler" / "runs.jsonl"
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def wait(predicate: Any, timeout: float, what: str, daemon: Daemon | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if daemon is not None and daemon.proc is not None and daemon.proc.poll() is not None:
            raise AssertionError(f"daemon exited waiting for {what}:\n{daemon.log.read_text()[-3000:]}")
        time.sleep(1)
    log = daemon.log.read_text()[-3000:] if daemon else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{log}")


def count(client: Elasticsearch, alias: str) -> int:
    try:
        client.indices.refresh(index=alias)
        return int(client.count(index=alias)["count"])
    except Exception:
        return -1


def assert_alerts_unique(client: Elasticsearch, alias: str) -> int:
    client.indices.refresh(index=alias)
    hits = client.search(index=alias, size=5000, query={"match_all": {}})["hits"]["hits"]
    keys = Counter((h["_source"].get("rule"), h["_source"].get("listing_id") or h["_source"].get("fingerprint"),
                    h["_source"].get("event_kind")) for h in hits)
    doubled = {k: n for k, n in keys.items() if n > 1}
    assert not doubled, f"alerts doubled: {doubled}"
    return len(hits)


@pytest.fixture
def daemon(tmp_path: Path, demo_web: str) -> Iterator[Daemon]:
    env = dict(os.environ, NARCOWATCH_HOME=str(tmp_path / "home"), NARCOWATCH_DEMO_URL=demo_web,
               PYTHONPATH=str(ROOT))
    env.pop("NARCOWATCH_SMTP_URL", None)  # alerts wait in the alerts index: enough to count them
    write_config(tmp_path / "config", delay=0.7)
    d = Daemon(tmp_path / "config", tmp_path / "home", env, tmp_path / "daemon.log")
    yield d
    d.close()


@pytest.mark.slow
@pytest.mark.e2e
def test_kill_9_mid_crawl_loses_and_doubles_nothing(
    daemon: Daemon, es_installed: IndexNames, es_env: IndexNames, es_client: Elasticsearch
) -> None:
    daemon.env.update(NARCOWATCH_ES_URL=os.environ["NARCOWATCH_ES_URL"],
                      NARCOWATCH_INDEX_PREFIX=os.environ["NARCOWATCH_INDEX_PREFIX"])
    names = es_installed
    daemon.start()
    # the crawl is slowed to ~0.7 s a page: kill the daemon once the first listings are indexed
    wait(lambda: count(es_client, names.listings) > 0, 240, "the first listings", daemon)
    assert es_runs(es_client, names.crawl_runs) == []  # still mid-crawl
    assert daemon.proc is not None
    daemon.proc.kill()
    daemon.proc.wait()
    # the worker gets SIGTERM from the kernel and closes like on a shutdown; wait for it to let go
    wait(lambda: _lock_free(daemon.home), 120, "the orphaned worker to stop")
    partial = count(es_client, names.listings)
    write_config(daemon.config, delay=0)  # the next runs at full speed
    daemon.start()
    wait(lambda: sum(r["outcome"] == "success" for r in daemon.local_runs()) >= 2, 300, "two runs after restart",
         daemon)
    assert daemon.stop() == 0
    runs = es_runs(es_client, names.crawl_runs)
    assert runs[0]["outcome"] == "interrupted" and runs[0]["trigger"] == "recovery"
    assert_no_overlap(runs)
    full = [r for r in runs if r["outcome"] == "success"][-1]  # a complete crawl after the resume
    total = count(es_client, names.listings)
    assert 0 < partial < total
    assert total == full["listings_seen"], (total, full)  # none lost, none duplicated
    assert full["listings_new"] == 0  # everything was already indexed by the killed + resumed runs
    assert assert_alerts_unique(es_client, names.alerts) > 0


def _lock_free(home: Path) -> bool:
    import fcntl

    path = home / "scheduler" / "locks" / f"{SOURCE}.lock"
    if not path.exists():
        return True
    with path.open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(fh, fcntl.LOCK_UN)
        return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
@pytest.mark.e2e
def test_elasticsearch_stopped_mid_run_then_back(daemon: Daemon) -> None:
    from crawler.es.client import get_client
    from tests.plugins.es import start_test_node, stop_test_node

    port = _free_port()
    node, node_home = start_test_node(http_port=port)  # a node of its own: this test stops it
    try:
        url = f"http://127.0.0.1:{port}"
        client = get_client(url)
        names = IndexNames("nwdrill")
        install(client, names)
        daemon.env.update(NARCOWATCH_ES_URL=url, NARCOWATCH_INDEX_PREFIX=names.prefix,  # the node's auth too
                          NARCOWATCH_ES_USER=os.environ["NARCOWATCH_ES_USER"],
                          NARCOWATCH_ES_PASSWORD=os.environ["NARCOWATCH_ES_PASSWORD"])
        daemon.start()
        wait(lambda: count(client, names.listings) > 0, 240, "the first listings", daemon)
        node.stop(timeout=60)  # Elasticsearch goes away mid-crawl
        wait(lambda: any(r["source"] == SOURCE for r in daemon.local_runs()), 300, "the run to end", daemon)
        during = daemon.local_runs()[0]
        assert during["outcome"] == "failed" and during["stats"].get("spooled", 0) > 0, during
        # its run record cannot reach Elasticsearch: it waits on disk
        wait(lambda: (daemon.home / "scheduler" / "runs-pending.jsonl").exists(), 120, "the pending record", daemon)
        node.start(timeout=400)
        client = get_client(url)
        wait(lambda: sum(r["outcome"] == "success" for r in daemon.local_runs()) >= 2, 400,
             "two successful runs after Elasticsearch came back", daemon)
        assert daemon.stop() == 0
        runs = es_runs(client, names.crawl_runs)
        assert [r["run_id"] for r in runs] == [r["run_id"] for r in daemon.local_runs()]  # pending ones replayed
        assert_no_overlap(runs)
        last = [r for r in runs if r["outcome"] == "success"][-1]
        assert count(client, names.listings) == last["listings_seen"]  # spool replayed, nothing lost or doubled
        assert last["listings_new"] == 0
        assert assert_alerts_unique(client, names.alerts) > 0
    finally:
        daemon.close()
        stop_test_node(node, node_home)
