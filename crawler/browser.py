"""Chromium for browser sources: locating it, scrapy-playwright settings, page methods, context recycling."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import Response
from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler
from scrapy_playwright.page import PageMethod

from crawler.common.durable import write_atomic
from crawler.common.redaction import redact_url
from crawler.middlewares import BAD_PAGE_STAT, BadPageConfig, SessionEnvMissing, SourceSession
from crawler.stats_helpers import CrawlerStatsMixin

if TYPE_CHECKING:
    import pwd
    from ipaddress import IPv4Address, IPv6Address

    from playwright.async_api import BrowserContext, CDPSession, Download, Page
    from playwright.async_api import Request as PageRequest
    from playwright.async_api import Response as PageResponse
    from scrapy.settings import BaseSettings
    from scrapy.statscollectors import StatsCollector
    from twisted.python.failure import Failure

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
    # WebRTC may not open UDP to any address a page names (STUN/ICE bypasses the request filter).
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
)
"""Launch arguments: headless, no GPU, no background traffic of its own. The sandbox stays on (see
``sandboxed_executable``); the host resolver rules of each source are added by ``playwright_settings``."""

BROWSER_USER = "narcowatch-browser"
"""The unprivileged user Chromium runs as when the crawler runs as root (created when missing)."""

NEEDLESS_RESOURCE_TYPES = frozenset({"image", "media", "font"})
"""Resource types a listing page can be read without (aborted when ``abort_resources`` is on)."""

META_TAKE_SCREENSHOT = "narcowatch_take_screenshot"
"""Request meta flag: take a full-page screenshot of this browser page (evidence)."""
META_SCREENSHOT = "narcowatch_screenshot"
"""Response meta key: path of the page's screenshot PNG (set by BrowserPageMiddleware)."""
BROWSER_EVENT_HANDLERS = {"request": "narcowatch_browser_request", "response": "narcowatch_browser_response",
                          "download": "narcowatch_browser_download"}
"""Page events -> the spider methods that receive them (BrowserSpider passes them to its BrowserGuard)."""
META_GUARD = "narcowatch_guard"
"""Request meta: the source whose BrowserGuard meters the page (``watch_page`` finds the guard by this name)."""
META_DEADLINE = "narcowatch_page_deadline"
"""Request meta: seconds a rendered page may take from its creation to its response (``page_time_budget``)."""
PAGE_TOTAL_FACTOR = 4
"""Everything a rendered page loads (document, scripts, images, fetches) may come to this many times the
source's page limit; its main document alone, to the limit itself."""
READ_BACK_TYPES = ("Document", "Script")
"""Resources whose bodies of unknown or encoded length the guard reads itself, with back-pressure (documents, the
main frame's and frames', and scripts, which a page waits for); the rest only meet the page's meter."""
READ_CHUNK = 64 * 1024
"""Bytes asked of Chromium at a time when a rendered page's document is read through DevTools."""
META_KEEP_PAGE = "narcowatch_keep_page"
"""Request meta flag: leave ``playwright_page`` open for the spider callback (it must close it)."""
META_CRASH_RETRIED = "narcowatch_crash_retried"
"""Request meta flag: this page's renderer crashed once already; it was rendered again on a fresh page."""
SCRIPT_HOLD_SECONDS = 10.0
"""A renderer whose main thread answers no DevTools probe for this long has its running script stopped
(``Runtime.terminateExecution``): a page script that never yields holds every page of its renderer process
(``NARCOWATCH_BROWSER_SCRIPT_HOLD`` sets it)."""
PROBE_INTERVAL = 1.0
"""Seconds between two probes of a loading page's main thread (``BrowserGuard._watchdog``)."""
SCRIPTS_STOPPED_STAT = "narcowatch/browser/scripts_stopped"
"""Scripts stopped because they held their renderer's main thread past ``SCRIPT_HOLD_SECONDS``."""
CRASH_RETRY_STAT = "narcowatch/browser/crash_retries"
"""Pages rendered once more because their renderer crashed (theirs, or a page's sharing its process)."""


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


