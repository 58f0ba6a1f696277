"""Crawl-run documents on the real node: numbers first met as whole numbers stay fractional later.

With dynamic mapping a run's ``stats`` latency first written as ``0`` or a fill rate of ``1`` became a
``long`` field, and every later ``0.5`` was truncated to 0 in the index (``_source`` kept it), so a Kibana
query "fill rate of price below 0.9" missed the degraded run. Mapping v2 maps such numbers as doubles.
"""

from __future__ import annotations

from elasticsearch import Elasticsearch

from crawler.es.names import IndexNames
from crawler.runs import RunRecord


def _run(n: int, *, latency: float, price_rate: float, drift_after: float) -> dict[str, object]:
    rec = RunRecord(run_id=f"run-{n}", source="demo-market", start=f"2026-12-03T14:0{n}:00Z",
                    end=f"2026-12-03T14:0{n}:30Z", duration=30.0, outcome="success")
    rec.stats = {"alert_latency_s": latency, "nlp": {"ms_per_listing": latency}}
    rec.fill_rates = {"price": price_rate, "title": 1.0 if n else 1}
    rec.fill_samples = {"price": f"http://market.example.onion/item/{n}"}
    rec.drift = [{"field": "price", "before": 1, "after": drift_after, "sample_url": "http://x.test/1"}]
    rec.exit_code = 0
    return rec.to_document()


def test_run_numbers_first_written_whole_keep_their_fractions(es_client: Elasticsearch,
                                                              es_installed: IndexNames) -> None:
    index = es_installed.crawl_runs
    # the first run of a new installation writes whole numbers (int in Python, JSON 0 / 1)
    es_client.index(index=index, id="run-0", document=_run(0, latency=0, price_rate=1, drift_after=1),
                    refresh=True)
    es_client.index(index=index, id="run-1", document=_run(1, latency=0.5, price_rate=0.25, drift_after=0.25),
                    refresh=True)

    def ids(query: dict[str, object]) -> list[str]:
        return sorted(h["_id"] for h in es_client.search(index=index, query=query)["hits"]["hits"])

    assert ids({"range": {"stats.alert_latency_s": {"gte": 0.4}}}) == ["run-1"]
    assert ids({"range": {"stats.nlp.ms_per_listing": {"gt": 0.1}}}) == ["run-1"]
    assert ids({"range": {"fill_rates.price": {"lt": 0.9}}}) == ["run-1"]
    assert ids({"range": {"drift.after": {"gt": 0.1, "lt": 0.9}}}) == ["run-1"]
    assert ids({"term": {"trigger": "schedule"}}) == ["run-0", "run-1"]
    mapping = es_client.indices.get_mapping(index=index)
    props = next(iter(mapping.body.values()))["mappings"]["properties"]
    assert props["fill_samples"] == {"type": "object", "enabled": False}
    assert props["stats"]["properties"]["alert_latency_s"]["type"] == "double"
    assert props["errors"].get("properties", {}) == {} or all(
        p["type"] == "long" for p in props["errors"]["properties"].values())
