"""`narcowatch alerts` commands against the real node and a real SMTP sink."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from elasticsearch import Elasticsearch

from crawler.alerting.engine import AlertEngine
from crawler.alerting.mailer import Mailer
from crawler.alerting.rules import load_alerts_config
from crawler.cli import main
from crawler.es.names import IndexNames
from tests.integration.test_alert_engine import event, make_listing

pytestmark = [pytest.mark.elasticsearch, pytest.mark.smtp]

RULES = """\
sender: nw@example.org
rules:
  - name: fentanyl-now
    condition: {substance_classes: [fentanyl], ships_from: [CN]}
    recipients: [now@example.org]
  - name: opioid-digest
    condition: {substance_classes: [opioid, fentanyl]}
    recipients: [digest@example.org]
    mode: digest
    period: hourly
"""


@pytest.fixture
def setup(es_env: IndexNames, es_client: Elasticsearch, tmp_path: Path, monkeypatch, smtp_sink) -> Any:
    from crawler.es.templates import install

    install(es_client, es_env, kinds=["listings", "alerts", "rules"])
    path = tmp_path / "alerts.yaml"
    path.write_text(RULES, encoding="utf-8")
    monkeypatch.setenv("NARCOWATCH_ALERTS_FILE", str(path))
    docs = [
        make_listing("cli-1"),
        make_listing("cli-2", ships_from=["IN"]),
        make_listing("cli-3", intent="other"),
    ]
    ops: list[dict[str, Any]] = []
    for d in docs:
        ops += [{"index": {"_index": es_env.listings, "_id": d["fingerprint"]}}, d]
    assert not es_client.bulk(operations=ops, refresh=True)["errors"]
    return es_env, path


def run(*args: str) -> Any:
    return CliRunner().invoke(main, ["alerts", *args], catch_exceptions=False)


def test_test_command_is_a_dry_run(setup, smtp_sink, es_client) -> None:
    names, _path = setup
    result = run("test", "fentanyl-now")
    assert result.exit_code == 0, result.output
    assert "1 listing(s) match rule 'fentanyl-now'" in result.output and "cli-1" in result.output
    as_json = run("test", "opioid-digest", "--json")
    assert sorted(json.loads(line)["_id"] for line in as_json.output.splitlines()) == ["cli-1", "cli-2"]
    assert smtp_sink.messages() == []
    es_client.indices.refresh(index=names.alerts)
    assert es_client.count(index=names.alerts)["count"] == 0
    unknown = CliRunner().invoke(main, ["alerts", "test", "nope"])
    assert unknown.exit_code != 0 and "no alert rule named 'nope'" in unknown.output


def test_list_send_digest_and_deliver(setup, smtp_sink, es_client) -> None:
    names, path = setup
    engine = AlertEngine(es_client, names, load_alerts_config(path), Mailer(smtp_sink.url), deliver_after_batch=False)
    out = engine.on_batch([event("cli-1"), event("cli-2"), event("cli-3")])
    assert out.by_rule == {"fentanyl-now": 1, "opioid-digest": 2}

    listing = run("list", "--json")
    rows = {r["name"]: r for r in map(json.loads, listing.output.splitlines())}
    assert rows["fentanyl-now"]["alerts"] == {"pending": 1}
    assert rows["opioid-digest"]["alerts"] == {"digest": 2} and rows["opioid-digest"]["mode"] == "digest every 1h"

    assert run("send-digest", "--period", "daily").output.startswith("digest: 0 alert(s) sent")
    bad = CliRunner().invoke(main, ["alerts", "send-digest", "--period", "sometimes"])
    assert bad.exit_code == 2 and "not a digest period" in bad.output
    digest = run("send-digest", "--period", "1h")  # how the scheduler names the period
    assert digest.exit_code == 0 and "digest: 2 alert(s) sent in 1 mail(s)" in digest.output
    deliver = run("deliver")
    assert deliver.exit_code == 0 and "delivery: 1 alert(s) sent in 1 mail(s)" in deliver.output
    assert sorted(m.rcpt_tos for m in smtp_sink.messages()) == [("digest@example.org",), ("now@example.org",)]
    assert run("deliver").output.startswith("delivery: 0 alert(s) sent")


def test_invalid_file_exits_1_with_line(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text("rules:\n  - name: x\n    recipients: [nobody]\n", encoding="utf-8")
    monkeypatch.setenv("NARCOWATCH_ALERTS_FILE", str(path))
    result = CliRunner().invoke(main, ["alerts", "list", "--no-es"])
    assert result.exit_code == 1
    assert f"{path}:3: rules[0].recipients: Value error, not an email address: nobody" in result.output
