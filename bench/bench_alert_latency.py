"""Alert latency: from a fentanyl listing appearing on a fixture site to its mail in the sink, with the
scheduler daemon running the source on a one-minute cron (jitter included), as in production.

New listings are added at staggered moments over BENCH_LATENCY_MINUTES (default 6); prints each
latency, the median and the maximum. Expected: about half the cron interval plus one crawl on average,
at most one interval plus jitter plus one crawl. Uses NARCOWATCH_ES_URL if set, else a managed node.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
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

MINUTES = float(os.environ.get("BENCH_LATENCY_MINUTES", "6"))
RULES = {"sender": "bench@localhost", "rules": [
    {"name": "fentanyl", "condition": {"substance_classes": ["fentanyl"], "intent": "sale"},
     "recipients": ["analyst@localhost"], "events": ["new"]}]}


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="narcowatch-bench-latency-"))
    node = node_home = None
    es_url = os.environ.get("NARCOWATCH_ES_URL")
    if not es_url:
        from tests.plugins.es import start_test_node

        node, node_home = start_test_node()
        info = node.info()
        assert info is not None
        es_url = info.url
    web = DemoWeb()
    base = web.start().rstrip("/")
    sink = MailSink(tmp / "mail").start()
    prefix = f"bench-lat-{uuid.uuid4().hex[:6]}"
    daemon = None
    try:
        demo = yaml.safe_load((ROOT / "config" / "demo" / "sources.yaml").read_text())
        market = next(s for s in demo["sources"] if s["name"] == "demo-market")
        market["schedule"] = "* * * * *"
        (tmp / "config" / "sources").mkdir(parents=True)
        (tmp / "config" / "sources" / "market.yaml").write_text(yaml.safe_dump({"sources": [market]}))
        (tmp / "config" / "alerts.yaml").write_text(yaml.safe_dump(RULES))
        env = dict(os.environ, NARCOWATCH_DEMO_URL=base, NARCOWATCH_HOME=str(tmp / "home"), NARCOWATCH_ES_URL=es_url,
                   NARCOWATCH_INDEX_PREFIX=prefix, NARCOWATCH_SMTP_URL=sink.url, PYTHONPATH=str(ROOT))
        env.pop("NARCOWATCH_ALERTS_FILE", None)
        daemon = subprocess.Popen(
            [sys.executable, "-m", "crawler.cli", "schedule", "--config", str(tmp / "config"),
             "--log-level", "WARNING"],
            env=env, stdout=subprocess.DEVNULL, stderr=open(tmp / "daemon.log", "w"),
        )
        # let the first run index the existing listings (and mail their alerts) before measuring
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and not list((tmp / "mail").glob("*.eml")):
            time.sleep(1)
        baseline = len(sink.messages())
        print(f"first run done: {baseline} mails for the existing listings; now adding new listings")
        start = time.monotonic()
        pending: dict[str, float] = {}
        latencies: list[float] = []
        i = 0
        step = 47.0  # not a divisor of 60 s: the additions fall at different points of the cron cycle
        while time.monotonic() - start < MINUTES * 60 or pending:
            if time.monotonic() - start < MINUTES * 60 and time.monotonic() - start >= i * step:
                title = f"Fentanyl citrate powder 99% lot {i:03d}-{uuid.uuid4().hex[:4]}"
                web.add_listing(title, "Pure fentanyl, stealth shipping worldwide. Wickr: latencylab", "0.1",
                                listing_id=f"lat{i:03d}")
                pending[title] = time.monotonic()
                i += 1
            for msg in sink.messages():
                for title in list(pending):
                    if title in msg.text or title in msg.subject:
                        latencies.append(time.monotonic() - pending.pop(title))
                        print(f"  {title[-8:]}: {latencies[-1]:.1f} s", flush=True)
            if time.monotonic() - start > MINUTES * 60 + 240:
                print(f"gave up waiting for {len(pending)} mails")
                break
            time.sleep(0.5)
        if latencies:
            print(f"alert latency over {len(latencies)} new listings, one-minute cron: "
                  f"median {statistics.median(latencies):.1f} s, max {max(latencies):.1f} s")
        return 0 if latencies and not pending else 1
    finally:
        if daemon is not None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=120)
            except subprocess.TimeoutExpired:
                daemon.kill()
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


if __name__ == "__main__":
    sys.exit(main())
