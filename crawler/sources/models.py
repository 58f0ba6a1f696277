"""Pydantic models of a sources file: one model per source kind, discriminated by ``kind``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from crawler.addresses import private_hosts, start_urls_of
from crawler.common.cron import check_cron
from crawler.common.durations import duration_schema, parse_duration
from crawler.config.regexes import check_user_regex
from crawler.fingerprint import SiteIdentity

NAME_RE = r"^[a-z0-9][a-z0-9_-]*$"
KINDS = ("market", "browser", "b2b_chemicals", "forum", "telegram_public", "reddit", "mastodon", "feed")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


# ---------------------------------------------------------------- selectors


class SelectorSpec(_Model):
    """A CSS or XPath selector with post-processing; written as a mapping in YAML."""

    css: str | None = None
    """CSS selector (parsel dialect: ``::text`` and ``::attr(name)`` allowed)."""
    xpath: str | None = None
    """XPath 1.0 expression."""
    attr: str | None = None
    """Read this attribute of the matched elements instead of their text (``href``, ``src``, ``datetime``)."""
    regex: str | None = None
    """Keep only this regular expression's first group (or whole match) of each value; values that do not match
    are dropped."""
    join: str | None = None
    """Join all matched values with this separator (default: the first match only; lists keep all)."""
    value: str | None = None
    """A constant instead of a selector (``currency: {value: BTC}``)."""
    label: str | None = None
    """The value the page shows after this label (``Ships from``; alternatives ``Ships from|Origin``): the next
    table cell, ``dd``, or the text after the label element or after ``Label:`` (crawler/pages/labels.py)."""

    @model_validator(mode="after")
    def _one_kind(self) -> SelectorSpec:
        given = [k for k in ("css", "xpath", "value", "label") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of css, xpath, value or label")
        if self.css is not None:
            _check_css(self.css)
        if self.xpath is not None:
            _check_xpath(self.xpath)
        if self.regex is not None:
            check_user_regex(self.regex)
        return self


def _check_css(css: str) -> None:
    from parsel.csstranslator import HTMLTranslator

    try:
        HTMLTranslator().css_to_xpath(css)
    except Exception as exc:  # cssselect raises several error types
        raise ValueError(f"invalid CSS selector {css!r}: {exc}") from None


def _check_xpath(xpath: str) -> None:
    from lxml import etree

    try:
        etree.XPath(xpath)
    except etree.XPathSyntaxError as exc:
        raise ValueError(f"invalid XPath {xpath!r}: {exc}") from None


def parse_selector(value: Any) -> Any:
    """``"css:h1"`` / ``"xpath://h1"`` / ``"h1"`` (CSS) -> a SelectorSpec mapping; mappings pass through."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("xpath:"):
            return {"xpath": text[len("xpath:"):].strip()}
        if text.startswith("css:"):
            return {"css": text[len("css:"):].strip()}
        return {"css": text}
    return value


def _as_list(value: Any) -> Any:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


Selector = Annotated[
    SelectorSpec, BeforeValidator(parse_selector, json_schema_input_type=str | SelectorSpec)
]
"""A CSS (bare or ``css:``) or XPath (``xpath:``) string, or a mapping {css|xpath|value, attr, regex, join}."""

SelectorList = Annotated[
    list[Selector], BeforeValidator(_as_list, json_schema_input_type=Selector | list[Selector])
]
"""One selector or a list of them."""


class ListingFields(_Model):
    """Selectors for the Listing fields of one listing page (missing ones stay empty)."""

    title: Selector | None = None
    description: Selector | None = None
    price: Selector | None = None
    """Price text; the number and currency are read from it (``0.0992 BTC``, ``$79.40``, ``€12,50``)."""
    currency: Selector | None = None
    """Currency where the price text has none (``{value: USD}``)."""
    quantity: Selector | None = None
    stock: Selector | None = None
    vendor: Selector | None = None
    vendor_url: Selector | None = None
    ships_from: Selector | None = None
    ships_to: Selector | None = None
    category: Selector | None = None
    posted_at: Selector | None = None
    updated_at: Selector | None = None
    images: Selector | None = None
    links: Selector | None = None
    native_id: Selector | None = None
    """The site's own id (else the id is taken from ``native_id_regex`` on the URL, else none)."""
    cas_numbers: Selector | None = None
    views: Selector | None = None
    extra: dict[str, Selector] = Field(default_factory=dict)
    """More named fields, stored under ``extra`` (``purity``, ``moq``...)."""



