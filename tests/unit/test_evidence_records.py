"""Unit tests of crawler.evidence: WARC writing and reading, redaction, paths and run ids."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from scrapy import Spider
from scrapy.http import HtmlResponse, Request
from scrapy.settings import Settings
from warcio.archiveiterator import ArchiveIterator

from crawler.common.clock import utc_now_iso as utc_now
from crawler.evidence import (
    WarcRun,
    evidence_run_dir,
    read_record,
    read_record_headers,
    run_id_of,
    sha256_hex,
    source_name,
    warc_path,
)


def _exchange(url: str = "http://127.0.0.1:1/item/7", body: bytes = b"<html><body>4-ANPP</body></html>",
              flags: list[str] | None = None) -> tuple[Request, HtmlResponse]:
    request = Request(url, headers={"User-Agent": "narcowatch/test", "Cookie": "sid=topsecret",
                                    "X-Token": "tok-secret", "Accept": "text/html"})
    response = HtmlResponse(url, status=200, body=body, request=request, flags=flags or [],
                            headers={"Content-Type": "text/html; charset=utf-8", "Transfer-Encoding": "chunked"})
    return request, response


def test_write_and_read_back(tmp_path: Path) -> None:
    run = WarcRun(tmp_path / "src" / "r1.warc.gz", source="src", run_id="r1")
    request, response = _exchange()
    digest = sha256_hex(response.body)
    rid = run.write_exchange(request, response, fetched_at="2026-11-24T18:00:00.123Z", sha256=digest,
                             secret_headers=frozenset({b"cookie", b"x-token"}))
    run.close()
    assert rid.startswith("<urn:uuid:")
    assert read_record(run.path, rid) == response.body
    headers = read_record_headers(run.path, rid)
    assert headers["WARC-Target-URI"] == response.url
    assert headers["WARC-Date"] == "2026-11-24T18:00:00.123Z"
    assert headers["Narcowatch-Body-SHA256"] == digest == hashlib.sha256(response.body).hexdigest()
    assert headers["Narcowatch-Source"] == "src" and headers["Narcowatch-Run-Id"] == "r1"
    with run.path.open("rb") as fh:
        records = list(ArchiveIterator(fh))
    kinds = [r.rec_type for r in records]
    assert kinds == ["warcinfo", "response", "request"]
    resp, req = records[1], records[2]
    # The chunked transfer coding is gone from the body, so the stored headers say a plain length.
    assert resp.http_headers.get_header("Transfer-Encoding") is None
    assert resp.http_headers.get_header("Content-Length") == str(len(response.body))
    assert req.rec_headers.get_header("WARC-Concurrent-To") == rid
    assert req.http_headers.get_header("Cookie") == "[redacted]"
    assert req.http_headers.get_header("X-Token") == "[redacted]"
    assert req.http_headers.get_header("User-Agent") == "narcowatch/test"
    assert req.http_headers.get_header("Host") == "127.0.0.1:1"


def test_rendered_page_with_screenshot(tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    shot.write_bytes(b"\x89PNG fake")
    run = WarcRun(tmp_path / "w.warc.gz", source="s", run_id="r")
    request, response = _exchange(body="<html><body>rendered ü</body></html>".encode(), flags=["playwright"])
    rid = run.write_exchange(request, response, fetched_at=utc_now(), sha256=sha256_hex(response.body),
                             rendered=True, screenshot=str(shot))
    run.close()
    headers = read_record_headers(run.path, rid)
    assert headers["Narcowatch-Rendered"] == "chromium"
    assert headers["Narcowatch-Screenshot"] == str(shot)
    assert headers["Narcowatch-Screenshot-SHA256"] == hashlib.sha256(shot.read_bytes()).hexdigest()
    assert read_record(run.path, rid) == response.body


def test_appending_to_an_existing_run_keeps_one_warcinfo(tmp_path: Path) -> None:
    path = tmp_path / "r.warc.gz"
    ids = []
    for _ in range(2):
        run = WarcRun(path, source="s", run_id="r")
        ids.append(run.write_exchange(*_exchange(), fetched_at=utc_now(), sha256="x"))
        run.close()
    with path.open("rb") as fh:
        kinds = [r.rec_type for r in ArchiveIterator(fh)]
    assert kinds.count("warcinfo") == 1 and kinds.count("response") == 2
    assert all(read_record(path, i) for i in ids)


def test_read_record_unknown_id(tmp_path: Path) -> None:
    run = WarcRun(tmp_path / "r.warc.gz", source="s", run_id="r")
    run.close()
    with pytest.raises(KeyError, match=r"no WARC record <urn:uuid:nope> in .*r\.warc\.gz"):
        read_record(run.path, "<urn:uuid:nope>")


def test_paths_and_run_ids(tmp_path: Path) -> None:
    spider = Spider(name="demo-shop")
    settings = Settings({"NARCOWATCH_EVIDENCE_DIR": str(tmp_path), "NARCOWATCH_RUN_ID": "20261124T1-abc"})
    assert warc_path(settings, spider) == tmp_path / "demo-shop" / "20261124T1-abc.warc.gz"
    assert evidence_run_dir(settings, spider) == tmp_path / "demo-shop" / "20261124T1-abc"
    # Without a configured id one is made once and kept for the spider.
    bare = Settings({"NARCOWATCH_EVIDENCE_DIR": str(tmp_path)})
    first = run_id_of(bare, spider)
    assert first == run_id_of(bare, spider)
    assert len(first) == len("20261124T184000-1a2b3c")


def test_source_name_prefers_the_source_config() -> None:
    class Src:
        name = "configured"

    spider = Spider(name="spidername")
    assert source_name(spider) == "spidername"
    spider.source = Src()  # type: ignore[attr-defined]
    assert source_name(spider) == "configured"


def test_utc_now_format() -> None:
    now = utc_now()
    assert now.endswith("Z") and now[10] == "T" and len(now) == len("2026-11-24T18:00:00.123Z")
