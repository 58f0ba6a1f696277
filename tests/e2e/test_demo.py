"""End to end: `narcowatch demo` in a temporary home, then what Elasticsearch holds and which mails came."""

from __future__ import annotations

import email
import json
import os
import socket
import subprocess
import sys
from email import policy
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from crawler.es.node import free_port
from tests.plugins.es import delete_prefix

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.browser, pytest.mark.smtp]

DECOY_PATHS = ("/news/", "/harm-reduction/")


DEMO_PORT = free_port()
"""The demo sites' port in the first run (never the user's 8808); the second run uses another one."""


def run_demo(home: Path, es_url: str, prefix: str, *args: str, port: int = DEMO_PORT
             ) -> subprocess.CompletedProcess[str]:
    """``narcowatch demo`` with its sites on ``port``."""
    env = dict(os.environ)
    env.update(
        NARCOWATCH_HOME=str(home),
        NARCOWATCH_ES_URL=es_url,
        NARCOWATCH_INDEX_PREFIX=prefix,
        NARCOWATCH_DEMO_PORT=str(port),
    )
    env.pop("NARCOWATCH_SMTP_URL", None)
    cmd = [sys.executable, "-m", "crawler.cli", "demo", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, check=False)


def all_docs(client: Elasticsearch, index: str) -> list[dict[str, Any]]:
    client.indices.refresh(index=index)
    res = client.search(index=index, size=1000, query={"match_all": {}})
    return [h["_source"] | {"_id": h["_id"]} for h in res["hits"]["hits"]]


def mails(directory: Path) -> list[email.message.EmailMessage]:
    out = []
    for path in sorted(directory.glob("*.eml")):
        out.append(email.message_from_bytes(path.read_bytes(), policy=policy.default))
    return out


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory, es_url: str, es_client: Elasticsearch) -> Any:
    import uuid

    home = tmp_path_factory.mktemp("demo-home")
    prefix = f"nwtest-demo-{uuid.uuid4().hex[:6]}"
    first = run_demo(home, es_url, prefix)
    yield home, prefix, first
    delete_prefix(es_client, prefix)


def test_demo_ends_with_summary_and_alert_mails(demo_run: Any) -> None:
    home, _prefix, result = demo_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Demo summary:" in result.stdout
    assert "Traceback" not in result.stderr
    msgs = mails(home / "demo" / "mail")
    assert msgs, "the demo delivered no alert mail"
    for msg in msgs:
        assert msg["To"] and msg["Subject"]
        assert msg.get_body(preferencelist=("html",)) is not None
        assert msg.get_body(preferencelist=("plain",)) is not None


def test_demo_ends_with_a_referral_report_for_its_telegram_platform(demo_run: Any) -> None:
    home, _prefix, result = demo_run
    assert result.returncode == 0
    out = " ".join(result.stdout.split())  # rich wraps long lines
    report = home / "demo" / "reports" / "telegram"
    assert f"Referral report (telegram): {report / 'report.html'}" in out, result.stdout[-2000:]
    custody = json.loads((report / "custody.json").read_text())
    assert custody["report"] == {"kind": "platform", "subject": "telegram",
                                 "parameters": {"platform": "telegram", "since": "30d", "classes": [],
                                                "min_risk": None}}
    assert {d["_id"] for d in custody["documents"]} and (report / "report.pdf").stat().st_size > 10_000
    assert "@chemking_direct" in (report / "report.html").read_text(encoding="utf-8")


def test_demo_indexes_every_kind_of_site_with_substances(demo_run: Any, es_client: Elasticsearch) -> None:
    _home, prefix, result = demo_run
    assert result.returncode == 0
    docs = all_docs(es_client, f"{prefix}-listings")
    kinds = {d.get("source_kind") for d in docs}
    assert {"market", "browser", "telegram_public", "forum"} <= kinds, kinds
    classes = {c for d in docs for c in d.get("substance_classes") or []}
    assert {"fentanyl", "precursor"} <= classes, classes
    evidence = [d.get("evidence") or {} for d in docs]
    assert all(e.get("response_sha256") and e.get("warc_record_id") for e in evidence)
    assert any(e.get("screenshot") for e, d in zip(evidence, docs, strict=True) if d["source_kind"] == "browser")


def test_decoys_are_indexed_as_non_sale_and_never_alerted(demo_run: Any, es_client: Elasticsearch) -> None:
    home, prefix, _result = demo_run
    docs = all_docs(es_client, f"{prefix}-listings")
    decoys = [d for d in docs if any(p in d.get("url", "") for p in DECOY_PATHS)]
    assert decoys, "the demo sites have news and harm-reduction decoys"
    assert all(d.get("intent") == "other" for d in decoys), [(d["url"], d.get("intent")) for d in decoys]
    decoy_ids = {d["_id"] for d in decoys}
    alerts = all_docs(es_client, f"{prefix}-alerts")
    assert alerts
    assert not [a for a in alerts if a.get("listing_id") in decoy_ids or a.get("fingerprint") in decoy_ids]
    bodies = " ".join(m.get_body(preferencelist=("plain",)).get_content() for m in mails(home / "demo" / "mail"))
    for decoy in decoys:
        assert decoy["url"] not in bodies


def test_second_demo_run_sends_no_mail_and_duplicates_nothing(demo_run: Any, es_url: str,
                                                              es_client: Elasticsearch) -> None:
    """The second run finds the demo's port taken and serves its sites on another one: listing ids leave the
    port of a source's own address out, so nothing is new (Mastodon statuses were: their ids held it)."""
    home, prefix, first = demo_run
    assert first.returncode == 0
    before_docs = es_client.count(index=f"{prefix}-listings")["count"]
    before_mails = len(mails(home / "demo" / "mail"))
    es_client.indices.refresh(index=f"{prefix}-changes")
    before_changes = es_client.count(index=f"{prefix}-changes")["count"]
    with socket.socket() as squatter:  # the first run's port is taken now: the demo falls back to another
        squatter.bind(("127.0.0.1", DEMO_PORT))
        squatter.listen(1)
        second = run_demo(home, es_url, prefix)
    assert f"port {DEMO_PORT} is taken" in " ".join(second.stderr.split()), second.stderr[-2000:]
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    es_client.indices.refresh(index=f"{prefix}-listings")
    assert es_client.count(index=f"{prefix}-listings")["count"] == before_docs
    assert len(mails(home / "demo" / "mail")) == before_mails
    es_client.indices.refresh(index=f"{prefix}-changes")
    assert es_client.count(index=f"{prefix}-changes")["count"] == before_changes  # nor a "changed" message
    assert "(0 new)" in second.stdout