# ---------------------------------------------------------------- shared options


class RateLimit(_Model):
    """Politeness per source: Scrapy's DOWNLOAD_DELAY and concurrency."""

    download_delay: float = Field(default=1.0, ge=0, le=600)
    """Seconds between requests to the same site (randomised 0.5-1.5x unless ``randomize: false``)."""
    concurrency: int = Field(default=2, ge=1, le=64)
    """Concurrent requests to the site."""
    randomize: bool = True
    autothrottle: bool = False
    """Let Scrapy's AutoThrottle adapt the delay to the site's latency."""


class Retry(_Model):
    """Retries with backoff for failed requests and 5xx/429 answers."""

    times: int = Field(default=3, ge=0, le=20)
    backoff_base: float = Field(default=2.0, ge=0, le=600)
    """Seconds before the first retry; doubled at each further retry."""
    backoff_max: float = Field(default=120.0, ge=0, le=3600)


class Session(_Model):
    """Logged-in sessions: cookies and headers taken from environment variables (never written in YAML)."""

    cookies_env: dict[str, str] = Field(default_factory=dict)
    """Cookie name -> environment variable holding its value."""
    headers_env: dict[str, str] = Field(default_factory=dict)
    """Header name -> environment variable holding its value (``Authorization: MARKET_TOKEN``)."""
    logout_marker: Selector | None = None
    """A selector that matches only when logged out (``css: form#login``); a match stops the source's crawl."""
    logout_text: str | None = None
    """Text that appears only when logged out (``Please log in``); same effect as ``logout_marker``."""

    @field_validator("cookies_env", "headers_env")
    @classmethod
    def _env_names(cls, v: dict[str, str]) -> dict[str, str]:
        for key, env in v.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", env or ""):
                raise ValueError(f"{key}: {env!r} is not an environment variable name")
        return v



class Scroll(_Model):
    """Scrolling for infinite lists (browser sources)."""

    times: int = Field(default=0, ge=0, le=200)
    delay: float = Field(default=0.5, ge=0, le=30)
    """Seconds to wait after each scroll."""


class BrowserOptions(_Model):
    """How pages are rendered in Chromium."""

    wait_for: str | None = None
    """CSS selector to wait for before reading a listing page (``h1.product-title``)."""
    wait_for_index: str | None = None
    """CSS selector to wait for on category/index pages (``a.product-link``)."""
    wait_timeout: float = Field(default=15.0, gt=0, le=300)
    """Seconds to wait for ``wait_for`` before giving up on the page."""
    scroll: Scroll = Scroll()
    max_pages_per_context: int = Field(default=50, ge=1, le=10000)
    """Recycle the browser context after this many pages, so memory stays flat."""
    max_contexts: int = Field(default=2, ge=1, le=32)
    """Browser contexts open at once for this source."""
    screenshot: bool = True
    """Full-page PNG screenshot of each listing page, as evidence."""

    @field_validator("wait_for", "wait_for_index")
    @classmethod
    def _css(cls, v: str | None) -> str | None:
        if v is not None:
            _check_css(v)
        return v


def _duration_or_zero(value: Any) -> timedelta:
    return parse_duration(value, allow_zero=True)


# The shared grammar (crawler.common.durations); a source's durations may be zero (removal_grace: 0s).
Duration = Annotated[timedelta, BeforeValidator(_duration_or_zero), WithJsonSchema(duration_schema(allow_zero=True))]


GATE_KINDS = ("ddos", "login", "captcha")
"""Kinds of gate pages, in the order they are tested (an anti-DDoS page often carries a CAPTCHA too)."""


def _check_marker(marker: str) -> str:
    kind, sep, rest = marker.partition(":")
    if sep and kind in ("css", "xpath", "text"):
        body = rest.strip()
    else:
        kind, body = "css", marker.strip()
    if not body:
        raise ValueError(f"empty marker {marker!r}")
    if kind == "css":
        _check_css(body)
    elif kind == "xpath":
        _check_xpath(body)
    else:
        try:
            check_user_regex(body)
        except ValueError as exc:
            raise ValueError(f"marker {marker!r}: {exc}") from None
    return marker


