"""Indexing throughput: narcowatch's ListingIndexer vs a bare ``helpers.bulk`` of the same documents.

Both run in the same process against the same node, into fresh indices built from the same template,
alternating (bare, ours, bare, ours) so neither gets a warmer cluster; the best round of each counts.
Uses NARCOWATCH_ES_URL when set, else starts a managed node in a temporary home (stopped at the end).

    .venv/bin/python bench/bench_index.py [--docs 20000] [--rounds 2] [--batch 1000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from elasticsearch import Elasticsearch, helpers  # noqa: E402

from crawler import fingerprint as fp  # noqa: E402
from crawler.es.documents import listing_doc  # noqa: E402
from crawler.es.indexer import ListingIndexer  # noqa: E402
from crawler.es.names import IndexNames  # noqa: E402
from crawler.es.templates import install  # noqa: E402
from crawler.items import Listing  # noqa: E402

GOAL = 0.8
SUBSTANCES = [("fentanyl", "fentanyl", "437-38-7"), ("carfentanil", "fentanyl", "59708-52-0"),
              ("4-ANPP", "precursor", "21409-26-7"), ("oxycodone", "opioid", "76-42-6"),
              ("NPP", "precursor", "39742-60-4")]
COUNTRIES = ["CN", "MX", "IN", "US", "NL", "DE", "CA", "RU"]


def make_docs(n: int) -> list[dict[str, Any]]:
    docs = []
    for i in range(n):
        name, cls, cas = SUBSTANCES[i % len(SUBSTANCES)]
        item = fp.apply(Listing(
            url=f"http://127.0.0.1:8000/market/listing/{i}",
            source=f"bench_source_{i % 4}", source_kind="market", platform=f"market{i % 7}.onion",
            native_id=str(i), title=f"{name} {i % 50}g high purity lab tested batch {i}",
            description=(f"Pure {name} powder, CAS {cas}. Ships from {COUNTRIES[i % 8]} stealth vacuum sealed. "
                         f"Contact telegram @vendor{i % 300} or wickr vendor{i % 300}. Escrow accepted. ") * 3,
            price=f"{50 + i % 900}.00", price_raw=f"${50 + i % 900}", currency="USD", quantity=f"{i % 50} g",
            stock="in stock", vendor=f"vendor{i % 300}", vendor_url=f"http://127.0.0.1:8000/vendor/{i % 300}",
            ships_from_raw=COUNTRIES[i % 8], ships_to_raw="Worldwide", category="Opioids / Fentanyl",
            fetched_at="2026-01-01T00:00:00Z", response_sha256=f"{i:064x}", response_status=200,
            warc_file="/var/narcowatch/warc/run.warc.gz", warc_record_id=f"<urn:uuid:{uuid.UUID(int=i)}>",
            nlp={"substances": [{"name": name, "class": cls, "cas": cas}],
                 "vendor": {"handles": [f"vendor{i % 300}"],
                            "contacts": [{"kind": "telegram", "value": f"@vendor{i % 300}"},
                                         {"kind": "wickr", "value": f"vendor{i % 300}"}]},
                 "ships_from": [COUNTRIES[i % 8]], "ships_to": ["WORLDWIDE"], "ships_not_to": [],
                 "intent": "sale", "risk": round((i % 100) / 100, 2),
                 "entities": [{"start": 5, "end": 13, "label": "SUBSTANCE", "text": name, "canonical": name}],
                 "text_normalized": f"pure {name} powder ships from {COUNTRIES[i % 8].lower()}"},
        ))
        docs.append(listing_doc(item, "2026-01-01T00:00:00.000Z"))
    return docs


def run_bare(client: Elasticsearch, docs: list[dict[str, Any]], chunk: int) -> float:
    names = IndexNames(f"nwbench-{uuid.uuid4().hex[:8]}")
    install(client, names, kinds=["listings"])
    actions = ({"_index": names.listings, "_id": d["fingerprint"], "_source": d} for d in docs)
    t0 = time.perf_counter()
    ok, errors = helpers.bulk(client, actions, chunk_size=chunk, raise_on_error=False)
    elapsed = time.perf_counter() - t0
    assert ok == len(docs) and not errors, errors[:3]
    _check_and_drop(client, names, len(docs))
    return len(docs) / elapsed


def run_ours(client: Elasticsearch, docs: list[dict[str, Any]], chunk: int, batch: int, spool: Path) -> float:
    names = IndexNames(f"nwbench-{uuid.uuid4().hex[:8]}")
    install(client, names, kinds=["listings", "changes"])
    indexer = ListingIndexer(client, names, spool, chunk_size=chunk)
    t0 = time.perf_counter()
    indexed = 0
    for start in range(0, len(docs), batch):
        res = indexer.index_batch(docs[start : start + batch], [])
        assert res.failed == 0 and res.spooled == 0, res.failures[:3]
        indexed += res.indexed
    elapsed = time.perf_counter() - t0
    assert indexed == len(docs)
    _check_and_drop(client, names, len(docs))
    return len(docs) / elapsed


def _check_and_drop(client: Elasticsearch, names: IndexNames, expected: int) -> None:
    client.indices.refresh(index=names.listings)
    count = client.count(index=names.listings)["count"]
    assert count == expected, f"{names.listings}: {count} documents, expected {expected}"
    indices = list(client.indices.get(index=f"{names.prefix}-*"))
    client.indices.delete(index=",".join(indices))
    for t in client.indices.get_index_template(name=f"{names.prefix}-*")["index_templates"]:
        client.indices.delete_index_template(name=t["name"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=500, help="bulk chunk size for both sides")
    ap.add_argument("--batch", type=int, default=1000, help="documents per ListingIndexer.index_batch call")
    args = ap.parse_args()

    node = home = None
    url = os.environ.get("NARCOWATCH_ES_URL")
    if not url:
        from tests.plugins.es import start_test_node

        print("starting a managed Elasticsearch node for the benchmark...", flush=True)
        node, home = start_test_node()
        info = node.info()
        assert info is not None
        url = info.url
    client = Elasticsearch(url, request_timeout=120)
    try:
        docs = make_docs(args.docs)
        warm = make_docs(1000)
        run_bare(client, warm, args.chunk)  # JIT and caches warm for both
        bare, ours = [], []
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.rounds):
                bare.append(run_bare(client, docs, args.chunk))
                ours.append(run_ours(client, docs, args.chunk, args.batch, Path(tmp) / f"spool{r}"))
                print(f"round {r + 1}: bare {bare[-1]:,.0f} docs/s, narcowatch {ours[-1]:,.0f} docs/s", flush=True)
        best_bare, best_ours = max(bare), max(ours)
        ratio = best_ours / best_bare
        print(f"documents: {args.docs}, chunk size {args.chunk}, batch {args.batch}")
        print(f"bare helpers.bulk:        {best_bare:,.0f} docs/s")
        print(f"narcowatch ListingIndexer: {best_ours:,.0f} docs/s")
        print(f"ratio (best of {args.rounds} rounds each): {ratio:.2f} (goal >= {GOAL}: "
              f"{'met' if ratio >= GOAL else 'NOT met'})")
        print(f"ratio of medians: {statistics.median(ours) / statistics.median(bare):.2f}; per-round ratios: "
              + ", ".join(f"{o / b:.2f}" for o, b in zip(ours, bare, strict=True)))
        return 0 if ratio >= GOAL else 1
    finally:
        client.close()
        if node is not None and home is not None:
            from tests.plugins.es import stop_test_node

            stop_test_node(node, home)


if __name__ == "__main__":
    sys.exit(main())
