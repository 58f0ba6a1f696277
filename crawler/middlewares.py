"""Downloader middlewares for robust and confined crawling: address rules, bad-page skipping, retry backoff,
sessions kept to the source's hosts, per-source proxies."""

from __future__ import annotations

import codecs
import logging
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.cookies import CookiesMiddleware
from scrapy.downloadermiddlewares.httpcompression import HttpCompressionMiddleware
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import Response, TextResponse
from twisted.internet import defer

from crawler.common.redaction import mask_values, redact_url

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings
    from scrapy.statscollectors import StatsCollector

    from crawler.addresses import AddressPolicy
    from crawler.sources.models import SelectorSpec

log = logging.getLogger(__name__)

BAD_PAGE_STAT = "narcowatch/bad_page"
"""Stats prefix: ``narcowatch/bad_page/<reason>`` counts skipped pages by reason, plus the total."""
BAD_PAGE_REASONS = ("bad_encoding", "truncated", "too_large", "decompression_bomb", "binary", "empty", "too_slow")

# File signatures of content that is never a web page.
_BINARY_MAGIC = (
    b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"%PDF", b"PK\x03\x04", b"\x1f\x8b", b"\x7fELF", b"MZ",
    b"RIFF", b"\x00\x00\x01\x00", b"BZh", b"7z\xbc\xaf", b"Rar!", b"OggS", b"ID3", b"\x28\xb5\x2f\xfd",
)
_TEXT_TYPES = ("text/html", "application/xhtml", "text/plain", "text/xml", "application/xml")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
_HTML_OPEN = re.compile(rb"<html[\s>]", re.I)
_HTML_CLOSE = re.compile(rb"</(?:html|body)\s*>", re.I)


def _source_of(spider: Spider) -> Any:
    return getattr(spider, "source", None) or getattr(spider, "source_config", None)


# ---------------------------------------------------------------- address rules


class AddressGuardMiddleware:
    """Refuses every plain request that leaves the source's domains or targets a private address.

    Runs for every request, redirect hops and robots.txt included, whatever its ``dont_filter``:
    the host must be one of the source's domains (or a subdomain), and unless the source sets
    ``allow_private_addresses`` it may be neither an IP literal nor a name that resolves to a loopback,
    private, link-local or otherwise non-public address (crawler.addresses). A response that came from
    such an address anyway (DNS changed between our look-up and the connection) is dropped too.
    Refusals are logged at WARNING and counted in ``narcowatch/refused/<reason>``. Order 40: before
    Scrapy's offsite filter (50) and before any session header or cookie is added.
    """

    def __init__(self, crawler: Crawler):

        self.crawler = crawler
        self.policies: dict[str, AddressPolicy] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AddressGuardMiddleware:
        mw = cls(crawler)
        # Scrapy's offsite filter drops requests when they are scheduled; refuse (and count) them here first.
        crawler.signals.connect(mw.request_scheduled, signal=signals.request_scheduled)
        return mw

    def request_scheduled(self, request: Request, spider: Spider) -> None:
        reason, _ = self.policy(spider).static_reason(request.url)
        if reason is not None:
            raise self.refuse(spider, request.url, reason)

    def policy(self, spider: Spider) -> AddressPolicy:
        from crawler.addresses import AddressPolicy

        found = self.policies.get(spider.name)
        if found is None:
            from crawler.addresses import PRIVATE_NAMES_ALLOWED, ip_of

            found = self.policies[spider.name] = AddressPolicy.for_source(_source_of(spider), spider)
            if found.allow_private:
                PRIVATE_NAMES_ALLOWED.update(h for h, _ in found.private_origins if ip_of(h) is None)
            proxy_host = urlsplit(getattr(_source_of(spider), "proxy", None) or "").hostname
            if proxy_host and ip_of(proxy_host) is None:
                PRIVATE_NAMES_ALLOWED.add(proxy_host.lower())  # the configured proxy may be local
        return found

    def refuse(self, spider: Spider, url: str, reason: str) -> IgnoreRequest:
        from crawler.addresses import REFUSED_STAT

        stats = self.crawler.stats
        if stats is not None:
            stats.inc_value(f"{REFUSED_STAT}/{reason}")
            stats.inc_value(REFUSED_STAT)
        log.warning("request refused: %s (%s) [source %s]", url, reason, spider.name)
        return IgnoreRequest(f"refused {url}: {reason}")

    async def process_request(self, request: Request, spider: Spider) -> None:
        from scrapy.utils.defer import maybe_deferred_to_future
        from twisted.internet.threads import deferToThread

        from crawler.addresses import resolve

        policy = self.policy(spider)
        reason, host = policy.static_reason(request.url)
        if reason is None and policy.needs_lookup(host):
            addresses = policy.cached(host)
            if addresses is None:
                port = urlsplit(request.url).port
                resolved: list[str] = await maybe_deferred_to_future(deferToThread(resolve, host, port))
                policy.remember(host, resolved)
                addresses = resolved
            reason = policy.addresses_reason(addresses, request.url)
        if reason is not None:
            raise self.refuse(spider, request.url, reason)
        return None

    def process_response(self, request: Request, response: Response, spider: Spider) -> Response:
        if "playwright" in response.flags:
            return response  # rendered pages: crawler.browser checks every hop
        ip = str(response.ip_address) if response.ip_address is not None else None
        reason = self.policy(spider).connected_reason(response.url, ip)
        if reason is not None:
            raise self.refuse(spider, response.url, f"{reason}_connected")
        return response


