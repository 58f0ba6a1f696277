"""Helpers for the browser/evidence/robustness/proxy crawl tests: run one real source crawl in a subprocess.

Each crawl needs a fresh Twisted reactor, so it runs in its own Python process with the project's
settings, the generic spider of the source's kind, and the item pipeline off (no Elasticsearch).
Run as a script it reads a JSON spec and writes ``items.jsonl`` and ``stats.json`` to its ``out`` dir.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class CrawlResult:
    items: list[dict[str, Any]]
    stats: dict[str, Any]
    log: str
    returncode: int

    def stat(self, key: str, default: Any = 0) -> Any:
        return self.stats.get(key, default)


def run_crawl(
    source: dict[str, Any],
    tmp_path: Path,
    settings: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 240,
    hosts: dict[str, str] | None = None,
) -> CrawlResult:
    """Crawl ``source`` (a sources-file entry as a dict) in a subprocess; items, stats and log back.

    ``hosts`` (name -> address) is a name table of the crawl process (``install_hosts``), for names an
    attacker's DNS would answer."""
    out = tmp_path / f"crawl-{source['name']}"
    out.mkdir(parents=True, exist_ok=True)
    spec = {"source": source, "settings": settings or {}, "out": str(out), "hosts": hosts or {}}
    spec_file = out / "spec.json"
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    environ = {**os.environ, "NARCOWATCH_HOME": str(tmp_path / "home"), **(env or {})}
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), str(spec_file)],
        cwd=ROOT, env=environ, capture_output=True, text=True, timeout=timeout, check=False,
    )
    items_file, stats_file = out / "items.jsonl", out / "stats.json"
    items = [json.loads(line) for line in items_file.read_text(encoding="utf-8").splitlines()] \
        if items_file.exists() else []
    stats = json.loads(stats_file.read_text(encoding="utf-8")) if stats_file.exists() else {}
    if proc.returncode != 0 or not stats:
        raise AssertionError(f"crawl of {source['name']} failed (exit {proc.returncode}):\n{proc.stderr[-6000:]}")
    return CrawlResult(items=items, stats=stats, log=proc.stderr, returncode=proc.returncode)


# ---------------------------------------------------------------- tiny local servers

Handler = Callable[[BaseHTTPRequestHandler], None]


@contextmanager
def local_server(routes: dict[str, Handler]) -> Iterator[tuple[str, dict[str, int]]]:
    """Serve ``routes`` (path -> handler(req)) on 127.0.0.1, port 0; yields base URL and hit counts."""
    hits: dict[str, int] = {}

    class _Req(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            hits[path] = hits.get(path, 0) + 1
            handler = routes.get(path)
            if handler is None:
                send(self, 404, b"<html><body>not found</body></html>")
                return
            handler(self)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Req)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def send(req: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str = "text/html; charset=utf-8",
         headers: dict[str, str] | None = None) -> None:
    req.send_response(status)
    req.send_header("Content-Type", content_type)
    req.send_header("Content-Length", str(len(body)))
    for k, v in (headers or {}).items():
        req.send_header(k, v)
    req.end_headers()
    req.wfile.write(body)


def page(title: str, body: str) -> bytes:
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body>{body}</body></html>").encode()


# ---------------------------------------------------------------- subprocess side


def install_hosts(hosts: dict[str, str]) -> None:
    """A name table for this process: ``socket.getaddrinfo`` and ``gethostbyname`` answer these names with
    these addresses (as the DNS of a hostile domain would), every other name as before. Both the address
    guard (crawler.addresses.resolve) and Scrapy's resolver look names up through them; Chromium does not,
    but it is only reached once the guard let a name through."""
    import socket

    table = {name.lower().rstrip("."): address for name, address in hosts.items()}
    real_getaddrinfo, real_gethostbyname = socket.getaddrinfo, socket.gethostbyname

    def mapped(host: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        return table.get(name.lower().rstrip("."), host) if isinstance(name, str) else host

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real_getaddrinfo(mapped(host), *args, **kwargs)

    def gethostbyname(host: str) -> str:
        return real_gethostbyname(mapped(host))

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    socket.gethostbyname = gethostbyname


def _main(spec_file: str) -> None:
    from scrapy.crawler import CrawlerProcess

    from crawler.runner import project_settings
    from crawler.sources.models import SourcesFile
    from spiders.registry import spider_for

    spec = json.loads(Path(spec_file).read_text(encoding="utf-8"))
    if spec.get("hosts"):
        install_hosts(spec["hosts"])
    out = Path(spec["out"])
    source = SourcesFile.model_validate({"sources": [spec["source"]]}).sources[0]
    settings = project_settings({
        "NARCOWATCH_PIPELINE_ENABLED": False,
        "LOG_LEVEL": "INFO",
        "FEEDS": {str(out / "items.jsonl"): {"format": "jsonlines", "overwrite": True}},
        **spec["settings"],
    })
    process = CrawlerProcess(settings, install_root_handler=True)
    crawler = process.create_crawler(spider_for(source))
    process.crawl(crawler)
    process.start()
    stats = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in crawler.stats.get_stats().items()}
    (out / "stats.json").write_text(json.dumps(stats, default=str), encoding="utf-8")


if __name__ == "__main__":
    _main(sys.argv[1])
