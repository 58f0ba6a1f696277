"""Helpers for the scheduler daemon tests and drills: a scripted crawl worker, a daemon process, run checks.

The scripted worker stands in for ``python -m crawler.runner crawl`` where a test is about *scheduling*
(overlap, timeouts, kills, restarts) and needs crawls of chosen lengths: it takes the same arguments,
prints the same final JSON line, keeps state in the JOBDIR it is given (so resumption is visible), and
stops on SIGTERM like Scrapy does. The daemon, job store, locks, Elasticsearch records and signals
are all real. Tests with the real runner are in test_sched_runner.py.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

FAKE_WORKER = r'''
import json, os, signal, sys, time
args = sys.argv[1:]
source = args[0]
run_id = args[args.index("--run-id") + 1]
jobdir = [a.split("=", 1)[1] for a in args if a.startswith("JOBDIR=")][0]
with open(os.environ["FAKE_CONTROL"]) as fh:
    ctl = json.load(fh).get(source, {})
log = open(os.environ["FAKE_LOG"], "a")
def event(kind, **kw):
    log.write(json.dumps({"ev": kind, "source": source, "run_id": run_id, "pid": os.getpid(),
                          "t": time.time(), **kw}) + "\n")
    log.flush()
state = os.path.join(jobdir, "requests.queue")
resumed = os.path.exists(state)
event("start", resumed=resumed, jobdir=jobdir, config=args[args.index("--config") + 1])
with open(state, "w") as fh:
    fh.write(run_id)
def on_term(sig, frame):
    event("term")
    if ctl.get("ignore_term"):
        return
    sys.exit(1)
signal.signal(signal.SIGTERM, on_term)
end = time.time() + ctl.get("duration", 0.5)
while time.time() < end or ctl.get("hang"):
    time.sleep(0.05)
if ctl.get("fail"):
    event("end", ok=False)
    print("RuntimeError: scripted failure of " + source, file=sys.stderr)
    sys.exit(1)
event("end", ok=True)
pages = ctl.get("pages", 3)
print(json.dumps({"source": source, "run_id": run_id, "outcome": "ok" if pages else "empty", "pages": pages,
                  "bytes": 100 * pages, "listings": pages, "new": 1, "changed": 0, "price_changes": 0,
                  "removed": 0, "errors": {}, "resumed": resumed}))
'''

SOURCES_YAML = """\
sources:
{entries}
"""

SOURCE_ENTRY = """\
  - name: {name}
    kind: market
    allow_private_addresses: true
    start_urls: ["http://127.0.0.1:9/{name}/"]
    schedule: "0 3 * * *"
    links: {{listing: a.item}}
    fields: {{title: h1}}
