"""Unit tests: scheduler jobs built from source configurations, cron parsing and jitter bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from crawler.scheduling.jobs import (
    build_job_specs,
    digest_job_specs,
    effective_jitter,
    min_interval,
    parse_cron,
)
from crawler.scheduling.settings import SchedulerSettings


def src(name: str, schedule: str | None = "*/5 * * * *", enabled: bool = True) -> SimpleNamespace:
    return SimpleNamespace(name=name, schedule=schedule, enabled=enabled)


def test_one_job_per_enabled_scheduled_source() -> None:
    sources = [src("market-a"), src("forum-b", "0 * * * *"), src("off", enabled=False), src("manual", None)]
    specs = build_job_specs(sources, SchedulerSettings(), "/cfg")
    assert [s.id for s in specs] == ["crawl:market-a", "crawl:forum-b"]
    assert specs[0].args == ("market-a", "/cfg")
    assert specs[0].func == "crawler.scheduling.worker:run_source"
    assert specs[1].cron == "0 * * * *"


def test_settings_override_schedule() -> None:
    settings = SchedulerSettings(schedules={"market-a": "0 3 * * *"})
    (spec,) = build_job_specs([src("market-a")], settings, "/cfg")
    assert spec.cron == "0 3 * * *"


def test_bad_cron_names_the_source() -> None:
    with pytest.raises(ValueError, match=r"source 'bad'.*'61 \* \* \* \*'"):
        build_job_specs([src("bad", "61 * * * *")], SchedulerSettings(), "/cfg")
    with pytest.raises(ValueError, match="expected 5 fields"):
        parse_cron("* * *")


def test_six_field_cron_has_seconds() -> None:
    trig = parse_cron("*/2 * * * * *")
    now = datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    first = trig.get_next_fire_time(None, now)
    assert first == datetime(2026, 1, 1, 0, 0, 2, tzinfo=UTC)
    assert min_interval(trig, now=now) == timedelta(seconds=2)


def test_jitter_capped_at_quarter_of_interval() -> None:
    assert effective_jitter("* * * * *", 30) == 15  # one-minute cron: at most 15 s
    assert effective_jitter("0 * * * *", 30) == 30  # hourly: the configured 30 s
    assert effective_jitter("*/4 * * * * *", 30) == 1
    assert effective_jitter("0 * * * *", 0) == 0


def test_jitter_bounds_of_fire_times() -> None:
    (spec,) = build_job_specs([src("a", "* * * * *")], SchedulerSettings(jitter=20), "/cfg")
    assert spec.jitter == 15
    trig = spec.trigger()
    now = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)
    base = datetime(2026, 1, 1, 12, 1, 0, tzinfo=UTC)
    offsets = [(trig.get_next_fire_time(None, now) - base).total_seconds() for _ in range(300)]
    assert min(offsets) >= 0
    assert max(offsets) <= 15
    assert max(offsets) - min(offsets) > 5  # it really is random, not a constant shift


def test_signature_changes_with_schedule_only() -> None:
    (a,) = build_job_specs([src("a", "*/5 * * * *")], SchedulerSettings(jitter=0), "/cfg")
    (b,) = build_job_specs([src("a", "*/5 * * * *")], SchedulerSettings(jitter=0), "/cfg")
    (c,) = build_job_specs([src("a", "*/10 * * * *")], SchedulerSettings(jitter=0), "/cfg")
    assert a.signature() == b.signature() != c.signature()


def test_digest_jobs_one_per_distinct_period() -> None:
    specs = digest_job_specs([timedelta(days=1), timedelta(hours=24), timedelta(hours=1)], "/cfg")
    assert sorted(s.id for s in specs) == ["digest:1d", "digest:1h"]
    daily = next(s for s in specs if s.id == "digest:1d")
    assert daily.interval == 86400
    assert daily.args == ("1d", "/cfg")
    assert "interval" in str(daily.trigger())


def test_settings_reject_bad_override_cron() -> None:
    with pytest.raises(ValueError, match="schedule of 'x'"):
        SchedulerSettings(schedules={"x": "not a cron"})
