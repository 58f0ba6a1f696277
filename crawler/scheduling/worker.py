"""The scheduler's job functions: run one crawl of one source in a worker process, time it out, record it.

``run_source(source_name, config_path)`` is a plain function: the daemon's thread pool runs it on each
cron tick, and any other process (a test, a one-off script) can call it the same way.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crawler.common.clock import compact_utc, parse_iso, utc_iso, utc_now
from crawler.common.durable import fsync_dir, fsync_file
from crawler.paths import state_home
from crawler.runs import (
    OpsNotifier,
    RunRecord,
    StreakTracker,
    default_ops_notifier,
    handle_streak,
    judge_run,
    parse_worker_stats,
    record_from_worker,
    record_run,
)
from crawler.scheduling.settings import SchedulerSettings, config_root, load_settings

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

log = logging.getLogger(__name__)

# Worker processes started by this process, by run id; the daemon stops them on shutdown.
_ACTIVE: dict[str, subprocess.Popen[bytes]] = {}
_ACTIVE_LOCK = threading.Lock()
_FILE_LOCK = threading.Lock()
_STOPPING = threading.Event()
# Configuration path as scheduled -> snapshot of its last valid version (set by the daemon on each good load)
_SNAPSHOTS: dict[str, str] = {}
_PR_SET_PDEATHSIG = 1
_prctl: Callable[..., int] | None = None
"""libc's prctl(2), loaded on Linux by ``_load_prctl`` (crawl workers die with the daemon)."""


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:120] or "_"


def scheduler_home() -> Path:
    path = state_home() / "scheduler"
    path.mkdir(parents=True, exist_ok=True)
    return path


def lock_path(source: str) -> Path:
    return scheduler_home() / "locks" / f"{_safe(source)}.lock"


def marker_path(source: str) -> Path:
    return scheduler_home() / "active" / f"{_safe(source)}.json"


def jobdir_path(source: str) -> Path:
    """Scrapy JOBDIR of a source: kept when a crawl is interrupted so that the next run resumes it."""
    return state_home() / "jobs" / _safe(source)


def crawl_log_path(source: str, run_id: str) -> Path:
    return state_home() / "logs" / "crawls" / _safe(source) / f"{_safe(run_id)}.log"


def local_runs_path() -> Path:
    """Every run record this machine made, one JSON line each (read by `status` and kept if ES is down)."""
    return scheduler_home() / "runs.jsonl"


def lines_from_end(path: Path, block: int = 65536) -> Iterator[str]:
    """The lines of a text file, last first, read backwards ``block`` bytes at a time (not the whole file)."""
    with path.open("rb") as fh:
        pos = fh.seek(0, os.SEEK_END)
        rest = b""
        while pos > 0:
            step = min(block, pos)
            pos -= step
            fh.seek(pos)
            parts = (fh.read(step) + rest).split(b"\n")
            rest = parts[0]
            for raw in reversed(parts[1:]):
                if raw:
                    yield raw.decode("utf-8", errors="replace")
        if rest:
            yield rest.decode("utf-8", errors="replace")


def pending_runs_path() -> Path:
    """Run records not yet written to Elasticsearch (it was unreachable); replayed before the next write."""
    return scheduler_home() / "runs-pending.jsonl"


@contextlib.contextmanager
def source_lock(source: str) -> Iterator[int | None]:
    """Hold the source's lock file (flock) or yield None when another process holds it.

    The worker process inherits the locked descriptor, so the lock lives as long as the crawl does, even
    when the daemon that started it is killed: a restarted daemon cannot start an overlapping run.
    """
    path = lock_path(source)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        yield fd
    finally:
        os.close(fd)


def _die_with_parent() -> None:  # runs in the child between fork and exec: no Python-level locks here
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _load_prctl() -> None:
    global _prctl
    if _prctl is None and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            _prctl = ctypes.CDLL(None, use_errno=True).prctl


