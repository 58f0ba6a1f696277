"""``narcowatch config``: check the sources configuration, write its JSON Schema."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from crawler.paths import CONFIG_DIR

SCHEMA_PATH = CONFIG_DIR / "schema" / "sources.schema.json"


def sources_schema() -> dict[str, object]:
    """The JSON Schema of a sources file, generated from the pydantic models."""
    from crawler.sources.models import SourcesFile

    schema = SourcesFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://narcowatch.example/schema/sources.schema.json"
    schema["title"] = "narcowatch sources file"
    return schema


def schema_text() -> str:
    from crawler.config.schema import schema_json

    return schema_json(sources_schema())


@click.group("config")
def config_group() -> None:
    """Validate the configuration and publish its JSON Schema."""


@config_group.command("check")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("-q", "--quiet", is_flag=True, help="Print only errors.")
def check_command(path: Path | None, quiet: bool) -> None:
    """Validate the configuration under PATH (file or directory; default NARCOWATCH_CONFIG or config/).

    A directory's sources (sources.yaml, sources/*.yaml) and its alerts.yaml are checked; a file is
    checked as a sources file. Prints every error as FILE:LINE: FIELD: MESSAGE and exits 1 if there is any.
    """
    from crawler.sources.loader import check_sources, config_path, source_files

    root = config_path(path)
    sources, issues = check_sources(root)
    rules = _check_alerts(root, issues)
    for issue in issues:
        click.echo(str(issue), err=True)
    if issues:
        click.echo(f"{len(issues)} error(s) in {root}", err=True)
        sys.exit(1)
    for src in sources:
        if getattr(src, "allow_private_addresses", False):
            click.echo(f"warning: source {src.name}: allow_private_addresses is on: it may reach loopback and "
                       "private addresses (meant for local test sites only)", err=True)
    if not quiet:
        files = source_files(root)
        for src in sources:
            state = "" if src.enabled else " (disabled)"
            click.echo(f"ok  {src.name:<28} {src.kind:<16} {src.platform_name}{state}")
        if rules is not None:
            click.echo(f"ok  {rules} alert rule(s) in {root / 'alerts.yaml'}")
        click.echo(f"{len(sources)} source(s) in {len(files)} file(s) under {root}: configuration is valid")


def _check_alerts(root: Path, issues: list[Any]) -> int | None:
    """Validate ``root/alerts.yaml`` when ``root`` is a directory holding one; adds its issues, returns its rules."""
    alerts = root / "alerts.yaml"
    if not (root.is_dir() and alerts.is_file()):
        return None
    from crawler.alerting.rules import load_alerts_config
    from crawler.config import ConfigError

    try:
        return len(load_alerts_config(alerts).rules)
    except ConfigError as exc:
        issues.extend(exc.issues)
        return None


@config_group.command("schema")
@click.option("--write", is_flag=True, help=f"Write it to {SCHEMA_PATH.relative_to(CONFIG_DIR.parent)}.")
def schema_command(write: bool) -> None:
    """Print the JSON Schema of sources files (for editors), or write the published copy."""
    from crawler.config.schema import echo_or_write_schema

    echo_or_write_schema(schema_text(), SCHEMA_PATH, write)
