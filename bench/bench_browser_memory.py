"""Browser crawl memory: RSS of the crawler and its browser processes after 50 and after 500 rendered pages.

Crawls a local JavaScript shop (127.0.0.1, port 0) of 500 listing pages with the real browser spider,
screenshots and WARC evidence on, and samples with psutil the resident memory of this process plus
every child (Playwright's driver, Chromium and its renderers) every 50 pages. Goal: RSS after 500
pages within 1.5x of RSS after 50 (contexts are recycled, pages always closed). Not a timed test.

    .venv/bin/python bench/bench_browser_memory.py [--pages 500] [--per-context 50] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL = 1.5
PER_INDEX = 25

APP_JS = b"""
(function () {
  var app = document.getElementById('app');
  var m = location.pathname.match(/\\/p\\/(\\d+)$/);
  setTimeout(function () {
    if (m) {
      var id = m[1], rows = '';
      for (var i = 0; i < 40; i++) { rows += '<li>batch ' + id + '-' + i + ': 100 pills M30, ships from MX</li>'; }
      app.innerHTML = '<h1 class="title">Fentanyl pressed pills lot ' + id + '</h1>' +
        '<div class="desc">Stealth shipping worldwide. Contact wickr fentvendor' + id + '</div>' +
        '<span class="price">$' + (100 + +id) + '.00</span><ul>' + rows + '</ul>';
    } else {
      var page = +(new URLSearchParams(location.search).get('page') || '1');
      var total = +document.body.dataset.total, per = +document.body.dataset.per, html = '';
      for (var k = (page - 1) * per + 1; k <= Math.min(page * per, total); k++) {
        html += '<a class="item" href="/shop/p/' + k + '">lot ' + k + '</a> ';
      }
      if (page * per < total) { html += '<a class="next" href="/shop/?page=' + (page + 1) + '">next</a>'; }
      app.innerHTML = html;
    }
  }, 50);
})();
"""


def serve(total: int) -> tuple[ThreadingHTTPServer, str]:
    shell = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>shop</title></head>"
             f"<body data-total='{total}' data-per='{PER_INDEX}'><div id='app'>Loading</div>"
             f"<script src='/static/app.js'></script></body></html>").encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/static/app.js":
                body, ctype = APP_JS, "application/javascript"
            elif path == "/shop/" or path.startswith("/shop/p/"):
                body, ctype = shell, "text/html; charset=utf-8"
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

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def memory() -> dict[str, float]:
    """RSS (and PSS where readable) in MiB of this process and all its descendants."""
    import psutil

    me = psutil.Process(os.getpid())
    procs = [me, *me.children(recursive=True)]
    rss = pss = 0
    browsers = 0
    for p in procs:
        try:
            rss += p.memory_info().rss
            try:
                pss += p.memory_full_info().pss
            except (psutil.AccessDenied, AttributeError):
                pass
            if "chrom" in p.name().lower():
                browsers += 1
        except psutil.NoSuchProcess:
            continue
    return {"rss_mib": rss / 2**20, "pss_mib": pss / 2**20, "crawler_rss_mib": me.memory_info().rss / 2**20,
            "processes": len(procs), "chromium_processes": browsers}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--per-context", type=int, default=50, help="browser.max_pages_per_context")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--json", action="store_true", help="print the samples as JSON too")
    args = parser.parse_args()

    from scrapy import signals
    from scrapy.crawler import CrawlerProcess

    from crawler.runner import project_settings
    from crawler.sources.models import SourcesFile
    from spiders.registry import spider_for

    server, base = serve(args.pages)
    home = tempfile.mkdtemp(prefix="narcowatch-bench-browser-")
    os.environ["NARCOWATCH_HOME"] = home
    source = SourcesFile.model_validate({"sources": [{
        "name": "bench-shop", "kind": "browser", "start_urls": [f"{base}/shop/"], "robots": "ignore",
        "allow_private_addresses": True,  # a loopback test site
        "rate_limit": {"download_delay": 0, "concurrency": args.concurrency, "randomize": False},
        "retry": {"times": 1, "backoff_base": 0.5},
        "links": {"listing": "a.item", "pagination": "a.next"},
        "fields": {"title": "h1.title", "description": "div.desc", "price": "span.price"},
        "browser": {"wait_for_index": "a.item", "wait_for": "h1.title", "wait_timeout": 20,
                    "max_pages_per_context": args.per_context, "max_contexts": 2, "screenshot": True},
    }]}).sources[0]
    settings = project_settings({"NARCOWATCH_PIPELINE_ENABLED": False, "LOG_LEVEL": "WARNING",
                                 "CONCURRENT_REQUESTS": args.concurrency})
    process = CrawlerProcess(settings, install_root_handler=True)
    crawler = process.create_crawler(spider_for(source))
    samples: list[dict[str, Any]] = []
    listing_pages = 0
    items = 0
    t0 = time.monotonic()

    def on_response(response: Any, request: Any, spider: Any) -> None:
        nonlocal listing_pages
        if "/shop/p/" in response.url:
            listing_pages += 1
            if listing_pages % 50 == 0 or listing_pages == args.pages:
                sample = {"pages": listing_pages, "seconds": round(time.monotonic() - t0, 1), **memory()}
                samples.append(sample)
                print(f"  {listing_pages:4d} pages  {sample['seconds']:6.1f} s  RSS {sample['rss_mib']:7.1f} MiB"
                      f"  PSS {sample['pss_mib']:7.1f} MiB  crawler {sample['crawler_rss_mib']:6.1f} MiB"
                      f"  procs {sample['processes']}", flush=True)

    def on_item(item: Any, response: Any, spider: Any) -> None:
        nonlocal items
        items += 1

    crawler.signals.connect(on_response, signal=signals.response_received)
    crawler.signals.connect(on_item, signal=signals.item_scraped)
    print(f"browser memory: {args.pages} pages, {args.per_context} per context, concurrency {args.concurrency}")
    process.crawl(crawler)
    process.start()
    server.shutdown()
    stats = crawler.stats.get_stats()

    at = {s["pages"]: s for s in samples}
    first, last = at.get(50), at.get(args.pages)
    if not first or not last:
        print(f"FAILED: only {listing_pages} listing pages rendered ({items} items)")
        return 1
    ratio = last["rss_mib"] / first["rss_mib"]
    pss_ratio = last["pss_mib"] / first["pss_mib"] if first["pss_mib"] else float("nan")
    print(f"items {items}, contexts recycled {stats.get('narcowatch/browser/contexts_recycled', 0)}, "
          f"pages closed {stats.get('narcowatch/browser/pages_closed', 0)}, "
          f"screenshots {stats.get('narcowatch/browser/screenshots', 0)}")
    print(f"RSS after 50 pages: {first['rss_mib']:.1f} MiB; after {args.pages}: {last['rss_mib']:.1f} MiB; "
          f"ratio {ratio:.2f} (goal <= {GOAL}); PSS ratio {pss_ratio:.2f}")
    if args.json:
        print(json.dumps({"samples": samples, "ratio": ratio, "pss_ratio": pss_ratio}, indent=1))
    ok = ratio <= GOAL and items == args.pages
    print("OK" if ok else "OVER GOAL" if items == args.pages else f"FAILED: {items} items of {args.pages}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
