"""A site's mirrors through the real pipeline and a real node: the same offer seen through two mirrors (and
another port) is one document, updated; another site with the same pages is other documents.

One small shop is served by three loopback addresses: 127.0.0.1 and 127.0.0.2 are two mirrors of one site
(source ``dream``), 127.0.0.3 is another site that copies it (source ``copycat``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from elasticsearch import Elasticsearch

from crawler.demo_web import DemoWeb
from crawler.es.names import IndexNames
from crawler.paths import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.smtp]

ITEMS = {
    "1": ("Fentanyl HCl 99% pure powder 5g", "$450", "Lab-grade fentanyl, stealth vacuum sealed, ships from China."),
    "2": ("Carfentanil 1g bulk", "$900", "Carfentanil powder, ships worldwide from China, escrow only."),
}
RULES = {"sender": "narcowatch-test@localhost",
         "rules": [{"name": "fentanyl-new", "condition": {"substance_classes": ["fentanyl"]},
                    "recipients": ["new@test.example"], "events": ["new"]}]}


def write_site(root: Path, prices: dict[str, str] | None = None) -> None:
    (root / "item").mkdir(parents=True, exist_ok=True)
    links = "".join(f'<li><a class="item" href="item/{i}.html">{t}</a></li>' for i, (t, _, _) in ITEMS.items())
    (root / "index.html").write_text(f"<html><body><ul>{links}</ul></body></html>", encoding="utf-8")
    for i, (title, price, desc) in ITEMS.items():
        (root / "item" / f"{i}.html").write_text(
            f'<html><body><h1>{title}</h1><table><tr><td class="price">{(prices or {}).get(i, price)}</td></tr>'
            f'</table><div class="desc">{desc}</div><a class="vendor" href="/mshop/v/chemking">chemking</a>'
            "</body></html>", encoding="utf-8")


def source(name: str, start_urls: list[str], **extra: Any) -> dict[str, Any]:
    return {"name": name, "kind": "market", "allow_private_addresses": True, "start_urls": start_urls,
            "rate_limit": {"download_delay": 0, "concurrency": 4}, "robots": "ignore",
            "links": {"listing": "a.item"},
            "fields": {"title": "h1", "price": "td.price", "description": "div.desc", "vendor": "a.vendor"}, **extra}


@pytest.fixture
def webs(tmp_path: Path) -> Iterator[dict[str, DemoWeb]]:
    site = tmp_path / "site"
    write_site(site)
    out = {h: DemoWeb(host=h, static_dirs={"mshop": site}) for h in ("127.0.0.1", "127.0.0.2", "127.0.0.3")}
    for web in out.values():
        web.start()
    try:
        yield out
    finally:
        for web in out.values():
            web.stop()


def crawl(tmp_path: Path, sources: list[dict[str, Any]], names: list[str]) -> dict[str, dict[str, Any]]:
    config = tmp_path / "config"
    (config / "sources").mkdir(parents=True, exist_ok=True)
    (config / "sources" / "shops.yaml").write_text(yaml.safe_dump({"sources": sources}), encoding="utf-8")
    (config / "alerts.yaml").write_text(yaml.safe_dump(RULES), encoding="utf-8")
    env = dict(os.environ, NARCOWATCH_HOME=str(tmp_path / "home"))
    env.pop("NARCOWATCH_ALERTS_FILE", None)
    proc = subprocess.run([sys.executable, "-m", "crawler.runner", "crawl", *names, "--config", str(config),
                           "--log-level", "WARNING"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return {(o := json.loads(line))["source"]: o for line in proc.stdout.strip().splitlines() if line.startswith("{")}


def docs(client: Elasticsearch, names: IndexNames) -> list[dict[str, Any]]:
    client.indices.refresh(index=names.listings)
    hits = client.search(index=names.listings, size=100, query={"match_all": {}})["hits"]["hits"]
    return sorted((h["_source"] | {"_id": h["_id"]} for h in hits), key=lambda d: (d["source"], d["title"]))


def test_one_offer_through_two_mirrors_is_one_document_and_two_sites_are_two(
    tmp_path: Path, webs: dict[str, DemoWeb], smtp_sink: Any, es_client: Elasticsearch, es_env: IndexNames
) -> None:
    a, b, c = (webs[h].base_url.rstrip("/") for h in ("127.0.0.1", "127.0.0.2", "127.0.0.3"))
    dream = source("dream", [f"{a}/mshop/", f"{b}/mshop/"], mirrors=["127.0.0.2"])
    copycat = source("copycat", [f"{c}/mshop/"])

    # each offer is seen through both mirrors in one crawl: one document each; the copy site: its own two
    first = crawl(tmp_path, [dream, copycat], ["dream", "copycat"])
    assert first["dream"]["listings"] == 4 and first["dream"]["new"] == 2, first["dream"]
    assert first["copycat"]["new"] == 2, first["copycat"]
    before = docs(es_client, es_env)
    assert [(d["source"], d["platform"]) for d in before] == [("copycat", "127.0.0.3")] * 2 + [
        ("dream", "127.0.0.1")] * 2
    assert len({d["_id"] for d in before}) == 4
    mails = smtp_sink.wait_for(4)
    assert len(mails) == 4, [m.subject for m in mails]  # one "new" mail per listing of each site

    # the first mirror is taken down, the site now answers on the second one only, on another port, and a
    # price changed: the analyst moves start_urls there and keeps the old address as the platform
    webs["127.0.0.2"].stop()
    moved = DemoWeb(host="127.0.0.2", static_dirs={"mshop": tmp_path / "site"})
    moved.start()
    try:
        assert moved.base_url.rstrip("/") != b
        write_site(tmp_path / "site", prices={"1": "$420"})
        dream_moved = source("dream", [f"{moved.base_url.rstrip('/')}/mshop/"], mirrors=["127.0.0.1"],
                             platform="127.0.0.1")
        second = crawl(tmp_path, [dream_moved, copycat], ["dream"])
    finally:
        moved.stop()
    assert second["dream"]["new"] == 0 and second["dream"]["price_changes"] == 1, second["dream"]
    assert second["dream"]["unchanged"] == 1, second["dream"]
    after = docs(es_client, es_env)
    assert [d["_id"] for d in after] == [d["_id"] for d in before]
    old, new = before[3], after[3]  # dream's fentanyl offer (sorted by source, then title)
    assert new["title"].startswith("Fentanyl") and new["price"] == 420 and old["price"] == 450
    assert new["first_seen"] == old["first_seen"] and new["last_seen"] > old["last_seen"]
    assert new["url"].startswith(moved.base_url.rstrip("/"))  # where it was last seen, for the evidence
    assert after[:2] == before[:2]  # the other site's documents are untouched
    assert len(smtp_sink.messages()) == 4  # no second "new" mail
