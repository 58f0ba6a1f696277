"""Alert latency: from a fentanyl listing appearing on a fixture site to its mail in the sink, with the
scheduler daemon running the source on a one-minute cron (jitter included), as in production.

New listings are added at staggered moments over BENCH_LATENCY_MINUTES (default 6); prints each
latency, the median and the maximum. Expected: about half the cron interval plus one crawl on average,
at most one interval plus jitter plus one crawl. Uses NARCOWATCH_ES_URL if set, else a managed node.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from common import bench_env

MINUTES = float(os.environ.get("BENCH_LATENCY_MINUTES", "6"))
RULES = {"sender": "bench@localhost", "rules": [
    {"name": "fentanyl", "condition": {"substance_classes": ["fentanyl"], "intent": "sale"},
     "recipients": ["analyst@localhost"], "events": ["new"]}]}


def main() -> int:
    with bench_env("latency") as b:
        config = b.market_config(RULES, schedule="* * * * *")
        env = b.env()
        daemon = subprocess.Popen(
            [sys.executable, "-m", "crawler.cli", "schedule", "--config", str(config), "--log-level", "WARNING"],
            env=env, stdout=subprocess.DEVNULL, stderr=open(b.tmp / "daemon.log", "w"),
        )
        try:
            return measure(b.web, b.sink, b.tmp)
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=120)
            except subprocess.TimeoutExpired:
                daemon.kill()


def measure(web: Any, sink: Any, tmp: Path) -> int:
    """Add listings at staggered moments and time each one's mail; 0 when every mail came."""
    # let the first run index the existing listings (and mail their alerts) before measuring
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline and not list((tmp / "mail").glob("*.eml")):
        time.sleep(1)
    print(f"first run done: {len(sink.messages())} mails so far for the existing listings; adding new listings")
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


if __name__ == "__main__":
    sys.exit(main())
