"""Scheduler settings: ``scheduler.yaml`` beside the source configuration, validated, with defaults for one machine."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from crawler.common.cron import parse_cron
from crawler.config import load_yaml_model
from crawler.paths import CONFIG_DIR, state_home

SETTINGS_FILE = "scheduler.yaml"


class SchedulerSettings(BaseModel):
    """How the daemon runs the sources' crawls. Every field has a default; the file is optional."""

    model_config = ConfigDict(extra="forbid")

    jobstore_url: str | None = None
    """SQLAlchemy URL of the persistent job store; default ``sqlite:///<state_home>/scheduler/jobs.sqlite``."""
    jitter: float = Field(default=30.0, ge=0)
    """Upper bound in seconds of the random delay added to each run (capped at a quarter of the interval)."""
    misfire_grace_time: int = Field(default=600, ge=1)
    """A run missed by up to this many seconds (daemon down or busy) still starts; older ones are dropped."""
    coalesce: bool = True
    """Several missed runs of one source are run once."""
    max_workers: int = Field(default=4, ge=1)
    """Crawl worker processes running at the same time (over all sources)."""
    timeout: float = Field(default=3600.0, gt=0)
    """Seconds a crawl may run before it is stopped (SIGTERM, then SIGKILL after ``kill_grace``)."""
    timeouts: dict[str, float] = Field(default_factory=dict)
    """Per-source time limits in seconds, by source name."""
    kill_grace: float = Field(default=30.0, gt=0)
    """Seconds between SIGTERM and SIGKILL for a crawl that must stop (Scrapy needs time to save its JOBDIR)."""
    schedules: dict[str, str] = Field(default_factory=dict)
    """Per-source cron overrides, by source name (operators can slow a source down without editing it)."""
    failure_streak: int = Field(default=3, ge=1)
    """Consecutive failed or empty runs of a source that raise one operational alert."""
    reload_poll: float = Field(default=5.0, gt=0)
    """Seconds between checks of the configuration files for changes."""
    worker_command: list[str] | None = None
    """The command that runs one crawl; the source name, ``--config`` and ``--run-id`` are appended.
    Default: ``<this python> -m crawler.runner crawl``."""
    record_runs: bool = True
    """Write each run to the crawl-runs alias in Elasticsearch."""
    digest: bool = True
    """Schedule the alert digests of the alerting rules (``narcowatch alerts send-digest``)."""

    @field_validator("schedules")
    @classmethod
    def _crons_parse(cls, value: dict[str, str]) -> dict[str, str]:
        for name, expr in value.items():
            try:
                parse_cron(expr)
            except ValueError as exc:
                raise ValueError(f"schedule of {name!r}: {exc}") from None
        return value

    def resolved_jobstore_url(self) -> str:
        if self.jobstore_url:
            return self.jobstore_url
        path = state_home() / "scheduler" / "jobs.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"

    def timeout_for(self, source: str, configured: float | None = None) -> float:
        """The time limit of ``source``: this file's per-source value, else the source's own, else the default."""
        if source in self.timeouts:
            return float(self.timeouts[source])
        return float(configured) if configured else self.timeout

    def command(self) -> list[str]:
        return list(self.worker_command) if self.worker_command else [sys.executable, "-m", "crawler.runner", "crawl"]


def config_root(config_path: Path | str | None) -> Path:
    """The configuration path in use: the argument, else ``NARCOWATCH_CONFIG``, else the bundled ``config/``."""
    if config_path:
        return Path(config_path)
    env = os.environ.get("NARCOWATCH_CONFIG")
    return Path(env) if env else CONFIG_DIR


def settings_path(config_path: Path | str | None) -> Path:
    """Where ``scheduler.yaml`` is: in the configuration directory, or beside the configuration file."""
    root = config_root(config_path)
    return (root if root.is_dir() else root.parent) / SETTINGS_FILE


def load_settings(config_path: Path | str | None) -> SchedulerSettings:
    """Load ``scheduler.yaml`` (defaults when it does not exist); errors are ConfigError with file:line: field."""
    path = settings_path(config_path)
    if not path.exists():
        return SchedulerSettings()
    return load_yaml_model(path, SchedulerSettings)
