"""`narcowatch demo`: the whole job on the embedded default, from an empty machine to alert emails.

Starts (or reuses) the local Elasticsearch node, serves the bundled demo sites on loopback, runs one
crawl of each demo source through NLP, indexing and alert rules, delivers alert emails to a local
mail sink that saves .eml files, and prints a summary with where to look next.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from crawler.common.redaction import redact_url
from crawler.paths import CONFIG_DIR, state_home

if TYPE_CHECKING:
    from crawler.alerting.sink import MailSink
    from crawler.demo_web import DemoWeb

DEMO_CONFIG = CONFIG_DIR / "demo"
DEMO_REPORT_PLATFORM = "telegram"
"""The platform of the referral report the demo ends with (its public Telegram channels)."""


def _es_url() -> str:
    """URL of the cluster in use: NARCOWATCH_ES_URL, else the managed node (started if needed)."""
    url = os.environ.get("NARCOWATCH_ES_URL")
    if url:
        return url
    from crawler.es import node

    return node.start().url


@click.command("demo")
@click.option("--workdir", type=click.Path(path_type=Path), help="Where mails and evidence go (default: state dir).")
@click.option("--smtp-url", help="Send alert mails to this SMTP server instead of the local sink.")
@click.option("--index-prefix", default=None, help="Index prefix (default NARCOWATCH_INDEX_PREFIX or narcowatch).")
@click.option("--log-level", default="WARNING", show_default=True, help="Scrapy log level during the crawl.")
@click.pass_context
def demo_command(
    ctx: click.Context, workdir: Path | None, smtp_url: str | None, index_prefix: str | None, log_level: str
) -> None:
    """Run the main job on the embedded default and print a summary."""
    from crawler.cli import is_quiet

    quiet = is_quiet(ctx)
    console = Console(stderr=True, quiet=quiet)
    out = Console()
    workdir = (workdir or state_home() / "demo").resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("NARCOWATCH_HOME", str(state_home()))
    if index_prefix:
        os.environ["NARCOWATCH_INDEX_PREFIX"] = index_prefix
    t0 = time.monotonic()

    managed = not os.environ.get("NARCOWATCH_ES_URL")
    with console.status("Starting the local Elasticsearch node (first run downloads it through Maven)..."):
        try:
            es_url = _es_url()
        except Exception as exc:  # node start failures carry their own clear message
            raise click.ClickException(f"Elasticsearch could not be started: {exc}") from None
    console.print(f"[green]Elasticsearch[/green] {redact_url(es_url)}")

    from crawler.alerting.sink import MailSink

    web = _start_demo_web()
    base_url = web.base_url
    os.environ["NARCOWATCH_DEMO_URL"] = base_url.rstrip("/")
    wanted = os.environ.get("NARCOWATCH_DEMO_PORT", "8808")
    taken = f" (port {wanted} is taken; listing ids do not depend on it)" if str(web.port) != wanted else ""
    console.print(f"[green]Demo sites[/green] {base_url}{taken}")
    sink: MailSink | None = None
    mail_dir = workdir / "mail"
    if smtp_url:
        os.environ["NARCOWATCH_SMTP_URL"] = smtp_url
    else:
        sink = MailSink(mail_dir).start()
        os.environ["NARCOWATCH_SMTP_URL"] = sink.url
        console.print(f"[green]Mail sink[/green] {sink.url} -> {mail_dir}")
    mails_before = set(mail_dir.glob("*.eml"))

    try:
        from crawler.runner import run_crawls

        with console.status("Crawling the demo sources (one in Chromium)..."):
            outcomes = run_crawls(
                [],
                config=DEMO_CONFIG,
                overrides={
                    "LOG_LEVEL": log_level,
                    "NARCOWATCH_EVIDENCE_DIR": str(workdir / "evidence"),
                    "NARCOWATCH_ALERTS_FILE": str(DEMO_CONFIG / "alerts.yaml"),
                },
            )
        # The pipeline delivers after each batch; give the sink a moment to write the last files.
        if sink is not None:
            time.sleep(0.5)
        summary = _summary(es_url, outcomes, mail_dir, mails_before)
    finally:
        if sink is not None:
            sink.stop()
        web.stop()

    summary["managed"] = managed
    if not summary.get("summary_error"):
        with console.status(f"Writing the referral report for the demo's {DEMO_REPORT_PLATFORM} platform..."):
            summary["report"] = _referral_report(workdir / "reports" / DEMO_REPORT_PLATFORM, workdir / "evidence")
    _print_summary(out, summary, time.monotonic() - t0)
    if summary["spooled"]:
        raise click.ClickException(
            f"Elasticsearch at {redact_url(es_url)} stopped answering during the run: "
            f"{summary['spooled']} listings were spooled to disk and will be indexed on the next run."
        )
    if any(o.outcome == "failed" for o in outcomes):
        sys.exit(1)


def _referral_report(directory: Path, evidence: Path) -> dict[str, Any]:
    """``narcowatch report platform telegram -o DIR`` on the demo's data: where it went, or why it failed."""
    from crawler.es.client import get_client
    from crawler.es.names import IndexNames
    from crawler.reports.build import make_report
    from crawler.reports.data import platform_selection

    command = ["narcowatch", "report", "platform", DEMO_REPORT_PLATFORM, "--since", "30d", "-o", str(directory)]
    try:
        client, names = get_client(), IndexNames()
        selection = platform_selection(client, names, DEMO_REPORT_PLATFORM, since="30d")
        made = make_report(client, names, selection, directory, command=command,
                           evidence_dirs=[evidence])
    except Exception as exc:  # the crawl's results stand; say why the report is missing
        return {"error": f"{type(exc).__name__}: {str(exc)[:300]}", "command": " ".join(command)}
    return {"html": directory / "report.html", "listings": made.listings, "sections": made.sections,
            "command": " ".join(command)}


