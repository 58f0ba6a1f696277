"""Evidence of a plain crawl: one gzip WARC per run with request and response records, hashes that verify."""

from __future__ import annotations

import gzip
import hashlib
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit

from test_browser_support import local_server, page, run_crawl, send
from warcio.archiveiterator import ArchiveIterator

from crawler.evidence import read_record


def _routes() -> dict:
    def index(req: BaseHTTPRequestHandler) -> None:
        send(req, 200, page("idx", '<a class="l" href="/item/1">1</a><a class="l" href="/item/2">2</a>'))

    def item1(req: BaseHTTPRequestHandler) -> None:
        send(req, 200, page("one", '<h1 class="t">4-ANPP 99%</h1>'))

    def item2(req: BaseHTTPRequestHandler) -> None:
        # Served gzip-compressed: the evidence keeps the bytes as they came over the wire.
        send(req, 200, gzip.compress(page("two", '<h1 class="t">Fentanyl citrate</h1>'), mtime=0),
             headers={"Content-Encoding": "gzip"})

    return {"/": index, "/item/1": item1, "/item/2": item2}


def test_warc_per_run_with_verifiable_records(tmp_path: Path) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    with local_server(_routes()) as (base, _):
        source = {
            "name": "evsite", "kind": "market", "start_urls": [f"{base}/"], "robots": "obey",
            "allow_private_addresses": True,  # a loopback test site
            "rate_limit": {"download_delay": 0, "concurrency": 1},
            "links": {"listing": "a.l"}, "fields": {"title": "h1.t"},
        }
        result = run_crawl(source, tmp_path, settings={"NARCOWATCH_RUN_ID": "run-0001"})
    warc = tmp_path / "home" / "evidence" / "evsite" / "run-0001.warc.gz"
    assert result.stat("narcowatch/evidence/warc_file") == str(warc)
    items = {i["title"]: i for i in result.items}
    assert set(items) == {"4-ANPP 99%", "Fentanyl citrate"}
    for item in items.values():
        assert item["warc_file"] == str(warc)
        fetched = datetime.fromisoformat(item["fetched_at"].replace("Z", "+00:00"))
        assert before <= fetched <= datetime.now(UTC)
        assert item["fetched_at"].endswith("Z")
        assert hashlib.sha256(read_record(warc, item["warc_record_id"])).hexdigest() == item["response_sha256"]

    # The compressed page: the stored payload is the gzip body as served, and it decompresses to the page.
    raw = read_record(warc, items["Fentanyl citrate"]["warc_record_id"])
    assert raw[:2] == b"\x1f\x8b" and b"Fentanyl citrate" in gzip.decompress(raw)

    with warc.open("rb") as fh:
        records = [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI"),
                    r.rec_headers.get_header("WARC-Record-ID"), r.rec_headers.get_header("WARC-Concurrent-To"),
                    r.http_headers) for r in ArchiveIterator(fh)]
    assert records[0][0] == "warcinfo"
    responses = {rid: uri for kind, uri, rid, _, _ in records if kind == "response"}
    requests = [(uri, to, http) for kind, uri, _, to, http in records if kind == "request"]
    # robots.txt, the index and two listings: each response with its request, headers included.
    assert sorted(responses.values()) == sorted([f"{base}/robots.txt", f"{base}/", f"{base}/item/1",
                                                 f"{base}/item/2"])
    assert len(requests) == 4
    for uri, to, http in requests:
        assert responses[to] == uri
        assert http.get_header("User-Agent", "").startswith("narcowatch/")
        assert http.protocol == "GET"
        assert http.statusline == urlsplit(uri).path + " HTTP/1.1"
    assert result.stat("narcowatch/evidence/records") == 4