def snapshot_config(config_path: Path) -> Path:
    """Copy the configuration (its directory, or the directory of the file) into the state home, by content
    hash, and return the path to hand to workers. Workers then run with the last configuration the daemon
    validated, even while the live files hold a broken edit.

    Durable: the files and directories of the copy are fsynced before it is renamed into place, and the
    snapshots directory after, so a power cut leaves either no snapshot of that hash or a whole one (a
    snapshot that exists is never made again: a torn one would be used for good).
    """
    root = config_path if config_path.is_dir() else config_path.parent
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml", ".json"))
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    snapshots = scheduler_home() / "config-snapshots"
    dest = snapshots / h.hexdigest()[:16]
    if not dest.exists():
        if not snapshots.is_dir():
            snapshots.mkdir(parents=True, exist_ok=True)
            fsync_dir(snapshots.parent)
        tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        for f in files:
            target = tmp / f.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, target)
            fsync_file(target)
        for directory in sorted((p for p in tmp.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            fsync_dir(directory)  # its entries: the files and subdirectories in it
        fsync_dir(tmp)
        try:
            tmp.rename(dest)
        except OSError:  # another process made the same snapshot meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            fsync_dir(snapshots)
    return dest if config_path.is_dir() else dest / config_path.name


def use_snapshot(config_path: str, snapshot: Path) -> None:
    """Run the jobs scheduled with ``config_path`` against ``snapshot`` from now on (this process only)."""
    _SNAPSHOTS[config_path] = str(snapshot)


def effective_config(config_path: str | None) -> str | None:
    """The configuration a run uses: the daemon's last valid snapshot of ``config_path``, else itself."""
    if config_path is None:
        return None
    return _SNAPSHOTS.get(str(config_path), str(config_path))


def request_stop() -> None:
    """Mark this process as shutting down: running crawls end as ``interrupted``, no new one starts."""
    _STOPPING.set()


def reset_stop() -> None:
    _STOPPING.clear()


def active_runs() -> dict[str, int]:
    """Run id -> worker PID of the crawls this process is running now."""
    with _ACTIVE_LOCK:
        return {rid: p.pid for rid, p in _ACTIVE.items()}


def terminate_all(grace: float) -> int:
    """SIGTERM every running worker (Scrapy then closes cleanly and saves its JOBDIR); SIGKILL after ``grace``.

    Returns the number of workers signalled. Blocks until they exited or were killed.
    """
    request_stop()
    with _ACTIVE_LOCK:
        procs = list(_ACTIVE.values())
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
    deadline = utc_now().timestamp() + grace
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - utc_now().timestamp()))
        except subprocess.TimeoutExpired:
            log.warning("worker %s did not stop within %.0fs of SIGTERM; killing it", proc.pid, grace)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
    return len(procs)


def _write_marker(source: str, run_id: str, start: datetime, pid: int) -> None:
    path = marker_path(source)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"run_id": run_id, "source": source, "start": utc_iso(start), "pid": pid}))