# ---------------------------------------------------------------- bad pages


def declared_encoding(content_type: str, body: bytes) -> str | None:
    """The encoding a page declares (Content-Type charset, else ``<meta charset>``), normalised, or None."""
    m = re.search(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", content_type or "", re.I)
    name = m.group(1) if m else None
    if name is None:
        mm = _META_CHARSET.search(body[:4096])
        name = mm.group(1).decode("ascii", "replace") if mm else None
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def bad_page_reason(body: bytes, content_type: str, max_bytes: int) -> str | None:
    """Why a page that says it is text cannot be used (one of BAD_PAGE_REASONS), or None when it is fine.

    Checks, in order: empty body, body over ``max_bytes`` (0: no limit), binary content (a file
    signature or NUL bytes), bytes that are invalid under the declared encoding, and HTML cut off
    before its end (``<html>`` opened, neither ``</body>`` nor ``</html>`` present).
    """
    if not body.strip():
        return "empty"
    if max_bytes and len(body) > max_bytes:
        return "too_large"
    head = body[:8192]
    if head.startswith(_BINARY_MAGIC) or b"\x00" in head:
        # UTF-16 pages carry NULs legitimately; they declare themselves with a BOM.
        if not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "binary"
    encoding = declared_encoding(content_type, body)
    if encoding is not None:
        try:
            body.decode(encoding, errors="strict")
        except UnicodeDecodeError:
            return "bad_encoding"
    if "html" in (content_type or "").lower() or _HTML_OPEN.search(head):
        if _HTML_OPEN.search(head) and not _HTML_CLOSE.search(body[-65536:]):
            return "truncated"
    return None


@dataclass(frozen=True)
class BadPageConfig:
    """``NARCOWATCH_MAX_PAGE_BYTES``: largest page body accepted (0: no limit of our own)."""

    max_bytes: int

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> BadPageConfig:
        max_bytes = settings.getint("NARCOWATCH_MAX_PAGE_BYTES", settings.getint("DOWNLOAD_MAXSIZE", 0))
        if max_bytes < 0:
            raise ValueError(f"NARCOWATCH_MAX_PAGE_BYTES must be >= 0, got {max_bytes}")
        return cls(max_bytes=max_bytes)


class BadPageMiddleware:
    """Counts and skips pages that cannot be read, so one broken page never stops a crawl.

    A skipped page is logged at WARNING with its URL and reason, counted in
    ``narcowatch/bad_page/<reason>``, and dropped (IgnoreRequest). Bodies over the per-source limit
    (source ``max_page_bytes``, else ``NARCOWATCH_MAX_PAGE_BYTES``) are cancelled while downloading.
    Order 580: after decompression, so it judges the body the spider would parse.
    """

    def __init__(self, crawler: Crawler, config: BadPageConfig):
        self.crawler = crawler
        self.config = config

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BadPageMiddleware:
        if not crawler.settings.getbool("NARCOWATCH_BAD_PAGES_ENABLED", True):
            raise NotConfigured("NARCOWATCH_BAD_PAGES_ENABLED is off")
        return cls(crawler, BadPageConfig.from_settings(crawler.settings))

    def max_bytes(self, spider: Spider) -> int:
        limit = getattr(_source_of(spider), "max_page_bytes", None)
        return int(limit) if limit else self.config.max_bytes

    def process_request(self, request: Request, spider: Spider) -> None:
        limit = self.max_bytes(spider)
        if limit:
            request.meta.setdefault("download_maxsize", limit)
        return None

    def skip(self, spider: Spider, url: str, reason: str, detail: str = "") -> IgnoreRequest:
        return skip_bad_page(self.crawler, spider, url, reason, detail)

    def process_response(self, request: Request, response: Response, spider: Spider) -> Response:
        if not (200 <= response.status < 300) or request.method == "HEAD" or _is_robots(response.url):
            return response
        content_type = (response.headers.get(b"Content-Type") or b"").decode("latin-1")
        textual = isinstance(response, TextResponse) or any(t in content_type.lower() for t in _TEXT_TYPES)
        if not textual:
            return response  # images and downloads are the spider's business
        reason = bad_page_reason(response.body, content_type, self.max_bytes(spider))
        if reason is not None:
            raise self.skip(spider, response.url, reason, f"{len(response.body)} bytes, {content_type or 'no type'}")
        return response

    def process_exception(self, request: Request, exception: BaseException, spider: Spider) -> None:
        if isinstance(exception, defer.CancelledError):
            message = str(exception)
            if not message or "max size" in message or "maxsize" in message:
                limit = request.meta.get("download_maxsize") or self.max_bytes(spider)
                raise self.skip(spider, request.url, "too_large", f"over {limit} bytes")
        return None


def skip_bad_page(crawler: Crawler, spider: Spider, url: str, reason: str, detail: str = "") -> IgnoreRequest:
    """Count (``narcowatch/bad_page/<reason>`` and the total) and log a skipped page; the IgnoreRequest to raise."""
    stats = crawler.stats
    if stats is not None:
        stats.inc_value(f"{BAD_PAGE_STAT}/{reason}")
        stats.inc_value(BAD_PAGE_STAT)
    log.warning("bad page skipped: %s (%s)%s [source %s]", url, reason, f": {detail}" if detail else "", spider.name)
    return IgnoreRequest(f"bad page {url}: {reason}")


class BoundedDecompressionMiddleware(HttpCompressionMiddleware):
    """Scrapy's HttpCompressionMiddleware, whose refusal of a body that decompresses past the size limit
    (a decompression bomb) is counted as the bad page ``decompression_bomb`` instead of a DEBUG line."""

    def __init__(self, stats: StatsCollector | None = None, *, crawler: Crawler | None = None):
        super().__init__(stats, crawler=crawler)
        self._crawler = crawler

    def process_response(self, request: Request, response: Response, spider: Spider) -> Request | Response:
        try:
            return super().process_response(request, response, spider)
        except IgnoreRequest as exc:
            if self._crawler is None or "decompression" not in str(exc):
                raise
            limit = request.meta.get("download_maxsize") or self._max_size
            raise skip_bad_page(self._crawler, spider, response.url, "decompression_bomb",
                                f"{len(response.body)} bytes decompress to over {limit}") from None


class OfflineCookiesMiddleware(CookiesMiddleware):
    """Scrapy's cookie middleware with the public suffix list of the installed ``tldextract`` package.

    Scrapy's own asks tldextract, which downloads the list from publicsuffix.org on first use, directly,
    past the source's proxy. This one never downloads it (crawler.middlewares.offline_suffix_list).
    """

    def __init__(self, debug: bool = False):
        super().__init__(debug)
        offline_suffix_list()


def offline_suffix_list() -> None:
    """Make Scrapy's cookie domain checks use the bundled public suffix snapshot, never a download."""
    import scrapy.downloadermiddlewares.cookies as cookies
    from tldextract import TLDExtract

    if not getattr(cookies._split_domain, "narcowatch_offline", False):
        extract = TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True,
                             include_psl_private_domains=True)
        extract.narcowatch_offline = True  # type: ignore[attr-defined]
        cookies._split_domain = extract


