"""End-to-end crawl benchmark: a bare Scrapy spider that only parses vs narcowatch with NLP, indexing,
vendor profiles and alerting on, over the same >= 5,000-listing fixture market, in the same run.

Prints pages per second of each (Scrapy's own elapsed time of the crawl), the ratio (goal >= 0.7)
and the peak RSS of each crawl process. Uses NARCOWATCH_ES_URL if set, else a managed node in a
temporary home; alert mails go to a local sink.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crawler.alerting.sink import MailSink  # noqa: E402
from crawler.demo_web import DemoWeb  # noqa: E402

SCALE = int(os.environ.get("BENCH_MARKET_SCALE", "27"))

BARE_SPIDER = '''
import json, sys, scrapy
from scrapy.crawler import CrawlerProcess

class Bare(scrapy.Spider):
    name = "bare"
    start_urls = [sys.argv[1] + "/market/"]
    def parse(self, response):
        for sel in ("a.cat-link", "nav.pager a.next"):
            for href in response.css(sel + "::attr(href)").getall():
                yield response.follow(href, self.parse)
        for href in response.css("a.listing-link::attr(href)").getall():
            yield response.follow(href, self.parse_listing)
    def parse_listing(self, response):
        yield {"url": response.url,
               "title": response.css("h1.listing-title::text").get(),
               "description": " ".join(response.css("div.description p::text").getall()),
               "price": response.css("td.price::text").get(),
               "vendor": response.css("a.vendor::text").get(),
               "ships_from": response.css("td.ships-from::text").get(),
               "ships_to": response.css("td.ships-to::text").get()}

process = CrawlerProcess({"LOG_LEVEL": "ERROR", "CONCURRENT_REQUESTS": 16, "CONCURRENT_REQUESTS_PER_DOMAIN": 8,
    "DOWNLOAD_DELAY": 0, "ROBOTSTXT_OBEY": True, "TELNETCONSOLE_ENABLED": False,
    "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor"})
crawler = process.create_crawler(Bare)
process.crawl(crawler)
process.start()
s = crawler.stats.get_stats()
print(json.dumps({"pages": s.get("response_received_count", 0), "items": s.get("item_scraped_count", 0),
                  "elapsed_s": s.get("elapsed_time_seconds", 0)}))
'''

RULES = {"sender": "bench@localhost", "rules": [
    {"name": "fentanyl", "condition": {"substance_classes": ["fentanyl"], "intent": "sale"},
     "recipients": ["bench@localhost"], "events": ["new"]},
    {"name": "precursors", "condition": {"substance_classes": ["precursor"]},
     "recipients": ["bench@localhost"], "events": ["new"]}]}


def run_measured(cmd: list[str], env: dict[str, str]) -> tuple[dict, float]:
    """Like run(), measuring the child's peak RSS (MiB) with wait4's rusage."""
    out_f = tempfile.TemporaryFile(mode="w+")
    err_f = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(cmd, env=env, stdout=out_f, stderr=err_f, text=True)
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    out_f.seek(0)
    err_f.seek(0)
    if proc.returncode:
        sys.stderr.write(err_f.read()[-4000:])
        raise SystemExit(f"{' '.join(cmd[:5])} exited {proc.returncode}")
    lines = [ln for ln in out_f.read().strip().splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]), usage.ru_maxrss / 1024


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="narcowatch-bench-e2e-"))
    node = node_home = None
    es_url = os.environ.get("NARCOWATCH_ES_URL")
    if not es_url:
        from tests.plugins.es import start_test_node

        node, node_home = start_test_node()
        info = node.info()
        assert info is not None
        es_url = info.url
    web = DemoWeb(scale=SCALE)
    base = web.start().rstrip("/")
    sink = MailSink(tmp / "mail").start()
    prefix = f"bench-e2e-{uuid.uuid4().hex[:6]}"
    try:
        listings = len(web.market)
        print(f"fixture market: {listings} listing pages at scale {SCALE}; Elasticsearch {es_url}")
        demo = yaml.safe_load((ROOT / "config" / "demo" / "sources.yaml").read_text())
        market = next(s for s in demo["sources"] if s["name"] == "demo-market")
        market["rate_limit"] = {"download_delay": 0, "concurrency": 8}
        (tmp / "config" / "sources").mkdir(parents=True)
        (tmp / "config" / "sources" / "market.yaml").write_text(yaml.safe_dump({"sources": [market]}))
        (tmp / "config" / "alerts.yaml").write_text(yaml.safe_dump(RULES))
        env = dict(os.environ, NARCOWATCH_DEMO_URL=base, NARCOWATCH_HOME=str(tmp / "home"), NARCOWATCH_ES_URL=es_url,
                   NARCOWATCH_INDEX_PREFIX=prefix, NARCOWATCH_SMTP_URL=sink.url, PYTHONPATH=str(ROOT))
        env.pop("NARCOWATCH_ALERTS_FILE", None)

        # a file, not `python -c`: Scrapy inspects callbacks' source code
        (tmp / "bare_spider.py").write_text(BARE_SPIDER)
        bare, bare_rss = run_measured([sys.executable, str(tmp / "bare_spider.py"), base], env)
        t0 = time.monotonic()
        ours, ours_rss = run_measured(
            [sys.executable, "-m", "crawler.runner", "crawl", "demo-market", "--config", str(tmp / "config"),
             "--log-level", "ERROR", "-s", "CONCURRENT_REQUESTS=16"], env)
        wall = time.monotonic() - t0
        bare_pps = bare["pages"] / bare["elapsed_s"]
        ours_pps = ours["pages"] / ours["elapsed_s"]
        print(f"bare Scrapy (parse only):  {bare['pages']} pages, {bare['items']} items in {bare['elapsed_s']:.1f} s "
              f"= {bare_pps:.1f} pages/s, peak RSS {bare_rss:.0f} MiB")
        print(f"narcowatch (NLP+index+alerts): {ours['pages']} pages, {ours['listings']} listings "
              f"({ours['new']} new, {ours['alerts']} alerts) in {ours['elapsed_s']:.1f} s = {ours_pps:.1f} pages/s, "
              f"peak RSS {ours_rss:.0f} MiB (process wall time {wall:.1f} s)")
        print(f"narcowatch time per pipeline stage (s, in its worker thread): {ours.get('seconds')}")
        print(f"ratio narcowatch / bare: {ours_pps / bare_pps:.2f} (goal >= 0.70)")
        print(f"mails delivered to the sink: {len(list((tmp / 'mail').glob('*.eml')))}")
    finally:
        sink.stop()
        web.stop()
        try:
            from elasticsearch import Elasticsearch

            from tests.plugins.es import delete_prefix

            delete_prefix(Elasticsearch(es_url), prefix)
        except Exception as exc:  # cleaning up is best effort in a benchmark
            print(f"cleanup: {exc}")
        if node is not None and node_home is not None:
            from tests.plugins.es import stop_test_node

            stop_test_node(node, node_home)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