class RunSink:
    """Where finished runs go: the local JSON-lines log, Elasticsearch (with a pending file when it is
    down), the metrics, and the failure-streak tracker with its ops alert."""

    def __init__(
        self,
        settings: SchedulerSettings,
        *,
        client_factory: Callable[[], Elasticsearch] | None = None,
        notify: OpsNotifier | None = None,
        config_path: str | Path | None = None,
    ) -> None:
        self.settings = settings
        self.client_factory = client_factory
        root = config_root(config_path)
        alerts = (root if root.is_dir() else root.parent) / "alerts.yaml"
        self.notify = notify if notify is not None else default_ops_notifier(alerts)
        self.tracker = StreakTracker(scheduler_home() / "streaks.json", settings.failure_streak)
        self.config_path = config_path

    def _client(self) -> Elasticsearch:
        if self.client_factory is not None:
            return self.client_factory()
        from crawler.es.client import get_client

        return get_client()

    def write(self, record: RunRecord) -> None:
        drift_mail = self._judge(record)  # may mark the record degraded: before it is written anywhere
        line = json.dumps(record.to_document(), sort_keys=True)
        with _FILE_LOCK, local_runs_path().open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
        if self.settings.record_runs:
            self._to_es(record)
        from crawler.metrics import metrics

        m = metrics()
        m.observe_run(record)
        if handle_streak(self.tracker, record, self.notify):
            m.ops_alerts.labels(record.source).inc()
        m.failure_streak.labels(record.source).set(self.tracker.get(record.source))
        if drift_mail is not None:
            self._ops_mail(record, *drift_mail)
            m.ops_alerts.labels(record.source).inc()

    def _judge(self, record: RunRecord) -> tuple[str, str] | None:
        """Layout drift and gates (crawler.runs.judge_run) against the source's recent runs."""
        try:
            from crawler.sources import load_sources

            source = next((s for s in load_sources(self.config_path) if s.name == record.source), None)
            runs = getattr(getattr(source, "drift", None), "runs", 5)
            return judge_run(record, self.recent_runs(record.source, runs + 5), source)
        except Exception:  # a broken judgement must not lose the run record
            log.exception("layout-drift check of run %s failed; the run is recorded as is", record.run_id)
            return None

    def recent_runs(self, source: str, n: int) -> list[dict[str, Any]]:
        """The source's last ``n`` run documents, newest first: from Elasticsearch when runs are recorded
        there (with this machine's logged runs newer than any there, e.g. kept pending during an outage), else
        (or when it is down) from this machine's run log."""
        if self.settings.record_runs:
            try:
                from crawler.es.names import IndexNames

                resp = self._client().search(
                    index=IndexNames().crawl_runs, size=n, sort=[{"started_at": "desc"}],
                    query={"term": {"source": source}}, ignore_unavailable=True)
                found: list[dict[str, Any]] = [h["_source"] for h in resp["hits"]["hits"]]
            except Exception as exc:
                log.warning("recent runs of %s not read from Elasticsearch (%s); using the local log", source, exc)
            else:
                # runs of this machine not in the index yet (kept pending while it was down) count too
                known = {d.get("run_id") for d in found}
                newest = max((str(d.get("started_at") or "") for d in found), default="")
                extra = [d for d in self._local_runs(source, n)
                         if d.get("run_id") not in known and str(d.get("started_at") or "") > newest]
                merged = sorted(found + extra, key=lambda d: str(d.get("started_at") or ""), reverse=True)
                return merged[:n]
        return self._local_runs(source, n)

    def _local_runs(self, source: str, n: int) -> list[dict[str, Any]]:
        """The source's last ``n`` runs in this machine's run log, newest first."""
        out: list[dict[str, Any]] = []
        path = local_runs_path()
        if not path.exists():
            return out
        with _FILE_LOCK:  # read from the end: the log grows by a line a run, for months; the newest are last
            for raw in lines_from_end(path):
                try:
                    doc = json.loads(raw)
                except ValueError:
                    continue
                if doc.get("source") == source:
                    out.append(doc)
                    if len(out) >= n:
                        break
        return out

    def _ops_mail(self, record: RunRecord, subject: str, body: str) -> None:
        if self.notify is None:
            log.error("ops alert not sent (no ops notifier configured): %s", subject)
            return
        try:
            self.notify(subject, body)
            log.warning("ops alert sent: %s", subject)
        except Exception:
            log.exception("ops alert for source %r could not be sent", record.source)

    def _to_es(self, record: RunRecord) -> None:
        from crawler.es.names import IndexNames

        pending = pending_runs_path()
        try:
            client = self._client()
            names = IndexNames()
            with _FILE_LOCK:
                if pending.exists():
                    for raw in pending.read_text(encoding="utf-8").splitlines():
                        if raw.strip():
                            record_run(client, names, RunRecord.from_document(json.loads(raw)))
                    pending.unlink()
            # visible to searches when this returns: the next run's drift check reads the history from the index,
            # and a run started right after this one (by hand, or a short cron) must find it there
            record_run(client, names, record, refresh="wait_for")
        except Exception as exc:
            log.warning(
                "run %s of %s not written to Elasticsearch (%s); kept in %s and written with the next run",
                record.run_id, record.source, exc, pending,
            )
            with _FILE_LOCK, pending.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record.to_document(), sort_keys=True) + "\n")


def recover_interrupted(sink: RunSink, source: str | None = None) -> list[RunRecord]:
    """Record, as ``interrupted``, runs whose daemon died before they finished (their marker is left and
    nobody holds the source lock any more). Their JOBDIR is kept, so the next run resumes them."""
    root = scheduler_home() / "active"
    paths = [marker_path(source)] if source else sorted(root.glob("*.json")) if root.exists() else []
    out = []
    for path in paths:
        if not path.exists():
            continue
        try:
            marker = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            path.unlink(missing_ok=True)
            continue
        name = marker.get("source") or path.stem
        with source_lock(name) if source is None else contextlib.nullcontext(0) as fd:
            if fd is None:
                continue  # its worker is still running (an orphan of the dead daemon): not finished yet
            start = parse_iso(marker["start"])
            record = record_from_worker(
                run_id=marker["run_id"], source=name, start=start, end=utc_now(), exit_code=None, stats=None,
                interrupted=True, trigger="recovery",
            )
            record.message = "the scheduler stopped (crashed or was killed) during this run; it resumes next run"
            sink.write(record)
            path.unlink(missing_ok=True)
            out.append(record)
    return out


def new_run_id(source: str) -> str:
    return f"{_safe(source)}-{compact_utc()}-{uuid.uuid4().hex[:6]}"