def _is_robots(url: str) -> bool:
    return url.split("?", 1)[0].endswith("/robots.txt")


# ---------------------------------------------------------------- retries with backoff


def backoff_delay(attempt: int, base: float, maximum: float, retry_after: str | None = None) -> float:
    """Seconds before retry number ``attempt`` (1-based): ``base * 2**(attempt-1)``, capped at ``maximum``.

    A numeric ``Retry-After`` header asks for more and is honoured up to ``maximum``.
    """
    delay = base * (2 ** max(attempt - 1, 0))
    if retry_after and retry_after.strip().isdigit():
        delay = max(delay, float(retry_after.strip()))
    return max(0.0, min(delay, maximum))


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's RetryMiddleware (5xx, 429, timeouts, connection errors) with exponential backoff.

    Its hooks return ``Any``: a delayed retry is a Deferred, which Scrapy's middleware manager accepts but
    RetryMiddleware's own signatures (Request | Response | None) do not name.

    The retry request is handed back only after ``NARCOWATCH_RETRY_BACKOFF_BASE * 2**(n-1)`` seconds
    (capped at ``NARCOWATCH_RETRY_BACKOFF_MAX``); other requests go on meanwhile.
    """

    def __init__(self, settings: BaseSettings):
        super().__init__(settings)
        self.base = settings.getfloat("NARCOWATCH_RETRY_BACKOFF_BASE", 2.0)
        self.maximum = settings.getfloat("NARCOWATCH_RETRY_BACKOFF_MAX", 120.0)
        if self.base < 0 or self.maximum < 0:
            raise ValueError("NARCOWATCH_RETRY_BACKOFF_BASE and _MAX must be >= 0")
        self.stats: StatsCollector | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackoffRetryMiddleware:
        mw = cls(crawler.settings)
        mw.stats = crawler.stats
        return mw

    def _delayed(self, result: Any, retry_after: str | None = None) -> Any:
        if not isinstance(result, Request):
            return result
        delay = backoff_delay(int(result.meta.get("retry_times", 1)), self.base, self.maximum, retry_after)
        if self.stats is not None:
            self.stats.inc_value("narcowatch/retry/backoff_seconds", delay)  # type: ignore[arg-type]  # adds floats too
        if delay <= 0:
            return result
        return self.later(delay, result)

    def later(self, delay: float, result: Request) -> defer.Deferred[Request]:
        """A Deferred that fires with ``result`` after ``delay`` seconds (on the running reactor)."""
        from twisted.internet import reactor
        from twisted.internet.task import deferLater

        return deferLater(reactor, delay, lambda: result)  # type: ignore[arg-type]

    def process_response(self, request: Request, response: Response, spider: Spider) -> Any:
        result = super().process_response(request, response, spider)
        retry_after = response.headers.get(b"Retry-After")
        return self._delayed(result, retry_after.decode("latin-1") if retry_after else None)

    def process_exception(self, request: Request, exception: Exception, spider: Spider) -> Any:
        if is_browser_navigation_error(exception) and not request.meta.get("dont_retry", False):
            return self._delayed(self._retry(request, exception, spider))
        return self._delayed(super().process_exception(request, exception, spider))


def is_browser_navigation_error(exception: BaseException) -> bool:
    """True for a Playwright error of the page's navigation (timeout, refused, reset): worth a retry.

    Errors of the page methods (a ``wait_for`` selector that never appears) are not: the page loaded.
    """
    module = type(exception).__module__ or ""
    return module.startswith("playwright") and str(exception).lstrip().lower().startswith("page.goto")


# ---------------------------------------------------------------- sessions


class SessionEnvMissing(RuntimeError):
    """An environment variable named in a source's ``session`` is not set."""


