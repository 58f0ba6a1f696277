"""Chromium for browser sources: locating it, scrapy-playwright settings, page methods, context recycling."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response
from scrapy_playwright.page import PageMethod

from crawler.stats_helpers import CrawlerStatsMixin

log = logging.getLogger(__name__)

CHROMIUM_CANDIDATES = (
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/lib/chromium/chromium",
    "/snap/bin/chromium",
    "/usr/bin/google-chrome",
    "/usr/bin/google-chrome-stable",
)
"""Where Debian, Ubuntu and Chrome packages put the browser, tried in this order."""

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    # Without these Chromium phones home (updates, safe browsing, sync, field trials) on every start.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-default-apps",
    "--disable-extensions",
    "--metrics-recording-only",
    "--no-pings",
    "--disable-features=OptimizationHints,MediaRouter,Translate,AutofillServerCommunication",
)
"""Launch arguments: headless, no sandbox (containers), no GPU, and no background traffic of its own."""

NEEDLESS_RESOURCE_TYPES = frozenset({"image", "media", "font"})
"""Resource types a listing page can be read without (aborted when ``abort_resources`` is on)."""

META_TAKE_SCREENSHOT = "narcowatch_take_screenshot"
"""Request meta flag: take a full-page screenshot of this browser page (evidence)."""
META_SCREENSHOT = "narcowatch_screenshot"
"""Response meta key: path of the page's screenshot PNG (set by BrowserPageMiddleware)."""
META_KEEP_PAGE = "narcowatch_keep_page"
"""Request meta flag: leave ``playwright_page`` open for the spider callback (it must close it)."""


class BrowserNotFound(RuntimeError):
    """No Chromium executable could be found."""


def find_chromium(env: dict[str, str] | None = None) -> str:
    """Path of the Chromium executable: ``NARCOWATCH_CHROMIUM``, else the usual install locations.

    Raises BrowserNotFound saying how to install it when there is none.
    """
    environ = os.environ if env is None else env
    configured = environ.get("NARCOWATCH_CHROMIUM")
    if configured:
        path = shutil.which(configured) or configured
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
        raise BrowserNotFound(
            f"NARCOWATCH_CHROMIUM={configured!r} is not an executable file; point it at a Chromium binary "
            "or unset it to use /usr/bin/chromium"
        )
    for candidate in CHROMIUM_CANDIDATES:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise BrowserNotFound(
        "Chromium was not found (looked at NARCOWATCH_CHROMIUM, " + ", ".join(CHROMIUM_CANDIDATES)
        + " and PATH). Install it with `sudo apt-get install chromium` or `scripts/install-browser.sh`, "
        "or set NARCOWATCH_CHROMIUM to the browser executable."
    )


def abort_needless_request(request: Any) -> bool:
    """scrapy-playwright ``PLAYWRIGHT_ABORT_REQUEST`` predicate: drop images, media and fonts."""
    return bool(request.resource_type in NEEDLESS_RESOURCE_TYPES)


def playwright_settings(
    chromium: str | None = None,
    *,
    max_contexts: int = 2,
    max_pages_per_context: int = 4,
    headless: bool = True,
    abort_resources: bool = False,
    navigation_timeout_ms: int = 30_000,
) -> dict[str, Any]:
    """Scrapy settings that route ``meta["playwright"]`` requests through Chromium via scrapy-playwright.

    ``chromium`` defaults to find_chromium(). Plain requests still go through Scrapy's HTTP handler.
    """
    if max_contexts < 1:
        raise ValueError(f"max_contexts must be >= 1, got {max_contexts}")
    if max_pages_per_context < 1:
        raise ValueError(f"max_pages_per_context must be >= 1, got {max_pages_per_context}")
    executable = chromium or find_chromium()
    args = [a for a in CHROMIUM_ARGS if headless or not a.startswith("--headless")]
    settings: dict[str, Any] = {
        "DOWNLOAD_HANDLERS": {
            "http": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
            "https": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
        },
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        "PLAYWRIGHT_LAUNCH_OPTIONS": {
            "executable_path": executable,
            "headless": headless,
            "args": args,
        },
        "PLAYWRIGHT_MAX_CONTEXTS": max_contexts,
        "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": max_pages_per_context,
        "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": navigation_timeout_ms,
        "NARCOWATCH_BROWSER_ENABLED": True,
    }
    if abort_resources:
        settings["PLAYWRIGHT_ABORT_REQUEST"] = abort_needless_request
    return settings


