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
            site = f" (canonical address {src.site_host}, mirrors {', '.join(src.mirrors)})" if src.mirrors else ""
            click.echo(f"ok  {src.name:<28} {src.kind:<16} {src.platform_name}{site}{state}")
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


# ---------------------------------------------------------------- narcowatch source


@click.group("source")
def source_group() -> None:
    """Write and test sources: propose selectors from a page, try a source without indexing."""


@source_group.command("suggest")
@click.argument("page")
@click.option("--example", "examples", multiple=True, metavar="TEXT",
              help="A text on the page you know is an offer's title (repeatable); anchors the rows.")
@click.option("--name", default="suggested", show_default=True, help="Name of the proposed source.")
@click.option("--kind", type=click.Choice(["market", "browser", "b2b_chemicals"]), default="market",
              show_default=True)
@click.option("--start-url", help="Address written in start_urls (default: PAGE when it is a URL).")
@click.option("--base-url", help="Address a saved file was read from (resolves its relative links).")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="HOST",
              help="Besides loopback, a host PAGE may be fetched from (repeatable).")
@click.option("--preview", default=10, show_default=True, help="Offers shown in the preview table (stderr).")
@click.option("--listing-page", is_flag=True,
              help="PAGE is one offer's own page: propose its fields by their labels (Ships from, Price...).")
def suggest_command(page: str, examples: tuple[str, ...], name: str, kind: str, start_url: str | None,
                    base_url: str | None, allow_hosts: tuple[str, ...], preview: int, listing_page: bool) -> None:
    """Propose a source block for the result page PAGE (a saved file or an http(s) URL on this machine).

    Finds the repeating offer rows, the link to each offer's page, pagination and the fields (title, price,
    vendor, ships from/to, category, views, dates) by what their values look like. Prints YAML on stdout, each
    selector commented with how sure it is, and a preview of the first offers on stderr.
    """
    from crawler.cli import is_quiet
    from crawler.sources.suggest import PageRefused, read_page, saved_page_text, suggest, to_yaml

    try:
        url, raw = read_page(page, allow_hosts)
    except PageRefused as exc:
        raise click.ClickException(str(exc)) from None
    body = raw if url else saved_page_text(raw)
    if listing_page:
        from crawler.sources.suggest_listing import listing_yaml, read_fields, suggest_listing

        one = suggest_listing(body, url or base_url or "http://change-me.example/")
        click.echo(listing_yaml(one, name=name, start_url=start_url, kind=kind, page=page), nl=False)
        if "title" not in one.fields:
            click.echo(f"{page}: no title found on the page", err=True)
            sys.exit(1)
        if not is_quiet():
            for fname, value in read_fields(body, one).items():
                click.echo(f"  {fname:<11} {value}", err=True)
        return
    found = suggest(body, url or base_url or "http://change-me.example/", list(examples), preview=preview)
    click.echo(to_yaml(found, name=name, start_url=start_url or url, kind=kind, page=page), nl=False)
    if found.rows is None:
        click.echo(f"{page}: no repeating offer rows found (one offer's own page? try --listing-page)", err=True)
        sys.exit(1)
    if not is_quiet():
        _table([f for f in found.fields if f not in ("vendor_url", "images")], found.preview,
               f"first {len(found.preview)} of {found.row_count} offers")


def _table(columns: list[str], rows: list[dict[str, Any]], title: str, fill: dict[str, float] | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for col in columns:
        head = col if fill is None or col not in fill else f"{col}\n{fill[col]:.0%}"
        table.add_column(head, overflow="fold", max_width=40 if col in ("title", "url") else 24)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    Console(stderr=True).print(table)


@source_group.command("try")
@click.argument("target", metavar="NAME|FILE.yaml")
@click.option("--url", help="Start here instead of the source's start_urls.")
@click.option("--pages", default=5, show_default=True, type=click.IntRange(1, 1000),
              help="Pages fetched at most.")
@click.option("--config", "config", type=click.Path(path_type=Path), help="Configuration directory or file.")
@click.option("--json", "as_json", is_flag=True, help="Print the listings as JSON lines instead of a table.")
def try_command(target: str, url: str | None, pages: int, config: Path | None, as_json: bool) -> None:
    """Run a source (a configured NAME, or the first source in FILE.yaml) without indexing: no Elasticsearch,
    NLP or alerts. Shows the listings, each field's fill rate and every selector that matched nothing.

    Exits 1 when no listing was found.
    """
    import json

    from crawler.config import ConfigError
    from crawler.sources.trial import ITEM_FIELD, try_source

    try:
        report = try_source(target, url=url, pages=pages, config=config)
    except ConfigError as exc:
        raise click.ClickException(f"configuration error:\n{exc}") from None
    if as_json:
        for item in report.listings:
            click.echo(json.dumps(item, ensure_ascii=False, sort_keys=True))
    else:
        cols = ["url", *(ITEM_FIELD.get(f, f) for f in report.fill if not f.startswith("extra."))]
        fill = {ITEM_FIELD.get(f, f): v for f, v in report.fill.items()}
        _table([c for c in dict.fromkeys(cols) if c not in ("description", "images", "links")][:9],
               report.listings[:20], f"{report.source}: {len(report.listings)} listing(s) from {report.pages} "
                                     f"page(s)", fill)
    click.echo(f"{report.source}: {len(report.listings)} listing(s) from {report.pages} page(s)", err=True)
    for fname, rate in report.fill.items():
        click.echo(f"  fill {fname:<14} {rate:6.1%}", err=True)
    for name in report.empty:
        click.echo(f"  matched nothing: {name}", err=True)
    for note in report.notes:
        click.echo(f"  note: {note}", err=True)
    if not report.listings:
        sys.exit(1)
