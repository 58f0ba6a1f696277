"""Evidence of every fetched page: SHA-256 of the raw body, fetch time, and a per-run gzip WARC file."""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from io import BytesIO
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response
from scrapy.settings import BaseSettings

from crawler.common.clock import compact_utc, utc_now_iso
from crawler.stats_helpers import CrawlerStatsMixin

log = logging.getLogger(__name__)

META_EVIDENCE = "narcowatch_evidence"
"""response.meta key: ``{"sha256", "fetched_at", "warc_file", "warc_record_id", "screenshot"}``."""
# Flat keys read by crawler.pages.base.evidence_fields (kept in step with META_EVIDENCE).
META_FETCHED_AT = "narcowatch_fetched_at"
META_SHA256 = "narcowatch_sha256"
META_WARC_FILE = "narcowatch_warc_file"
META_WARC_RECORD_ID = "narcowatch_warc_record_id"
META_SCREENSHOT = "narcowatch_screenshot"

SECRET_HEADERS = frozenset({b"cookie", b"authorization", b"proxy-authorization"})
"""Request headers whose values never go into a WARC file (session secrets)."""
SECRET_RESPONSE_HEADERS = frozenset({b"set-cookie", b"set-cookie2"})
"""Response headers whose values never go into a WARC file (the site's session cookies)."""
REDACTED = "[redacted]"


def sha256_hex(body: bytes) -> str:
    """SHA-256 of a body, lower-case hex."""
    return hashlib.sha256(body).hexdigest()


def new_run_id() -> str:
    """A crawl-run id like ``20261124T184000-1a2b3c`` (the runner's format)."""
    return f"{compact_utc()}-{uuid.uuid4().hex[:6]}"


def source_name(spider: Spider) -> str:
    """The configured source a spider crawls (its ``source.name``, else the spider's name)."""
    source = getattr(spider, "source", None) or getattr(spider, "source_config", None)
    return str(getattr(source, "name", None) or spider.name)


def run_id_of(settings: BaseSettings, spider: Spider) -> str:
    """The crawl run's id: ``NARCOWATCH_RUN_ID``, else one made up once per spider and kept on it."""
    configured = settings.get("NARCOWATCH_RUN_ID")
    if configured:
        return str(configured)
    existing = getattr(spider, "narcowatch_run_id", None)
    if not existing:
        existing = new_run_id()
        spider.narcowatch_run_id = existing  # type: ignore[attr-defined]
    return str(existing)


def evidence_root(settings: BaseSettings) -> Path:
    """``NARCOWATCH_EVIDENCE_DIR``, else ``state_home()/evidence``."""
    configured = settings.get("NARCOWATCH_EVIDENCE_DIR")
    if configured:
        return Path(configured).expanduser()
    from crawler.paths import state_home

    return state_home() / "evidence"


def evidence_run_dir(settings: BaseSettings, spider: Spider) -> Path:
    """``<evidence root>/<source>/<run id>``: where a run's screenshots go (beside its WARC file)."""
    return evidence_root(settings) / source_name(spider) / run_id_of(settings, spider)


def warc_path(settings: BaseSettings, spider: Spider) -> Path:
    """``<evidence root>/<source>/<run id>.warc.gz``."""
    return evidence_root(settings) / source_name(spider) / f"{run_id_of(settings, spider)}.warc.gz"


# ---------------------------------------------------------------- writing


def _header_pairs(headers: Any, *, secret: frozenset[bytes] = frozenset()) -> list[tuple[str, str]]:
    pairs = []
    for name, values in headers.items():
        key = name if isinstance(name, bytes) else str(name).encode("latin-1")
        for value in values if isinstance(values, list) else [values]:
            raw = value if isinstance(value, bytes) else str(value).encode("latin-1")
            text = REDACTED if key.lower() in secret else raw.decode("latin-1")
            pairs.append((key.decode("latin-1"), text))
    return pairs