def abort_needless_request(request: PageRequest) -> bool:
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
    source: Any = None,
) -> dict[str, Any]:
    """Scrapy settings that route ``meta["playwright"]`` requests through Chromium via scrapy-playwright.

    ``chromium`` defaults to find_chromium(); as root it is started through ``sandboxed_executable``
    (an unprivileged user, sandbox on). With a ``source`` the browser is confined to it: every request
    its pages make passes a ``BrowserGuard`` (``PLAYWRIGHT_ABORT_REQUEST`` and
    ``PLAYWRIGHT_PROCESS_REQUEST_HEADERS``), and Chromium's host resolver knows only the source's hosts
    (``host_resolver_rules``), which covers what the guard cannot see: redirect hops, workers, popups,
    WebSockets. Plain requests still go through Scrapy's HTTP handler.
    """
    if max_contexts < 1:
        raise ValueError(f"max_contexts must be >= 1, got {max_contexts}")
    if max_pages_per_context < 1:
        raise ValueError(f"max_pages_per_context must be >= 1, got {max_pages_per_context}")
    executable = sandboxed_executable(chromium or find_chromium())
    args = [a for a in CHROMIUM_ARGS if headless or not a.startswith("--headless")]
    args += extra_chromium_args()
    if source is not None:
        args.append(f"--host-resolver-rules={host_resolver_rules(source)}")
    settings: dict[str, Any] = {
        "DOWNLOAD_HANDLERS": {
            "http": "crawler.browser.PageSlotHandler",
            "https": "crawler.browser.PageSlotHandler",
        },
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        "PLAYWRIGHT_LAUNCH_OPTIONS": {
            "executable_path": executable,
            "headless": headless,
            "args": args,
            "chromium_sandbox": True,
        },
        "PLAYWRIGHT_MAX_CONTEXTS": max_contexts,
        "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": max_pages_per_context,
        "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": navigation_timeout_ms,
        "NARCOWATCH_BROWSER_ENABLED": True,
    }
    if source is not None:
        guard = BrowserGuard(source, abort_resources=abort_resources)
        settings["PLAYWRIGHT_ABORT_REQUEST"] = guard
        settings["PLAYWRIGHT_PROCESS_REQUEST_HEADERS"] = guard.process_headers
        settings["NARCOWATCH_BROWSER_GUARD"] = guard
    elif abort_resources:
        settings["PLAYWRIGHT_ABORT_REQUEST"] = abort_needless_request
    return settings


EXTRA_ARGS_ENV = "NARCOWATCH_CHROMIUM_ARGS"
"""Environment variable: more Chromium arguments, space-separated (e.g. ``--renderer-process-limit=4`` on a
small host); none may touch the sandbox, the host resolver rules or the proxy (``extra_chromium_args``)."""
_CONFINING_ARGS = ("sandbox", "host-resolver", "proxy", "remote-debugging", "user-data-dir", "disable-web-security")


def extra_chromium_args(env: dict[str, str] | None = None) -> list[str]:
    """The ``NARCOWATCH_CHROMIUM_ARGS`` arguments; ValueError naming the variable for one that would loosen the
    browser's confinement or is not a ``--flag``."""
    environ = os.environ if env is None else env
    args = (environ.get(EXTRA_ARGS_ENV) or "").split()
    for arg in args:
        name = arg.split("=", 1)[0].lower()
        if not name.startswith("--") or any(word in name for word in _CONFINING_ARGS):
            raise ValueError(f"{EXTRA_ARGS_ENV}: {arg!r} is not allowed (a --flag that leaves the sandbox, host "
                             "resolver rules, proxy and profile alone)")
    return args


def host_resolver_rules(source: Any) -> str:
    """Chromium ``--host-resolver-rules`` that resolve only the source's hosts: everything else is NOTFOUND.

    Each domain is excluded from the catch-all (with its subdomains); a private origin the source may
    reach (``allow_private_addresses``, the start URLs' host and port) is mapped to itself, port and all,
    so ``127.0.0.1:8808`` resolves and ``127.0.0.1:9200`` does not. The source's proxy stays reachable.
    Applies to every connection Chromium makes, redirect hops and page scripts included.
    """
    from crawler.addresses import AddressPolicy, ip_of, is_local_name, is_private_address, origin_of

    policy = AddressPolicy.for_source(source)
    rules: list[str] = []
    for domain in policy.domains:
        ip = ip_of(domain)
        if (ip is not None and is_private_address(ip)) or is_local_name(domain):
            continue  # private: only its origins (below)
        host = f"[{domain}]" if ip is not None and ip.version == 6 else domain
        rules.append(f"EXCLUDE {host}")
        if ip is None:
            rules.append(f"EXCLUDE *.{domain}")
    origins = set(policy.private_origins) if policy.allow_private else set()
    proxy = getattr(source, "proxy", None)
    if proxy:
        origins.add(origin_of(proxy))
    for host, port in sorted(origins):
        name = f"[{host}]" if ":" in host else host
        rules.append(f"MAP {name}:{port} {name}:{port}")
    rules.append("MAP * ~NOTFOUND")
    return ", ".join(rules)


def sandboxed_executable(chromium: str, user: str = BROWSER_USER) -> str:
    """The executable Playwright should start: ``chromium`` itself, or as root a launcher that runs it as ``user``.

    Chromium refuses to run as root with its sandbox, and without it a page that exploits the renderer
    owns the machine. As root, a small launcher (written to ``<state home>/browser/``, root-only) hands
    the fresh profile directory to ``user``, drops to that user with a minimal environment (no secrets
    of the crawler's) and starts Chromium with its namespace sandbox. That needs unprivileged user
    namespaces (``unshare -U -r true`` as that user); where they are missing Chromium stops with
    "No usable sandbox", and we never fall back to running it unsandboxed.
    """
    if os.geteuid() != 0:
        return chromium
    import sys

    from crawler.paths import state_home

    account = ensure_browser_user(user)
    directory = state_home() / "browser"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    launcher = directory / "chromium-launcher"
    text = LAUNCHER.format(python=sys.executable, chromium=chromium, user=account.pw_name)
    if not launcher.is_file() or launcher.read_text(encoding="utf-8") != text:
        write_atomic(launcher, text, mode=0o700, durable=False)
    return str(launcher)


