"""Crawl -> NLP -> index -> alert mail through the real pipeline, real node, real SMTP server on loopback.

One market source on a fixture site of its own, crawled again and again in worker processes (as the
scheduler runs them) while the site changes between crawls.
"""

from __future__ import annotations

import email
import json
import os
import subprocess
import sys
from email import policy
from pathlib import Path
from typing import Any

import pytest
import yaml
from elasticsearch import Elasticsearch

from crawler.demo_web import DemoWeb
from crawler.es.names import IndexNames
from crawler.paths import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.smtp]

RULES = {
    "sender": "narcowatch-test@localhost",
    "kibana_url": "http://kibana.test:5601",
    "rules": [
        {"name": "fentanyl-new", "condition": {"substance_classes": ["fentanyl"], "intent": "sale"},
         "recipients": ["new@test.example"], "events": ["new"]},
        {"name": "fentanyl-price", "condition": {"substance_classes": ["fentanyl"], "intent": "sale"},
         "recipients": ["price@test.example"], "events": ["price_change"]},
    ],
}


def write_config(directory: Path) -> Path:
    demo = yaml.safe_load((ROOT / "config" / "demo" / "sources.yaml").read_text())
    market = next(s for s in demo["sources"] if s["name"] == "demo-market")
    market["removal_grace"] = "0s"
    (directory / "sources").mkdir(parents=True)
    (directory / "sources" / "market.yaml").write_text(yaml.safe_dump({"sources": [market]}))
    (directory / "alerts.yaml").write_text(yaml.safe_dump(RULES))
    return directory


class Crawls:
    def __init__(self, config: Path, web: DemoWeb, env: dict[str, str]):
        self.config, self.web, self.env = config, web, env

    def run(self) -> dict[str, Any]:
        env = dict(self.env, NARCOWATCH_DEMO_URL=self.web.base_url.rstrip("/"))
        proc = subprocess.run(
            [sys.executable, "-m", "crawler.runner", "crawl", "demo-market", "--config", str(self.config),
             "--log-level", "WARNING"],
            env=env, capture_output=True, text=True, timeout=600, check=False,
        )
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])


def messages(directory: Path) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in sorted(directory.glob("*.eml"))]


@pytest.fixture
def crawls(tmp_path: Path, fresh_web: DemoWeb, smtp_sink: Any, es_env: IndexNames) -> Crawls:
    env = dict(os.environ)
    env.update(NARCOWATCH_HOME=str(tmp_path / "home"), NARCOWATCH_SMTP_URL=smtp_sink.url)
    env.pop("NARCOWATCH_ALERTS_FILE", None)
    return Crawls(write_config(tmp_path / "config"), fresh_web, env)


def test_crawls_alert_once_per_event_and_track_changes_and_removals(
    crawls: Crawls, smtp_sink: Any, es_client: Elasticsearch, es_env: IndexNames
) -> None:
    names = es_env
    first = crawls.run()
    assert first["outcome"] == "ok" and first["listings"] > 100 and first["new"] == first["listings"]
    es_client.indices.refresh(index=f"{names.listings},{names.alerts}")
    total = es_client.count(index=names.listings)["count"]
    mails1 = smtp_sink.wait_for(1)
    fentanyl_sales = es_client.count(
        index=names.listings,
        query={"bool": {"filter": [{"term": {"substance_classes": "fentanyl"}}, {"term": {"intent": "sale"}}]}},
    )["count"]
    assert fentanyl_sales >= 1
    # one mail per new fentanyl sale listing, all to the new-listing rule's recipient
    assert len(mails1) == fentanyl_sales
    assert all(m.to == "new@test.example" for m in mails1)

    # a new fentanyl listing appears: exactly one more mail, about it
    crawls.web.add_listing(
        "China White fentanyl HCl 98% pure, 5g",
        "Lab-grade fentanyl powder. Stealth vacuum sealed, ships worldwide from China. Wickr: whitelab",
        "0.25",
        listing_id="newfent01",
    )
    second = crawls.run()
    assert second["new"] == 1 and second["unchanged"] == total
    mails2 = smtp_sink.wait_for(len(mails1) + 1)
    assert len(mails2) == len(mails1) + 1
    new_mail = messages(smtp_sink.directory)
    assert any("China White" in (m.get_body(preferencelist=("plain",)).get_content()) for m in new_mail)

    # nothing changed: nothing re-processed, no mail, no document added
    third = crawls.run()
    assert third["new"] == 0 and third["changed"] == 0 and third["price_changes"] == 0
    assert third["unchanged"] == total + 1
    es_client.indices.refresh(index=names.listings)
    assert es_client.count(index=names.listings)["count"] == total + 1
    assert len(smtp_sink.messages()) == len(mails2)

    # a price change: one change record and one mail, only for the rule that asks for price changes
    crawls.web.set_price("newfent01", "0.20")
    fourth = crawls.run()
    assert fourth["price_changes"] == 1 and fourth["new"] == 0
    mails4 = smtp_sink.wait_for(len(mails2) + 1)
    assert len(mails4) == len(mails2) + 1
    assert [m.to for m in mails4[len(mails2):]] == ["price@test.example"]
    es_client.indices.refresh(index=names.changes)
    changes = es_client.search(index=names.changes, query={"match_all": {}})["hits"]["hits"]
    assert [c["_source"]["kind"] for c in changes] == ["price_change"]

    # a listing taken down is marked removed once the crawl that misses it finishes
    crawls.web.remove_listing("newfent01")
    fifth = crawls.run()
    assert fifth["removed"] == 1
    es_client.indices.refresh(index=names.listings)
    removed = es_client.search(index=names.listings, query={"term": {"status": "removed"}})["hits"]["hits"]
    assert len(removed) == 1 and removed[0]["_source"]["removed_at"]
    assert len(smtp_sink.messages()) == len(mails4)
