"""Faults around the demo: the node stopped mid-run gives a clear error naming its URL, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from crawler.es.client import get_client
from crawler.es.node import free_port
from tests.plugins.es import start_test_node, stop_test_node

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.elasticsearch, pytest.mark.browser]


def test_node_stopped_mid_demo_gives_clear_error_with_url(tmp_path: Path) -> None:
    node, home = start_test_node()
    try:
        info = node.info()
        assert info is not None
        url = info.url
        prefix = f"nwtest-fault-{uuid.uuid4().hex[:6]}"
        env = dict(os.environ, NARCOWATCH_HOME=str(tmp_path / "home"), NARCOWATCH_ES_URL=url,
                   NARCOWATCH_INDEX_PREFIX=prefix,
                   NARCOWATCH_DEMO_PORT=str(free_port()))  # both runs' sites on one port (8808 may be taken)
        env.pop("NARCOWATCH_SMTP_URL", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "crawler.cli", "demo"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )
        client = get_client(url, check=False)
        deadline = time.monotonic() + 300
        indexed = 0
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if client.indices.exists_alias(name=f"{prefix}-listings"):
                    indexed = client.count(index=f"{prefix}-listings")["count"]
            except Exception:
                indexed = 0
            if indexed > 0:
                break
            time.sleep(0.2)
        assert indexed > 0 and proc.poll() is None, "the demo should still be crawling after its first batch"
        node.stop(timeout=60)
        out, err = proc.communicate(timeout=600)
        assert proc.returncode != 0
        assert "Traceback" not in err and "Traceback" not in out, err[-3000:]
        assert url in err or url in out
        assert "Elasticsearch" in err
        # nothing is lost: the batches that could not be indexed wait on disk for the next run
        spool = tmp_path / "home" / "spool"
        assert list(spool.rglob("*.json*")), "listings crawled after the node stopped are spooled to disk"

        # the node comes back: the next run replays the spool; every due mail is sent once
        url = node.start(timeout=300).url  # the node may come back on another free port
        env["NARCOWATCH_ES_URL"] = url
        again = subprocess.run([sys.executable, "-m", "crawler.cli", "demo"], env=env, capture_output=True,
                               text=True, timeout=900, check=False)
        assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-3000:]
        assert not list(spool.rglob("*.json*")), "the spool is empty after the replay"
        client = get_client(url, check=False)
        client.indices.refresh(index=f"{prefix}-listings,{prefix}-alerts")
        fingerprints = client.search(index=f"{prefix}-listings", size=0,
                                     aggs={"n": {"cardinality": {"field": "fingerprint"}}})
        assert client.count(index=f"{prefix}-listings")["count"] == fingerprints["aggregations"]["n"]["value"]
        sent = client.count(index=f"{prefix}-alerts", query={"term": {"state": "sent"}})["count"]
        mails = list((tmp_path / "home" / "demo" / "mail").glob("*.eml"))
        assert sent > 0 and len(mails) == sent
    finally:
        stop_test_node(node, home)