def ensure_browser_user(name: str = BROWSER_USER) -> pwd.struct_passwd:
    """The unprivileged system user Chromium runs as (created with ``useradd -r`` when missing)."""
    import pwd
    import subprocess

    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    proc = subprocess.run([useradd, "-r", "-M", "-d", "/nonexistent", "-s", "/usr/sbin/nologin", name],
                          capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 9):  # 9: created meanwhile
        raise BrowserNotFound(
            f"refusing to run Chromium as root without its sandbox, and cannot create the unprivileged user "
            f"{name!r} to run it as ({proc.stderr.strip()}); create it (scripts/setup.sh does) or run as a "
            "normal user")
    return pwd.getpwnam(name)


LAUNCHER = '''#!{python} -I
"""narcowatch: run Chromium as the unprivileged user {user}, sandbox on (written by crawler.browser)."""
import os, pwd, sys

CHROMIUM = {chromium!r}
account = pwd.getpwnam({user!r})
args = sys.argv[1:]
profile = next((a.split("=", 1)[1] for a in args if a.startswith("--user-data-dir=")), None)
if profile:  # Playwright made it, as root: hand it over
    for root, dirs, files in os.walk(profile):
        os.lchown(root, account.pw_uid, account.pw_gid)
        for name in dirs + files:
            os.lchown(os.path.join(root, name), account.pw_uid, account.pw_gid)
home = profile or "/tmp"
env = {{k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ", "FONTCONFIG_FILE")}}
env.update(HOME=home, XDG_CONFIG_HOME=home, XDG_CACHE_HOME=home)
os.setgroups([])
os.setgid(account.pw_gid)
os.setuid(account.pw_uid)
if os.getuid() == 0 or os.geteuid() == 0:
    sys.exit("narcowatch chromium launcher: could not drop root")
os.execve(CHROMIUM, [CHROMIUM, *args], env)
'''
"""The launcher script (stdlib only, run by the interpreter of the crawler in isolated mode)."""


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
    """Browser-context kwargs that carry a source's session cookies to its own hosts.

    The navigation request already gets the session through Scrapy's headers; scripts' own requests
    (fetch, XHR) see the context's cookies (``storage_state``, one cookie per source domain, so the
    browser sends them to those hosts only). Session headers are not context headers (those go to
    every host): ``BrowserGuard.process_headers`` adds them to requests for the source's hosts only.
    Values come from the environment variables the config names; an unset variable gives no kwargs
    (the session middleware stops the crawl with a clear error).
    """
    session = getattr(source, "session", None)
    if session is None:
        return {}
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
    return out


CONFINED_CONTEXT_KWARGS: dict[str, Any] = {"accept_downloads": False, "service_workers": "block"}
"""Every browser context: downloads refused (never read into memory), no service workers (whose
requests a page's routes do not see)."""


@dataclass
class PageMeter:
    """Bytes a rendered page has received while loading, from Chromium's DevTools network events.

    ``request`` sees ``Network.requestWillBeSent`` (to know which requests are the main frame's document,
    redirect hops included); ``add`` sees each ``Network.dataReceived`` chunk and says, once, when a limit
    is passed: ``limit`` for the main document (decoded bytes, so a compression bomb counts at its real
    size), ``limit * PAGE_TOTAL_FACTOR`` for everything the page loads. No Content-Length is needed.
    """

    main_frame: str
    limit: int
    documents: set[str] = field(default_factory=set)
    document_bytes: int = 0
    total_bytes: int = 0
    tripped: str | None = None

    def request(self, event: dict[str, Any]) -> None:
        if event.get("type") == "Document" and event.get("frameId") == self.main_frame:
            self.documents.add(str(event.get("requestId")))

    def add(self, event: dict[str, Any]) -> str | None:
        """Count one chunk; a description of the limit passed the first time one is, else None."""
        if self.tripped is not None:
            return None
        decoded, wire = int(event.get("dataLength") or 0), int(event.get("encodedDataLength") or 0)
        self.total_bytes += max(decoded, wire)
        if str(event.get("requestId")) in self.documents:
            self.document_bytes += max(decoded, wire)
        if self.document_bytes > self.limit:
            self.tripped = f"document over {self.limit} bytes while loading ({self.document_bytes} read)"
        elif self.total_bytes > self.limit * PAGE_TOTAL_FACTOR:
            self.tripped = (f"page and its resources over {self.limit * PAGE_TOTAL_FACTOR} bytes while loading "
                            f"({self.total_bytes} read)")
        return self.tripped


_GUARDS: dict[str, BrowserGuard] = {}
"""The BrowserGuard of each source crawled by this process, by source name (for ``watch_page``)."""


async def watch_page(page: Page, request: Request) -> None:
    """scrapy-playwright ``playwright_page_init_callback`` (set by BrowserPageMiddleware, by name so requests
    stay serialisable): its source's BrowserGuard meters the new page's bytes and time before it navigates."""
    guard = _GUARDS.get(str(request.meta.get(META_GUARD)))
    if guard is not None:
        deadline = request.meta.get(META_DEADLINE)
        await guard.watch(page, request.url, deadline=float(deadline) if deadline else None)


