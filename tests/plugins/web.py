"""Pytest fixtures that serve the fixture web (crawler.demo_web) on 127.0.0.1, port 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from crawler.demo_web import DemoWeb
from crawler.paths import ROOT

DEMO_SOURCES = ROOT / "config" / "demo" / "sources.yaml"


def _served_demo_web() -> Iterator[DemoWeb]:
    """A started DemoWeb with the test-only /broken/ site, stopped when the fixture ends."""
    web = DemoWeb(include_broken=True)
    web.start()
    try:
        yield web
    finally:
        web.stop()


@pytest.fixture(scope="session")
def demo_web_server() -> Iterator[DemoWeb]:
    """The session's DemoWeb (with the test-only /broken/ site); do not mutate it (use ``fresh_web``)."""
    yield from _served_demo_web()


@pytest.fixture(scope="session")
def demo_web(demo_web_server: DemoWeb) -> str:
    """Base URL (``http://127.0.0.1:PORT``) of the session's unmodified fixture web."""
    return demo_web_server.base_url


@pytest.fixture()
def fresh_web() -> Iterator[DemoWeb]:
    """A DemoWeb of its own for a test that mutates it (set_price, remove_listing, add_listing)."""
    yield from _served_demo_web()


_CRAWL_SCRIPT = """
import json, sys
from scrapy.crawler import CrawlerProcess
from scrapy.utils.project import get_project_settings

name, out, stats_path = sys.argv[1:4]
settings = get_project_settings()
settings.set("ITEM_PIPELINES", {}, priority="cmdline")
settings.set("LOG_LEVEL", "WARNING", priority="cmdline")
settings.set("FEEDS", {out: {"format": "jsonlines", "overwrite": True}}, priority="cmdline")
for pair in sys.argv[4:]:
    key, _, value = pair.partition("=")
    settings.set(key, json.loads(value), priority="cmdline")
process = CrawlerProcess(settings, install_root_handler=True)
crawler = process.create_crawler(name)
process.crawl(crawler)
process.start()
with open(stats_path, "w", encoding="utf-8") as fh:
    json.dump(crawler.stats.get_stats(), fh, default=str)
"""


@dataclass
class CrawlResult:
    """What a crawl of one source produced: its items (as dicts), Scrapy stats and log."""

    items: list[dict[str, Any]]
    stats: dict[str, Any]
    log: str

    def by(self, key: str) -> dict[Any, dict[str, Any]]:
        """Items indexed by one of their fields (``native_id``, ``url``)."""
        return {item[key]: item for item in self.items}

    def stat(self, prefix: str) -> int:
        """Sum of the integer stats whose key starts with ``prefix``."""
        return sum(v for k, v in self.stats.items() if k.startswith(prefix) and isinstance(v, int))


def run_crawl(
    config: Path,
    source: str,
    workdir: Path,
    *,
    env: dict[str, str] | None = None,
    settings: dict[str, Any] | None = None,
    timeout: float = 300,
) -> CrawlResult:
    """Crawl ``source`` of the sources file/directory ``config`` in a subprocess (CrawlerProcess, no pipelines)."""
    workdir.mkdir(parents=True, exist_ok=True)
    out, stats = workdir / f"{source}.jsonl", workdir / f"{source}.stats.json"
    full_env = {**os.environ, "NARCOWATCH_CONFIG": str(config), "NARCOWATCH_HOME": str(workdir / "home"),
                **(env or {})}
    args = [sys.executable, "-c", _CRAWL_SCRIPT, source, str(out), str(stats)]
    args += [f"{k}={json.dumps(v)}" for k, v in (settings or {}).items()]
    proc = subprocess.run(args, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    if proc.returncode != 0 or not stats.exists():
        raise AssertionError(f"crawl of {source} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    items = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()] \
        if out.exists() else []
    return CrawlResult(items, json.loads(stats.read_text(encoding="utf-8")), proc.stderr)


@pytest.fixture()
def crawl_demo(demo_web: str, tmp_path: Path) -> Any:
    """``crawl_demo("demo-market")``: crawl a source of config/demo/sources.yaml against the session web."""

    def _crawl(source: str, *, base_url: str | None = None, **kwargs: Any) -> CrawlResult:
        env = {"NARCOWATCH_DEMO_URL": base_url or demo_web, **kwargs.pop("env", {})}
        return run_crawl(DEMO_SOURCES, source, tmp_path / "crawl", env=env, **kwargs)

    return _crawl
