"""Try a source before saving it (`narcowatch source try`): crawl a few pages with no indexing, no NLP and no
alerts, then show the listings, each field's fill rate and every selector that matched nothing."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.http import Response

from crawler.config import ConfigError, ConfigIssue

MAX_KEPT_PAGES = 50
"""Fetched pages kept in memory to check the link selectors on."""

# Listing attribute a configured field fills (where the names differ).
ITEM_FIELD = {"price": "price_raw", "ships_from": "ships_from_raw", "ships_to": "ships_to_raw"}


class KeepPages:
    """A Scrapy extension that keeps the first fetched pages (URL and body) for the selector report."""

    pages: list[tuple[str, bytes, dict[str, str]]] = []

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> KeepPages:
        ext = cls()
        crawler.signals.connect(ext.response_received, signal=signals.response_received)
        return ext

    def response_received(self, response: Response, request: Request, spider: Spider) -> None:
        if len(KeepPages.pages) < MAX_KEPT_PAGES:
            headers = {"Content-Type": (response.headers.get(b"Content-Type") or b"").decode("latin-1")}
            KeepPages.pages.append((response.url, response.body, headers))


def raw_source(target: str, config: Path | None = None) -> tuple[dict[str, Any], Path]:
    """The YAML mapping of a source (as written, ``${VAR}`` not yet replaced) and the file it is in: TARGET is a
    sources file (its first source) or a configured source's name."""
    from crawler.sources.loader import config_path, source_files

    path = Path(target)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        files, name = [path], None
    else:
        files, name = source_files(config_path(config)), target
    for file in files:
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError([ConfigIssue(str(file), None, "", f"cannot read sources: {exc}")]) from exc
        entries = data.get("sources") if isinstance(data, dict) else None
        for entry in entries or []:
            if isinstance(entry, dict) and (name is None or entry.get("name") == name):
                return entry, file
    where = str(path) if name is None else f"the configuration ({config_path(config)})"
    raise ConfigError([ConfigIssue(str(files[0]) if files else target, None, "",
                                   f"no source {'in ' + where if name is None else repr(name) + ' in ' + where}")])


@dataclass
class TrialReport:
    """What one try found: listings, fill rate per configured field, selectors that matched nothing."""

    source: str
    pages: int
    listings: list[dict[str, Any]]
    fill: dict[str, float] = field(default_factory=dict)
    empty: list[str] = field(default_factory=list)
    """Every configured selector that matched nothing on any fetched page (``fields.vendor``, ``links.pagination``)."""
    notes: list[str] = field(default_factory=list)


def try_source(target: str, *, url: str | None = None, pages: int = 5, config: Path | None = None) -> TrialReport:
    """Crawl ``target`` (a source name or a sources file) for at most ``pages`` responses, without indexing."""
    from crawler.runner import run_crawls
    from crawler.sources.loader import parse_sources_file

    entry, origin = raw_source(target, config)
    entry = dict(entry)
    if url:
        entry["start_urls"] = [url]
    entry["max_pages"] = pages
    entry["enabled"] = True
    with tempfile.TemporaryDirectory(prefix="narcowatch-try-") as tmp:
        cfg = Path(tmp) / "sources.yaml"
        cfg.write_text(yaml.safe_dump({"sources": [entry]}, allow_unicode=True, sort_keys=False), encoding="utf-8")
        found, issues = parse_sources_file(cfg)
        if issues:  # name the user's file, not the temporary copy
            raise ConfigError([ConfigIssue(str(origin), None, i.field, i.message) for i in issues])
        source = found[0]
        out = Path(tmp) / "items.jsonl"
        KeepPages.pages = []
        overrides = {
            "ITEM_PIPELINES": {},
            "NARCOWATCH_PIPELINE_ENABLED": False,
            "FEEDS": {str(out): {"format": "jsonlines", "encoding": "utf-8"}},
            "EXTENSIONS": {"crawler.sources.trial.KeepPages": 0},
            "LOG_LEVEL": "WARNING",
            "CLOSESPIDER_PAGECOUNT": pages,
            "DEPTH_PRIORITY": -1,  # deeper pages first, one at a time: a few pages reach listings, not only
            "CONCURRENT_REQUESTS": 1,  # categories
            "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
        }
        run_crawls([source.name], config=cfg, overrides=overrides)
        listings = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()
                    if line.strip()] if out.exists() else []
    report = TrialReport(source.name, len(KeepPages.pages), listings)
    report.fill, report.empty = selector_report(source, listings, KeepPages.pages)
    if not listings and getattr(source, "listing_rows", None) is None:
        # page mode: the fetched pages may all be start and category pages; field selectors were not tried
        report.empty = [e for e in report.empty if not e.startswith("fields.")]
        report.notes.append(f"no listing page among the {report.pages} page(s) fetched, so the field selectors "
                            "were not tried: raise --pages, or give --url a listing page's category")
    return report


def selector_report(source: Any, listings: list[dict[str, Any]], pages: list[tuple[str, bytes, dict[str, str]]]
                    ) -> tuple[dict[str, float], list[str]]:
    """Each configured field's fill rate over the listings; the selectors that matched nothing on any page."""
    from scrapy.http import HtmlResponse

    from crawler.pages.base import select_values

    fields = getattr(source, "fields", None)
    configured = {name: spec for name, spec in (fields or {}) if spec is not None and name != "extra"} \
        if fields is not None else {}
    if fields is not None:
        configured.update({f"extra.{k}": v for k, v in fields.extra.items()})
    fill: dict[str, float] = {}
    for name in configured:
        attr = ITEM_FIELD.get(name, name)
        if name.startswith("extra."):
            got = sum(1 for it in listings if (it.get("extra") or {}).get(name[6:]))
        else:
            got = sum(1 for it in listings if it.get(attr) not in (None, "", []))
        fill[name] = got / len(listings) if listings else 0.0
    responses = [HtmlResponse(url=u, body=b, headers=h) for u, b, h in pages]
    responses = [r for r in responses if _is_html(r)]
    empty: list[str] = []
    selectors: dict[str, Any] = {}
    rows_spec = getattr(source, "listing_rows", None)
    if rows_spec is not None:
        selectors["listing_rows"] = rows_spec
    links = getattr(source, "links", None)
    if links is not None:
        for lname in type(links).model_fields:
            value = getattr(links, lname)
            for i, spec in enumerate(value if isinstance(value, list) else []):
                selectors[f"links.{lname}" + (f"[{i}]" if len(value) > 1 else "")] = spec
    for name, spec in selectors.items():
        if not any(_matches(r, spec, None) for r in responses):
            empty.append(name)
    for name, spec in configured.items():
        if spec.value is not None or fill.get(name, 0) > 0:
            continue
        roots = _row_roots(responses, rows_spec) if rows_spec is not None else responses
        if not any(select_values(root, spec) for root in roots):
            empty.append(f"fields.{name}")
    return fill, empty


def _is_html(response: Any) -> bool:
    try:
        response.selector  # noqa: B018 - parse once; binary or broken bodies are left out
    except Exception:
        return False
    return True


def _matches(response: Any, spec: Any, root: Any) -> bool:
    from crawler.pages.base import select_values

    if spec.css is not None:
        return bool(response.css(spec.css))
    if spec.xpath is not None:
        return bool(response.xpath(spec.xpath))
    return bool(select_values(root or response, spec))


def _row_roots(responses: list[Any], rows_spec: Any) -> list[Any]:
    roots: list[Any] = []
    for r in responses:
        nodes = r.css(rows_spec.css) if rows_spec.css is not None else r.xpath(rows_spec.xpath or "")
        roots.extend(nodes)
    return roots or responses