def page_time_budget(meta: dict[str, Any], default_timeout: float = 180.0) -> float:
    """Seconds a rendered page may take, creation to response: the navigation timeout (the source's download
    timeout) twice (loading, then reading the page or its screenshot) plus every page method's own timeout
    and wait. Past it the page is closed (``too_slow``): nothing else bounds a page whose script holds
    Chromium's main thread after ``load`` (reading its HTML waits without a timeout)."""
    timeout = float(meta.get("download_timeout") or default_timeout)
    budget = 2 * timeout
    for method in meta.get("playwright_page_methods") or []:
        name = getattr(method, "method", "")
        args = getattr(method, "args", ()) or ()
        kwargs = getattr(method, "kwargs", {}) or {}
        if name == "wait_for_timeout" and args:
            budget += float(args[0]) / 1000
        elif kwargs.get("timeout"):
            budget += float(kwargs["timeout"]) / 1000
        else:
            budget += timeout
    return budget


class BrowserGuard:
    """The one filter every request of a source's browser pages goes through.

    scrapy-playwright routes each request of a page to it (``PLAYWRIGHT_ABORT_REQUEST``): a request
    outside the source's domains, to a private address (IP literal, local name, or a name that resolves
    to one; crawler.addresses), or not http(s), is aborted. Redirect hops are not routed by Playwright;
    the host resolver rules stop them in Chromium, and ``on_request`` (the page's ``request`` event)
    names them and marks their navigation refused, so the page is dropped instead of retried.
    ``process_headers`` adds the source's session headers to requests for its own hosts only.
    Refusals are logged and counted in ``narcowatch/refused/<reason>``.
    """

    def __init__(self, source: Any, *, abort_resources: bool = False, environ: dict[str, str] | None = None):
        from crawler.addresses import AddressPolicy

        self.source = str(getattr(source, "name", "?"))
        self.policy = AddressPolicy.for_source(source)
        self.abort_resources = abort_resources
        try:
            session = SourceSession.from_source(source, environ)
        except SessionEnvMissing:
            session = None  # the session middleware closes the crawl
        self.session_headers = {k.lower(): v for k, v in (session.headers if session else {}).items()}
        self.stats: StatsCollector | None = None
        self.max_bytes = int(getattr(source, "max_page_bytes", None) or 0)
        """Largest rendered page announced by Content-Length (set from the crawl's settings when 0)."""
        self.refused: dict[str, str] = {}
        """First URL of a refused main-frame navigation -> reason (read by BrowserPageMiddleware)."""
        self._stopping: set[asyncio.Future[Any]] = set()
        self._deadlines: dict[int, asyncio.Future[None]] = {}
        self._watchdogs: dict[int, asyncio.Future[None]] = {}
        self.script_hold = SCRIPT_HOLD_SECONDS
        """Seconds a renderer's main thread may go without answering before its running script is stopped."""
        self._last_stop = -1e9

    def __deepcopy__(self, memo: dict[int, Any]) -> BrowserGuard:
        return self  # settings are copied; the guard and its state are one per crawl

    def bind(self, stats: StatsCollector | None) -> None:
        self.stats = stats

    async def check(self, url: str) -> str | None:
        """Why ``url`` may not be requested by the browser, or None (host names resolved off the loop)."""
        import asyncio

        from crawler.addresses import resolve

        reason, host = self.policy.static_reason(url)
        if reason is not None or not self.policy.needs_lookup(host):
            return reason
        addresses = self.policy.cached(host)
        if addresses is None:
            addresses = await asyncio.get_running_loop().run_in_executor(
                None, resolve, host, urlsplit(url).port)
            self.policy.remember(host, addresses)
        return self.policy.addresses_reason(addresses, url)

    async def __call__(self, request: PageRequest) -> bool:
        """``PLAYWRIGHT_ABORT_REQUEST``: True aborts the request."""
        if self.abort_resources and request.resource_type in NEEDLESS_RESOURCE_TYPES:
            return True
        reason = await self.check(request.url)
        if reason is None:
            return False
        self.refuse(request, reason)
        return True

    def on_request(self, request: PageRequest) -> None:
        """Page ``request`` event: a redirect hop the route never saw; refused ones are named and counted."""
        if getattr(request, "redirected_from", None) is None:
            return
        reason, _ = self.policy.static_reason(request.url)
        if reason is not None:
            self.refuse(request, reason, hop=True)

    def on_download(self, download: Download) -> None:
        """Page ``download`` event: the context refuses downloads; name it and drop its page, never retry it."""
        self.refused[download.url] = "download"
        if self.stats is not None:
            self.stats.inc_value("narcowatch/browser/downloads_refused")
        log.warning("browser download refused: %s (%s) [source %s]", download.url,
                    getattr(download, "suggested_filename", "?"), self.source)

    def on_response(self, response: PageResponse) -> None:
        """Page ``response`` event: a main-frame document that says it is over ``max_bytes`` is a bad page."""
        if not self.max_bytes:
            return
        try:
            request = response.request
            if not (request.is_navigation_request() and request.frame.parent_frame is None):
                return
            size = int(response.headers.get("content-length") or 0)
            if "attachment" in (response.headers.get("content-disposition") or "").lower():
                return  # a download: refused by the context, counted by on_download
        except Exception:
            return
        if size <= self.max_bytes:
            return
        first = _first_hop(request)
        self.refused[first.url] = "too_large"
        if self.stats is not None:
            self.stats.inc_value(f"{BAD_PAGE_STAT}/too_large")
            self.stats.inc_value(BAD_PAGE_STAT)
        log.warning("bad page skipped: %s (too_large): %d bytes announced, over %d [source %s]",
                    response.url, size, self.max_bytes, self.source)
        # Closing the page here makes scrapy-playwright open it again; ``watch`` stops its loading when the
        # bytes pass the limit, and the page is dropped when its navigation ends, not retried.

    async def watch(self, page: Page, url: str, *, deadline: float | None = None) -> None:
        """Bound a new page's bytes while it loads, whatever its Content-Length says, through a DevTools session
        of the page. Its main document is read by us with back-pressure and refused past the limit
        (``_read_document``); everything it loads is metered (PageMeter) and past ``PAGE_TOTAL_FACTOR`` times
        the limit its renderer is crashed at once (``Page.crash``: it reads no further byte, Chromium cancels
        its requests and the navigation fails now, not at its timeout). Either way the page is a bad page
        (``too_large``, named in a WARNING and counted) that BrowserPageMiddleware drops without a retry.
        ``url`` is the Scrapy request's. A page that has not given its response ``deadline`` seconds after
        this is crashed (``too_slow``), likewise."""
        if not (deadline or self.max_bytes):
            return
        cdp = await page.context.new_cdp_session(page)
        if deadline:
            task = asyncio.ensure_future(self._deadline(page, cdp, url, deadline))
            self._deadlines[id(page)] = task
            task.add_done_callback(lambda _: self._deadlines.pop(id(page), None))
        if self.script_hold > 0:
            dog = asyncio.ensure_future(self._watchdog(page, cdp, url))
            self._watchdogs[id(page)] = dog
            dog.add_done_callback(lambda _: self._watchdogs.pop(id(page), None))
        if not self.max_bytes:
            return
        tree = await cdp.send("Page.getFrameTree")
        meter = PageMeter(main_frame=str(tree["frameTree"]["frame"]["id"]), limit=self.max_bytes)

        def received(event: dict[str, Any]) -> None:
            detail = meter.add(event)
            if detail is not None:
                self.too_large(url, detail)
                task = asyncio.ensure_future(_crash_renderer(cdp, url))
                self._stopping.add(task)
                task.add_done_callback(self._stopping.discard)

        def paused(event: dict[str, Any]) -> None:
            task = asyncio.ensure_future(self._read_document(cdp, event, url, meter.main_frame))
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)

        cdp.on("Network.requestWillBeSent", meter.request)
        cdp.on("Network.dataReceived", received)
        cdp.on("Fetch.requestPaused", paused)
        await cdp.send("Network.enable")
        await cdp.send("Fetch.enable", {"patterns": [{"resourceType": kind, "requestStage": "Response"}
                                                     for kind in READ_BACK_TYPES]})

    async def _read_document(self, cdp: CDPSession, event: dict[str, Any], url: str, main_frame: str) -> None:
        """``Fetch.requestPaused`` at the response of a document or script (``READ_BACK_TYPES``): a body of unknown
        or encoded length (the main frame's document, a frame's, a script) is read here, ``READ_CHUNK`` bytes at
        a time, and handed to the page only when it ends within the limit. Chromium reads from the server only
        as fast as we read from Chromium (back-pressure), so a body that goes on past the limit stops the limit
        plus Chromium's and the kernel's buffers in, however slow this process is; it fails
        (``BlockedByClient``) and the page is counted ``too_large``. Frames and scripts were left to the page's
        meter (4 times the limit, no back-pressure), and crashing the renderer did not stop a script's download:
        the server sent all 50 MB of an endless one. Redirects, error statuses, downloads and bodies whose
        Content-Length is within the limit pass as they are; a body announced over the limit is refused
        unread."""
        request_id = event["requestId"]
        status = event.get("responseStatusCode")
        headers = {h["name"].lower(): h["value"] for h in event.get("responseHeaders") or []}
        announced = headers.get("content-length", "")
        size = int(announced) if announced.isdigit() else None
        encoded = headers.get("content-encoding", "identity").strip().lower() not in ("", "identity")
        if event.get("resourceType") == "Document":
            what = "document" if event.get("frameId") == main_frame else f"frame document {event['request']['url']}"
        else:
            what = f"{str(event.get('resourceType', 'resource')).lower()} {event['request']['url']}"
        passes = (status is None or event.get("responseErrorReason")
                  or not 200 <= int(status) < 300 or int(status) == 204
                  or "attachment" in headers.get("content-disposition", "").lower()
                  or (size is not None and size <= self.max_bytes and not encoded))
        try:
            if passes:
                await cdp.send("Fetch.continueRequest", {"requestId": request_id})
                return
            if size is not None and size > self.max_bytes and not encoded:
                self.too_large(url, f"{what} of {size} bytes announced, over {self.max_bytes}")
                await cdp.send("Fetch.failRequest", {"requestId": request_id, "errorReason": "BlockedByClient"})
                return
            stream = (await cdp.send("Fetch.takeResponseBodyAsStream", {"requestId": request_id}))["stream"]
        except Exception as exc:  # the page is gone or navigated away
            log.debug("document of %s: %s", url, exc)
            return
        body = bytearray()
        try:
            while True:
                chunk = await cdp.send("IO.read", {"handle": stream, "size": READ_CHUNK})
                data = chunk.get("data") or ""
                body += base64.b64decode(data) if chunk.get("base64Encoded") else data.encode("utf-8")
                if len(body) > self.max_bytes:
                    self.too_large(url, f"{what} over {self.max_bytes} bytes while loading ({len(body)} read)")
                    await cdp.send("Fetch.failRequest", {"requestId": request_id, "errorReason": "BlockedByClient"})
                    return
                if chunk.get("eof"):
                    break
            kept = [h for h in event.get("responseHeaders") or []
                    if h["name"].lower() not in ("content-length", "content-encoding", "transfer-encoding")]
            await cdp.send("Fetch.fulfillRequest", {
                "requestId": request_id, "responseCode": int(status or 200), "responseHeaders": kept,
                "body": base64.b64encode(bytes(body)).decode("ascii")})
        except Exception as exc:
            log.debug("reading the document of %s: %s", url, exc)
            try:
                await cdp.send("Fetch.failRequest", {"requestId": request_id, "errorReason": "Failed"})
            except Exception:
                pass
        finally:
            try:
                await cdp.send("IO.close", {"handle": stream})
            except Exception:
                pass

    async def _deadline(self, page: Page, cdp: CDPSession, url: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if page.is_closed():
            return
        self.bad_page(url, "too_slow", f"no response after {seconds:.0f} s (a page script may hold the browser)")
        await _crash_renderer(cdp, url)

    def known_address(self, url: str) -> IPv4Address | IPv6Address | None:
        """The address Chromium must have connected to for ``url``, when that is certain: its host is an IP
        literal and the source has no proxy. A document we read and handed to the page ourselves
        (``_read_document``) has no server address in Chromium (``Fetch.fulfillRequest``), so Playwright gives
        its response none and the WARC record had no ``WARC-IP-Address``. A host name is resolved by Chromium
        again after our look-up, so its address is not known for sure and none is given."""
        from crawler.addresses import ip_of

        if self.policy.proxied:
            return None
        return ip_of(urlsplit(url).hostname or "")

    async def _watchdog(self, page: Page, cdp: CDPSession, url: str) -> None:
        """Probe the page's main thread (``Runtime.evaluate`` of ``0``) every ``PROBE_INTERVAL`` until it gives its
        response. A script that never yields (``for (;;) {}`` after ``load``) holds the renderer's main thread:
        its page, and every page Chromium put in the same process, wait on it (reading their HTML has no
        timeout), until the page's deadline crashes the renderer, taking the neighbours with it. Unanswered for
        ``script_hold`` seconds, the running script is stopped (``Runtime.terminateExecution``, served while a
        script runs): the renderer answers again, its pages go on (the held page is read as it stands, its
        script's later turns stopped likewise), and its neighbours are not delayed longer than that. Pages
        sharing the held renderer all miss their probes: one stop serves them all (no second one within
        ``script_hold``, which would stop a later, innocent script), and each has its scripts disabled. Probing
        goes on after a stop: a renderer held again (the script of a page closed meanwhile runs on in its
        process until it yields) is stopped again."""
        loop = asyncio.get_running_loop()
        stopped = False
        while not page.is_closed():
            await asyncio.sleep(PROBE_INTERVAL)
            try:
                await asyncio.wait_for(cdp.send("Runtime.evaluate", {"expression": "0"}), self.script_hold)
                continue
            except TimeoutError:
                pass
            except Exception as exc:  # navigating (context destroyed), or the page is gone
                if page.is_closed() or "crash" in str(exc).lower() or "closed" in str(exc).lower():
                    return
                continue
            if not stopped:
                stopped = True
                if self.stats is not None:
                    self.stats.inc_value(SCRIPTS_STOPPED_STAT)
                log.warning("renderer of %s gave no answer for %.0f s (a page script holds it): scripts of the page "
                            "stopped, it is read as it stands [source %s]", url, self.script_hold, self.source)
                # sent first, so the page runs no script after the one stopped now (a timer would hold it again)
                self._stopping.add(disabling := asyncio.ensure_future(
                    cdp.send("Emulation.setScriptExecutionDisabled", {"value": True})))
                disabling.add_done_callback(self._stopping.discard)
            if loop.time() - self._last_stop < self.script_hold:
                continue  # another page of this renderer stopped the running script just now
            self._last_stop = loop.time()
            try:
                await asyncio.wait_for(cdp.send("Runtime.terminateExecution"), 5)
            except Exception as exc:
                log.debug("stopping the script of %s: %s", url, exc)

    def settle(self, page: Page) -> None:
        """The page gave its response (BrowserPageMiddleware): its deadline and watchdog no longer apply."""
        for tasks in (self._deadlines, self._watchdogs):
            task = tasks.pop(id(page), None)
            if task is not None:
                task.cancel()

    def too_large(self, url: str, detail: str) -> None:
        """Count and name a rendered page over the limit (once: a Content-Length may have said so already)."""
        self.bad_page(url, "too_large", detail)

    def bad_page(self, url: str, reason: str, detail: str) -> None:
        """Mark a rendered page to be dropped (no retry), count and name it; once per page."""
        if url in self.refused:
            return
        self.refused[url] = reason
        if self.stats is not None:
            self.stats.inc_value(f"{BAD_PAGE_STAT}/{reason}")
            self.stats.inc_value(BAD_PAGE_STAT)
        log.warning("bad page skipped: %s (%s): %s [source %s]", url, reason, detail, self.source)

    def refuse(self, request: PageRequest, reason: str, *, hop: bool = False) -> None:
        from crawler.addresses import REFUSED_STAT

        first = _first_hop(request)
        try:
            main = request.is_navigation_request() and request.frame.parent_frame is None
        except Exception:  # a worker's request has no frame
            main = False
        if main:
            self.refused[first.url] = reason
        if self.stats is not None:
            self.stats.inc_value(f"{REFUSED_STAT}/{reason}")
            self.stats.inc_value(REFUSED_STAT)
        log.warning("browser request refused: %s (%s%s) [source %s]", request.url, reason,
                    f", redirect hop from {first.url}" if hop else "", self.source)

    async def process_headers(self, *, browser_type_name: str, playwright_request: PageRequest,
                              scrapy_request_data: dict[str, Any]) -> dict[str, str]:
        """``PLAYWRIGHT_PROCESS_REQUEST_HEADERS``: scrapy-playwright's own choice, plus the session headers
        for the source's hosts, and without them (or cookies of ours) for any other host."""
        from scrapy_playwright.headers import use_scrapy_headers

        from crawler.addresses import host_in_domains

        headers = await use_scrapy_headers(browser_type_name=browser_type_name,
                                           playwright_request=playwright_request,
                                           scrapy_request_data=scrapy_request_data)
        host = urlsplit(playwright_request.url).hostname or ""
        if host_in_domains(host, self.policy.domains):
            lowered = {k.lower() for k in headers}
            for name, value in self.session_headers.items():
                if name not in lowered:
                    headers[name] = value
            return headers
        drop = set(self.session_headers) | {"cookie", "authorization", "proxy-authorization"}
        return {k: v for k, v in headers.items() if k.lower() not in drop}


async def _crash_renderer(cdp: CDPSession, url: str) -> None:
    """Crash a page's renderer through its DevTools session (``Page.crash``; works while a script holds the
    page's main thread). It reads nothing more, Chromium cancels its requests, and what waits on the page
    fails with "Page crashed": BrowserPageMiddleware drops the request. Closing the page instead would make
    scrapy-playwright open it again (it retries a closed target three times); the network cut and
    ``Page.stopLoading`` used before let the renderer read megabytes more and the navigation run to its
    timeout. The command gets no answer (the renderer is gone), so it is not awaited for long."""
    try:
        await asyncio.wait_for(cdp.send("Page.crash"), timeout=5)
    except Exception as exc:  # TargetClosedError once it has crashed, or a timeout: both expected
        log.debug("crashing the renderer of %s: %s", url, exc)


def _first_hop(request: PageRequest) -> PageRequest:
    """The request a redirect chain started with (Playwright links each hop to the one before)."""
    while request.redirected_from is not None:
        request = request.redirected_from
    return request


def _safe_name(text: str, limit: int = 80) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:limit] or "page"