"""


class SchedEnv:
    """A configuration directory, state home and control files for one daemon under test."""

    def __init__(self, tmp: Path, sources: list[str], es_env: dict[str, str]) -> None:
        self.tmp = tmp
        self.home = tmp / "home"
        self.config = tmp / "config"
        self.config.mkdir(parents=True, exist_ok=True)
        self.control = tmp / "control.json"
        self.worker_log = tmp / "worker.jsonl"
        self.script = tmp / "fake_worker.py"
        self.script.write_text(FAKE_WORKER)
        self.sources = sources
        self.es_env = es_env
        self.write_sources(sources)
        self.set_control({})
        self.daemon: subprocess.Popen[bytes] | None = None
        self.stderr_path = tmp / "daemon.log"

    def write_sources(self, names: list[str], extra: str = "") -> None:
        entries = "".join(SOURCE_ENTRY.format(name=n) for n in names)
        (self.config / "sources.yaml").write_text(SOURCES_YAML.format(entries=entries) + extra)

    def write_settings(self, schedules: dict[str, str], **settings: Any) -> None:
        body = {"worker_command": [sys.executable, str(self.script)], "schedules": schedules, "jitter": 0,
                "reload_poll": 0.5, "kill_grace": 3, "misfire_grace_time": 5, **settings}
        (self.config / "scheduler.yaml").write_text(json.dumps(body, indent=1))  # JSON is YAML

    def set_control(self, control: dict[str, dict[str, Any]]) -> None:
        tmp = self.control.with_suffix(".tmp")
        tmp.write_text(json.dumps(control))
        tmp.replace(self.control)

    def env(self) -> dict[str, str]:
        return dict(os.environ, NARCOWATCH_HOME=str(self.home), FAKE_CONTROL=str(self.control),
                    FAKE_LOG=str(self.worker_log), PYTHONPATH=str(ROOT), **self.es_env)

    def start_daemon(self, *extra: str) -> subprocess.Popen[bytes]:
        err = self.stderr_path.open("ab")
        self.daemon = subprocess.Popen(
            [sys.executable, "-m", "crawler.scheduling.daemon", "--config", str(self.config), "--log-json", *extra],
            cwd=ROOT, env=self.env(), stdout=subprocess.DEVNULL, stderr=err,
        )
        err.close()
        return self.daemon

    def stop_daemon(self, timeout: float = 30) -> int:
        assert self.daemon is not None
        if self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
        rc = self.daemon.wait(timeout=timeout)
        return rc

    def kill_daemon(self) -> None:
        assert self.daemon is not None
        self.daemon.kill()
        self.daemon.wait(timeout=10)

    def close(self) -> None:
        """Stop the daemon (SIGTERM, then SIGKILL) and any scripted worker still alive: for test teardown."""
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        for ev in self.worker_events():
            if ev["ev"] != "start":
                continue
            try:  # only a process that is still this test's scripted worker (pids are reused)
                cmdline = Path(f"/proc/{ev['pid']}/cmdline").read_bytes()
            except OSError:
                continue
            if str(self.script).encode() in cmdline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(ev["pid"], signal.SIGKILL)

    def log_lines(self) -> list[dict[str, Any]]:
        out = []
        if self.stderr_path.exists():
            for line in self.stderr_path.read_text(errors="replace").splitlines():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    out.append({"message": line})
        return out

    def worker_events(self) -> list[dict[str, Any]]:
        if not self.worker_log.exists():
            return []
        return [json.loads(x) for x in self.worker_log.read_text().splitlines() if x.strip()]

    def wait_for(self, predicate: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            if self.daemon is not None and self.daemon.poll() is not None:
                raise AssertionError(f"daemon exited ({self.daemon.returncode}) waiting for {what}:\n"
                                     + self.stderr_path.read_text(errors="replace")[-3000:])
            time.sleep(0.2)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; log:\n"
                             + self.stderr_path.read_text(errors="replace")[-3000:])

    def metrics_url(self) -> str | None:
        for line in self.log_lines():
            m = re.match(r"metrics at (http://\S+)", str(line.get("message", "")))
            if m:
                return m.group(1)
        return None


def es_runs(client: Any, alias: str, source: str | None = None) -> list[dict[str, Any]]:
    """Every run record in the alias (optionally of one source), oldest first."""
    client.indices.refresh(index=alias)
    query = {"term": {"source": source}} if source else {"match_all": {}}
    resp = client.search(index=alias, query=query, size=1000, sort=[{"started_at": "asc"}])
    return [h["_source"] for h in resp["hits"]["hits"]]


def assert_no_overlap(runs: list[dict[str, Any]]) -> None:
    """Runs of one source never overlap in time: each starts at or after the previous one ended."""
    by_source: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        by_source.setdefault(run["source"], []).append(run)
    for source, items in by_source.items():
        items.sort(key=lambda r: r["started_at"])
        for a, b in itertools.pairwise(items):
            assert b["started_at"] >= a["ended_at"], f"{source}: run {b['run_id']} started before {a['run_id']} ended"


def assert_workers_never_overlap(events: list[dict[str, Any]]) -> None:
    """From the worker side: between a source's start and its end (or kill), no other start of that source."""
    running: dict[str, str] = {}
    ended: set[str] = set()
    for ev in sorted(events, key=lambda e: e["t"]):
        if ev["ev"] == "start":
            other = running.get(ev["source"])
            assert other is None or other in ended, f"{ev['source']}: {ev['run_id']} started while {other} ran"
            running[ev["source"]] = ev["run_id"]
        elif ev["ev"] in ("end", "term"):
            ended.add(ev["run_id"])
