"""Unit tests of crawler.middlewares: bad-page reasons, backoff, sessions from env, redaction."""

from __future__ import annotations

import logging

import pytest
from scrapy.http import HtmlResponse

from crawler.middlewares import (
    SessionEnvMissing,
    SessionRedactingFilter,
    SourceSession,
    backoff_delay,
    bad_page_reason,
    declared_encoding,
)
from crawler.sources.models import Session

HTML = "text/html; charset=utf-8"
GOOD = b"<!DOCTYPE html><html><head><title>t</title></head><body><h1>Fentanyl</h1></body></html>"


@pytest.mark.parametrize(
    ("body", "content_type", "max_bytes", "reason"),
    [
        (GOOD, HTML, 0, None),
        (b"", HTML, 0, "empty"),
        (b"  \n\t ", HTML, 0, "empty"),
        (GOOD, HTML, 20, "too_large"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, HTML, 0, "binary"),
        (b"%PDF-1.7 stuff", HTML, 0, "binary"),
        (b"<html><body>a\x00b</body></html>", HTML, 0, "binary"),
        (GOOD.replace(b"Fentanyl", b"Fent\xff\xfe"), HTML, 0, "bad_encoding"),
        (GOOD[: len(GOOD) // 2], HTML, 0, "truncated"),
        # Undeclared encodings are not judged; latin-1 bytes under a latin-1 declaration are fine.
        (GOOD.replace(b"Fentanyl", b"Fent\xe9"), "text/html", 0, None),
        (GOOD.replace(b"Fentanyl", b"Fent\xe9"), "text/html; charset=iso-8859-1", 0, None),
        # The declaration inside the page counts too.
        (b'<html><head><meta charset="utf-8"></head><body>\xff</body></html>', "text/html", 0, "bad_encoding"),
        # A UTF-16 page (with its BOM) has NUL bytes and is not binary.
        ("\ufeff<html><body>x</body></html>".encode("utf-16-le"), "text/html; charset=utf-16", 0, None),
        # Plain text without <html> is never "truncated".
        (b"just text", "text/plain; charset=utf-8", 0, None),
    ],
)
def test_bad_page_reason(body: bytes, content_type: str, max_bytes: int, reason: str | None) -> None:
    assert bad_page_reason(body, content_type, max_bytes) == reason


def test_declared_encoding() -> None:
    assert declared_encoding("text/html; charset=UTF-8", b"") == "utf-8"
    assert declared_encoding("text/html", b"<meta charset='windows-1251'>") == "cp1251"
    assert declared_encoding("text/html", b"<p>none</p>") is None
    assert declared_encoding("text/html; charset=bogus-enc", b"") is None


def test_backoff_delay() -> None:
    assert [backoff_delay(n, 2.0, 120.0) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert backoff_delay(10, 2.0, 30.0) == 30.0
    assert backoff_delay(1, 1.0, 60.0, retry_after="20") == 20.0
    assert backoff_delay(1, 1.0, 10.0, retry_after="600") == 10.0
    assert backoff_delay(1, 1.0, 10.0, retry_after="Wed, 21 Oct 2015 07:28:00 GMT") == 1.0
    assert backoff_delay(3, 0.0, 10.0) == 0.0


class _Src:
    name = "members"

    def __init__(self, session: Session | None):
        self.session = session


def test_session_from_env() -> None:
    src = _Src(Session(cookies_env={"sid": "M_SID"}, headers_env={"Authorization": "M_AUTH"},
                       logout_marker="form#login", logout_text="Please log in"))
    session = SourceSession.from_source(src, {"M_SID": "abc", "M_AUTH": "Bearer xyz"})
    assert session is not None
    assert session.cookies == {"sid": "abc"} and session.headers == {"Authorization": "Bearer xyz"}
    assert session.redact("cookie abc and Bearer xyz") == "cookie *** and ***"
    assert SourceSession.from_source(_Src(None), {}) is None


def test_session_missing_env_names_source_and_variables() -> None:
    src = _Src(Session(cookies_env={"sid": "M_SID"}, headers_env={"X-T": "M_TOK"}))
    with pytest.raises(SessionEnvMissing, match=r"source members: .*M_SID, M_TOK not set"):
        SourceSession.from_source(src, {"M_SID": ""})


def test_logout_match_by_selector_and_text() -> None:
    src = _Src(Session(logout_marker="form#login", logout_text="Session expired"))
    session = SourceSession.from_source(src, {})
    assert session is not None

    def resp(body: str) -> HtmlResponse:
        return HtmlResponse("http://127.0.0.1/x", body=body.encode(), encoding="utf-8")

    assert session.logout_match(resp("<html><body><h1>Listing</h1></body></html>")) is None
    assert session.logout_match(resp('<form id="login"></form>')) == "selector 'form#login'"
    assert session.logout_match(resp("<p>Session expired</p>")) == "text 'Session expired'"
    xpath = SourceSession.from_source(_Src(Session(logout_marker="xpath://a[@href='/login']")), {})
    assert xpath is not None
    assert xpath.logout_match(resp('<a href="/login">in</a>')) is not None


def test_redacting_filter() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "sent cookie %s to %s", ("abc123", "host"), None)
    assert SessionRedactingFilter(["abc123"]).filter(record) is True
    assert record.getMessage() == "sent cookie *** to host"
    untouched = logging.LogRecord("x", logging.INFO, __file__, 1, "nothing %s", ("here",), None)
    SessionRedactingFilter(["abc123"]).filter(untouched)
    assert untouched.args == ("here",)
