"""The scheduler daemon (`narcowatch schedule`): one APScheduler job per enabled source, crawls in worker processes."""

from __future__ import annotations

import hashlib
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from crawler.common.redaction import redact_url
from crawler.config import ConfigError
from crawler.scheduling.jobs import CRAWL_PREFIX, DIGEST_PREFIX, JobSpec, build_job_specs, digest_job_specs
from crawler.scheduling.settings import SchedulerSettings, config_root, load_settings, settings_path

if TYPE_CHECKING:
    from datetime import datetime, timedelta

    from apscheduler.job import Job
    from apscheduler.schedulers.background import BackgroundScheduler

    from crawler.metrics import MetricsServer
    from crawler.sources.models import SourceBase

log = logging.getLogger(__name__)


@dataclass
class LoadedConfig:
    """A validated configuration: the scheduler settings, the sources and the jobs they make."""

    settings: SchedulerSettings
    sources: list[SourceBase]
    specs: list[JobSpec]
    files: list[Path] = field(default_factory=list)

    def source_names(self) -> list[str]:
        return [s.name for s in self.sources]


def load_sources(config_path: Path) -> list[SourceBase]:
    """The configured sources (``crawler.sources.load_sources``); ConfigError names file, line and field."""
    from crawler.sources import load_sources as _load

    return list(_load(config_path))


def _digest_periods(config_path: Path) -> list[timedelta]:
    try:
        from crawler.alerting.rules import load_alerts_config
    except ImportError:
        return []
    root = config_path if config_path.is_dir() else config_path.parent
    path = root / "alerts.yaml"
    if not path.exists():
        return []
    return list(load_alerts_config(path).digest_periods())


def watched_files(config_path: Path) -> list[Path]:
    """The files whose change triggers a reload: every YAML file of the configuration, and scheduler.yaml."""
    root = config_path if config_path.is_dir() else config_path.parent
    files = {p for p in root.rglob("*.y*ml")} if config_path.is_dir() else {config_path}
    files.add(settings_path(config_path))
    files.add(root / "alerts.yaml")
    return sorted(files)


def files_fingerprint(files: list[Path]) -> str:
    """Changes when any file is created, removed or written (mtime and size)."""
    h = hashlib.sha256()
    for path in files:
        try:
            st = path.stat()
            h.update(f"{path}|{st.st_mtime_ns}|{st.st_size}\n".encode())
        except FileNotFoundError:
            h.update(f"{path}|-\n".encode())
    return h.hexdigest()


def load_configuration(
    config_path: Path,
    *,
    sources_loader: Callable[[Path], list[SourceBase]] = load_sources,
    settings_override: dict[str, Any] | None = None,
) -> LoadedConfig:
    """Load and validate everything the daemon schedules. Raises ConfigError (file:line: field: message)."""
    settings = load_settings(config_path)
    if settings_override:
        settings = settings.model_copy(update={k: v for k, v in settings_override.items() if v is not None})
    sources = sources_loader(config_path)
    names = [s.name for s in sources]
    from crawler.config.loader import ConfigIssue

    unknown = sorted((set(settings.schedules) | set(settings.timeouts)) - set(names))
    if unknown:
        raise ConfigError(
            [ConfigIssue(str(settings_path(config_path)), None, "schedules/timeouts",
                         f"unknown source(s) {', '.join(unknown)}; configured: {', '.join(names) or 'none'}")]
        )
    try:
        specs = build_job_specs(sources, settings, str(config_path.resolve()))
    except ValueError as exc:
        raise ConfigError([ConfigIssue(str(config_path), None, "schedule", str(exc))]) from None
    if settings.digest:
        specs += digest_job_specs(_digest_periods(config_path), str(config_path.resolve()))
    return LoadedConfig(settings=settings, sources=sources, specs=specs, files=watched_files(config_path))


def _job_signature(job: Job) -> str:
    return f"{job.func_ref}|{tuple(job.args)!r}|{job.trigger!s}|{getattr(job.trigger, 'jitter', None) or 0}"


