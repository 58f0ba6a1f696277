"""Shared set-up of the crawl benchmarks: a cluster, the fixture web, a mail sink and a market config."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@dataclass
class BenchEnv:
    """What a benchmark gets: a temp dir, the cluster URL, the running fixture web and mail sink."""

    tmp: Path
    es_url: str
    web: Any
    sink: Any
    prefix: str

    def market_config(self, rules: dict[str, Any], **overrides: Any) -> Path:
        """A config dir with the demo market source (``overrides`` applied) and these alert rules."""
        demo = yaml.safe_load((ROOT / "config" / "demo" / "sources.yaml").read_text())
        market = next(s for s in demo["sources"] if s["name"] == "demo-market")
        market.update(overrides)
        config = self.tmp / "config"
        (config / "sources").mkdir(parents=True, exist_ok=True)
        (config / "sources" / "market.yaml").write_text(yaml.safe_dump({"sources": [market]}))
        (config / "alerts.yaml").write_text(yaml.safe_dump(rules))
        return config

    def env(self) -> dict[str, str]:
        """Environment for narcowatch processes: this cluster, prefix, state dir, sink and demo URL."""
        env = dict(os.environ, NARCOWATCH_DEMO_URL=self.web.base_url.rstrip("/"),
                   NARCOWATCH_HOME=str(self.tmp / "home"), NARCOWATCH_ES_URL=self.es_url,
                   NARCOWATCH_INDEX_PREFIX=self.prefix, NARCOWATCH_SMTP_URL=self.sink.url, PYTHONPATH=str(ROOT))
        env.pop("NARCOWATCH_ALERTS_FILE", None)
        return env


@contextlib.contextmanager
def bench_env(name: str, *, scale: int = 1) -> Iterator[BenchEnv]:
    """NARCOWATCH_ES_URL if set, else a managed node in a temporary home; everything removed afterwards."""
    from crawler.alerting.sink import MailSink
    from crawler.demo_web import DemoWeb

    tmp = Path(tempfile.mkdtemp(prefix=f"narcowatch-bench-{name}-"))
    node = node_home = None
    es_url = os.environ.get("NARCOWATCH_ES_URL")
    if not es_url:
        from tests.plugins.es import start_test_node

        node, node_home = start_test_node()
        info = node.info()
        assert info is not None
        es_url = info.url
    web = DemoWeb(scale=scale)
    web.start()
    sink = MailSink(tmp / "mail").start()
    prefix = f"bench-{name}-{uuid.uuid4().hex[:6]}"
    try:
        yield BenchEnv(tmp=tmp, es_url=es_url, web=web, sink=sink, prefix=prefix)
    finally:
        sink.stop()
        web.stop()
        try:
            from crawler.es.client import get_client
            from tests.plugins.es import delete_prefix

            delete_prefix(get_client(es_url, check=False), prefix)
        except Exception as exc:  # cleaning up is best effort in a benchmark
            print(f"cleanup: {exc}")
        if node is not None and node_home is not None:
            from tests.plugins.es import stop_test_node

            stop_test_node(node, node_home)
        shutil.rmtree(tmp, ignore_errors=True)