class WarcRun:
    """One gzip WARC file for one crawl run of one source, appended to record by record."""

    def __init__(self, path: Path, *, source: str, run_id: str):
        from warcio.warcwriter import WARCWriter

        self.path = path
        self.source = source
        self.run_id = run_id
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] = open(path, "ab")
        self._writer = WARCWriter(self._file, gzip=True, warc_version="WARC/1.1")
        if self._file.tell() == 0:
            info = self._writer.create_warcinfo_record(
                path.name,
                {"software": "narcowatch", "format": "WARC File Format 1.1",
                 "narcowatch-source": source, "narcowatch-run-id": run_id},
            )
            self._writer.write_record(info)
            self._file.flush()
        self.records = 0

    def write_exchange(
        self,
        request: Request,
        response: Response,
        *,
        fetched_at: str,
        sha256: str,
        rendered: bool = False,
        screenshot: str | None = None,
        secret_headers: frozenset[bytes] = SECRET_HEADERS,
    ) -> str:
        """Write the request and response records of one fetch; returns the response's WARC-Record-ID."""
        from warcio.statusandheaders import StatusAndHeaders

        body = response.body
        status = response.status
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        resp_headers = _header_pairs(response.headers, secret=SECRET_RESPONSE_HEADERS)
        if rendered:
            # The body is Chromium's DOM after scripts ran, re-encoded as UTF-8: say so, and fix the length.
            drop = {"content-length", "content-encoding", "transfer-encoding", "content-type"}
            resp_headers = [(k, v) for k, v in resp_headers if k.lower() not in drop]
            resp_headers.append(("Content-Type", "text/html; charset=utf-8"))
            resp_headers.append(("Content-Length", str(len(body))))
        else:
            # Scrapy hands us the body with the transfer coding removed; the headers must agree.
            if any(k.lower() == "transfer-encoding" for k, _ in resp_headers):
                resp_headers = [(k, v) for k, v in resp_headers if k.lower() not in ("transfer-encoding",
                                                                                      "content-length")]
                resp_headers.append(("Content-Length", str(len(body))))
        protocol = getattr(response, "protocol", None) or "HTTP/1.1"
        http_headers = StatusAndHeaders(f"{status} {reason}", resp_headers, protocol=protocol)
        record_id = f"<urn:uuid:{uuid.uuid4()}>"
        warc_date = fetched_at.replace(".000Z", "Z")
        extra = {
            "WARC-Record-ID": record_id,
            "WARC-Date": warc_date,
            "Narcowatch-Source": self.source,
            "Narcowatch-Run-Id": self.run_id,
            "Narcowatch-Body-SHA256": sha256,
        }
        if response.ip_address is not None:
            extra["WARC-IP-Address"] = str(response.ip_address)
        if rendered:
            extra["Narcowatch-Rendered"] = "chromium"
        if screenshot:
            extra["Narcowatch-Screenshot"] = screenshot
            try:
                extra["Narcowatch-Screenshot-SHA256"] = sha256_hex(Path(screenshot).read_bytes())
            except OSError as exc:
                log.warning("screenshot %s of %s unreadable: %s", screenshot, response.url, exc)
        resp_record = self._writer.create_warc_record(
            response.url, "response", payload=BytesIO(body), length=len(body),
            warc_headers_dict=extra, http_headers=http_headers,
        )

        parts = urlsplit(request.url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        req_headers = _header_pairs(request.headers, secret=secret_headers)
        if not any(k.lower() == "host" for k, _ in req_headers):
            req_headers.insert(0, ("Host", parts.netloc))
        req_http = StatusAndHeaders(f"{request.method} {target} HTTP/1.1", req_headers,
                                    protocol="HTTP/1.1", is_http_request=True)
        req_body = request.body or b""
        req_record = self._writer.create_warc_record(
            request.url, "request", payload=BytesIO(req_body), length=len(req_body),
            warc_headers_dict={"WARC-Date": warc_date, "WARC-Concurrent-To": record_id},
            http_headers=req_http,
        )
        self._writer.write_record(resp_record)
        self._writer.write_record(req_record)
        self._file.flush()
        self.records += 1
        return record_id

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


# ---------------------------------------------------------------- reading


def read_record(warc_file: str | Path, record_id: str) -> bytes:
    """The stored HTTP body of one response record (raw, as fetched or rendered), by WARC-Record-ID.

    Its SHA-256 equals the ``sha256`` recorded for the page. Raises KeyError naming file and id.
    """
    from warcio.archiveiterator import ArchiveIterator

    with open(warc_file, "rb") as fh:
        for record in ArchiveIterator(fh):
            if record.rec_headers.get_header("WARC-Record-ID") == record_id:
                return bytes(record.raw_stream.read())
    raise KeyError(f"no WARC record {record_id} in {warc_file}")


def read_record_headers(warc_file: str | Path, record_id: str) -> dict[str, str]:
    """The WARC headers of one record (source, run id, screenshot path, SHA-256...), by WARC-Record-ID."""
    from warcio.archiveiterator import ArchiveIterator

    with open(warc_file, "rb") as fh:
        for record in ArchiveIterator(fh):
            if record.rec_headers.get_header("WARC-Record-ID") == record_id:
                return dict(record.rec_headers.headers)
    raise KeyError(f"no WARC record {record_id} in {warc_file}")


# ---------------------------------------------------------------- middleware


@dataclass(frozen=True)
class EvidenceConfig:
    """``NARCOWATCH_EVIDENCE_*`` settings, read once."""

    enabled: bool

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> EvidenceConfig:
        return cls(enabled=settings.getbool("NARCOWATCH_EVIDENCE_ENABLED", True))


class EvidenceMiddleware(CrawlerStatsMixin):
    """Downloader middleware: hash, time-stamp and archive every response of the crawl to its WARC file.

    Sits next to the download handler (order 950) so it sees the final request headers and the raw
    body (before decompression). For pages rendered in Chromium it stores the rendered HTML and the
    screenshot path. Exposes the results in ``response.meta["narcowatch_evidence"]``.
    """

    def __init__(self, crawler: Crawler, config: EvidenceConfig):
        self.crawler = crawler
        self.config = config
        self.runs: dict[str, WarcRun] = {}
        self.secret_headers: dict[str, frozenset[bytes]] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> EvidenceMiddleware:
        config = EvidenceConfig.from_settings(crawler.settings)
        if not config.enabled:
            raise NotConfigured("NARCOWATCH_EVIDENCE_ENABLED is off")
        mw = cls(crawler, config)
        crawler.signals.connect(mw.spider_closed, signal=signals.spider_closed)
        return mw

    def _run(self, spider: Spider) -> WarcRun:
        name = source_name(spider)
        run = self.runs.get(name)
        if run is None:
            run = WarcRun(warc_path(self.crawler.settings, spider), source=name,
                          run_id=run_id_of(self.crawler.settings, spider))
            self.runs[name] = run
            source = getattr(spider, "source", None)
            session = getattr(source, "session", None)
            configured = {h.lower().encode("latin-1") for h in (getattr(session, "headers_env", None) or {})}
            self.secret_headers[name] = SECRET_HEADERS | frozenset(configured)
            self._set("narcowatch/evidence/warc_file", str(run.path))
        return run

    def process_response(self, request: Request, response: Response, spider: Spider) -> Response:
        fetched_at = utc_now_iso()
        digest = sha256_hex(response.body)
        rendered = "playwright" in response.flags
        screenshot = request.meta.get(META_SCREENSHOT)
        evidence: dict[str, Any] = {
            "sha256": digest, "fetched_at": fetched_at, "warc_file": None, "warc_record_id": None,
            "screenshot": screenshot,
        }
        try:
            run = self._run(spider)
            record_id = run.write_exchange(
                request, response, fetched_at=fetched_at, sha256=digest, rendered=rendered,
                screenshot=screenshot, secret_headers=self.secret_headers.get(run.source, SECRET_HEADERS),
            )
            evidence["warc_file"] = str(run.path)
            evidence["warc_record_id"] = record_id
            self._inc("narcowatch/evidence/records")
        except OSError as exc:
            # The crawl goes on; the listing keeps its hash and time but points to no WARC record.
            log.error("evidence: cannot write the WARC record of %s: %s", response.url, exc)
            self._inc("narcowatch/evidence/errors")
        request.meta[META_EVIDENCE] = evidence
        request.meta[META_FETCHED_AT] = fetched_at
        request.meta[META_SHA256] = digest
        request.meta[META_WARC_FILE] = evidence["warc_file"]
        request.meta[META_WARC_RECORD_ID] = evidence["warc_record_id"]
        return response

    def spider_closed(self, spider: Spider) -> None:
        for run in self.runs.values():
            run.close()
        self.runs.clear()
