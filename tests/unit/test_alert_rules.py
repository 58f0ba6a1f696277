"""Alert rules: validation with file/line/field errors, durations, periods, versions, the published schema."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from crawler.alerting.rules import (
    AlertsConfig,
    Rule,
    alerts_json_schema,
    default_alerts_path,
    load_alerts_config,
    parse_duration,
)
from crawler.config.loader import ConfigError
from crawler.paths import CONFIG_DIR


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "alerts.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_bundled_configs_are_valid() -> None:
    for path in (CONFIG_DIR / "alerts.yaml", CONFIG_DIR / "demo" / "alerts.yaml"):
        config = load_alerts_config(path)
        assert config.active_rules, path
        assert config.ops


def test_errors_name_file_line_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
rules:
  - name: ok-rule
    recipients: [a@example.org]
  - name: bad-rule
    recipients: [not-an-address]
    mode: digest
    period: every full moon
    condition:
      ships_from: [China]
      min_risk: 2
      colour: red
    throttle: {max: 0, per: 1h}
    events: [new, sold_out]
""",
    )
    with pytest.raises(ConfigError) as info:
        load_alerts_config(path)
    text = str(info.value)
    expected = {
        5: "rules[1].recipients: ",
        7: "rules[1].period: ",
        9: "rules[1].condition.ships_from: ",
        10: "rules[1].condition.min_risk: ",
        11: "rules[1].condition.colour: ",
        12: "rules[1].throttle.max: ",
        13: "rules[1].events[1]: ",
    }
    for line, field in expected.items():
        assert f"{path}:{line}: {field}" in text, text
    assert "China" in text and "not-an-address" in text and "every full moon" in text


def test_duplicate_names_and_yaml_syntax(tmp_path: Path) -> None:
    path = write(tmp_path, "rules:\n  - {name: a, recipients: [x@y.org]}\n  - {name: a, recipients: [x@y.org]}\n")
    with pytest.raises(ConfigError, match="'a' is used twice"):
        load_alerts_config(path)
    path = write(tmp_path, "rules: [\n  - name: a\n")
    with pytest.raises(ConfigError, match=r"alerts.yaml:\d+: YAML syntax"):
        load_alerts_config(path)
    with pytest.raises(ConfigError, match="not found"):
        load_alerts_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("1h", 3600), ("1d", 86400), ("2w", 1209600), (45, 45)]
)
def test_durations(text: object, seconds: int) -> None:
    assert parse_duration(text) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("bad", ["soon", "-1h", "0", "1y", True])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_defaults_and_normalisation() -> None:
    rule = Rule.model_validate(
        {
            "name": "r",
            "recipients": "one@example.org",
            "condition": {"substance_classes": "Fentanyl", "ships_to": ["us", "eu"], "query": "  "},
            "mode": "digest",
        }
    )
    assert rule.recipients == ["one@example.org"]
    assert rule.condition.substance_classes == ["fentanyl"]
    assert rule.condition.ships_to == ["US", "EU"]
    assert rule.condition.query is None and rule.condition.intent == "sale"
    assert rule.period == dt.timedelta(days=1) and rule.events == ["new"]
    with pytest.raises(ValueError, match="only used with mode: digest"):
        Rule.model_validate({"name": "r", "recipients": ["a@b.org"], "period": "hourly"})
    six_hours = Rule.model_validate({"name": "r", "recipients": ["a@b.org"], "mode": "digest", "period": "6h"})
    assert six_hours.period == dt.timedelta(hours=6)
    assert six_hours.model_dump(mode="json")["period"] == "6h"
    assert Rule.model_validate(
        {"name": "r", "recipients": ["a@b.org"], "mode": "digest", "period": "Weekly"}
    ).period == dt.timedelta(weeks=1)


def test_counts_maps_rule_events_to_listing_event_kinds() -> None:
    rule = Rule.model_validate(
        {"name": "r", "recipients": ["a@b.org"], "events": ["new", "relisting", "new_vendor_platform"]}
    )
    assert rule.counts("new") and rule.counts("relisted")
    assert not rule.counts("price_change") and not rule.counts("changed") and not rule.counts("unchanged")
    assert rule.counts("changed", vendor_new_platform=True)
    assert not rule.counts("unchanged", vendor_new_platform=True)


def test_version_changes_with_any_part_of_the_rule() -> None:
    base = {"name": "r", "recipients": ["a@b.org"], "condition": {"substance_classes": ["fentanyl"]}}
    v1 = Rule.model_validate(base).version
    assert Rule.model_validate(dict(base)).version == v1
    assert Rule.model_validate({**base, "recipients": ["c@d.org"]}).version != v1
    assert Rule.model_validate({**base, "condition": {"substance_classes": ["opioid"]}}).version != v1
    assert Rule.model_validate({**base, "throttle": {"max": 3, "per": "1h"}}).version != v1


def test_config_helpers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = AlertsConfig.model_validate(
        {
            "kibana_url": "http://kibana:5601/",
            "rules": [
                {"name": "a", "recipients": ["a@b.org"], "mode": "digest", "period": "hourly"},
                {"name": "b", "recipients": ["a@b.org"], "mode": "digest", "enabled": False, "period": "weekly"},
                {"name": "c", "recipients": ["a@b.org"]},
            ],
        }
    )
    assert config.kibana_url == "http://kibana:5601"
    assert config.digest_periods() == [dt.timedelta(hours=1)]
    assert [r.name for r in config.active_rules] == ["a", "c"]
    with pytest.raises(KeyError, match="known: a, b, c"):
        config.rule("zzz")
    monkeypatch.delenv("NARCOWATCH_ALERTS_FILE", raising=False)
    monkeypatch.setenv("NARCOWATCH_CONFIG", str(tmp_path))
    assert default_alerts_path() == tmp_path / "alerts.yaml"
    monkeypatch.setenv("NARCOWATCH_CONFIG", str(tmp_path / "sources.yaml"))
    assert default_alerts_path() == tmp_path / "alerts.yaml"
    monkeypatch.setenv("NARCOWATCH_ALERTS_FILE", str(tmp_path / "x.yaml"))
    assert default_alerts_path() == tmp_path / "x.yaml"


def test_published_schema_is_current() -> None:
    published = json.loads((CONFIG_DIR / "schema" / "alerts.schema.json").read_text(encoding="utf-8"))
    assert published == alerts_json_schema(), "run: narcowatch alerts schema --write"
