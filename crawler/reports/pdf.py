"""report.pdf: report.html printed by the project's Chromium (same executable and launch options as crawls).

Chromium gets the page's text (``set_content``), not a path: as root it runs as an unprivileged user that
may not read the report directory, and it needs nothing else (styles, charts and thumbnails are inline).
JavaScript is off, every request but ``data:`` is aborted and no host name resolves, so printing a report
never touches the network, whatever a hostile listing put in it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Route


def launch_options() -> dict[str, Any]:
    """Chromium launch options of the crawler (executable path, headless, sandbox and privacy flags)."""
    from crawler.browser import playwright_settings

    opts = dict(playwright_settings()["PLAYWRIGHT_LAUNCH_OPTIONS"])
    opts["args"] = [*(opts.get("args") or []), "--host-resolver-rules=MAP * ~NOTFOUND"]
    return opts


def open_page(
    browser: Browser, html: Path, *, timeout_ms: int = 60_000, **context: Any
) -> tuple[Page, BrowserContext]:
    """A JavaScript-less page of ``browser`` showing ``html`` (no request leaves it); returns (page, context)."""
    ctx = browser.new_context(java_script_enabled=False, offline=True, **context)
    page = ctx.new_page()
    page.route("**/*", _local_only)
    page.set_content(html.read_text(encoding="utf-8"), wait_until="load", timeout=timeout_ms)
    return page, ctx


def _local_only(route: Route) -> None:
    if route.request.url.startswith(("data:", "about:")):
        route.continue_()
    else:
        route.abort()


def print_pdf(html: Path, pdf: Path, *, timeout_ms: int = 60_000) -> None:
    """Print ``html`` to ``pdf`` (A4, backgrounds, page numbers in the footer)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(**launch_options())
        try:
            page, _context = open_page(browser, html, timeout_ms=timeout_ms)
            page.emulate_media(media="print")
            page.pdf(
                path=str(pdf), format="A4", print_background=True, display_header_footer=True,
                header_template="<span></span>",
                footer_template=(
                    '<div style="font-size:7pt;width:100%;text-align:center;color:#555">'
                    '<span class="title"></span> - page <span class="pageNumber"></span> of '
                    '<span class="totalPages"></span></div>'
                ),
                margin={"top": "14mm", "bottom": "16mm", "left": "12mm", "right": "12mm"},
            )
        finally:
            browser.close()
