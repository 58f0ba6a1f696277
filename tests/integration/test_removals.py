"""Removal marking through real crawls (worker processes, real node): only a crawl that finished normally
marks the listings it did not see, and only those of its own source.

Two sources on two local sites. A listing disappears from the first; crawls that stop early (page
limit, logout, a spider error) mark nothing; the next full crawl marks exactly that listing, and
none of the other source's listings, which that crawl never looked at.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import yaml
from elasticsearch import Elasticsearch
from test_browser_support import ROOT, local_server, page, send

from crawler.es.names import IndexNames

pytestmark = [pytest.mark.slow]


class Site:
    """A tiny market: an index linking its items; items can be taken down; a page can show the login form."""

    def __init__(self, items: list[str]):
        self.items = list(items)
        self.logged_out_at: str | None = None

    def routes(self) -> dict[str, Any]:
        def index(req: BaseHTTPRequestHandler) -> None:
            links = "".join(f'<a class="l" href="/item/{i}">{i}</a>' for i in self.items)
            send(req, 200, page("index", f"<h1>market</h1>{links}"))

        def item(i: str) -> Any:
            def handler(req: BaseHTTPRequestHandler) -> None:
                if i not in self.items:
                    send(req, 404, page("gone", "<p>no such listing</p>"))
                elif self.logged_out_at == i:
                    send(req, 200, page("login", "<form id='login'><p>Please log in</p></form>"))
                else:
                    send(req, 200, page(i, f'<h1 class="t">Oxycodone 30mg lot {i}</h1><p class="p">$25</p>'))
            return handler

        return {"/": index, **{f"/item/{i}": item(i) for i in ("1", "2", "3", "4", "5", "6", "7")}}


def source(name: str, base: str) -> dict[str, Any]:
    return {
        "name": name, "kind": "market", "start_urls": [f"{base}/"], "robots": "ignore",
        "allow_private_addresses": True, "removal_grace": "0s",
        "rate_limit": {"download_delay": 0, "concurrency": 1},
        "links": {"listing": "a.l"}, "fields": {"title": "h1.t", "price": "p.p"},
        "session": {"logout_marker": "form#login"},
    }


class Crawler:
    def __init__(self, config: Path, env: dict[str, str]):
        self.config, self.env = config, env

    def crawl(self, name: str, *sets: str, env: dict[str, str] | None = None) -> dict[str, Any]:
        args = [sys.executable, "-m", "crawler.runner", "crawl", name, "--config", str(self.config),
                "--log-level", "WARNING", "-s", "NARCOWATCH_NLP_ENABLED=0", "-s", "NARCOWATCH_ALERTS_ENABLED=0",
                "-s", "NARCOWATCH_PIPELINE_BATCH_SECONDS=0.2"]
        for s in sets:
            args += ["-s", s]
        proc = subprocess.run(args, cwd=ROOT, env={**self.env, **(env or {})}, capture_output=True, text=True,
                              timeout=300, check=False)
        lines = proc.stdout.strip().splitlines()
        assert lines, f"crawl of {name} printed no outcome (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
        out = dict(json.loads(lines[-1]))
        return out


def statuses(client: Elasticsearch, names: IndexNames) -> dict[tuple[str, str], str]:
    client.indices.refresh(index=names.listings)
    hits = client.search(index=names.listings, size=100, query={"match_all": {}},
                         source=["source", "url", "status"])["hits"]["hits"]
    return {(h["_source"]["source"], h["_source"]["url"].rsplit("/", 1)[-1]): h["_source"]["status"] for h in hits}


def test_only_a_finished_crawl_marks_removals_and_only_in_its_source(
    tmp_path: Path, es_client: Elasticsearch, es_installed: IndexNames, es_env: IndexNames
) -> None:
    alpha, beta = Site(["1", "2", "3", "4"]), Site(["5", "6"])
    with local_server(alpha.routes()) as (base_a, _), local_server(beta.routes()) as (base_b, _):
        config = tmp_path / "sources.yaml"
        config.write_text(yaml.safe_dump({"sources": [source("alpha", base_a), source("beta", base_b)]}))
        env = {**os.environ, "NARCOWATCH_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}
        env.pop("NARCOWATCH_ALERTS_FILE", None)
        run = Crawler(config, env)

        first_a, first_b = run.crawl("alpha"), run.crawl("beta")
        assert (first_a["outcome"], first_a["new"], first_b["outcome"], first_b["new"]) == ("ok", 4, "ok", 2)
        assert set(statuses(es_client, es_installed).values()) == {"active"}

        alpha.items.remove("4")  # taken down: every crawl of alpha from now on misses it

        limited = run.crawl("alpha", "CLOSESPIDER_PAGECOUNT=2")
        assert limited["finish_reason"] == "closespider_pagecount" and limited["removed"] == 0

        alpha.logged_out_at = "2"
        logged_out = run.crawl("alpha")
        assert logged_out["finish_reason"] == "logged_out" and logged_out["removed"] == 0
        alpha.logged_out_at = None

        failed = run.crawl("alpha", "CLOSESPIDER_ERRORCOUNT=1",
                           'SPIDER_MIDDLEWARES={"tests.support.leaky.FailOnPathSpiderMiddleware": 50}',
                           env={"NARCOWATCH_TEST_FAIL_PATH": "/item/1"})
        assert failed["finish_reason"] == "closespider_errorcount" and failed["removed"] == 0
        assert "removed" not in statuses(es_client, es_installed).values()

        full = run.crawl("alpha")
        assert (full["outcome"], full["finish_reason"], full["removed"]) == ("ok", "finished", 1)
        assert statuses(es_client, es_installed) == {
            ("alpha", "1"): "active", ("alpha", "2"): "active", ("alpha", "3"): "active",
            ("alpha", "4"): "removed",
            ("beta", "5"): "active", ("beta", "6"): "active",  # not crawled, older than the cutoff: kept
        }
