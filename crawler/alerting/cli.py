"""``narcowatch alerts``: list rules, dry-run one on the index, send digests and pending mails, publish the schema."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from crawler.paths import CONFIG_DIR

if TYPE_CHECKING:  # the commands import these when they run, to keep `narcowatch --help` fast
    from crawler.alerting.engine import AlertEngine
    from crawler.alerting.records import DeliveryResult
    from crawler.alerting.rules import AlertsConfig, Rule

SCHEMA_PATH = CONFIG_DIR / "schema" / "alerts.schema.json"

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=None,
    help="alerts.yaml, or the configuration directory holding it "
    "(default: NARCOWATCH_ALERTS_FILE, NARCOWATCH_CONFIG, config/).",
)


def _config(path: Path | None) -> AlertsConfig:
    from crawler.alerting.rules import default_alerts_path, load_alerts_config
    from crawler.config.loader import ConfigError

    try:
        return load_alerts_config(path or default_alerts_path())
    except ConfigError as exc:
        for issue in exc.issues:
            click.echo(str(issue), err=True)
        sys.exit(1)


def _engine(config: AlertsConfig) -> AlertEngine:
    from crawler.alerting.engine import AlertEngine
    from crawler.es.client import EsUnavailable, get_client
    from crawler.es.names import IndexNames

    try:
        client = get_client()
    except EsUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    return AlertEngine(client, IndexNames(), config, None)


def _duration(value: dt.timedelta | None) -> str:
    from crawler.common.durations import format_duration

    return format_duration(value) if value is not None else "-"


def _condition_text(rule: Rule) -> str:
    cond = rule.condition.model_dump(exclude_defaults=True)
    cond.setdefault("intent", rule.condition.intent)
    return "; ".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in cond.items())


@click.group("alerts")
def alerts_group() -> None:
    """Alert rules: list them, test one on the index, send digests and waiting mails."""


@alerts_group.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per rule.")
@click.option("--no-es", is_flag=True, help="Do not ask Elasticsearch for alert counts.")
def list_command(config_path: Path | None, as_json: bool, no_es: bool) -> None:
    """The configured rules, and per rule the alert records by state (from Elasticsearch)."""
    from crawler.common.durations import format_duration

    config = _config(config_path)
    counts: dict[str, dict[str, int]] = {}
    es_note = ""
    if not no_es:
        try:
            counts = _state_counts(config)
        except Exception as exc:  # listing rules must work without a cluster
            es_note = f"(alert counts unavailable: {exc})"
    rows: list[dict[str, Any]] = []
    for rule in config.rules:
        row: dict[str, Any] = {
            "name": rule.name,
            "enabled": rule.enabled,
            "mode": "immediate" if rule.mode == "immediate" else f"digest every {_duration(rule.period)}",
            "events": list(rule.events),
            "recipients": list(rule.recipients),
            "condition": _condition_text(rule),
            "throttle": f"{rule.throttle.max}/{format_duration(rule.throttle.per)}" if rule.throttle else None,
            "version": rule.version,
            "alerts": counts.get(rule.name, {}),
        }
        rows.append(row)
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"alert rules ({len(rows)})")
    for col in ("rule", "mode", "events", "condition", "recipients", "alerts"):
        table.add_column(col, overflow="fold")
    for row in rows:
        name = row["name"] + ("" if row["enabled"] else " (disabled)")
        alerts = ", ".join(f"{k} {v}" for k, v in sorted(row["alerts"].items())) or "-"
        mode = row["mode"] + (f", max {row['throttle']}" if row["throttle"] else "")
        table.add_row(name, mode, ", ".join(row["events"]), row["condition"], ", ".join(row["recipients"]), alerts)
    console = Console(soft_wrap=False)
    console.print(table)
    if es_note:
        console.print(es_note)


def _state_counts(config: AlertsConfig) -> dict[str, dict[str, int]]:
    from crawler.es.client import get_client
    from crawler.es.names import IndexNames

    client = get_client()
    names = IndexNames()
    if not client.indices.exists(index=names.alerts):
        return {}
    client.indices.refresh(index=names.alerts)
    res = client.search(
        index=names.alerts,
        size=0,
        aggs={"r": {"terms": {"field": "rule", "size": 500}, "aggs": {"s": {"terms": {"field": "state"}}}}},
    )
    return {
        b["key"]: {s["key"]: s["doc_count"] for s in b["s"]["buckets"]} for b in res["aggregations"]["r"]["buckets"]
    }


@alerts_group.command("test")
@click.argument("rule")
@config_option
@click.option("-n", "--size", default=20, show_default=True, help="How many matching listings to show.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines: the matching listings.")
@click.option("--show-query", is_flag=True, help="Print the rule's compiled Elasticsearch query.")
def test_command(rule: str, config_path: Path | None, size: int, as_json: bool, show_query: bool) -> None:
    """Dry run of RULE: which listings already indexed would match. Records nothing, sends nothing."""
    from crawler.alerting.query import compile_rule

    config = _config(config_path)
    try:
        chosen = config.rule(rule)
    except KeyError as exc:
        raise click.ClickException(str(exc.args[0])) from None
    if show_query:
        click.echo(json.dumps(compile_rule(chosen), indent=2))
    engine = _engine(config)
    error = engine.validate_rules().get(chosen.name) if chosen.enabled else None
    if error:
        raise click.ClickException(f"rule {chosen.name!r}: Elasticsearch rejects its query: {error}")
    total, hits = engine.dry_run(chosen.name, size=size)
    if as_json:
        for hit in hits:
            click.echo(json.dumps(hit, default=str, ensure_ascii=False))
        return
    for hit in hits:
        sub = ",".join(hit.get("substance_names") or []) or "-"
        origin = ",".join(hit.get("ships_from") or []) or "-"
        title = str(hit.get("title") or "")[:70]
        click.echo(f"{hit['_id'][:12]}  {sub:<20.20} {origin:<6.6} {title}  {hit.get('url')}")
    state = "" if chosen.enabled else " (rule is disabled)"
    click.echo(f"{total} listing(s) match rule {chosen.name!r}{state}; dry run: no alert recorded, no mail sent")


def _report(result: DeliveryResult, what: str) -> None:
    click.echo(
        f"{what}: {result.sent} alert(s) sent in {result.mails} mail(s), {result.retry} to retry, "
        f"{result.failed} failed, {result.throttled} throttled, {result.skipped} taken by another process"
    )
    for err in result.errors:
        click.echo(f"error: {err}", err=True)


@alerts_group.command("send-digest")
@config_option
@click.option("--period", default=None, help="Only rules with this digest period (hourly, daily, weekly, 6h, 1d ...).")
@click.option("--rule", "rule_name", default=None, help="Only this rule.")
def send_digest_command(config_path: Path | None, period: str | None, rule_name: str | None) -> None:
    """Send the digest mails of digest rules: every waiting alert, grouped by rule and substance."""
    config = _config(config_path)
    if rule_name:
        try:
            config.rule(rule_name)
        except KeyError as exc:
            raise click.ClickException(str(exc.args[0])) from None
    from crawler.alerting.rules import parse_period

    if period is not None:
        try:
            parse_period(period)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--period") from None
    result = _engine(config).send_digests(period=period, rule=rule_name)
    _report(result, "digest")
    if result.errors:
        sys.exit(1)


@alerts_group.command("deliver")
@config_option
def deliver_command(config_path: Path | None) -> None:
    """Send every immediate alert that is due (new or waiting for a retry) and retry failed digests."""
    result = _engine(_config(config_path)).deliver_all()
    _report(result, "delivery")
    if result.errors:
        sys.exit(1)


@alerts_group.command("schema")
@click.option("--write", is_flag=True, help=f"Write it to {SCHEMA_PATH.relative_to(CONFIG_DIR.parent)}.")
def schema_command(write: bool) -> None:
    """Print (or write) the JSON Schema of alerts.yaml."""
    from crawler.alerting.rules import alerts_json_schema
    from crawler.config.schema import echo_or_write_schema, schema_json

    echo_or_write_schema(schema_json(alerts_json_schema()), SCHEMA_PATH, write)
