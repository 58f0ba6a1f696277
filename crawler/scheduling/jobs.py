"""From configured sources to scheduler jobs: cron parsing, jitter bounds, and the job list the daemon keeps."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from crawler.common.clock import utc_now
from crawler.common.cron import parse_cron
from crawler.common.durations import format_duration
from crawler.scheduling.settings import SchedulerSettings

CRAWL_PREFIX = "crawl:"
DIGEST_PREFIX = "digest:"
RUN_SOURCE_REF = "crawler.scheduling.worker:run_source"
RUN_DIGEST_REF = "crawler.scheduling.worker:run_digest"
# A jitter above this share of the interval between two runs would let consecutive runs bunch together.
JITTER_SHARE = 0.25


def min_interval(trigger: CronTrigger, *, samples: int = 6, now: datetime | None = None) -> timedelta:
    """The shortest gap between the next few fire times of ``trigger`` (without jitter)."""
    saved, trigger.jitter = trigger.jitter, None
    try:
        t = now or utc_now()
        times: list[datetime] = []
        prev: datetime | None = None
        for _ in range(samples):
            nxt = trigger.get_next_fire_time(prev, t)
            if nxt is None:
                break
            times.append(nxt)
            prev, t = nxt, nxt + timedelta(microseconds=1)
    finally:
        trigger.jitter = saved
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return min(gaps) if gaps else timedelta(days=365)


def effective_jitter(expr: str, configured: float) -> int:
    """The jitter used for a cron: the configured bound, capped at a quarter of its shortest interval."""
    trigger = parse_cron(expr)  # validates the expression even when there is no jitter
    if configured <= 0:
        return 0
    gap = min_interval(trigger).total_seconds()
    return int(max(0, min(configured, gap * JITTER_SHARE)))


@dataclass(frozen=True)
class JobSpec:
    """One job the daemon should have in its job store."""

    id: str
    """``crawl:<source>`` or ``digest:<period>``."""
    func: str
    """Textual reference of the plain function the job runs (picklable for the persistent store)."""
    args: tuple[Any, ...]
    """Positional arguments of ``func``."""
    cron: str | None
    """Cron expression (5 fields, or 6 with seconds first); None for an interval job."""
    jitter: int
    """Upper bound of the random delay in seconds."""
    name: str
    """Human-readable job name (shown by `narcowatch status`)."""
    interval: float | None = None
    """Seconds between runs, for jobs that run on a period rather than a cron (digests)."""

    def trigger(self) -> CronTrigger | IntervalTrigger:
        if self.cron is None:
            return IntervalTrigger(seconds=self.interval or 86400, timezone=UTC)
        return parse_cron(self.cron, jitter=self.jitter)

    def signature(self) -> str:
        """What identifies the job's behaviour: a job with the same signature is left alone on reload."""
        return f"{self.func}|{self.args!r}|{self.trigger()!s}|{self.jitter}"


def build_job_specs(sources: Iterable[Any], settings: SchedulerSettings, config_path: str) -> list[JobSpec]:
    """One crawl job per enabled source that has a schedule (source ``schedule`` or a settings override).

    ``sources`` are the configured sources (objects with ``name``, ``schedule`` and ``enabled``); sources
    without a schedule are crawled only on demand. Raises ValueError naming the source on a bad cron.
    """
    specs = []
    for source in sources:
        name = source.name
        if not getattr(source, "enabled", True):
            continue
        cron = settings.schedules.get(name) or getattr(source, "schedule", None)
        if not cron:
            continue
        try:
            jitter = effective_jitter(cron, settings.jitter)
        except ValueError as exc:
            raise ValueError(f"source {name!r}: schedule: {exc}") from None
        specs.append(
            JobSpec(
                id=f"{CRAWL_PREFIX}{name}", func=RUN_SOURCE_REF, args=(name, config_path), cron=cron,
                jitter=jitter, name=f"crawl {name}",
            )
        )
    return specs


def digest_job_specs(periods: Iterable[Any], config_path: str) -> list[JobSpec]:
    """One digest job per distinct digest period of the alert rules (timedelta, or seconds)."""
    specs = []
    seen: set[float] = set()
    for period in periods:
        seconds = period.total_seconds() if isinstance(period, timedelta) else float(period)
        if seconds <= 0 or seconds in seen:
            continue
        seen.add(seconds)
        label = format_duration(timedelta(seconds=seconds))
        specs.append(
            JobSpec(
                id=f"{DIGEST_PREFIX}{label}", func=RUN_DIGEST_REF, args=(label, config_path), cron=None,
                jitter=0, name=f"alert digest every {label}", interval=seconds,
            )
        )
    return specs