def page_methods(
    wait_for: str | None, wait_timeout_ms: int, scroll_times: int, scroll_delay_ms: int
) -> list[PageMethod]:
    """Playwright page methods for one page: wait for a selector, then scroll ``scroll_times`` times.

    Each scroll goes to the bottom of the page and waits ``scroll_delay_ms`` for new items to load;
    if ``wait_for`` is given it is awaited again after the scrolls, so the page is read when ready.
    """
    if wait_timeout_ms <= 0:
        raise ValueError(f"wait_timeout_ms must be > 0, got {wait_timeout_ms}")
    if scroll_times < 0:
        raise ValueError(f"scroll_times must be >= 0, got {scroll_times}")
    if scroll_delay_ms < 0:
        raise ValueError(f"scroll_delay_ms must be >= 0, got {scroll_delay_ms}")
    methods: list[PageMethod] = []
    if wait_for:
        methods.append(PageMethod("wait_for_selector", wait_for, state="attached", timeout=wait_timeout_ms))
    for _ in range(scroll_times):
        methods.append(PageMethod("evaluate", "window.scrollTo(0, document.body.scrollHeight)"))
        methods.append(PageMethod("wait_for_timeout", scroll_delay_ms))
    if wait_for and scroll_times:
        methods.append(PageMethod("wait_for_selector", wait_for, state="attached", timeout=wait_timeout_ms))
    return methods


def browser_meta(
    *,
    wait_for: str | None = None,
    wait_timeout_ms: int = 15_000,
    scroll_times: int = 0,
    scroll_delay_ms: int = 500,
    screenshot: bool = False,
) -> dict[str, Any]:
    """Request meta for a page rendered in Chromium (context, proxy and page closing are the middleware's)."""
    return {
        "playwright": True,
        "playwright_page_methods": page_methods(wait_for, wait_timeout_ms, scroll_times, scroll_delay_ms),
        META_TAKE_SCREENSHOT: screenshot,
    }


def proxy_context_kwargs(proxy: str | None) -> dict[str, Any]:
    """Browser-context kwargs for a proxy URL (``http://user:pass@127.0.0.1:8118``, ``socks5://...``).

    Credentials move from the URL into Playwright's username/password fields. Loopback addresses are
    proxied too (Playwright's default), so a local proxy sees every request.
    """
    if not proxy:
        return {}
    parts = urlsplit(proxy)
    if parts.scheme not in ("http", "https", "socks5", "socks5h") or not parts.hostname:
        raise ValueError(f"proxy {redact_url(proxy)!r} is not a proxy URL (http://host:port or socks5://host:port)")
    scheme = "socks5" if parts.scheme == "socks5h" else parts.scheme
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    server = f"{scheme}://{host}" + (f":{parts.port}" if parts.port else "")
    out: dict[str, Any] = {"server": server}
    if parts.username:
        out["username"] = unquote(parts.username)
        out["password"] = unquote(parts.password or "")
    return {"proxy": out}


def session_context_kwargs(source: Any, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Browser-context kwargs that carry a source's session into every request of its pages.

    The navigation request already gets the session through Scrapy's headers; scripts' own requests
    (fetch, XHR) only see the context's cookies (``storage_state`` for each of the source's domains)
    and ``extra_http_headers``. Values come from the environment variables the config names; an
    unset variable gives no kwargs (the session middleware stops the crawl with a clear error).
    """
    session = getattr(source, "session", None)
    if session is None:
        return {}
    from crawler.middlewares import SessionEnvMissing, SourceSession

    try:
        values = SourceSession.from_source(source, environ)
    except SessionEnvMissing:
        return {}
    if values is None:
        return {}
    out: dict[str, Any] = {}
    domains = list(getattr(source, "domains", None) or [])
    if values.cookies and domains:
        out["storage_state"] = {
            "cookies": [
                {"name": name, "value": value, "domain": domain, "path": "/", "expires": -1,
                 "httpOnly": False, "secure": False, "sameSite": "Lax"}
                for domain in domains for name, value in values.cookies.items()
            ],
            "origins": [],
        }
    if values.headers:
        out["extra_http_headers"] = dict(values.headers)
    return out


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (for logs and errors)."""
    return re.sub(r"(//[^/:@]+:)[^/@]*@", r"\1***@", url)


