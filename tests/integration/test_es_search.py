"""Analyst search (Python API and command) against the real node."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from elasticsearch import Elasticsearch

from crawler import fingerprint as fp
from crawler.es.cli import es_group, search_command
from crawler.es.documents import listing_doc
from crawler.es.indexer import ListingIndexer
from crawler.es.names import IndexNames
from crawler.es.search import search, since_expr
from crawler.items import Listing


def _item(n: int, title: str, cls: str, name: str, ships_from: str, platform: str, risk: float,
          normalized: str | None = None) -> Listing:
    return fp.apply(Listing(
        url=f"http://127.0.0.1/l/{n}", source=f"src{n % 2}", source_kind="market", platform=platform, title=title,
        description="contact wickr: dealer", vendor=f"vendor{n}", price="100", currency="USD",
        nlp={"substances": [{"name": name, "class": cls, "cas": None}], "ships_from": [ships_from],
             "ships_to": ["US"], "intent": "sale", "risk": risk, "text_normalized": normalized or title.lower()},
    ))


@pytest.fixture
def indexed(es_client: Elasticsearch, es_installed: IndexNames, tmp_path: Path) -> IndexNames:
    items = [
        _item(1, "F3nt@nyl powder 99%", "fentanyl", "fentanyl", "CN", "m1.onion", 0.95, "fentanyl powder 99%"),
        _item(2, "China white #4", "fentanyl", "fentanyl", "MX", "telegram", 0.7),
        _item(3, "4-ANPP 1kg bulk", "precursor", "4-ANPP", "CN", "b2b.example", 0.8),
        _item(4, "Oxycodone 30mg", "opioid", "oxycodone", "US", "m1.onion", 0.3),
    ]
    idx = ListingIndexer(es_client, es_installed, tmp_path / "spool", refresh="wait_for")
    res = idx.index_batch([listing_doc(i, "2026-01-01T00:00:00.000Z") for i in items], [])
    assert res.indexed == 4
    return es_installed


def test_query_matches_obfuscated_spelling_through_normalised_text(
    es_client: Elasticsearch, indexed: IndexNames
) -> None:
    rows = search(es_client, indexed, "fentanyl")
    titles = [r["title"] for r in rows]
    assert "F3nt@nyl powder 99%" in titles  # only the normalised text says "fentanyl"
    assert "China white #4" in titles  # substance name field
    assert "Oxycodone 30mg" not in titles


def test_filters(es_client: Elasticsearch, indexed: IndexNames) -> None:
    assert {r["title"] for r in search(es_client, indexed, None, substance_class="precursor")} == {"4-ANPP 1kg bulk"}
    assert {r["title"] for r in search(es_client, indexed, None, country="cn")} == {
        "F3nt@nyl powder 99%", "4-ANPP 1kg bulk"}
    assert [r["title"] for r in search(es_client, indexed, None, min_risk=0.75)] == [
        "F3nt@nyl powder 99%", "4-ANPP 1kg bulk"]  # riskiest first
    assert {r["title"] for r in search(es_client, indexed, None, platform="telegram")} == {"China white #4"}
    assert len(search(es_client, indexed, None, source="src1")) == 2
    assert search(es_client, indexed, None, since="2999-01-01") == []  # after every listing, in any year
    assert len(search(es_client, indexed, None, since="2025-12-31")) == 4


def test_since_expressions() -> None:
    assert since_expr("24h") == "now-24h" and since_expr("7d") == "now-7d"
    assert since_expr("2026-01-31") == "2026-01-31"
    with pytest.raises(ValueError, match="since"):
        since_expr("yesterday")


def test_search_command_json_and_table(indexed: IndexNames, es_env: IndexNames) -> None:
    runner = CliRunner()
    out = runner.invoke(search_command, ["fentanyl", "--class", "fentanyl", "--country", "CN", "--json"])
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in out.output.splitlines()]
    assert [r["title"] for r in rows] == ["F3nt@nyl powder 99%"]
    table = runner.invoke(search_command, ["--min-risk", "0.5"])
    assert table.exit_code == 0 and "4-ANPP" in table.output and "Oxycodone" not in table.output
    bad = runner.invoke(search_command, ["--since", "yesterday"])
    assert bad.exit_code != 0 and "since" in bad.output


def test_search_command_unreachable_cluster_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from crawler.es.node import free_port

    monkeypatch.setenv("NARCOWATCH_ES_URL", f"http://127.0.0.1:{free_port()}")
    out = CliRunner().invoke(search_command, ["fentanyl"])
    assert out.exit_code == 1
    assert "does not answer" in out.output and "Traceback" not in out.output


def test_es_status_against_configured_cluster(es_env: IndexNames, es_client: Elasticsearch) -> None:
    from crawler.es.templates import install

    install(es_client, es_env)
    out = CliRunner().invoke(es_group, ["status"])
    assert out.exit_code == 0, out.output
    assert "Elasticsearch 9.2.4 running at" in out.output and f"{es_env.listings} -> " in out.output
