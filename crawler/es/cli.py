"""Command line for Elasticsearch: ``narcowatch es start|stop|status|install``, ``search`` and ``kibana``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch


def _quiet() -> bool:
    try:
        from crawler.cli import is_quiet
    except ImportError:
        return False
    return is_quiet()


def _client(url: str | None = None) -> Elasticsearch:
    from crawler.es.client import EsUnavailable, get_client

    try:
        return get_client(url)
    except EsUnavailable as exc:
        raise click.ClickException(str(exc)) from None


# ----------------------------------------------------------------------------- es group


@click.group("es")
def es_group() -> None:
    """The managed local Elasticsearch node (or the cluster in NARCOWATCH_ES_URL)."""


@es_group.command("start")
@click.option("--port", type=int, default=None, help="HTTP port (default 9200, or a free one if taken).")
@click.option("--heap", default="512m", show_default=True, help="JVM heap (-Xms/-Xmx).")
@click.option("--timeout", type=float, default=180, show_default=True, help="Seconds to wait for the node.")
@click.option("--no-install", is_flag=True, help="Do not install index templates and aliases.")
def es_start(port: int | None, heap: str, timeout: float, no_install: bool) -> None:
    """Download (once), start and wait for the local node; reuses a running one."""
    from crawler.es.node import ES_VERSION, ManagedNode, NodeError

    console = Console(stderr=True, quiet=_quiet())
    node = ManagedNode(http_port=port, heap=heap)
    try:
        with console.status(f"Starting Elasticsearch {ES_VERSION} (the first start downloads it through Maven)..."):
            info = node.start(timeout=timeout)
    except NodeError as exc:
        raise click.ClickException(str(exc)) from None
    if not no_install:
        from crawler.es.client import get_client
        from crawler.es.names import IndexNames
        from crawler.es.templates import MappingError, install

        try:
            install(get_client(info.url), IndexNames())
        except MappingError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"Elasticsearch {info.version} running at {info.url} (pid {info.pid}, data in {info.data_dir})")
    creds = node.credentials()
    click.echo(f"security on: user {creds[0] if creds else '?'}, password in {node.credentials_file} "
               "(narcowatch uses it automatically; `narcowatch es credentials`)")


@es_group.command("credentials")
@click.option("--show-password", is_flag=True, help="Print the password too (for Kibana or curl).")
def es_credentials(show_password: bool) -> None:
    """The managed node's generated user and where its password is kept (mode 0600)."""
    from crawler.es.node import ManagedNode

    node = ManagedNode()
    found = node.credentials()
    if not found:
        raise click.ClickException("the managed node has no credentials yet: run `narcowatch es start`")
    click.echo(f"user: {found[0]}")
    click.echo(f"password file: {node.credentials_file}")
    if show_password:
        click.echo(f"password: {found[1]}")


@es_group.command("stop")
@click.option("--timeout", type=float, default=60, show_default=True, help="Seconds before SIGKILL.")
def es_stop(timeout: float) -> None:
    """Stop the local node."""
    from crawler.es.node import ManagedNode

    stopped = ManagedNode().stop(timeout=timeout)
    click.echo("Elasticsearch stopped" if stopped else "Elasticsearch was not running")


@es_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def es_status(as_json: bool) -> None:
    """Is the node running, which version, where, and how healthy; exit 1 when it is not reachable."""
    import os

    from crawler.common.redaction import redact_url
    from crawler.es.client import EsUnavailable, get_client, server_version
    from crawler.es.names import IndexNames
    from crawler.es.node import ManagedNode
    from crawler.es.templates import installed_versions

    external = os.environ.get("NARCOWATCH_ES_URL")
    if external:
        st: dict[str, Any] = {"managed": False, "url": redact_url(external), "running": False}
        try:
            client = get_client(external)
            st.update(running=True, version=server_version(client), health=client.cluster.health()["status"])
        except EsUnavailable as exc:
            st["error"] = str(exc)
    else:
        st = {"managed": True, **ManagedNode().status()}
    if st.get("running"):
        try:
            st["aliases"] = installed_versions(get_client(external or st["url"]), IndexNames())
        except Exception as exc:  # status must print what it has even when alias lookup fails
            st["aliases_error"] = str(exc)
    if as_json:
        click.echo(json.dumps(st, indent=2, default=str))
    elif st.get("running"):
        click.echo(f"Elasticsearch {st.get('version')} running at {st.get('url')}"
                   + (f" (pid {st.get('pid')})" if st.get("pid") else "") + f", health {st.get('health')}")
        for alias, targets in (st.get("aliases") or {}).items():
            click.echo(f"  {alias} -> {', '.join(targets) if targets else '(not installed)'}")
    else:
        click.echo(f"Elasticsearch is not running ({st.get('error') or 'never started: narcowatch es start'})")
    if not st.get("running"):
        raise SystemExit(1)


@es_group.command("install")
@click.option("--index-prefix", default=None, help="Index prefix (default NARCOWATCH_INDEX_PREFIX or narcowatch).")
def es_install(index_prefix: str | None) -> None:
    """Install index templates and aliases (migrating data when a mapping version changed)."""
    from crawler.es.names import IndexNames
    from crawler.es.templates import MappingError, install

    try:
        result = install(_client(), IndexNames(index_prefix or ""))
    except MappingError as exc:
        raise click.ClickException(str(exc)) from None
    for alias, index in result.items():
        click.echo(f"{alias} -> {index}")