def _safe_name(text: str, limit: int = 80) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:limit] or "page"


async def save_screenshot(page: Any, directory: Path, url: str | None = None) -> Path:
    """Save a full-page PNG of a Playwright page under ``directory`` and return its path.

    The name is the URL's path plus a short hash of the URL and a counter, so pages never overwrite
    each other within a run.
    """
    directory.mkdir(parents=True, exist_ok=True)
    target_url = url or page.url
    digest = hashlib.sha256(target_url.encode("utf-8")).hexdigest()[:12]
    stem = f"{_safe_name(urlsplit(target_url).path or 'index', 60)}-{digest}"
    path = directory / f"{stem}.png"
    n = 1
    while path.exists():
        n += 1
        path = directory / f"{stem}-{n}.png"
    await page.screenshot(path=str(path), full_page=True, type="png")
    return path


# ---------------------------------------------------------------- context recycling


class ContextRecycler:
    """Spreads browser pages over numbered contexts and closes each after ``pages_per_context`` pages.

    A context gets ``pages_per_context`` pages assigned; the next page starts a new context. When every
    page of a retired context has finished (response or error), the context is closed, so the
    browser's memory is returned and stays flat over long crawls.
    """

    def __init__(self, prefix: str, pages_per_context: int, context_kwargs: dict[str, Any] | None = None):
        if pages_per_context < 1:
            raise ValueError(f"pages_per_context must be >= 1, got {pages_per_context}")
        self.prefix = prefix
        self.pages_per_context = pages_per_context
        self.context_kwargs = dict(context_kwargs or {})
        self.generation = 0
        self.assigned: dict[int, int] = {}
        self.finished: dict[int, int] = {}
        self.closed_contexts = 0

    def name(self, generation: int) -> str:
        return f"{self.prefix}-{generation}"

    def assign(self, meta: dict[str, Any]) -> str:
        """Put the next page in the current context (a new one when it is full); returns the context name."""
        if self.assigned.get(self.generation, 0) >= self.pages_per_context:
            self.generation += 1
        gen = self.generation
        self.assigned[gen] = self.assigned.get(gen, 0) + 1
        meta["playwright_context"] = self.name(gen)
        meta["playwright_context_kwargs"] = dict(self.context_kwargs)
        meta["_narcowatch_context_gen"] = gen
        return self.name(gen)

    def finish(self, meta: dict[str, Any]) -> bool:
        """Record that a page assigned by ``assign`` is done; True when its context should be closed now."""
        gen = meta.pop("_narcowatch_context_gen", None)
        if gen is None:
            return False
        self.finished[gen] = self.finished.get(gen, 0) + 1
        retired = gen < self.generation or self.assigned.get(gen, 0) >= self.pages_per_context
        return retired and self.finished[gen] >= self.assigned.get(gen, 0)


@dataclass(frozen=True)
class BrowserPageConfig:
    """``NARCOWATCH_BROWSER_*`` settings of the page middleware, read once."""

    pages_per_context: int
    screenshot_dir: Path | None

    @classmethod
    def from_settings(cls, settings: Any) -> BrowserPageConfig:
        n = settings.getint("NARCOWATCH_BROWSER_PAGES_PER_CONTEXT", 50)
        if n < 1:
            raise ValueError(f"NARCOWATCH_BROWSER_PAGES_PER_CONTEXT must be >= 1, got {n}")
        shots = settings.get("NARCOWATCH_SCREENSHOT_DIR")
        return cls(pages_per_context=n, screenshot_dir=Path(shots) if shots else None)


def _source_of(spider: Spider) -> Any:
    return getattr(spider, "source", None) or getattr(spider, "source_config", None)