async def save_screenshot(page: Page, directory: Path, url: str | None = None) -> Path:
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


class PageSlotHandler(ScrapyPlaywrightDownloadHandler):
    """scrapy-playwright's download handler, with each page's slot in its context freed once.

    scrapy-playwright bounds the pages open at once in a context (``PLAYWRIGHT_MAX_PAGES_PER_CONTEXT``) with a
    semaphore that a page's ``close`` and ``crash`` events both release. A crashed page is closed afterwards
    (by us, or by the handler), so every renderer crash added a slot for good: after a few crashes a context
    held several times its limit of pages (2 allowed, 6 open after 4 pages crashed twice each). Here the
    slot is released by whichever event comes first, and only then."""

    def _make_close_page_callback(self, context_name: str) -> Callable[[], None]:
        released = False

        def close_page_callback() -> None:
            nonlocal released
            if released:
                return
            released = True
            wrapper = self.context_wrappers.get(context_name)
            if wrapper is not None:
                wrapper.semaphore.release()

        return close_page_callback



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
    def from_settings(cls, settings: BaseSettings) -> BrowserPageConfig:
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
        self.contexts: dict[int, BrowserContext] = {}
        self.guard: BrowserGuard | None = None
        self.unconfined: str | None = None

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
        kwargs = {**CONFINED_CONTEXT_KWARGS, **proxy_context_kwargs(proxy), **session_context_kwargs(source)}
        self.recycler = ContextRecycler(spider.name, per_context, kwargs)
        guard = self.crawler.settings.get("PLAYWRIGHT_ABORT_REQUEST")
        if isinstance(guard, BrowserGuard):
            self.guard = guard
            guard.bind(self.crawler.stats)
            _GUARDS[guard.source] = guard
            guard.abort_resources |= self.crawler.settings.getbool("NARCOWATCH_BROWSER_ABORT_RESOURCES")
            guard.script_hold = self.crawler.settings.getfloat("NARCOWATCH_BROWSER_SCRIPT_HOLD", SCRIPT_HOLD_SECONDS)
            if not guard.max_bytes:
                guard.max_bytes = BadPageConfig.from_settings(self.crawler.settings).max_bytes
        elif source is not None:
            self.unconfined = (
                f"source {spider.name}: PLAYWRIGHT_ABORT_REQUEST is {guard!r}, not the source's BrowserGuard; "
                "refusing to render pages unconfined (to drop images set NARCOWATCH_BROWSER_ABORT_RESOURCES)")
        if self.screenshot_dir is None:
            from crawler.evidence import evidence_run_dir

            self.screenshot_dir = evidence_run_dir(self.crawler.settings, spider) / "screenshots"

    def process_request(self, request: Request, spider: Spider) -> None:
        if not request.meta.get("playwright"):
            return None
        if self.recycler is None:
            self.spider_opened(spider)
        assert self.recycler is not None
        if self.unconfined is not None:
            log.error(self.unconfined)
            raise IgnoreRequest(self.unconfined)
        if self.guard is not None:
            handlers = dict(request.meta.get("playwright_page_event_handlers") or {})
            for event, method in BROWSER_EVENT_HANDLERS.items():
                if hasattr(spider, method):
                    handlers.setdefault(event, method)
            request.meta["playwright_page_event_handlers"] = handlers
            request.meta[META_GUARD] = self.guard.source  # watch_page meters its bytes and time
            request.meta.setdefault("playwright_page_init_callback", "crawler.browser.watch_page")
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
        if self.guard is not None:
            request.meta[META_DEADLINE] = page_time_budget(
                request.meta, self.crawler.settings.getfloat("DOWNLOAD_TIMEOUT", 180.0))
        return None

    def _refused(self, request: Request, response_url: str | None = None) -> str | None:
        """Why a rendered page must be dropped: its navigation or a redirect hop was refused."""
        if self.guard is None:
            return None
        reason = self.guard.refused.pop(request.url, None)
        if reason is None and response_url:
            reason, _ = self.guard.policy.static_reason(response_url)
        return reason

    async def process_response(self, request: Request, response: Response, spider: Spider) -> Response:
        page = request.meta.get("playwright_page")
        if page is None:
            return response
        if self.guard is not None:
            self.guard.settle(page)
        refused = self._refused(request, response.url) if "playwright" in response.flags else None
        if refused is not None:
            await self._release(request)
            raise IgnoreRequest(f"rendered page {request.url} dropped: {refused} (final URL {response.url})")
        if response.ip_address is None and self.guard is not None and (ip := self.guard.known_address(response.url)):
            response = response.replace(ip_address=ip)  # the evidence's WARC-IP-Address
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

    async def process_exception(self, request: Request, exception: BaseException, spider: Spider) -> Request | None:
        if not request.meta.get("playwright"):
            return None
        await self._release(request)
        refused = self._refused(request)
        if refused is not None:  # not a network failure: no retry
            raise IgnoreRequest(f"rendered page {request.url} refused: {refused}")
        if is_renderer_crash(exception):
            return self._after_crash(request, exception)
        return None

    def _after_crash(self, request: Request, exception: BaseException) -> Request:
        """A page whose renderer crashed and that was not dropped itself: Chromium may have put it in one
        process with a page we crashed (``too_large``, ``too_slow``) or that crashed itself, so it is rendered
        once more on a fresh page (outside the source's retry budget); a second crash counts it as a bad
        page (``renderer_crashed``) and drops it."""
        if request.meta.get(META_CRASH_RETRIED):
            detail = f"its renderer crashed twice ({str(exception).splitlines()[0] if str(exception) else exception!r})"
            if self.guard is not None:
                self.guard.bad_page(request.url, "renderer_crashed", detail)
                self.guard.refused.pop(request.url, None)
            else:
                self._inc(f"{BAD_PAGE_STAT}/renderer_crashed")
                self._inc(BAD_PAGE_STAT)
                log.warning("bad page skipped: %s (renderer_crashed): %s", request.url, detail)
            raise IgnoreRequest(f"rendered page {request.url} dropped: renderer_crashed")
        self._inc(CRASH_RETRY_STAT)
        log.warning("renderer of %s crashed (%s): rendering it once more on a fresh page", request.url,
                    str(exception).splitlines()[0] if str(exception) else type(exception).__name__)
        retry = request.replace(dont_filter=True)
        retry.meta[META_CRASH_RETRIED] = True
        return retry

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


def is_renderer_crash(exception: BaseException) -> bool:
    """True for a Playwright error saying the page's renderer crashed ("Page crashed", "Target crashed")."""
    module = type(exception).__module__ or ""
    return module.startswith("playwright") and "crashed" in str(exception).lower()


async def close_page_errback(failure: Failure) -> None:
    """Errback for spiders that keep pages (``narcowatch_keep_page``): close the page on any error."""
    page = failure.request.meta.pop("playwright_page", None) if hasattr(failure, "request") else None
    if page is not None and not page.is_closed():
        await page.close()