class Daemon:
    """The long-running scheduler: jobs in a persistent store, crawls in worker processes.

    ``start()`` refuses a bad configuration (ConfigError); later reloads (``reload()``, SIGHUP, or a
    configuration file change) keep the running configuration when the new one is invalid, and log why.
    """

    def __init__(
        self,
        config_path: Path | str | None = None,
        *,
        metrics_port: int | None = None,
        metrics_addr: str = "127.0.0.1",
        settings_override: dict[str, Any] | None = None,
        sources_loader: Callable[[Path], list[SourceBase]] = load_sources,
    ) -> None:
        self.config_path = config_root(config_path).resolve()
        self.metrics_port = metrics_port
        self.metrics_addr = metrics_addr
        self.settings_override = settings_override or {}
        self.sources_loader = sources_loader
        self.config: LoadedConfig | None = None
        self.scheduler: BackgroundScheduler | None = None
        self.metrics_server: MetricsServer | None = None
        self.reloads = 0
        self.reload_errors: list[str] = []
        self._fingerprint = ""
        self._stop = threading.Event()
        self._hup = threading.Event()

    # -- configuration
    def _load(self) -> LoadedConfig:
        return load_configuration(
            self.config_path, sources_loader=self.sources_loader, settings_override=self.settings_override
        )

    def start(self) -> None:
        """Validate the configuration, open the job store, recover interrupted runs, schedule, serve metrics."""
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
        from apscheduler.schedulers.background import BackgroundScheduler

        from crawler.scheduling import worker

        config = self._load()  # raises ConfigError: the daemon refuses to start
        self._fingerprint = files_fingerprint(config.files)
        s = config.settings
        worker.reset_stop()
        self.scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(url=s.resolved_jobstore_url())},
            executors={"default": ThreadPoolExecutor(max_workers=s.max_workers)},
            job_defaults={"coalesce": s.coalesce, "max_instances": 1, "misfire_grace_time": s.misfire_grace_time},
            timezone="UTC",
        )
        recovered = worker.recover_interrupted(worker.RunSink(s, config_path=self.config_path))
        for rec in recovered:
            log.warning("recorded run %s of %s as interrupted (the previous daemon stopped during it)",
                        rec.run_id, rec.source)
        self.scheduler.start(paused=True)
        self.config = config
        self._snapshot()
        self._sync(config)
        self.scheduler.resume()
        if self.metrics_port is not None:
            from crawler.metrics import MetricsServer

            self.metrics_server = MetricsServer(self.metrics_port, self.metrics_addr)
            log.info("metrics at %s", self.metrics_server.url)
        log.info(
            "scheduler started: %d job(s) from %s, job store %s", len(config.specs), self.config_path,
            redact_url(s.resolved_jobstore_url()),
        )

    def _sync(self, config: LoadedConfig) -> None:
        """Make the job store hold exactly the configured jobs; a job whose trigger and arguments did not
        change is left alone, so its next run time (and any misfire it is owed) survives the reload."""
        assert self.scheduler is not None, "_sync runs on a started daemon"
        wanted = {spec.id: spec for spec in config.specs}
        s = config.settings
        for job in self.scheduler.get_jobs():
            if job.id.startswith((CRAWL_PREFIX, DIGEST_PREFIX)) and job.id not in wanted:
                log.info("removing job %s (no longer configured)", job.id)
                job.remove()
        existing = {job.id: job for job in self.scheduler.get_jobs()}
        for spec in config.specs:
            job = existing.get(spec.id)
            same = (
                job is not None
                and _job_signature(job) == spec.signature()
                and job.misfire_grace_time == s.misfire_grace_time
                and job.coalesce == s.coalesce
            )
            if same:
                continue
            self.scheduler.add_job(
                spec.func, trigger=spec.trigger(), args=list(spec.args), id=spec.id, name=spec.name,
                replace_existing=True, max_instances=1, coalesce=s.coalesce, misfire_grace_time=s.misfire_grace_time,
            )
            log.info("%s job %s (%s)", "updated" if job else "added", spec.id, spec.cron or f"every {spec.interval}s")

    def _snapshot(self) -> None:
        """Freeze the configuration just validated: workers get this copy, not the live (editable) files."""
        from crawler.scheduling import worker

        snap = worker.snapshot_config(self.config_path)
        worker.use_snapshot(str(self.config_path), snap)
        log.info("workers use the configuration snapshot %s", snap)

    def reload(self, reason: str = "requested") -> bool:
        """Load the configuration again and apply it; on any error keep the running one and log why."""
        self.reloads += 1
        try:
            config = self._load()
        except Exception as exc:  # any failure to load: the running configuration stays
            msg = f"configuration reload ({reason}) failed; keeping the previous configuration:\n{exc}"
            self.reload_errors.append(str(exc))
            log.error(msg)
            return False
        self._fingerprint = files_fingerprint(config.files)
        assert self.scheduler is not None
        self._sync(config)
        self._snapshot()
        if self.config and config.settings.max_workers != self.config.settings.max_workers:
            log.warning("max_workers changed: takes effect at the next daemon start")
        self.config = config
        log.info("configuration reloaded (%s): %d job(s)", reason, len(config.specs))
        return True

    def check_files(self) -> bool:
        """Reload when a configuration file changed since the last (attempted) load. True when it did."""
        assert self.config is not None
        fp = files_fingerprint(watched_files(self.config_path))
        if fp == self._fingerprint:
            return False
        self._fingerprint = fp  # a bad file is reported once, not on every poll
        self.reload("configuration file changed")
        return True

    def next_runs(self) -> dict[str, datetime | None]:
        return {job.id: job.next_run_time for job in self.scheduler.get_jobs()} if self.scheduler else {}

    # -- running
    def request_stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        self._hup.set()

    def install_signal_handlers(self) -> None:
        def on_term(signum: int, frame: FrameType | None) -> None:
            log.info("signal %s: shutting down", signal.Signals(signum).name)
            self._stop.set()

        def on_hup(signum: int, frame: FrameType | None) -> None:
            self._hup.set()

        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)
        signal.signal(signal.SIGHUP, on_hup)

    def loop(self) -> None:
        """Wait for a stop, reloading on SIGHUP and on file changes, until ``request_stop()`` or SIGTERM."""
        assert self.config is not None
        while not self._stop.is_set():
            self._stop.wait(self.config.settings.reload_poll)
            if self._stop.is_set():
                break
            if self._hup.is_set():
                self._hup.clear()
                self.reload("SIGHUP")
            else:
                self.check_files()

    def shutdown(self) -> None:
        """Stop cleanly: no new runs; running crawls get SIGTERM (Scrapy saves its JOBDIR) and are recorded
        as interrupted; SIGKILL after the grace period."""
        from crawler.scheduling import worker

        if self.scheduler is None:
            return
        grace = self.config.settings.kill_grace if self.config else 30.0
        try:
            self.scheduler.pause()
        except Exception:  # already stopped
            log.debug("pause failed", exc_info=True)
        n = worker.terminate_all(grace)
        if n:
            log.info("stopped %d running crawl(s)", n)
        self.scheduler.shutdown(wait=True)
        self.scheduler = None
        if self.metrics_server is not None:
            self.metrics_server.stop()
            self.metrics_server = None
        log.info("scheduler stopped")

    def run(self) -> None:
        """start, loop until SIGTERM/SIGINT, shutdown (the body of `narcowatch schedule`)."""
        self.install_signal_handlers()
        self.start()
        try:
            self.loop()
        finally:
            self.shutdown()