@dataclass
class SourceSession:
    """A source's session read from the environment: cookie and header values, and its logout markers."""

    source: str
    cookies: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    logout_selector: SelectorSpec | None = None
    logout_text: str | None = None

    @classmethod
    def from_source(cls, source: Any, environ: dict[str, str] | None = None) -> SourceSession | None:
        """Read the values of ``session.cookies_env`` / ``headers_env``; None when the source has no session."""
        session = getattr(source, "session", None)
        if session is None:
            return None
        env = os.environ if environ is None else environ
        name = str(getattr(source, "name", "?"))
        missing = [var for var in [*session.cookies_env.values(), *session.headers_env.values()] if not env.get(var)]
        if missing:
            raise SessionEnvMissing(
                f"source {name}: session environment variable(s) {', '.join(sorted(set(missing)))} not set; "
                "export them with the logged-in cookie/header values (they are never read from YAML)"
            )
        return cls(
            source=name,
            cookies={k: env[v] for k, v in session.cookies_env.items()},
            headers={k: env[v] for k, v in session.headers_env.items()},
            logout_selector=session.logout_marker,
            logout_text=session.logout_text,
        )

    def secrets(self) -> list[str]:
        return [v for v in [*self.cookies.values(), *self.headers.values()] if v]

    def redact(self, text: str) -> str:
        """``text`` with every session value replaced by ``***``."""
        return mask_values(text, self.secrets())

    def logout_match(self, response: TextResponse) -> str | None:
        """What shows the response is a logged-out page (the marker or text), or None."""
        if self.logout_text and self.logout_text in response.text:
            return f"text {self.logout_text!r}"
        spec = self.logout_selector
        if spec is not None:
            css, xpath = getattr(spec, "css", None), getattr(spec, "xpath", None)
            found = response.css(css) if css else response.xpath(xpath) if xpath else None
            if found:
                return f"selector {css or xpath!r}"
        return None


