"""Two crawl worker processes share one frontier in a real Redis: every page fetched exactly once, none missed.

Run as a script (``python test_redis_workers.py worker BASE_URL REDIS_URL RUN_ID NAME``) this file is one
worker: a link-following Scrapy spider with ``crawler.distributed.distributed_settings`` merged in.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.plugins.redis import redis_server, redis_url  # noqa: F401 - fixtures

PAGES = 200
DELAY = 0.03  # shared per-domain delay, seconds


def page_links(i: int) -> list[int]:
    """Each page links to three others, so every page is reachable from /p/0 by several paths."""
    return sorted({(i + 1) % PAGES, (i * 2) % PAGES, (i * 7 + 3) % PAGES})


class Site:
    """A 200-page site on 127.0.0.1, port 0, counting every hit server-side (path, time, user agent)."""

    def __init__(self) -> None:
        self.hits: list[tuple[str, float, str]] = []
        self.lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with site.lock:
                    site.hits.append((self.path, time.monotonic(), self.headers.get("User-Agent", "")))
                if self.path == "/robots.txt":
                    body = b"User-agent: *\nAllow: /\n"
                    ctype = "text/plain"
                elif self.path == "/" or self.path.startswith("/p/"):
                    i = 0 if self.path == "/" else int(self.path.rsplit("/", 1)[1])
                    time.sleep(0.005)
                    links = "".join(f'<a href="/p/{j}">page {j}</a> ' for j in page_links(i))
                    body = f"<html><body><h1>Page {i}</h1>{links}<a href='/'>home</a></body></html>".encode()
                    ctype = "text/html"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def start(self) -> Site:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site().start()
    yield s
    s.stop()


def run_worker(base_url: str, redis: str, run_id: str, name: str) -> None:
    """One worker process: crawl every link of the site through the shared Redis frontier."""
    import scrapy
    from scrapy.crawler import CrawlerProcess

    from crawler.distributed import distributed_settings
    from crawler.runner import project_settings

    fetched: list[str] = []

    class LinkSpider(scrapy.Spider):
        name = "linkspider"
        allow_private_addresses = True  # the test site is on 127.0.0.1
        start_urls = [base_url + "/p/0"]

        def parse(self, response: Any) -> Iterator[Any]:
            fetched.append(response.url)
            for href in response.css("a::attr(href)").getall():
                yield response.follow(href, callback=self.parse)

    overrides = distributed_settings(redis, run_id, domain_delay=DELAY, idle_grace=4.0)
    overrides.update({"USER_AGENT": f"narcowatch-test/{name}", "LOG_LEVEL": "INFO", "ROBOTSTXT_OBEY": False,
                      "CONCURRENT_REQUESTS": 8, "CONCURRENT_REQUESTS_PER_DOMAIN": 8, "RETRY_ENABLED": False,
                      "ITEM_PIPELINES": {}})  # link-following only: no listings, no index
    settings = project_settings(overrides)
    settings.set("SPIDER_MODULES", [], priority="cmdline")
    process = CrawlerProcess(settings, install_root_handler=True)
    process.crawl(LinkSpider)
    process.start()
    print(json.dumps({"worker": name, "fetched": len(fetched)}), flush=True)


@pytest.mark.redis
@pytest.mark.slow
def test_two_workers_fetch_every_page_once(site: Site, redis_url: str) -> None:  # noqa: F811
    import redis

    run_id = f"t{int(time.time())}"
    cmd = [sys.executable, str(Path(__file__).resolve()), "worker", site.url, redis_url, run_id]
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root))
    workers = [
        subprocess.Popen([*cmd, name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=root, env=env)
        for name in ("w1", "w2")
    ]
    outs = []
    for proc in workers:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err.decode()[-3000:]
        outs.append(json.loads(out.decode().strip().splitlines()[-1]))
    pages = [p for p, _, _ in site.hits if p.startswith("/p/")]
    counts = Counter(pages)
    assert len(counts) == PAGES, f"missed: {sorted(set(f'/p/{i}' for i in range(PAGES)) - set(counts))[:10]}"
    dup = {p: n for p, n in counts.items() if n > 1}
    assert not dup, f"fetched more than once: {dup}"
    home = sum(1 for p, _, _ in site.hits if p == "/")
    assert home == 1  # linked from every page, fetched once
    by_worker = Counter(ua.rsplit("/", 1)[-1] for p, _, ua in site.hits if p.startswith("/p/"))
    assert by_worker["w1"] > 0 and by_worker["w2"] > 0, f"both workers must take part: {by_worker}"
    assert sum(o["fetched"] for o in outs) == len(pages) + home
    # politeness across workers: the middleware spaces the *dispatch* of requests to the domain by the
    # shared delay (one Redis slot at a time); arrivals at the server carry each request's own trip
    # jitter (large on a loaded machine), so check the spacing over spans, not single gaps
    times = sorted(t for _, t, _ in site.hits)
    span = times[-1] - times[0]
    assert span >= 0.9 * (len(times) - 1) * DELAY, f"{len(times)} requests in {span:.2f}s: shared delay not kept"
    gaps = [b - a for a, b in itertools.pairwise(times)]
    windows = [sum(gaps[i : i + 40]) for i in range(len(gaps) - 39)]
    assert min(windows) >= 0.75 * 40 * DELAY, f"40 requests in {min(windows):.3f}s: shared delay {DELAY}s not kept"
    # the last worker removed the run's keys (the politeness key expires by itself)
    client = redis.Redis.from_url(redis_url)
    assert [k for k in client.keys("narcowatch:linkspider:*")] == []


if __name__ == "__main__" and len(sys.argv) == 6 and sys.argv[1] == "worker":
    run_worker(*sys.argv[2:])
