"""Sessions: cookies and headers from environment variables, redacted evidence, logout closes the crawl."""

from __future__ import annotations

import gzip
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from test_browser_support import local_server, page, run_crawl, send

SECRET_SID = "sid-4f1d9c0e-very-secret"
SECRET_TOKEN = "tok-77aa-very-secret"


def _routes(seen: list[tuple[str, str, str]], logout_on: str | None) -> dict:
    def guarded(title: str):
        def handler(req: BaseHTTPRequestHandler) -> None:
            cookie, token = req.headers.get("Cookie", ""), req.headers.get("X-Token", "")
            seen.append((req.path, cookie, token))
            logged_in = f"sid={SECRET_SID}" in cookie and token == SECRET_TOKEN
            if not logged_in or req.path == logout_on:
                send(req, 200, page("login", '<form id="login"><p>Please log in</p></form>'))
            else:
                links = "".join(f'<a class="l" href="/item/{i}">{i}</a>' for i in range(1, 5))
                send(req, 200, page(title, f'<h1 class="t">{title}</h1>{links}'))
        return handler

    return {"/": guarded("index"), **{f"/item/{i}": guarded(f"Oxycodone {i}") for i in range(1, 5)}}


def _source(base: str) -> dict:
    return {
        "name": "members", "kind": "market", "start_urls": [f"{base}/"], "robots": "ignore",
        "allow_private_addresses": True,  # a loopback test site
        "rate_limit": {"download_delay": 0, "concurrency": 1},
        "links": {"listing": "a.l"}, "fields": {"title": "h1.t"},
        "session": {"cookies_env": {"sid": "MEMBERS_SID"}, "headers_env": {"X-Token": "MEMBERS_TOKEN"},
                    "logout_marker": "form#login"},
    }


ENV = {"MEMBERS_SID": SECRET_SID, "MEMBERS_TOKEN": SECRET_TOKEN}


def test_session_cookies_and_headers_from_env(tmp_path: Path) -> None:
    seen: list[tuple[str, str, str]] = []
    with local_server(_routes(seen, logout_on=None)) as (base, _):
        result = run_crawl(_source(base), tmp_path, env=ENV, settings={"LOG_LEVEL": "DEBUG"})
    assert sorted(i["title"] for i in result.items) == [f"Oxycodone {i}" for i in range(1, 5)]
    assert len(seen) == 5 and all(SECRET_SID in c and t == SECRET_TOKEN for _, c, t in seen)
    assert result.stat("finish_reason") == "finished"
    # Secrets appear neither in the (debug) log nor in the WARC evidence.
    assert SECRET_SID not in result.log and SECRET_TOKEN not in result.log
    warc = Path(result.items[0]["warc_file"]).read_bytes()
    text = gzip.decompress(warc)
    assert b"Cookie: [redacted]" in text and b"X-Token: [redacted]" in text
    assert SECRET_SID.encode() not in text and SECRET_TOKEN.encode() not in text


def test_logout_marker_closes_the_crawl_naming_source_and_url(tmp_path: Path) -> None:
    seen: list[tuple[str, str, str]] = []
    with local_server(_routes(seen, logout_on="/item/2")) as (base, _):
        result = run_crawl(_source(base), tmp_path, env=ENV)
    assert result.stat("finish_reason") == "logged_out"
    message = result.stat("narcowatch/logged_out")
    assert "source members" in message and f"{base}/item/2" in message
    assert any("ERROR" in ln and "logged out" in ln and "/item/2" in ln for ln in result.log.splitlines())
    assert "Oxycodone 2" not in {i["title"] for i in result.items}


def test_missing_session_variable_stops_with_a_clear_error(tmp_path: Path) -> None:
    seen: list[tuple[str, str, str]] = []
    with local_server(_routes(seen, logout_on=None)) as (base, _):
        result = run_crawl(_source(base), tmp_path, env={"MEMBERS_SID": SECRET_SID, "MEMBERS_TOKEN": ""})
    assert result.stat("finish_reason") == "session_env_missing"
    assert "MEMBERS_TOKEN" in result.stat("narcowatch/session_env_missing")
    assert seen == []  # nothing was fetched without the session
    assert result.items == []