Marker = Annotated[str, AfterValidator(_check_marker)]
"""``css:SELECTOR`` (or a bare CSS selector), ``xpath:EXPR`` or ``text:REGEX`` (case-insensitive, matched against
the page title and visible text)."""


class Gates(_Model):
    """How login walls, anti-DDoS pages and CAPTCHAs are recognised. A page is gated when a marker matches and
    the page gave none of what the source reads there (no listing rows, no listing fields). A gated page stops
    the source's crawl (outcome ``gated``); it is never solved or bypassed."""

    defaults: bool = True
    """Also use the built-in markers (password fields, "DDoS protection" titles, CAPTCHA images and inputs)."""
    login: list[Marker] = Field(default_factory=list)
    """Markers of a login wall (``css:form#login``, ``text:Please log in``)."""
    ddos: list[Marker] = Field(default_factory=list)
    """Markers of an anti-DDoS or "checking your browser" page."""
    captcha: list[Marker] = Field(default_factory=list)
    """Markers of a CAPTCHA challenge."""

    def markers(self, kind: str) -> list[str]:
        """The configured markers of ``kind``, then the built-in ones (unless ``defaults: false``)."""
        own = list(getattr(self, kind))
        return own + list(DEFAULT_GATE_MARKERS[kind]) if self.defaults else own


DEFAULT_GATE_MARKERS: dict[str, tuple[str, ...]] = {
    # Seen on the saved market pages (tests/fixtures/real_pages/*/other/): Dream's "DDOS Protection" form,
    # Cryptonia's "DDoS Protection" refresh page, Bohemia's "DDOS DEFENDER"; common CDN interstitials.
    "ddos": (r"text:\bd\.?dos\b.{0,20}\b(protection|defender|guard|filter)", r"text:anti-?\s?ddos",
             r"text:checking your browser before accessing", r"text:verify (that )?you are (a )?human"),
    # Cryptonia, Dream and Bohemia login pages say so in their title; Empire's has a username and a password
    # field in one form. (A password field alone is no sign: Apollon's offers ask for a PIN.)
    "login": ("xpath://title[contains(translate(., 'LOGIN', 'login'), 'login') or "
              "contains(translate(., 'SIGN', 'sign'), 'sign in')]",
              "xpath://form[.//input[@type='password']][.//input[contains(translate(@placeholder, 'USERNAME', "
              "'username'), 'username') or contains(translate(@name, 'USERNAME', 'username'), 'username')]]",
              r"text:^\s*(please )?(log ?in|sign ?in) (to|required)"),
    "captcha": ("css:img[src*=captcha i]", "css:input[name*=captcha i]", "css:.g-recaptcha, .h-captcha",
                r"text:\bsolve (the|this) (following )?(challenge|captcha)"),
}


class Drift(_Model):
    """Layout-drift alarm: compare each run's per-field fill rates (and listing count) with the source's
    recent runs; a sharp drop marks the run ``degraded`` and sends one ops mail."""

    enabled: bool = True
    runs: int = Field(default=5, ge=1, le=100)
    """How many recent successful runs make the baseline."""
    min_rate: float = Field(default=0.8, ge=0, le=1)
    """Only fields filled in at least this share of listings in the baseline are watched."""
    drop: float = Field(default=0.5, gt=0, le=1)
    """A watched field is degraded when its rate falls below ``baseline * (1 - drop)``."""
    min_listings: int = Field(default=10, ge=1)
    """Baseline runs must have found this many listings on average (else no verdict); a run that then finds
    none is degraded."""


