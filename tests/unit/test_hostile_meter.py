"""PageMeter: the bytes of a rendered page counted from DevTools network events, with no Content-Length."""

from __future__ import annotations

from crawler.browser import PAGE_TOTAL_FACTOR, PageMeter


def _doc(request_id: str, frame: str = "main") -> dict[str, str]:
    return {"type": "Document", "frameId": frame, "requestId": request_id}


def _chunk(request_id: str, n: int, wire: int = 0) -> dict[str, object]:
    return {"requestId": request_id, "dataLength": n, "encodedDataLength": wire}


def test_main_document_over_the_limit_trips_once() -> None:
    meter = PageMeter(main_frame="main", limit=1000)
    meter.request(_doc("doc"))
    assert meter.add(_chunk("doc", 600)) is None
    detail = meter.add(_chunk("doc", 600))
    assert detail == "document over 1000 bytes while loading (1200 read)"
    assert meter.add(_chunk("doc", 600)) is None  # said once; the page is being stopped


def test_decoded_bytes_count_so_a_compressed_bomb_trips() -> None:
    meter = PageMeter(main_frame="main", limit=1000)
    meter.request(_doc("doc"))
    assert meter.add(_chunk("doc", 5000, wire=50)) is not None


def test_frames_and_resources_count_towards_the_page_total_only() -> None:
    meter = PageMeter(main_frame="main", limit=1000)
    meter.request(_doc("doc"))
    meter.request(_doc("frame-doc", frame="child"))
    meter.request({"type": "Script", "frameId": "main", "requestId": "js"})
    assert meter.add(_chunk("frame-doc", 900)) is None
    for _ in range(PAGE_TOTAL_FACTOR - 1):
        assert meter.add(_chunk("js", 1000)) is None
    assert meter.document_bytes == 0
    total = 900 + 1000 * (PAGE_TOTAL_FACTOR - 1) + 200
    limit = 1000 * PAGE_TOTAL_FACTOR
    assert meter.add(_chunk("js", 200)) == f"page and its resources over {limit} bytes while loading ({total} read)"


def test_page_time_budget_adds_the_page_methods_to_twice_the_timeout() -> None:
    from crawler.browser import browser_meta, page_time_budget

    meta = {
        **browser_meta(wait_for="h1", wait_timeout_ms=3000, scroll_times=2, scroll_delay_ms=500),
        "download_timeout": 10,
    }
    # 2 x 10 s, wait_for twice (3 s each), two scrolls (an evaluate: the timeout each) and their waits (0.5 s)
    assert page_time_budget(meta) == 20 + 3 + 3 + 2 * 10 + 2 * 0.5
    assert page_time_budget({}, default_timeout=30) == 60


def test_known_address_only_when_chromium_could_connect_nowhere_else() -> None:
    """WARC-IP-Address of a document handed to the page through DevTools (Chromium gives it none): the host when it
    is an IP literal; nothing for a name (Chromium resolves it again) or behind a proxy (it connects to the proxy)."""
    import ipaddress

    from crawler.browser import BrowserGuard
    from crawler.sources.models import SourcesFile

    def guard(**kw: object) -> BrowserGuard:
        entry = {"name": "s", "kind": "browser", "start_urls": ["http://127.0.0.1:8808/"], "links": {"listing": "a"},
                 "fields": {"title": "h1"}, "allow_private_addresses": True, **kw}
        return BrowserGuard(SourcesFile.model_validate({"sources": [entry]}).sources[0])

    assert guard().known_address("http://127.0.0.1:8808/item/1") == ipaddress.ip_address("127.0.0.1")
    assert guard().known_address("http://[::1]:8808/") == ipaddress.ip_address("::1")
    assert guard().known_address("https://shop.example/item/1") is None
    assert guard(proxy="http://127.0.0.1:8118").known_address("http://127.0.0.1:8808/item/1") is None
