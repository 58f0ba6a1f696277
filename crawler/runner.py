"""Run crawls of configured sources in this process: `narcowatch crawl`, the demo and the daemon's workers.

``python -m crawler.runner crawl SOURCE`` is the worker entry point of the scheduler: it runs one crawl
and prints a final JSON line with its stats, so the daemon never runs (or restarts) a reactor itself.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click
from scrapy.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class CrawlOutcome:
    """Stats of one crawl of one source (the body of its run record)."""

    source: str
    run_id: str
    start: str
    end: str = ""
    duration_s: float = 0.0
    elapsed_s: float = 0.0
    outcome: str = "ok"
    finish_reason: str | None = None
    pages: int = 0
    bytes: int = 0
    listings: int = 0
    new: int = 0
    changed: int = 0
    price_changes: int = 0
    relisted: int = 0
    unchanged: int = 0
    removed: int = 0
    alerts: int = 0
    spooled: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    """Time spent per pipeline stage (lookup, nlp, index, vendors, alerts), summed over batches."""
    fill_rates: dict[str, float] = field(default_factory=dict)
    """Share of this crawl's listings that had each watched field (crawler.drift)."""
    fill_samples: dict[str, str] = field(default_factory=dict)
    """Per field, the URL of a listing without it."""
    gate: dict[str, Any] | None = None
    """When a login wall, anti-DDoS page or CAPTCHA stopped the crawl: kind, url, message, counts."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def project_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """crawler.settings plus overrides, independent of the working directory."""
    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    if overrides:
        settings.setdict(overrides, priority="cmdline")
    return settings


def outcome_from_stats(source: str, run_id: str, start: str, stats: dict[str, Any]) -> CrawlOutcome:
    """Read a crawl's Scrapy stats into its outcome."""
    from crawler.common.clock import utc_now_iso

    errors: dict[str, int] = {}
    for key, value in stats.items():
        if key.startswith("narcowatch/bad_page/"):
            errors["bad_page:" + key.rsplit("/", 1)[1]] = int(value)
        elif key.startswith("downloader/exception_type_count/"):
            errors["download:" + key.rsplit("/", 1)[1].rsplit(".", 1)[-1]] = int(value)
        elif key.startswith("spider_exceptions/"):
            errors["spider:" + key.split("/", 1)[1]] = int(value)
        elif key == "narcowatch/errors/batch":
            errors["batch"] = int(value)
        elif key.startswith("downloader/response_status_count/") and key.rsplit("/", 1)[1][0] in "45":
            errors["http:" + key.rsplit("/", 1)[1]] = int(value)
    finish = stats.get("finish_reason")
    out = CrawlOutcome(
        source=source,
        run_id=run_id,
        start=start,
        end=utc_now_iso(),
        finish_reason=finish,
        elapsed_s=round(float(stats.get("elapsed_time_seconds", 0.0)), 3),
        pages=int(stats.get("response_received_count", 0)),
        bytes=int(stats.get("downloader/response_bytes", 0)),
        listings=int(stats.get("item_scraped_count", 0)),
        new=int(stats.get("narcowatch/listings/new", 0)),
        changed=int(stats.get("narcowatch/listings/changed", 0)),
        price_changes=int(stats.get("narcowatch/listings/price_change", 0)),
        relisted=int(stats.get("narcowatch/listings/relisted", 0)),
        unchanged=int(stats.get("narcowatch/listings/unchanged", 0)),
        removed=int(stats.get("narcowatch/listings/removed", 0)),
        alerts=int(stats.get("narcowatch/alerts", 0)),
        spooled=int(stats.get("narcowatch/spooled", 0)),
        errors=errors,
        seconds={
            k.rsplit("/", 1)[1]: round(float(v), 3) for k, v in stats.items() if k.startswith("narcowatch/seconds/")
        },
    )
    from crawler.drift import fill_rates

    out.fill_rates, out.fill_samples = fill_rates(stats)
    if stats.get("narcowatch/gated"):
        out.gate = {"kind": stats.get("narcowatch/gated_kind"), "url": stats.get("narcowatch/gated_url"),
                    "message": stats.get("narcowatch/gated"),
                    "counts": {k.rsplit("/", 1)[1]: int(v) for k, v in stats.items()
                               if k.startswith("narcowatch/gated/")}}
    if out.gate is not None and not (out.spooled or errors.get("batch")):
        out.outcome = "gated"
    elif finish not in ("finished", None) or out.spooled or errors.get("batch"):
        out.outcome = "failed"
    elif out.pages == 0:
        out.outcome = "empty"
    return out


