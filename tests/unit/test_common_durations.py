"""The one duration grammar (crawler.common.durations), and both config files' errors through it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from crawler.alerting.rules import load_alerts_config
from crawler.common.durations import format_duration, parse_duration
from crawler.config import ConfigError
from crawler.sources import load_sources


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("90 sec", 90), ("15m", 900), ("15 MIN", 900), ("1.5h", 5400), ("2d", 172800), ("1w", 604800),
     (" 45 ", 45), (45, 45), (0.5, 0.5), (timedelta(minutes=2), 120)],
)
def test_grammar(text: object, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("bad", ["soon", "-1h", "1y", "1 h m", "", True, None])
def test_not_durations(bad: object) -> None:
    with pytest.raises(ValueError, match=r"is not a duration: write e\.g\. 90s, 15m"):
        parse_duration(bad)


def test_sign_zero_only_where_allowed() -> None:
    for zero in ("0", "0s", 0, timedelta(0)):
        with pytest.raises(ValueError, match="must be positive"):
            parse_duration(zero)
        assert parse_duration(zero, allow_zero=True) == timedelta(0)
    for negative in (-5, -0.1, timedelta(seconds=-1)):
        with pytest.raises(ValueError, match="must be zero or positive"):
            parse_duration(negative, allow_zero=True)


def test_format_is_the_shortest_exact_spelling() -> None:
    assert [format_duration(timedelta(seconds=s)) for s in (90, 900, 7200, 172800, 1209600, 0)] == [
        "90s", "15m", "2h", "2d", "2w", "0s"]
    assert parse_duration(format_duration(timedelta(hours=36))) == timedelta(hours=36)


def test_sources_yaml_names_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(
        "sources:\n"
        "  - {name: a, kind: feed, start_urls: ['http://feeds.example/a.xml'], removal_grace: 2y}\n"
        "  - {name: b, kind: feed, start_urls: ['http://feeds.example/b.xml'], removal_grace: -5}\n"
        "  - {name: c, kind: feed, start_urls: ['http://feeds.example/c.xml'], removal_grace: 0s}\n"
        "  - {name: d, kind: feed, start_urls: ['http://feeds.example/d.xml'], removal_grace: 90 min}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_sources(path)
    text = str(info.value)
    assert f"{path}:2: sources[0].removal_grace: " in text and "'2y' is not a duration" in text, text
    assert f"{path}:3: sources[1].removal_grace: " in text and "-5: a duration must be zero or positive" in text
    assert len(info.value.issues) == 2  # 0s and 90 min are fine


def test_alerts_yaml_names_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(
        "delivery:\n"
        "  retry_base: 0s\n"
        "rules:\n"
        "  - name: r\n"
        "    recipients: [a@example.org]\n"
        "    throttle: {max: 5, per: 2y}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_alerts_config(path)
    text = str(info.value)
    assert f"{path}:2: delivery.retry_base: " in text and "'0s': a duration must be positive" in text, text
    assert f"{path}:6: rules[0].throttle.per: " in text and "'2y' is not a duration" in text, text
