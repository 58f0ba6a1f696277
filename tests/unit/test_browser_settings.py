"""Unit tests of crawler.browser's pure parts: finding Chromium, settings, page methods, proxies, recycling."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from scrapy_playwright.page import PageMethod

from crawler import browser
from crawler.browser import (
    CHROMIUM_ARGS,
    BrowserNotFound,
    ContextRecycler,
    abort_needless_request,
    find_chromium,
    page_methods,
    playwright_settings,
    proxy_context_kwargs,
    redact_url,
)


def _exe(path: Path) -> Path:
    path.write_text("#!/bin/sh\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_find_chromium_prefers_the_environment(tmp_path: Path) -> None:
    exe = _exe(tmp_path / "my-chromium")
    assert find_chromium({"NARCOWATCH_CHROMIUM": str(exe)}) == str(exe)


def test_find_chromium_rejects_a_bad_environment_value(tmp_path: Path) -> None:
    with pytest.raises(BrowserNotFound, match=r"NARCOWATCH_CHROMIUM=.*not an executable"):
        find_chromium({"NARCOWATCH_CHROMIUM": str(tmp_path / "missing")})


@pytest.fixture(autouse=True)
def _home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NARCOWATCH_HOME", str(tmp_path / "home"))  # where a root run writes the launcher


def test_find_chromium_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browser, "CHROMIUM_CANDIDATES", ("/nonexistent/chromium",))
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(BrowserNotFound) as err:
        find_chromium({})
    assert "apt-get install chromium" in str(err.value)
    assert "scripts/install-browser.sh" in str(err.value)


def test_find_chromium_falls_back_to_candidates(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    exe = _exe(tmp_path / "chromium")
    monkeypatch.setattr(browser, "CHROMIUM_CANDIDATES", ("/nonexistent/chromium", str(exe)))
    assert find_chromium({}) == str(exe)


def test_playwright_settings(tmp_path: Path) -> None:
    exe = str(_exe(tmp_path / "chromium"))
    s = playwright_settings(exe, max_contexts=3, max_pages_per_context=5)
    handler = "crawler.browser.PageSlotHandler"  # scrapy-playwright's, a page's slot freed once
    assert s["DOWNLOAD_HANDLERS"] == {"http": handler, "https": handler}
    assert s["PLAYWRIGHT_BROWSER_TYPE"] == "chromium"
    assert s["PLAYWRIGHT_MAX_CONTEXTS"] == 3 and s["PLAYWRIGHT_MAX_PAGES_PER_CONTEXT"] == 5
    launch = s["PLAYWRIGHT_LAUNCH_OPTIONS"]
    launcher = str(tmp_path / "home" / "browser" / "chromium-launcher")  # as root: drops to an unprivileged user
    assert launch["executable_path"] == (exe if os.geteuid() else launcher)
    assert launch["headless"] is True
    assert launch["chromium_sandbox"] is True and not any("sandbox" in a for a in launch["args"])
    for flag in ("--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"):
        assert flag in launch["args"]
    assert "PLAYWRIGHT_ABORT_REQUEST" not in s
    assert s["TWISTED_REACTOR"].endswith("AsyncioSelectorReactor")


def test_playwright_settings_headful_and_abort(tmp_path: Path) -> None:
    s = playwright_settings(str(_exe(tmp_path / "c")), headless=False, abort_resources=True)
    assert not any(a.startswith("--headless") for a in s["PLAYWRIGHT_LAUNCH_OPTIONS"]["args"])
    assert "--disable-background-networking" in s["PLAYWRIGHT_LAUNCH_OPTIONS"]["args"]
    assert s["PLAYWRIGHT_ABORT_REQUEST"] is abort_needless_request


def test_playwright_settings_rejects_bad_pool_sizes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_contexts"):
        playwright_settings(str(tmp_path), max_contexts=0)
    with pytest.raises(ValueError, match="max_pages_per_context"):
        playwright_settings(str(tmp_path), max_pages_per_context=0)


def test_abort_needless_request() -> None:
    class R:
        def __init__(self, kind: str):
            self.resource_type = kind

    assert [abort_needless_request(R(k)) for k in ("image", "font", "media", "document", "script", "xhr")] == [
        True, True, True, False, False, False]


def test_chromium_args_have_no_duplicates() -> None:
    assert len(set(CHROMIUM_ARGS)) == len(CHROMIUM_ARGS)


def test_page_methods_wait_and_scroll() -> None:
    methods = page_methods("h1.title", 5000, 2, 250)
    assert all(isinstance(m, PageMethod) for m in methods)
    assert [m.method for m in methods] == ["wait_for_selector", "evaluate", "wait_for_timeout", "evaluate",
                                           "wait_for_timeout", "wait_for_selector"]
    assert methods[0].args == ("h1.title",) and methods[0].kwargs == {"state": "attached", "timeout": 5000}
    assert "scrollTo" in methods[1].args[0]
    assert methods[2].args == (250,)


def test_page_methods_without_wait_or_scroll() -> None:
    assert page_methods(None, 1000, 0, 0) == []
    only_wait = page_methods("a.x", 1000, 0, 0)
    assert [m.method for m in only_wait] == ["wait_for_selector"]
    only_scroll = page_methods(None, 1000, 1, 10)
    assert [m.method for m in only_scroll] == ["evaluate", "wait_for_timeout"]


@pytest.mark.parametrize(("args", "message"), [((None, 0, 0, 0), "wait_timeout_ms"),
                                               ((None, 10, -1, 0), "scroll_times"),
                                               ((None, 10, 0, -5), "scroll_delay_ms")])
def test_page_methods_rejects_bad_values(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        page_methods(*args)


def test_proxy_context_kwargs() -> None:
    assert proxy_context_kwargs(None) == {}
    assert proxy_context_kwargs("http://127.0.0.1:8118") == {"proxy": {"server": "http://127.0.0.1:8118"}}
    assert proxy_context_kwargs("socks5h://127.0.0.1:9050") == {"proxy": {"server": "socks5://127.0.0.1:9050"}}
    auth = proxy_context_kwargs("http://user:p%40ss@127.0.0.1:3128")
    assert auth == {"proxy": {"server": "http://127.0.0.1:3128", "username": "user", "password": "p@ss"}}
    with pytest.raises(ValueError, match=r"ftp://u:\*\*\*@h"):
        proxy_context_kwargs("ftp://u:secret@h:1")


def test_redact_url() -> None:
    assert redact_url("http://user:secret@127.0.0.1:8118") == "http://user:***@127.0.0.1:8118"
    assert redact_url("http://127.0.0.1:8118") == "http://127.0.0.1:8118"


def test_context_recycler_assigns_and_retires() -> None:
    rec = ContextRecycler("src", 2, {"proxy": {"server": "http://127.0.0.1:1"}})
    metas = [{} for _ in range(5)]
    names = [rec.assign(m) for m in metas]
    assert names == ["src-0", "src-0", "src-1", "src-1", "src-2"]
    assert metas[0]["playwright_context_kwargs"] == {"proxy": {"server": "http://127.0.0.1:1"}}
    metas[0]["playwright_context_kwargs"]["x"] = 1  # each request gets its own copy
    assert "x" not in metas[1]["playwright_context_kwargs"]
    # A full context closes only when its last page is done, in any order.
    assert rec.finish(metas[1]) is False
    assert rec.finish(metas[0]) is True
    assert rec.finish(metas[3]) is False
    assert rec.finish(metas[3]) is False  # finishing twice does not count twice
    assert rec.finish(metas[2]) is True
    # The current, not yet full context stays open.
    assert rec.finish(metas[4]) is False


def test_context_recycler_rejects_zero() -> None:
    with pytest.raises(ValueError):
        ContextRecycler("s", 0)



class _FakePage:
    def __init__(self) -> None:
        self.closed = False

    def is_closed(self) -> bool:
        return self.closed

    async def close(self) -> None:
        self.closed = True


def test_close_page_errback_closes_a_kept_page() -> None:
    import asyncio

    from scrapy import Request
    from twisted.python.failure import Failure

    from crawler.browser import close_page_errback

    page = _FakePage()
    request = Request("http://127.0.0.1/x", meta={"playwright_page": page})
    failure = Failure(RuntimeError("wait_for timed out"))
    failure.request = request  # type: ignore[attr-defined]
    asyncio.run(close_page_errback(failure))
    assert page.closed and "playwright_page" not in request.meta


def test_session_context_kwargs() -> None:
    from crawler.browser import session_context_kwargs
    from crawler.sources.models import Session

    class Src:
        name = "members"
        domains = ["market.example", "cdn.market.example"]
        session = Session(cookies_env={"sid": "S_SID"}, headers_env={"X-Token": "S_TOK"})

    kwargs = session_context_kwargs(Src(), {"S_SID": "abc", "S_TOK": "t0k"})
    assert "extra_http_headers" not in kwargs  # those would go to every host: BrowserGuard adds them per host
    cookies = kwargs["storage_state"]["cookies"]
    assert [(c["name"], c["value"], c["domain"], c["path"]) for c in cookies] == [
        ("sid", "abc", "market.example", "/"), ("sid", "abc", "cdn.market.example", "/")]
    assert session_context_kwargs(Src(), {"S_SID": "abc"}) == {}  # unset variable: the middleware stops it
    Src.session = None  # type: ignore[assignment]
    assert session_context_kwargs(Src(), {}) == {}


def test_extra_chromium_args_from_the_environment_never_loosen_confinement() -> None:
    assert browser.extra_chromium_args({}) == []
    assert browser.extra_chromium_args({"NARCOWATCH_CHROMIUM_ARGS": " --renderer-process-limit=4  --mute-audio "}) == [
        "--renderer-process-limit=4", "--mute-audio"]
    for bad in ("--no-sandbox", "--disable-setuid-sandbox", "--host-resolver-rules=MAP * 10.0.0.1",
                "--proxy-server=http://x:1", "--no-proxy-server", "--remote-debugging-port=9222",
                "--user-data-dir=/root", "--disable-web-security", "no-dashes"):
        with pytest.raises(ValueError, match=r"NARCOWATCH_CHROMIUM_ARGS: .* is not allowed"):
            browser.extra_chromium_args({"NARCOWATCH_CHROMIUM_ARGS": f"--mute-audio {bad}"})
