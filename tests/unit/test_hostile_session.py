"""Session cookies through the real middleware chain (SessionMiddleware, then Scrapy's cookie jar): sent exactly
once on every request to the source's hosts, never to another host, whatever path or redirect came before."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from scrapy import Request, Spider
from scrapy.http import HtmlResponse

from crawler.middlewares import OfflineCookiesMiddleware, SessionMiddleware
from crawler.sources.models import Session

SID = "sid-value-SECRET"


class _Src:
    name = "members"
    domains = ["market.example", "shop.market.example"]
    session = Session(cookies_env={"sid": "M_SID"}, headers_env={"X-Token": "M_TOK"})


@pytest.fixture
def chain(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("M_SID", SID)
    monkeypatch.setenv("M_TOK", "tok-SECRET")
    crawler: Any = SimpleNamespace(stats=None, engine=None)  # what the middleware uses of a Crawler
    spider = Spider("members")
    spider.source = _Src()  # type: ignore[attr-defined]
    session = SessionMiddleware(crawler)
    session.spider_opened(spider)
    jar = OfflineCookiesMiddleware()

    def send(request: Request, set_cookie: str | None = None) -> Request:
        session.process_request(request, spider)
        jar.process_request(request, spider)
        headers = {"Set-Cookie": set_cookie} if set_cookie else {}
        jar.process_response(
            request, HtmlResponse(request.url, body=b"<html></html>", headers=headers, request=request), spider
        )
        return request

    yield send
    session.spider_closed(spider)


def _cookies(request: Request) -> list[str]:
    return [v.decode() for v in request.headers.getlist("Cookie")]


def test_session_cookie_once_on_every_path_of_the_source(chain: Any) -> None:
    send = chain
    for url in (
        "https://market.example/",
        "https://market.example/item/1",
        "https://market.example/item/deep/2",
        "https://shop.market.example/item/3",
        "https://market.example/item/4",
    ):
        cookies = _cookies(send(Request(url), set_cookie="srv=1; Path=/"))
        assert len(cookies) == 1 and cookies[0].count(f"sid={SID}") == 1, (url, cookies)
        assert "tok-SECRET" in repr(dict(send(Request(url)).headers))


def test_session_cookie_and_header_never_sent_to_another_host(chain: Any) -> None:
    send = chain
    send(Request("https://market.example/item/1"))
    # a redirect hop carries the previous request's headers over
    hop = Request("https://evil.example/steal", headers={"Cookie": f"sid={SID}", "X-Token": "tok-SECRET"})
    sent = send(hop)
    assert SID not in repr(dict(sent.headers)) and "tok-SECRET" not in repr(dict(sent.headers))
    assert SID not in repr(dict(send(Request("https://market.example.evil.example/")).headers))