def _start_demo_web() -> DemoWeb:
    """The demo sites on NARCOWATCH_DEMO_PORT (default 8808), or any free port when that one is taken.

    The port does not matter to what is indexed: listing ids leave out the port of a source's own address
    (crawler.fingerprint.SiteIdentity), so a run on another port updates the documents of the last one
    (0 new listings, no new alert mail) instead of indexing them again.
    """
    from crawler.demo_web import DemoWeb

    port = int(os.environ.get("NARCOWATCH_DEMO_PORT", "8808"))
    try:
        web = DemoWeb(port=port)
        web.start()
    except OSError:
        web = DemoWeb(port=0)
        web.start()
    return web


def _summary(es_url: str, outcomes: list[Any], mail_dir: Path, mails_before: set[Path]) -> dict[str, Any]:
    from elastic_transport import TransportError

    from crawler.es.client import EsUnavailable, get_client
    from crawler.es.names import IndexNames

    mails = sorted(set(mail_dir.glob("*.eml")) - mails_before)
    summary: dict[str, Any] = {
        "sources": [(o.source, o.pages, o.listings, o.new, o.outcome) for o in outcomes],
        "pages": sum(o.pages for o in outcomes),
        "listings": sum(o.listings for o in outcomes),
        "new": sum(o.new for o in outcomes),
        "spooled": sum(o.spooled for o in outcomes),
        "mails": mails,
        "mail_dir": mail_dir,
        "substances": [],
        "alerts": 0,
        "example": [],
        "es_url": es_url,
    }
    names = IndexNames()
    try:
        client = get_client()
        client.indices.refresh(index=f"{names.listings},{names.alerts}")
        agg = client.search(
            index=names.listings,
            size=0,
            aggs={"s": {"terms": {"field": "substance_names", "size": 10}}},
        )
        summary["substances"] = [(b["key"], b["doc_count"]) for b in agg["aggregations"]["s"]["buckets"]]
        summary["alerts"] = client.count(index=names.alerts)["count"]
        from crawler.es.search import search

        summary["example"] = search(client, names, "fentanyl", substance_class="fentanyl", size=3)
    except (TransportError, ConnectionError, EsUnavailable) as exc:
        summary["summary_error"] = f"Elasticsearch at {redact_url(es_url)} did not answer: {str(exc).split('. ')[0]}"
    return summary


def _print_summary(out: Console, s: dict[str, Any], seconds: float) -> None:
    table = Table(title="narcowatch demo: crawl", show_lines=False)
    for col in ("source", "pages", "listings", "new", "outcome"):
        table.add_column(col)
    for row in s["sources"]:
        table.add_row(*(str(v) for v in row))
    out.print(table)
    if s["substances"]:
        out.print("Substances found: " + ", ".join(f"{name} ({n})" for name, n in s["substances"]))
    if s.get("summary_error"):
        out.print(f"[red]{s['summary_error']}[/red]")
    for hit in s["example"]:
        out.print(f"  - {hit.get('title')!s:.70}  [{', '.join(hit.get('ships_from') or [])}]  risk {hit.get('risk')}")
    out.print(
        f"Example search: narcowatch search fentanyl --class fentanyl   ({len(s['example'])} shown above)"
    )
    mails = s["mails"]
    example = f" (e.g. {mails[0].name})" if mails else ""
    out.print(f"Alert mails: {len(mails)} .eml files in {s['mail_dir']}{example}")
    report = s.get("report") or {}
    if report.get("html"):
        out.print(f"Referral report ({DEMO_REPORT_PLATFORM}): {report['html']} ({report['listings']} listings, "
                  f"{report['sections']} channels; report.pdf, listings.csv, evidence/ and custody.json beside it; "
                  f"check it with `narcowatch evidence verify {report['html'].parent}`)", soft_wrap=True)
    elif report.get("error"):
        out.print(f"[red]Referral report ({DEMO_REPORT_PLATFORM}) failed: {report['error']}[/red] "
                  f"(retry: {report['command']})")
    if s.get("managed"):
        out.print(f"Elasticsearch keeps running at {redact_url(s['es_url'])} for your searches; stop it with "
                  "`narcowatch es stop`.")
    out.print(
        f"Demo summary: {s['pages']} pages, {s['listings']} listings ({s['new']} new), "
        f"{len(s['substances'])} substances, {s['alerts']} alerts, {len(mails)} mails, in {seconds:.0f} s"
    )
