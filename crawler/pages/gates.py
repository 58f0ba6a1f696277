"""Gate pages: login walls, anti-DDoS interstitials and CAPTCHAs, recognised by markers (never solved)."""

from __future__ import annotations

import re
from typing import Any

from scrapy.http import Response, TextResponse

from crawler.config.regexes import user_search
from crawler.sources.models import GATE_KINDS, Gates

_TEXT_LIMIT = 20_000
"""Characters of visible text a ``text:`` marker is matched against (gate pages are short)."""


def page_text(response: TextResponse) -> str:
    """The page title and the start of its visible text, whitespace-collapsed."""
    title = " ".join(response.xpath("//title//text()").getall())
    body = " ".join(response.xpath(
        "//body//text()[not(ancestor::script) and not(ancestor::style) and not(ancestor::noscript)]").getall())
    return re.sub(r"\s+", " ", f"{title} {body}")[:_TEXT_LIMIT]


def marker_matches(response: TextResponse, marker: str, text: str) -> bool:
    kind, sep, rest = marker.partition(":")
    if not sep or kind not in ("css", "xpath", "text"):
        kind, rest = "css", marker
    rest = rest.strip()
    if kind == "text":
        return user_search(rest, text, flags=re.IGNORECASE, what="gate marker") is not None  # time-limited
    nodes = response.css(rest) if kind == "css" else response.xpath(rest)
    return bool(nodes)


def detect_gate(response: Response, gates: Gates | None) -> tuple[str, str] | None:
    """``(kind, marker)`` of the first gate marker the page shows (kinds tested in GATE_KINDS order), else None.

    The caller decides whether the page is gated: a marker on a page that also gave what the source reads
    there (a login box beside the offers) is not a gate.
    """
    if gates is None or not isinstance(response, TextResponse):
        return None
    text: str | None = None
    for kind in GATE_KINDS:
        for marker in gates.markers(kind):
            if marker.split(":", 1)[0] == "text" and text is None:
                text = page_text(response)
            if marker_matches(response, marker, text or ""):
                return kind, marker
    return None


def gate_of(source: Any) -> Gates | None:
    return getattr(source, "gates", None)
