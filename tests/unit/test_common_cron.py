"""The one cron grammar (crawler.common.cron), used by sources.yaml and scheduler.yaml alike."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crawler.common.cron import check_cron, parse_cron
from crawler.config import ConfigError
from crawler.scheduling.settings import SchedulerSettings
from crawler.sources import load_sources

NOW = datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)


def test_five_and_six_fields() -> None:
    assert parse_cron("*/5 * * * *").get_next_fire_time(None, NOW) == datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    assert parse_cron("30 */5 * * * *").get_next_fire_time(None, NOW) == datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)
    assert parse_cron("0 3 * * *", jitter=20).jitter == 20
    assert check_cron("0 6 * * 1") == "0 6 * * 1"


@pytest.mark.parametrize(
    ("expr", "why"),
    [("* * *", "expected 5 fields"), ("* * * * * * *", "got 7"), ("61 * * * *", "61"), ("0 0 * * * 99", "99")],
)
def test_bad_crons(expr: str, why: str) -> None:
    with pytest.raises(ValueError, match=rf"^invalid cron {re.escape(repr(expr))}: .*{why}"):
        check_cron(expr)


def test_both_config_files_take_the_same_expressions(tmp_path: Path) -> None:
    six = "0 */10 * * * *"
    path = tmp_path / "sources.yaml"
    path.write_text(
        f"sources:\n  - {{name: a, kind: feed, start_urls: ['http://f.example/a.xml'], schedule: '{six}'}}\n"
        "  - {name: b, kind: feed, start_urls: ['http://f.example/b.xml'], schedule: '* * *'}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_sources(path)
    assert [(i.line, i.field) for i in info.value.issues] == [(3, "sources[1].schedule")]
    assert "invalid cron '* * *': expected 5 fields" in str(info.value)
    assert SchedulerSettings(schedules={"a": six}).schedules == {"a": six}
    with pytest.raises(ValueError, match=r"schedule of 'b': invalid cron '\* \* \*': expected 5 fields"):
        SchedulerSettings(schedules={"b": "* * *"})
