"""Hostile site, plain Scrapy requests: a loopback "evil market" attacks one crawl of a logged-in source.

One crawl (module-scoped) of every attack page of tests/integration/hostile_web.py, then one assertion
per attack: redirects to the Elasticsearch-like trap port, to another loopback host and to localhost are
refused (also as the second hop of a chain) and nothing reaches the capture servers, so no session
secret leaves the source's origin; the 50 MB attachment and page are cut off and counted; the gzip bomb
is counted as a bad page; Set-Cookie never reaches the WARC file; Scrapy's cookie middleware does
not fetch the public suffix list.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hostile_web import (
    BIG_BYTES,
    SERVER_COOKIE,
    SESSION_COOKIE,
    SESSION_ENV,
    SESSION_TOKEN,
    EvilMarket,
    evil_market,
    hostile_source,
)
from test_browser_support import CrawlResult, run_crawl


class _ProxyLog(BaseHTTPRequestHandler):
    """Stands for the internet: records any CONNECT/GET a library sends through HTTP(S)_PROXY."""

    seen: list[str] = []

    def do_CONNECT(self) -> None:
        self.seen.append(f"CONNECT {self.path}")
        self.send_error(403)

    def do_GET(self) -> None:
        self.seen.append(f"GET {self.path}")
        self.send_error(403)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EvilMarket, CrawlResult, list[str]]]:
    market = evil_market()
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _ProxyLog)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    _ProxyLog.seen = []
    tmp = tmp_path_factory.mktemp("hostile-plain")
    internet = f"http://127.0.0.1:{proxy.server_address[1]}"
    env = {**SESSION_ENV, "HTTPS_PROXY": internet, "HTTP_PROXY": internet, "https_proxy": internet,
           "http_proxy": internet, "TLDEXTRACT_CACHE": str(tmp / "tldextract"), "NO_PROXY": "", "no_proxy": ""}
    # HttpProxyMiddleware would send the crawl itself through the recording proxy: keep it for libraries only.
    result = run_crawl(hostile_source(market, "evilplain"), tmp, env=env,
                       settings={"HTTPPROXY_ENABLED": False})
    try:
        yield market, result, list(_ProxyLog.seen)
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_harmless_listings_still_crawled(crawl: tuple[EvilMarket, CrawlResult, list[str]]) -> None:
    _, result, _ = crawl
    titles = sorted(item["title"] for item in result.items)
    assert titles == ["Fentanyl powder cookie", "Fentanyl powder js", "Fentanyl powder ok"]
    assert result.stat("finish_reason") == "finished"


def test_redirects_to_loopback_ports_and_other_hosts_are_refused(
        crawl: tuple[EvilMarket, CrawlResult, list[str]]) -> None:
    market, result, _ = crawl
    assert market.captured() == []  # the trap (ES-like port), the other loopback host: never reached
    assert market.hits.get("/item/chain-2") == 1  # the chain's first hop stays on the market; the second is refused
    assert result.stat("narcowatch/refused/private_address") == 2  # to-trap, chain-2 -> trap
    assert result.stat("narcowatch/refused/offsite") == 2  # to-other-host (127.0.0.2), to-localhost
    assert result.stat("narcowatch/refused") == 4
    assert "Fentanyl from the trap" not in " ".join(str(i) for i in result.items)
    assert "request refused: http://127.0.0.1:" in result.log


def test_session_secrets_reach_no_other_host_or_port(crawl: tuple[EvilMarket, CrawlResult, list[str]]) -> None:
    market, _, _ = crawl
    for _, _, headers in market.captured():
        text = repr(headers)
        assert SESSION_TOKEN not in text and SESSION_COOKIE not in text


def test_session_cookie_is_sent_exactly_once_to_the_source(crawl: tuple[EvilMarket, CrawlResult, list[str]]) -> None:
    """The jar stored the session cookie once per directory (``/`` and ``/item``) and sent both:
    ``Cookie: sid=...; sid=...`` on every listing page."""
    market, _, _ = crawl
    listings = [(path, headers) for path, headers in market.cookie_headers if path.startswith("/item/")]
    assert len(listings) >= 8
    for path, headers in market.cookie_headers:
        assert len(headers) == 1, (path, headers)
        assert " ".join(headers).count(f"sid={SESSION_COOKIE}") == 1, (path, headers)


def test_oversize_attachment_and_page_are_cut_off_and_counted(
        crawl: tuple[EvilMarket, CrawlResult, list[str]]) -> None:
    market, result, _ = crawl
    assert result.stat("narcowatch/bad_page/too_large") == 3  # the 50 MB attachment and page, the endless page
    for name in ("download", "big", "stream"):
        assert market.bytes_sent.get(name, 0) < BIG_BYTES // 2, name  # the crawler hung up early


def test_gzip_bomb_is_counted_as_a_bad_page(crawl: tuple[EvilMarket, CrawlResult, list[str]]) -> None:
    _, result, _ = crawl
    assert result.stat("narcowatch/bad_page/decompression_bomb") == 1
    assert result.stat("narcowatch/bad_page") == 4
    assert "bad page skipped:" in result.log and "/item/gzip-bomb (decompression_bomb)" in result.log


def test_set_cookie_and_session_cookie_are_redacted_in_the_warc(
        crawl: tuple[EvilMarket, CrawlResult, list[str]]) -> None:
    _, result, _ = crawl
    warc = Path(result.stat("narcowatch/evidence/warc_file"))
    raw = gzip.decompress(warc.read_bytes())
    assert b"/item/cookie" in raw and b"Set-Cookie: [redacted]" in raw
    for secret in (SERVER_COOKIE, SESSION_COOKIE, SESSION_TOKEN):
        assert secret.encode() not in raw, secret


def test_public_suffix_list_is_never_downloaded(crawl: tuple[EvilMarket, CrawlResult, list[str]]) -> None:
    _, result, internet = crawl
    assert result.stat("narcowatch/evidence/records") > 0  # cookies were handled (session cookie, Set-Cookie)
    assert not [line for line in internet if "publicsuffix" in line], internet


def test_empty_allowed_domains_is_a_config_check_error(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from crawler.cli import main

    config = tmp_path / "sources.yaml"
    config.write_text(
        "sources:\n"
        "  - name: open\n"
        "    kind: market\n"
        "    start_urls: [\"https://market.example/\"]\n"
        "    allowed_domains: []\n"
        "    links: {listing: a}\n"
        "    fields: {title: h1}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["config", "check", str(config)])
    assert result.exit_code == 1
    assert f"{config}:5: sources[0].allowed_domains: an empty list would let the crawl go to any host" in result.output


def test_private_start_urls_need_the_flag_and_config_check_warns(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from crawler.cli import main

    body = ("sources:\n  - name: local\n    kind: market\n{flag}    start_urls: [\"http://127.0.0.1:8808/\"]\n"
            "    links: {{listing: a}}\n    fields: {{title: h1}}\n")
    config = tmp_path / "sources.yaml"
    config.write_text(body.format(flag=""), encoding="utf-8")
    refused = CliRunner().invoke(main, ["config", "check", str(config)])
    assert refused.exit_code == 1
    assert "127.0.0.1 is a loopback, private or link-local address" in refused.output
    assert "allow_private_addresses: true" in refused.output
    config.write_text(body.format(flag="    allow_private_addresses: true\n"), encoding="utf-8")
    allowed = CliRunner().invoke(main, ["config", "check", str(config)])
    assert allowed.exit_code == 0, allowed.output
    assert "warning: source local: allow_private_addresses is on" in allowed.output


def test_host_name_resolving_to_a_private_address_is_refused(tmp_path: Path) -> None:
    """A name whose DNS answers with a loopback address (the market's): no flag, no fetch.

    The name is answered by a name table of the crawl process (``run_crawl(hosts=...)``, standing for the
    hostile domain's DNS), so the test runs everywhere; it used to rely on the machine's own host name
    resolving privately through /etc/hosts and skipped where it did not."""
    market = evil_market()
    port = market.base.rsplit(":", 1)[1]
    name = "evil-market.test"
    source = hostile_source(market, "byname", start_urls=[f"http://{name}:{port}/"], allow_private_addresses=False)
    result = run_crawl(source, tmp_path, env=SESSION_ENV, hosts={name: "127.0.0.1"})
    assert result.items == [] and market.hits == {}
    assert result.stat("narcowatch/refused/private_address") == 1
    assert f"request refused: http://{name}:{port}/ (private_address)" in result.log
