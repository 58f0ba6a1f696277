"""A logged-in JavaScript site: the page's own fetch() calls carry the session cookie and header too."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from test_browser_support import local_server, page, run_crawl, send

pytestmark = pytest.mark.browser

SID, TOKEN = "sid-browser-5e1f-secret", "tok-browser-90ab-secret"

APP_JS = b"""
var m = location.pathname.match(/\\/p\\/(\\w+)$/);
var app = document.getElementById('app');
if (m) {
  fetch('/api/item/' + m[1]).then(function (r) {
    if (r.status !== 200) { app.innerHTML = '<form id="login">Please log in</form>'; return null; }
    return r.json();
  }).then(function (d) {
    if (d) { app.innerHTML = '<h1 class="title">' + d.title + '</h1>'; }
  });
} else {
  app.innerHTML = '<a class="item" href="/p/1">1</a><a class="item" href="/p/2">2</a>';
}
"""


def _routes(api_calls: list[tuple[str, bool]], expire_on: str | None = None) -> dict:
    def shell(req: BaseHTTPRequestHandler) -> None:
        send(req, 200, page("members shop", '<div id="app">Loading</div><script src="/app.js"></script>'))

    def js(req: BaseHTTPRequestHandler) -> None:
        send(req, 200, APP_JS, "application/javascript")

    def api(item: str):
        def handler(req: BaseHTTPRequestHandler) -> None:
            ok = f"sid={SID}" in req.headers.get("Cookie", "") and req.headers.get("X-Token") == TOKEN
            api_calls.append((item, ok))
            if ok and item != expire_on:
                send(req, 200, json.dumps({"title": f"Fentanyl powder {item}"}).encode(), "application/json")
            else:
                send(req, 401, b"{}", "application/json")
        return handler

    return {"/": shell, "/app.js": js, "/p/1": shell, "/p/2": shell, "/api/item/1": api("1"), "/api/item/2": api("2")}


def _source(base: str) -> dict:
    return {
        "name": "jsmembers", "kind": "browser", "start_urls": [f"{base}/"], "robots": "ignore",
        "allow_private_addresses": True,  # a loopback test site
        "rate_limit": {"download_delay": 0, "concurrency": 1}, "retry": {"times": 0},
        "links": {"listing": "a.item"}, "fields": {"title": "h1.title"},
        "browser": {"wait_for_index": "a.item", "wait_for": "h1.title, form#login", "wait_timeout": 5,
                    "screenshot": False},
        "session": {"cookies_env": {"sid": "JSM_SID"}, "headers_env": {"X-Token": "JSM_TOKEN"},
                    "logout_marker": "form#login"},
    }


def test_scripts_requests_carry_the_session(tmp_path: Path) -> None:
    calls: list[tuple[str, bool]] = []
    with local_server(_routes(calls)) as (base, _):
        result = run_crawl(_source(base), tmp_path, env={"JSM_SID": SID, "JSM_TOKEN": TOKEN})
    assert sorted(i["title"] for i in result.items) == ["Fentanyl powder 1", "Fentanyl powder 2"]
    assert sorted(calls) == [("1", True), ("2", True)]
    assert result.stat("finish_reason") == "finished"
    assert SID not in result.log and TOKEN not in result.log


def test_rendered_logout_closes_the_crawl(tmp_path: Path) -> None:
    calls: list[tuple[str, bool]] = []
    with local_server(_routes(calls, expire_on="1")) as (base, _):
        result = run_crawl(_source(base), tmp_path, env={"JSM_SID": SID, "JSM_TOKEN": TOKEN})
    assert result.stat("finish_reason") == "logged_out"
    assert f"{base}/p/1" in result.stat("narcowatch/logged_out")
    assert "Fentanyl powder 1" not in {i["title"] for i in result.items}