# ----------------------------------------------------------------------------- search


@click.command("search")
@click.argument("query", nargs=-1)
@click.option("--class", "substance_class", multiple=True, help="Substance class (fentanyl, opioid, precursor...).")
@click.option("--country", multiple=True, help="Ships-from or ships-to country (ISO code).")
@click.option("--platform", multiple=True, help="Platform (domain or network).")
@click.option("--source", multiple=True, help="Configured source name.")
@click.option("--since", default=None, help="Seen since: 24h, 7d, 2w or a date (2026-01-31).")
@click.option("--min-risk", type=click.FloatRange(0, 1), default=None, help="Minimum risk score (0-1).")
@click.option("--status", type=click.Choice(["active", "removed"]), default=None, help="Listing status.")
@click.option("-n", "--size", type=click.IntRange(1, 10000), default=20, show_default=True, help="How many results.")
@click.option("--index-prefix", default=None, help="Index prefix (default NARCOWATCH_INDEX_PREFIX or narcowatch).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line, for scripts.")
def search_command(
    query: tuple[str, ...],
    substance_class: tuple[str, ...],
    country: tuple[str, ...],
    platform: tuple[str, ...],
    source: tuple[str, ...],
    since: str | None,
    min_risk: float | None,
    status: str | None,
    size: int,
    index_prefix: str | None,
    as_json: bool,
) -> None:
    """Search listings: QUERY matches title, description, normalised text, vendor, substances, CAS and
    contacts (all words must match; quotes for phrases, -word to exclude)."""
    from elasticsearch import ApiError, NotFoundError

    from crawler.es.names import IndexNames
    from crawler.es.search import search

    names = IndexNames(index_prefix or "")
    try:
        rows = search(
            _client(), names, " ".join(query) or None,
            substance_class=list(substance_class) or None, country=list(country) or None,
            platform=list(platform) or None, source=list(source) or None, since=since, min_risk=min_risk,
            status=status, size=size,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    except NotFoundError:
        raise click.ClickException(
            f"no index {names.listings}: run a crawl first, or `narcowatch es install`"
        ) from None
    except ApiError as exc:
        raise click.ClickException(f"search failed: {exc.message}") from None
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False, default=str))
        return
    _print_table(rows)


def _fmt_list(v: Any) -> str:
    return ", ".join(str(x) for x in v) if isinstance(v, list) else ("" if v is None else str(v))


def _print_table(rows: list[dict[str, Any]]) -> None:
    console = Console()
    if not rows:
        console.print("No listings match.")
        return
    table = Table(show_lines=False)
    for col in ("risk", "title", "substances", "price", "vendor", "platform", "from", "to", "last seen"):
        table.add_column(col, overflow="fold")
    for r in rows:
        price = "" if r.get("price") is None else f"{r['price']:g} {r.get('currency') or ''}".strip()
        table.add_row(
            "" if r.get("risk") is None else f"{r['risk']:.2f}",
            (r.get("title") or "")[:80],
            _fmt_list(r.get("substance_names")),
            price,
            r.get("vendor") or "",
            r.get("platform") or "",
            _fmt_list(r.get("ships_from")),
            _fmt_list(r.get("ships_to")),
            (r.get("last_seen") or "")[:16],
        )
    console.print(table)
    console.print(f"{len(rows)} listings", style="dim")


# ----------------------------------------------------------------------------- kibana


@click.group("kibana")
def kibana_group() -> None:
    """Kibana saved objects (data views, saved searches, dashboard)."""


@kibana_group.command("import")
@click.option("--url", "kibana_url", envvar="NARCOWATCH_KIBANA_URL", required=True,
              help="Kibana base URL (or NARCOWATCH_KIBANA_URL).")
@click.option("--space", default=None, help="Kibana space id (default space if omitted).")
@click.option("--index-prefix", default=None, help="Index prefix the data views point at.")
@click.option("--file", "files", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="NDJSON file(s) to import (default: kibana/*.ndjson).")
def kibana_import(kibana_url: str, space: str | None, index_prefix: str | None, files: tuple[Path, ...]) -> None:
    """Import the saved objects through Kibana's saved-objects API (overwriting earlier versions)."""
    from crawler.es.kibana import KibanaError, import_saved_objects

    try:
        out = import_saved_objects(kibana_url, list(files) or None, prefix=index_prefix, space=space)
    except KibanaError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"imported {out['successCount']} saved objects")


@kibana_group.command("generate")
@click.option("--check", "check_only", is_flag=True,
              help="Only say whether kibana/saved_objects.ndjson is current (exit 1 when it is not).")
def kibana_generate(check_only: bool) -> None:
    """Write kibana/saved_objects.ndjson from crawler/es/dashboards.py (the saved objects as code)."""
    from crawler.es.dashboards import OUT, render, write

    if check_only:
        if not OUT.exists() or OUT.read_text(encoding="utf-8") != render():
            raise click.ClickException(f"{OUT} is stale: run `narcowatch kibana generate`")
        click.echo(f"{OUT} is current")
        return
    click.echo(f"wrote {OUT}" if write() else f"{OUT} was already current")


@kibana_group.command("check")
def kibana_check() -> None:
    """Check that every field the saved objects use exists in the mappings with a suitable type."""
    from crawler.es.kibana import check_fields, load_objects

    problems = check_fields(load_objects())
    for p in problems:
        click.echo(p, err=True)
    if problems:
        raise SystemExit(1)
    click.echo("saved objects and mappings agree")