class SessionRedactingFilter(logging.Filter):
    """Logging filter that replaces session secrets in log messages by ``***``."""

    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = sorted((s for s in secrets if s), key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        redacted = mask_values(message, self.secrets)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:  # a traceback's text carries the exception's message
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        for attr in ("exc_text", "stack_info"):
            text = getattr(record, attr)
            if text:
                setattr(record, attr, mask_values(text, self.secrets))
        return True


def session_cookie_domain(host: str, domains: list[str]) -> str | None:
    """The Domain of a session cookie sent to ``host``: the broadest of the source's ``domains`` holding it,
    or None (a host-only cookie) for an IP literal or a single-label name, which have no subdomains."""
    from crawler.addresses import host_in_domains, ip_of, normalise_host

    name = normalise_host(host)
    if ip_of(name) is not None or "." not in name:
        return None
    holding = [normalise_host(d) for d in domains if host_in_domains(name, [d])]
    return min(holding, key=len) if holding else None


class SessionMiddleware:
    """Per-source session cookies and headers from environment variables, and logout detection.

    Adds the cookies (through Scrapy's cookie jar) and headers to every request of the source; when a
    response shows the logout marker the source's crawl is closed with reason ``logged_out``, naming
    the source and URL. Values are redacted from the log. Order 560: requests reach the cookie
    middleware (700) after it; responses reach it after decompression.
    """

    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.session: SourceSession | None = None
        self.error: str | None = None
        self.closing = False
        self.filter: SessionRedactingFilter | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SessionMiddleware:
        mw = cls(crawler)
        crawler.signals.connect(mw.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(mw.spider_closed, signal=signals.spider_closed)
        return mw

    def spider_opened(self, spider: Spider) -> None:
        try:
            self.session = SourceSession.from_source(_source_of(spider))
        except SessionEnvMissing as exc:
            self.error = str(exc)
            return
        if self.session is not None and self.session.secrets():
            self.filter = SessionRedactingFilter(self.session.secrets())
            for handler in logging.getLogger().handlers:
                handler.addFilter(self.filter)

    def spider_closed(self, spider: Spider) -> None:
        if self.filter is not None:
            for handler in logging.getLogger().handlers:
                handler.removeFilter(self.filter)
            self.filter = None

    def _close(self, spider: Spider, reason: str, message: str) -> IgnoreRequest:
        if not self.closing:
            self.closing = True
            log.error(message)
            if self.crawler.stats is not None:
                self.crawler.stats.set_value(f"narcowatch/{reason}", message)
            assert self.crawler.engine is not None
            self.crawler.engine.close_spider(spider, reason)
        return IgnoreRequest(message)

    def process_request(self, request: Request, spider: Spider) -> None:
        if self.error is not None:
            raise self._close(spider, "session_env_missing", self.error)
        if self.closing:
            raise IgnoreRequest(f"source {spider.name} is closing: {request.url} not fetched")
        if self.session is None:
            return None
        from crawler.addresses import host_in_domains

        domains = getattr(_source_of(spider), "domains", None) or []
        if not host_in_domains(urlsplit(request.url).hostname or "", domains):
            # Never another host's business: drop what a redirect may have carried over, add nothing.
            for name in self.session.headers:
                request.headers.pop(name, None)
            if self.session.cookies:
                request.headers.pop("Cookie", None)
            return None
        for name, value in self.session.headers.items():
            request.headers.setdefault(name, value)
        if self.session.cookies:
            # One jar entry per cookie and source domain, so the jar sends it once. Without a path the jar
            # stored it again per directory ("/item" for /item/a beside "/" of the start page), and a
            # host-only cookie again per subdomain (the jar also offers a parent's host-only cookies to
            # its subdomains): "Cookie: sid=...; sid=...". Domain is the broadest source domain holding
            # the host, so the jar offers it to that domain and its subdomains only, all the source's.
            from scrapy.http.request import VerboseCookie

            cookies: list[VerboseCookie] = (
                [VerboseCookie(name=k, value=v) for k, v in request.cookies.items()]
                if isinstance(request.cookies, dict) else list(request.cookies))
            have = {c.get("name") for c in cookies}
            domain = session_cookie_domain(urlsplit(request.url).hostname or "", domains)
            for name, value in self.session.cookies.items():
                if name not in have:
                    cookie = VerboseCookie(name=name, value=value, path="/")
                    if domain is not None:
                        cookie["domain"] = domain
                    cookies.append(cookie)
            request.cookies = cookies
        return None

    def process_response(self, request: Request, response: Response, spider: Spider) -> Response:
        if self.session is None or not isinstance(response, TextResponse):
            return response
        found = self.session.logout_match(response)
        if found is not None:
            raise self._close(
                spider, "logged_out",
                f"source {self.session.source}: logged out at {response.url} ({found} found); "
                "refresh the session cookies/headers in the environment variables named in its config",
            )
        return response


# ---------------------------------------------------------------- proxies


class SourceProxyMiddleware:
    """Sends every plain request of a source through its ``proxy:`` (Privoxy in front of Tor, say).

    Rendered pages use the browser context's own proxy (crawler.browser). A SOCKS proxy can only
    serve rendered pages: a plain request of such a source is dropped rather than sent directly.
    Order 740: before Scrapy's HttpProxyMiddleware (750), which applies ``meta["proxy"]``.
    """

    def __init__(self, crawler: Crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SourceProxyMiddleware:
        return cls(crawler)

    def process_request(self, request: Request, spider: Spider) -> None:
        proxy = getattr(_source_of(spider), "proxy", None)
        if not proxy or request.meta.get("playwright"):
            return None
        if proxy.startswith("socks"):

            raise IgnoreRequest(
                f"source {spider.name}: {request.url} is a plain request but the source's proxy "
                f"{redact_url(proxy)} is SOCKS; not sending it directly (render it, or use an HTTP proxy)"
            )
        request.meta.setdefault("proxy", proxy)
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value("narcowatch/proxy/requests")
        return None
