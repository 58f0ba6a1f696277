"""Benchmark: the scheduler daemon runs two fixture sources on one-minute crons for 10 minutes.

    .venv/bin/python bench/bench_daemon.py [--minutes 10] [--sources demo-forum,demo-telegram-sales]
        [--es-url URL] [--out bench/results/daemon.json]

Starts the fixture web (crawler.demo_web) on a free port, writes a configuration with the chosen demo
sources on ``* * * * *`` (default jitter: up to 15 s), runs ``narcowatch schedule`` as a process with the
real worker (``python -m crawler.runner crawl``: Scrapy, NLP, indexing, alerting), stops it with SIGTERM
after the given minutes, then reads the run records from Elasticsearch and reports, per source: runs,
outcomes, overlaps (must be 0), durations, pages and listings. Records go to a fresh index prefix
(``benchdaemon-<time>``), left in place for inspection. Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def write_config(directory: Path, sources: list[str]) -> None:
    data = yaml.safe_load((ROOT / "config" / "demo" / "sources.yaml").read_text())
    chosen = [s for s in data["sources"] if s["name"] in sources]
    missing = set(sources) - {s["name"] for s in chosen}
    if missing:
        raise SystemExit(f"unknown demo source(s): {', '.join(sorted(missing))}")
    for s in chosen:
        s["schedule"] = "* * * * *"
    (directory / "sources.yaml").write_text(yaml.safe_dump({"sources": chosen}, sort_keys=False))
    (directory / "scheduler.yaml").write_text(yaml.safe_dump({"jitter": 15, "timeout": 300, "misfire_grace_time": 30}))


def overlaps(runs: list[dict[str, Any]]) -> int:
    runs = sorted(runs, key=lambda r: r["started_at"])
    return sum(1 for a, b in itertools.pairwise(runs) if b["started_at"] < a["ended_at"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sources", default="demo-forum,demo-telegram-sales")
    parser.add_argument("--es-url", default=os.environ.get("NARCOWATCH_ES_URL", ""),
                        help="Elasticsearch URL (default NARCOWATCH_ES_URL, else the managed node)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "daemon.json")
    args = parser.parse_args()
    sources = [s.strip() for s in args.sources.split(",") if s.strip()]

    from crawler.demo_web import DemoWeb
    from crawler.es.client import get_client
    from crawler.es.names import IndexNames
    from crawler.es.templates import install

    prefix = f"benchdaemon-{time.strftime('%Y%m%d%H%M%S')}"
    web = DemoWeb()
    base = web.start()
    tmp = Path(tempfile.mkdtemp(prefix="narcowatch-bench-daemon-"))
    config = tmp / "config"
    config.mkdir()
    write_config(config, sources)
    env = dict(os.environ, NARCOWATCH_HOME=str(tmp / "home"), NARCOWATCH_INDEX_PREFIX=prefix,
               NARCOWATCH_DEMO_URL=base, NARCOWATCH_CONFIG=str(config))
    if args.es_url:
        env["NARCOWATCH_ES_URL"] = args.es_url
        os.environ["NARCOWATCH_ES_URL"] = args.es_url
    client = get_client()
    names = IndexNames(prefix)
    install(client, names)
    log = (tmp / "daemon.log").open("wb")
    started = time.time()
    daemon = subprocess.Popen(
        [sys.executable, "-m", "crawler.scheduling.daemon", "--config", str(config), "--log-json"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log,
    )
    print(f"daemon pid {daemon.pid}, fixture web {base}, state {tmp}, index prefix {prefix}; "
          f"running {args.minutes} min", flush=True)
    try:
        deadline = started + args.minutes * 60
        while time.time() < deadline and daemon.poll() is None:
            time.sleep(5)
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
        rc = daemon.wait(timeout=600)
        log.close()
        web.stop()
    elapsed = time.time() - started
    client.indices.refresh(index=names.crawl_runs)
    resp = client.search(index=names.crawl_runs, size=1000, sort=[{"started_at": "asc"}], query={"match_all": {}})
    runs = [h["_source"] for h in resp["hits"]["hits"]]
    report: dict[str, Any] = {"minutes": round(elapsed / 60, 2), "daemon_exit": rc, "index_prefix": prefix,
                              "state": str(tmp), "sources": {}}
    ok = rc == 0
    for name in sources:
        mine = [r for r in runs if r["source"] == name]
        outcomes: dict[str, int] = {}
        for r in mine:
            outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + 1
        completed = [r for r in mine if r["outcome"] != "interrupted"]
        entry = {
            "runs": len(mine), "outcomes": outcomes, "overlaps": overlaps(mine),
            "duration_s": {"min": min((r["duration_s"] for r in completed), default=None),
                           "max": max((r["duration_s"] for r in completed), default=None)},
            "pages": [r["pages"] for r in mine], "listings_new": [r["listings_new"] for r in mine],
        }
        report["sources"][name] = entry
        expected = int(elapsed // 60)
        ok = ok and entry["overlaps"] == 0 and len(mine) >= max(1, expected - 2)
    report["ok"] = ok
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