def run_source(
    source_name: str,
    config_path: str | None = None,
    *,
    settings: SchedulerSettings | None = None,
    sink: RunSink | None = None,
    timeout: float | None = None,
    trigger: str = "schedule",
) -> RunRecord | None:
    """Run one crawl of ``source_name`` in a worker process and record it; None when it did not start.

    The worker is ``settings.command()`` (default ``python -m crawler.runner crawl``) with the source,
    ``--config``, ``--run-id`` and ``-s JOBDIR=<state>/jobs/<source>`` appended. It is stopped at the
    source's time limit (SIGTERM, then SIGKILL after ``kill_grace``). A source whose previous run still
    holds its lock is skipped, so runs of one source never overlap, across daemons and restarts.
    """
    config_path = effective_config(config_path)
    settings = settings or load_settings(config_path)
    sink = sink or RunSink(settings, config_path=config_path)
    limit = timeout or settings.timeout_for(source_name)
    if _STOPPING.is_set():
        log.info("not starting %s: the scheduler is shutting down", source_name)
        return None
    with source_lock(source_name) as fd:
        if fd is None:
            log.warning("skipping %s: its previous run is still going (lock %s)", source_name, lock_path(source_name))
            from crawler.metrics import metrics

            metrics().crawl_runs.labels(source_name, "skipped").inc()
            return None
        recover_interrupted(sink, source_name)
        return _run_locked(source_name, config_path, settings, sink, limit, fd, trigger)


def _run_locked(
    source: str,
    config_path: str | None,
    settings: SchedulerSettings,
    sink: RunSink,
    limit: float,
    lock_fd: int,
    trigger: str,
) -> RunRecord:
    from crawler.metrics import metrics

    run_id = new_run_id(source)
    jobdir = jobdir_path(source)
    jobdir.mkdir(parents=True, exist_ok=True)
    cmd = [*settings.command(), source, "--config", str(config_root(config_path)), "--run-id", run_id,
           "-s", f"JOBDIR={jobdir}"]
    logfile = crawl_log_path(source, run_id)
    logfile.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, NARCOWATCH_RUN_ID=run_id, NARCOWATCH_JOBDIR=str(jobdir))
    _load_prctl()
    start = utc_now()
    timed_out = interrupted = False
    with logfile.open("wb") as err:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, env=env,
            pass_fds=(lock_fd,), preexec_fn=_die_with_parent,
        )
        with _ACTIVE_LOCK:
            _ACTIVE[run_id] = proc
        if _STOPPING.is_set():  # started just as the shutdown collected the running workers
            proc.terminate()
        _write_marker(source, run_id, start, proc.pid)
        metrics().running.inc()
        log.info("started %s run %s (pid %s, limit %.0fs)", source, run_id, proc.pid, limit)
        try:
            try:
                out, _ = proc.communicate(timeout=limit)
            except subprocess.TimeoutExpired:
                timed_out = not _STOPPING.is_set()
                log.warning("%s run %s hit its time limit of %.0fs; stopping it", source, run_id, limit)
                proc.terminate()
                try:
                    out, _ = proc.communicate(timeout=settings.kill_grace)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    out, _ = proc.communicate()
        finally:
            with _ACTIVE_LOCK:
                _ACTIVE.pop(run_id, None)
            metrics().running.dec()
    interrupted = _STOPPING.is_set() and not timed_out
    end = utc_now()
    stdout = out.decode("utf-8", "replace") if out else ""
    stats = parse_worker_stats(stdout)
    record = record_from_worker(
        run_id=run_id, source=source, start=start, end=end, exit_code=proc.returncode, stats=stats,
        timed_out=timed_out, interrupted=interrupted and proc.returncode != 0, stderr_tail=_tail(logfile),
        trigger=trigger,
    )
    if record.outcome not in ("interrupted", "timeout"):
        # a finished crawl must not leave its seen-requests file: the next run would skip every page
        shutil.rmtree(jobdir, ignore_errors=True)
    sink.write(record)
    marker_path(source).unlink(missing_ok=True)
    log.info("%s run %s: %s, %d pages, %.1fs", source, run_id, record.outcome, record.pages, record.duration)
    return record


def _tail(path: Path, size: int = 4000) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - size))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def run_digest(period: str, config_path: str | None = None) -> int:
    """Send the alert digests of ``period`` (``narcowatch alerts send-digest``) in a worker process."""
    cmd = [sys.executable, "-c", "import sys; from crawler.cli import main; sys.exit(main())", "alerts",
           "send-digest", "--period", period]
    env = dict(os.environ)
    if config_path:
        env["NARCOWATCH_CONFIG"] = str(config_path)
    proc = subprocess.run(cmd, env=env, capture_output=True, timeout=1800, check=False)
    if proc.returncode != 0:
        log.error("alert digest %s failed (status %s): %s", period, proc.returncode,
                  proc.stderr.decode("utf-8", "replace")[-500:])
    return proc.returncode