def run_crawls(
    sources: list[str],
    *,
    config: Path | None = None,
    overrides: dict[str, Any] | None = None,
    run_id: str | None = None,
) -> list[CrawlOutcome]:
    """Crawl the named sources (all enabled ones if empty) in one reactor, then return their outcomes.

    Starts a reactor: call once per process (the CLI, the demo, a scheduler worker).
    """
    from scrapy.crawler import CrawlerProcess

    from crawler.common.clock import utc_now_iso
    from crawler.evidence import new_run_id
    from crawler.sources import load_sources

    if config is not None:
        os.environ["NARCOWATCH_CONFIG"] = str(config)
    configs = load_sources(config)
    by_name = {c.name: c for c in configs}
    unknown = [s for s in sources if s not in by_name]
    if unknown:
        raise click.ClickException(
            f"unknown source(s) {', '.join(unknown)}; configured: {', '.join(sorted(by_name)) or 'none'}"
        )
    selected = [by_name[s] for s in sources] if sources else [c for c in configs if getattr(c, "enabled", True)]
    settings = project_settings(overrides)
    if any(c.kind == "browser" for c in selected):
        # browser sources bring their own scrapy-playwright settings; fail early, clearly, without Chromium
        from crawler.browser import BrowserNotFound, find_chromium

        try:
            find_chromium()
        except BrowserNotFound as exc:
            names = ", ".join(c.name for c in selected if c.kind == "browser")
            raise click.ClickException(f"{names}: {exc}") from None
    if os.environ.get("NARCOWATCH_REDIS_URL"):
        # several workers share one frontier in Redis: they must agree on the run they take part in
        from crawler.distributed import settings_from_env

        run_id = run_id or os.environ.get("NARCOWATCH_RUN_ID")
        if not run_id:
            raise click.ClickException(
                "NARCOWATCH_REDIS_URL is set (distributed crawl): give every worker the same --run-id "
                "(or NARCOWATCH_RUN_ID)"
            )
        settings.setdict(settings_from_env({**os.environ, "NARCOWATCH_RUN_ID": run_id}), priority="cmdline")
    run_id = run_id or new_run_id()
    settings.set("NARCOWATCH_RUN_ID", run_id, priority="cmdline")
    if settings.get("LOG_LEVEL") != "DEBUG":
        from crawler.cli import quiet_noisy_loggers

        quiet_noisy_loggers()
    if settings.getbool("NARCOWATCH_PIPELINE_ENABLED", True) and settings.getdict("ITEM_PIPELINES"):
        _preflight_elasticsearch()
        if settings.getbool("NARCOWATCH_NLP_ENABLED", True):
            from crawler.services import analyzer

            analyzer()  # load the NLP pipeline once, before the crawl clock starts
    _drop_cli_root_handlers()
    process = CrawlerProcess(settings, install_root_handler=True)
    start = utc_now_iso()
    crawlers = []
    for source in selected:
        crawler = process.create_crawler(source.name)
        crawlers.append((source.name, crawler))
        process.crawl(crawler)
    process.start()
    results = []
    for name, crawler in crawlers:
        stats = crawler.stats.get_stats() if crawler.stats is not None else {}
        out = outcome_from_stats(name, run_id, start, stats)
        out.duration_s = round(_seconds(start, out.end), 3)
        results.append(out)
    return results


def _drop_cli_root_handlers() -> None:
    """Scrapy installs its own root handler (honouring LOG_LEVEL); drop the CLI's basicConfig one first."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if type(handler) is logging.StreamHandler:
            root.removeHandler(handler)


def _preflight_elasticsearch() -> None:
    """Fail before crawling, with the URL and what to do, when no cluster answers."""
    from crawler.es.client import EsUnavailable, get_client

    try:
        get_client()
    except EsUnavailable as exc:
        raise click.ClickException(str(exc)) from None


def _seconds(start: str, end: str) -> float:
    from crawler.common.clock import parse_iso

    return (parse_iso(end) - parse_iso(start)).total_seconds()


@click.command("crawl")
@click.argument("sources", nargs=-1, required=True)
@click.option("--config", "config", type=click.Path(path_type=Path), help="Configuration directory or file.")
@click.option("--run-id", help="Id of this run (the scheduler sets it).")
@click.option("-s", "--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a Scrapy setting.")
@click.option("--log-level", default="INFO", show_default=True, help="Scrapy log level.")
def crawl_command(
    sources: tuple[str, ...], config: Path | None, run_id: str | None, sets: tuple[str, ...], log_level: str
) -> None:
    """One crawl of each named SOURCE through the whole pipeline, then exit (1 if any failed).

    Prints one JSON line per source with its stats: pages, listings new/changed/removed, errors.
    """
    from crawler.config import ConfigError

    overrides: dict[str, Any] = {"LOG_LEVEL": log_level}
    for item in sets:
        name, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="--set")
        overrides[name] = value
    try:
        outcomes = run_crawls(list(sources), config=config, overrides=overrides, run_id=run_id)
    except ConfigError as exc:
        raise click.ClickException(f"configuration error:\n{exc}") from None
    for out in outcomes:
        click.echo(out.to_json())
    if any(o.outcome in ("failed", "gated") for o in outcomes):
        sys.exit(1)


@click.group()
def _worker() -> None:
    """Worker entry point (python -m crawler.runner)."""


_worker.add_command(crawl_command)

if __name__ == "__main__":
    _worker()
