"""End-to-end crawl benchmark: a bare Scrapy spider that only parses vs narcowatch with NLP, indexing,
vendor profiles and alerting on, over the same >= 5,000-listing fixture market, in the same run.

Prints pages per second of each (Scrapy's own elapsed time of the crawl), the ratio (goal >= 0.7)
and the peak RSS of each crawl process. Uses NARCOWATCH_ES_URL if set, else a managed node in a
temporary home; alert mails go to a local sink.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

from common import bench_env

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
    with bench_env("e2e", scale=SCALE) as b:
        print(f"fixture market: {len(b.web.market)} listing pages at scale {SCALE}; Elasticsearch {b.es_url}")
        config = b.market_config(RULES, rate_limit={"download_delay": 0, "concurrency": 8})
        env = b.env()
        # a file, not `python -c`: Scrapy inspects callbacks' source code
        (b.tmp / "bare_spider.py").write_text(BARE_SPIDER)
        bare, bare_rss = run_measured([sys.executable, str(b.tmp / "bare_spider.py"), env["NARCOWATCH_DEMO_URL"]], env)
        t0 = time.monotonic()
        ours, ours_rss = run_measured(
            [sys.executable, "-m", "crawler.runner", "crawl", "demo-market", "--config", str(config),
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
        print(f"mails delivered to the sink: {len(list((b.tmp / 'mail').glob('*.eml')))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