class BrowserPageMiddleware(CrawlerStatsMixin):
    """Downloader middleware for ``meta["playwright"]`` requests.

    Assigns each page to a recycled context (with the source's proxy), keeps the page so it can
    screenshot it, then always closes it: after the response, and on any download error. Sits
    closest to the download handler (order 960), so retries get a fresh context assignment.
    """

    def __init__(self, crawler: Crawler, config: BrowserPageConfig):
        self.crawler = crawler
        self.config = config
        self.recycler: ContextRecycler | None = None
        self.screenshot_dir: Path | None = config.screenshot_dir
        self.screenshots = True
        self.contexts: dict[int, Any] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BrowserPageMiddleware:
        if not crawler.settings.getbool("NARCOWATCH_BROWSER_ENABLED", False):
            raise NotConfigured  # quietly: only browser crawls use it
        mw = cls(crawler, BrowserPageConfig.from_settings(crawler.settings))
        crawler.signals.connect(mw.spider_opened, signal=signals.spider_opened)
        return mw

    def spider_opened(self, spider: Spider) -> None:
        source = _source_of(spider)
        options = getattr(source, "browser", None)
        per_context = getattr(options, "max_pages_per_context", None) or self.config.pages_per_context
        self.screenshots = bool(getattr(options, "screenshot", True))
        proxy = getattr(source, "proxy", None)
        kwargs = {**proxy_context_kwargs(proxy), **session_context_kwargs(source)}
        self.recycler = ContextRecycler(spider.name, per_context, kwargs)
        if self.screenshot_dir is None:
            from crawler.evidence import evidence_run_dir

            self.screenshot_dir = evidence_run_dir(self.crawler.settings, spider) / "screenshots"

    def process_request(self, request: Request, spider: Spider) -> None:
        if not request.meta.get("playwright"):
            return None
        if self.recycler is None:
            self.spider_opened(spider)
        assert self.recycler is not None
        # A retried request comes back here: give it the current context, not a closed one.
        request.meta.pop("_narcowatch_context_gen", None)
        self.recycler.assign(request.meta)
        request.meta["playwright_include_page"] = True
        # The source's download timeout bounds the navigation too (Scrapy's own does not reach Chromium).
        timeout = request.meta.get("download_timeout")
        if timeout:
            goto = dict(request.meta.get("playwright_page_goto_kwargs") or {})
            goto.setdefault("timeout", float(timeout) * 1000)
            request.meta["playwright_page_goto_kwargs"] = goto
        return None

    async def process_response(self, request: Request, response: Response, spider: Spider) -> Response:
        page = request.meta.get("playwright_page")
        if page is None:
            return response
        try:
            if request.meta.get(META_TAKE_SCREENSHOT) and self.screenshots and self.screenshot_dir is not None:
                try:
                    path = await save_screenshot(page, self.screenshot_dir, response.url)
                    request.meta[META_SCREENSHOT] = str(path)
                    self._inc("narcowatch/browser/screenshots")
                except Exception as exc:  # a crashed page still yields its HTML
                    log.warning("screenshot of %s failed: %s", response.url, exc)
                    self._inc("narcowatch/browser/screenshot_errors")
        finally:
            if not request.meta.get(META_KEEP_PAGE):
                await self._release(request)
        return response

    async def process_exception(self, request: Request, exception: BaseException, spider: Spider) -> None:
        if request.meta.get("playwright"):
            await self._release(request)
        return None

    async def _release(self, request: Request) -> None:
        page = request.meta.pop("playwright_page", None)
        gen = request.meta.get("_narcowatch_context_gen")
        if page is not None:
            if gen is not None:
                self.contexts.setdefault(gen, page.context)
            if not page.is_closed():
                try:
                    await page.close()
                except Exception as exc:  # already gone with its context
                    log.debug("closing page for %s: %s", request.url, exc)
            self._inc("narcowatch/browser/pages_closed")
        if self.recycler is None or not self.recycler.finish(request.meta):
            return
        context = self.contexts.pop(gen, None) if gen is not None else None
        if context is not None:
            try:
                await context.close()
            except Exception as exc:
                log.debug("closing context for %s: %s", request.url, exc)
            self.recycler.closed_contexts += 1
            self._inc("narcowatch/browser/contexts_recycled")


async def close_page_errback(failure: Any) -> None:
    """Errback for spiders that keep pages (``narcowatch_keep_page``): close the page on any error."""
    page = failure.request.meta.pop("playwright_page", None) if hasattr(failure, "request") else None
    if page is not None and not page.is_closed():
        await page.close()