@click.command("schedule")
@click.option("--config", "config", type=click.Path(path_type=Path), help="Configuration directory or file.")
@click.option("--metrics-port", type=int, default=None, help="Serve Prometheus metrics on this port (0: any).")
@click.option("--metrics-addr", default="127.0.0.1", show_default=True, help="Address of the metrics endpoint.")
@click.option("--jobstore-url", default=None, help="SQLAlchemy URL of the job store (default: SQLite in state).")
@click.option("--log-json", is_flag=True, help="Structured JSON logs (one object a line).")
@click.option("--log-level", default="INFO", show_default=True, help="Log level.")
def schedule_command(
    config: Path | None, metrics_port: int | None, metrics_addr: str, jobstore_url: str | None, log_json: bool,
    log_level: str,
) -> None:
    """Run the scheduler daemon: each enabled source crawled on its cron, until SIGTERM.

    SIGHUP (or editing a configuration file) reloads the configuration; an invalid one is reported
    and the running one kept.
    """
    from crawler.logging_setup import setup_logging

    setup_logging(json_logs=log_json, level=log_level)
    daemon = Daemon(config, metrics_port=metrics_port, metrics_addr=metrics_addr,
                    settings_override={"jobstore_url": jobstore_url})
    try:
        daemon.run()
    except ConfigError as exc:
        raise click.ClickException(f"configuration error, the scheduler did not start:\n{exc}") from None


if __name__ == "__main__":
    schedule_command()