def _domain(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def mirror_host(entry: Any) -> str:
    """A ``mirrors`` entry as a lower-case host name: ``Mirror.onion``, ``http://mirror.onion:8080/x`` ->
    ``mirror.onion`` (every port of a mirror is the same site); ValueError for anything else."""
    if not isinstance(entry, str):
        raise ValueError(f"{entry!r} is not a host name (write `mirror.onion`)")
    text = entry.strip()
    if "://" in text:
        try:
            parts = urlsplit(text)
            host = parts.hostname or ""
        except ValueError:
            host = ""
        if not host or parts.scheme not in ("http", "https"):
            raise ValueError(f"{entry!r} is not an http(s) URL or a host name (write `mirror.onion`)")
        text = host
    host = text.rstrip(".").lower().strip("[]")
    if not re.fullmatch(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*|[0-9a-f:.]+", host):
        raise ValueError(f"{entry!r} is not a host name (write `mirror.onion`, without port or path: every port "
                         "of a mirror is the same site)")
    return host


class SourceBase(_Model):
    """Options every kind shares."""

    name: str = Field(pattern=NAME_RE, max_length=64)
    """Unique name: lower-case letters, digits, ``_`` and ``-`` (``scrapy crawl NAME``)."""
    kind: str
    enabled: bool = True
    """Disabled sources are not scheduled (``narcowatch crawl NAME`` still runs them)."""
    description: str | None = None
    start_urls: list[str] = Field(default_factory=list)
    allowed_domains: list[str] | None = None
    """Domains the crawl may visit, subdomains included (default: those of the start URLs). Never empty: every
    request, redirect hop and browser sub-request outside them is refused."""
    allow_private_addresses: bool = False
    """Let the crawl reach loopback, private and link-local addresses (``127.0.0.1``, ``10.0.0.0/8``,
    ``169.254.0.0/16``...). Off: such targets are refused, also behind host names and redirects. Only for
    local test sites (the fixture web); ``config check`` warns when it is on."""
    platform: str | None = None
    """Platform name for attribution (default: domain of the first start URL, or the network name)."""
    mirrors: list[str] = Field(default_factory=list)
    """Other addresses of the same site: onion mirrors, the domain it moved to or from (``mirror2.onion``;
    a URL is reduced to its host). A listing seen on a mirror, or on another port of the site, is the same
    listing as on the site's canonical address (the first start URL's host, or ``platform`` when that is
    one of the mirrors): one document, updated, no second "new" alert. The crawl may visit mirrors too.
    An address belongs to one site: a mirror that another source with another platform also uses is an
    error."""
    schedule: str | None = None
    """Cron expression, UTC (``*/30 * * * *``); none = only on demand."""
    rate_limit: RateLimit = RateLimit()
    retry: Retry = Retry()
    robots: Literal["obey", "ignore"] = "obey"
    proxy: str | None = None
    """Proxy for this source: ``http://127.0.0.1:8118`` (e.g. Privoxy in front of Tor); the browser kind also
    accepts ``socks5://``."""
    session: Session | None = None
    max_depth: int | None = Field(default=None, ge=0, le=100)
    """Scrapy DEPTH_LIMIT (0 or none: unlimited)."""
    max_pages: int | None = Field(default=None, ge=1)
    """Stop after this many responses."""
    removal_grace: Duration = timedelta(hours=48)
    """A listing missing from its category for this long is marked removed (``48h``, ``3d``)."""
    user_agent: str | None = None
    timeout: float = Field(default=30.0, gt=0, le=600)
    """Download timeout per request, seconds."""
    max_page_bytes: int | None = Field(default=None, ge=1024)
    """Largest page body accepted; bigger pages are cancelled and counted as bad pages (default 10 MB)."""
    gates: Gates = Gates()
    """Login walls, anti-DDoS pages and CAPTCHAs: recognised, counted, never solved; they stop the crawl."""
    drift: Drift = Drift()
    """Layout-drift alarm on per-field fill rates (run outcome ``degraded`` and one ops mail)."""

    @field_validator("start_urls")
    @classmethod
    def _urls(cls, v: list[str]) -> list[str]:
        for url in v:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{url!r} is not an absolute http(s) URL (is an environment variable unset?)")
        return v

    @field_validator("allowed_domains")
    @classmethod
    def _allowed(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("an empty list would let the crawl go to any host; name at least one domain, or "
                             "leave allowed_domains out to use the start URLs' domains")
        out = []
        for domain in v:
            d = (domain or "").strip().rstrip(".").lower()
            if not re.fullmatch(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*|\[?[0-9a-f:.]+\]?", d):
                raise ValueError(f"{domain!r} is not a domain name (write `shop.example`, without scheme, port "
                                 "or path)")
            out.append(d.strip("[]"))
        return out

    @field_validator("mirrors", mode="before")
    @classmethod
    def _mirrors(cls, v: Any) -> Any:
        return list(dict.fromkeys(mirror_host(e) for e in v)) if isinstance(v, list) else v

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        return check_cron(v) if v is not None else v

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https", "socks5", "socks5h") or not parts.hostname:
            raise ValueError(f"{v!r} is not a proxy URL (http://host:port, https:// or socks5://)")
        return v

    @model_validator(mode="after")
    def _base_checks(self) -> SourceBase:
        if self.proxy and self.proxy.startswith("socks") and self.kind != "browser":
            raise ValueError("proxy: socks proxies work only for the browser kind; put an HTTP proxy "
                             "(e.g. Privoxy) in front of Tor for plain requests")
        if not self.allow_private_addresses:
            hosts = private_hosts([*start_urls_of(self), *(f"http://[{d}]/" if ":" in d else f"http://{d}/"
                                                           for d in [*(self.allowed_domains or ()),
                                                                     *self.mirrors])])
            if hosts:
                raise ValueError(
                    f"start_urls: {', '.join(hosts)} is a loopback, private or link-local address; such targets are "
                    "refused unless the source sets allow_private_addresses: true (local test sites only)")
        return self

    # -- derived
    def default_platform(self) -> str:
        return _domain(self.start_urls[0]) if self.start_urls else self.kind

    @property
    def platform_name(self) -> str:
        """The platform recorded on each listing."""
        return self.platform or self.default_platform()

    @property
    def domains(self) -> list[str]:
        """Domains the crawl may visit: ``allowed_domains`` (else the start URLs' hosts), and the mirrors."""
        base = self.allowed_domains if self.allowed_domains is not None else sorted(
            {_domain(u) for u in start_urls_of(self) if _domain(u)})
        return [*base, *(m for m in self.mirrors if m not in base)]

    @property
    def site_host(self) -> str | None:
        """The host listing ids are computed with: ``platform`` when it names one of the mirrors (a site that
        moved keeps its old address as its identity), else the first start URL's host (none without URLs)."""
        urls = start_urls_of(self)
        first = _domain(urls[0]) if urls else ""
        named = (self.platform or "").strip().lower()
        if named and named in self.mirrors:
            return named
        return first or None

    @property
    def site_hosts(self) -> list[str]:
        """Every address of the site: the canonical ``site_host``, the first start URL's host and the mirrors."""
        urls = start_urls_of(self)
        out = [h for h in (self.site_host, _domain(urls[0]) if urls else None) if h]
        return list(dict.fromkeys([*out, *self.mirrors]))

    def identity(self) -> SiteIdentity | None:
        """The site's addresses for listing ids (crawler.fingerprint); None for a source without start URLs."""
        host = self.site_host
        if not host:
            return None
        return SiteIdentity(canonical=f"[{host}]" if ":" in host else host, hosts=frozenset(self.site_hosts))


def _require_start_urls(src: SourceBase) -> None:
    if not src.start_urls:
        raise ValueError("start_urls: give at least one URL")


# ---------------------------------------------------------------- kinds


class MarketLinks(_Model):
    """Where to go from a page: category pages, next pages, listing pages (selectors of links)."""

    category: SelectorList = Field(default_factory=list)
    """Links from the start page to category pages (none: the start URLs are category pages)."""
    pagination: SelectorList = Field(default_factory=list)
    """Links to the next page of a category."""
    listing: SelectorList = Field(default_factory=list)
    """Links from a category page to listing pages; with ``listing_rows``, the link inside each row (the row's URL
    and, with ``follow_listing: true``, the detail page read for more fields)."""
    native_id_regex: str | None = None
    """Regex with one group that reads the listing id from its URL (``/item/(\\w+)``)."""


    @field_validator("native_id_regex")
    @classmethod
    def _rx(cls, v: str | None) -> str | None:
        if v is not None:
            check_user_regex(v, min_groups=1)
        return v


class MarketSource(SourceBase):
    """A marketplace of static HTML: category pages, pagination, listing pages or rows of result pages."""

    kind: Literal["market"] = "market"
    links: MarketLinks = MarketLinks()
    listing_rows: Selector | None = None
    """Each match on a start, category or result page is one offer: ``fields`` are then read relative to the
    row (CSS always; XPath when it starts with ``.``)."""
    follow_listing: bool = False
    """With ``listing_rows`` and ``links.listing``: also read each row's detail page with ``detail_fields``;
    detail values win, row values fill the gaps, one listing is indexed."""
    fields: ListingFields
    detail_fields: ListingFields | None = None
    """Selectors of the detail page (``follow_listing: true``)."""
    listing_must_have: list[str] = Field(default_factory=lambda: ["title"])
    """Listing fields that must be non-empty for a page (or row) to count as a listing (else it is skipped)."""

    @model_validator(mode="after")
    def _checks(self) -> MarketSource:
        _require_start_urls(self)
        if self.listing_rows is None and not self.links.listing:
            raise ValueError("links.listing: give a selector for the links to listing pages "
                             "(or listing_rows for offers listed as rows of a result page)")
        if self.follow_listing:
            if self.listing_rows is None or not self.links.listing:
                raise ValueError("follow_listing: needs both listing_rows and links.listing (the link in each row)")
            if self.detail_fields is None:
                raise ValueError("detail_fields: follow_listing reads the detail page with these selectors")
        elif self.detail_fields is not None:
            raise ValueError("detail_fields: only used with follow_listing: true")
        if self.fields.title is None and (self.detail_fields is None or self.detail_fields.title is None):
            raise ValueError("fields.title: give a selector for the listing title")
        unknown = [f for f in self.listing_must_have if f not in ListingFields.model_fields or f == "extra"]
        if unknown:
            raise ValueError(f"listing_must_have: unknown field(s) {', '.join(unknown)}")
        return self

    @property
    def rows_mode(self) -> bool:
        """True when offers are read as rows of result pages."""
        return self.listing_rows is not None


class BrowserSource(MarketSource):
    """A marketplace rendered in Chromium: listing links and content appear only after JavaScript runs."""

    kind: Literal["browser"] = "browser"  # type: ignore[assignment]
    browser: BrowserOptions = BrowserOptions()
    render_listing_pages: bool = True
    """Render listing pages in the browser too (false: only category pages need JavaScript)."""


class B2BSource(MarketSource):
    """A B2B chemical sourcing site: product pages with CAS number, purity, MOQ and supplier."""

    kind: Literal["b2b_chemicals"] = "b2b_chemicals"  # type: ignore[assignment]

    @model_validator(mode="after")
    def _cas(self) -> B2BSource:
        if self.fields.cas_numbers is None and (self.detail_fields is None or self.detail_fields.cas_numbers is None):
            raise ValueError("fields.cas_numbers: a b2b_chemicals source needs a selector for the CAS number")
        return self


class PostFields(_Model):
    """Selectors relative to one post of a thread."""

    container: Selector
    """Each match is one post."""
    author: Selector
    """Post author: the vendor candidate."""
    author_url: Selector | None = None
    body: Selector
    posted_at: Selector | None = None
    native_id: Selector | None = None
    links: Selector | None = None



class ForumLinks(_Model):
    board: SelectorList = Field(default_factory=list)
    """Links from the forum index to boards (none: the start URLs are boards)."""
    board_pagination: SelectorList = Field(default_factory=list)
    thread: SelectorList
    """Links from a board to its threads."""
    thread_pagination: SelectorList = Field(default_factory=list)



class ForumSource(SourceBase):
    """A forum: board index -> threads -> posts; each post is one listing, its author the vendor candidate."""

    kind: Literal["forum"] = "forum"
    links: ForumLinks
    thread_title: Selector
    board_name: Selector | None = None
    """Read on the thread page (breadcrumbs) and stored as the category."""
    post: PostFields
    max_threads: int | None = Field(default=None, ge=1)


    @model_validator(mode="after")
    def _checks(self) -> ForumSource:
        _require_start_urls(self)
        return self


class TelegramSource(SourceBase):
    """Public Telegram channels read through their web preview (``https://t.me/s/<channel>``)."""

    kind: Literal["telegram_public"] = "telegram_public"
    base_url: str = "https://t.me"
    """Web preview host; start URLs are ``{base_url}/s/{channel}``."""
    channels: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{3,64}$")]] = Field(default_factory=list)
    older_pages: int = Field(default=3, ge=0, le=1000)
    """How many "load older" pages to follow back from the newest messages."""

    @model_validator(mode="after")
    def _checks(self) -> TelegramSource:
        if not self.channels and not self.start_urls:
            raise ValueError("channels: give at least one channel name (or start_urls)")
        _check_base(self.base_url)
        return self

    def urls(self) -> list[str]:
        return [*self.start_urls, *(f"{self.base_url.rstrip('/')}/s/{c}" for c in self.channels)]

    def default_platform(self) -> str:
        return "telegram"


class RedditSource(SourceBase):
    """Subreddits or searches read through Reddit's public JSON listings."""

    kind: Literal["reddit"] = "reddit"
    base_url: str = "https://www.reddit.com"
    subreddits: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{2,32}$")]] = Field(default_factory=list)
    searches: list[str] = Field(default_factory=list)
    """Site-wide search queries (``/search.json?q=...&sort=new``)."""
    sort: Literal["new", "hot", "top"] = "new"
    limit: int = Field(default=100, ge=1, le=100)
    max_pages_per_listing: int = Field(default=3, ge=1, le=100)
    """Pages (``after=``) read per subreddit or search."""

    @model_validator(mode="after")
    def _checks(self) -> RedditSource:
        if not (self.subreddits or self.searches or self.start_urls):
            raise ValueError("subreddits: give at least one subreddit or search")
        _check_base(self.base_url)
        return self

    def urls(self) -> list[str]:
        from urllib.parse import urlencode

        base = self.base_url.rstrip("/")
        out = list(self.start_urls)
        out += [f"{base}/r/{s}/{self.sort}.json?limit={self.limit}&raw_json=1" for s in self.subreddits]
        out += [f"{base}/search.json?{urlencode({'q': q, 'sort': self.sort, 'limit': self.limit})}"
                for q in self.searches]
        return out

    def default_platform(self) -> str:
        return "reddit"


class MastodonSource(SourceBase):
    """Public Mastodon hashtag or account timelines through the instance's REST API."""

    kind: Literal["mastodon"] = "mastodon"
    instance: str
    """Instance base URL (``https://mastodon.social``)."""
    hashtags: list[Annotated[str, Field(pattern=r"^\w{1,100}$")]] = Field(default_factory=list)
    accounts: list[Annotated[str, Field(pattern=r"^\d{1,30}$")]] = Field(default_factory=list)
    """Account ids (``/api/v1/accounts/:id/statuses``)."""
    limit: int = Field(default=40, ge=1, le=40)
    max_pages_per_timeline: int = Field(default=3, ge=1, le=100)
    access_token_env: str | None = None
    """Environment variable holding a bearer token, for instances that require one."""

    @model_validator(mode="after")
    def _checks(self) -> MastodonSource:
        _check_base(self.instance)
        if not (self.hashtags or self.accounts):
            raise ValueError("hashtags: give at least one hashtag or account id")
        return self

    def urls(self) -> list[str]:
        base = self.instance.rstrip("/")
        return [f"{base}/api/v1/timelines/tag/{t}?limit={self.limit}" for t in self.hashtags] + [
            f"{base}/api/v1/accounts/{a}/statuses?limit={self.limit}&exclude_reblogs=true" for a in self.accounts
        ]

    def default_platform(self) -> str:
        return "mastodon"


class FeedSource(SourceBase):
    """RSS 2.0 or Atom feeds; each entry is one listing."""

    kind: Literal["feed"] = "feed"

    @model_validator(mode="after")
    def _checks(self) -> FeedSource:
        _require_start_urls(self)
        return self


def _check_base(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an absolute http(s) URL (is an environment variable unset?)")


SourceConfig = Annotated[
    MarketSource | BrowserSource | B2BSource | ForumSource | TelegramSource | RedditSource | MastodonSource
    | FeedSource,
    Field(discriminator="kind"),
]
"""Any source, chosen by its ``kind``."""


class SourcesFile(_Model):
    """A sources file: ``sources: [...]``."""

    sources: list[SourceConfig] = Field(default_factory=list)
