"""Session secrets never reach the log: they are made to appear in what would be logged, then looked for.

The crawl runs at DEBUG with Scrapy's cookie debugging on (the Cookie header is logged) and a test
middleware (tests/support/leaky.py) that logs the request headers at DEBUG, an ERROR naming the
request with its headers, and an exception carrying them (logged with its traceback). Every one of
those lines must be in the log, redacted.
"""

from __future__ import annotations

from pathlib import Path

from test_browser_support import ROOT, local_server, run_crawl
from test_robustness_session import ENV, SECRET_SID, SECRET_TOKEN, _routes, _source

from crawler import settings as project


def test_secrets_logged_by_any_code_are_redacted(tmp_path: Path) -> None:
    seen: list[tuple[str, str, str]] = []
    settings = {
        "LOG_LEVEL": "DEBUG",
        "COOKIES_DEBUG": True,
        "DOWNLOADER_MIDDLEWARES": {**project.DOWNLOADER_MIDDLEWARES, "tests.support.leaky.LeakyHeadersMiddleware": 565},
    }
    with local_server(_routes(seen, logout_on=None)) as (base, _):
        result = run_crawl(_source(base), tmp_path, settings=settings, env={**ENV, "PYTHONPATH": str(ROOT)})
    log = result.log
    # the secrets were sent (the session works) and reached the logging calls ...
    assert all(SECRET_SID in c and t == SECRET_TOKEN for _, c, t in seen) and len(seen) >= 3
    lines = log.splitlines()
    assert any("request headers for <GET" in ln and "'X-Token': '***'" in ln for ln in lines), log[-3000:]
    assert any("ERROR" in ln and "upstream refused <GET" in ln and "'X-Token': '***'" in ln for ln in lines)
    assert any("cannot fetch <GET" in ln and "/item/4" in ln and "'X-Token': '***'" in ln for ln in lines)
    assert any(ln.startswith("ConnectionError: reset by peer") and "'X-Token': '***'" in ln for ln in lines)
    assert "Cookie: sid=***" in log  # Scrapy's own cookie debugging (COOKIES_DEBUG)
    # ... and none of them shows them
    assert SECRET_SID not in log and SECRET_TOKEN not in log
