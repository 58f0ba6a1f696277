"""Listing rows, gates and layout drift on real saved market pages (tests/fixtures/real_pages)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from scrapy.http import HtmlResponse, Request

from crawler.drift import degraded, fill_rates, watched_fields
from crawler.items import Listing
from crawler.pages.gates import detect_gate
from crawler.pages.market import MarketCategoryPage, merge_row
from crawler.runs import RunRecord, judge_run
from crawler.sources.models import Drift, Gates, MarketSource, SourcesFile
from tests.real_web import REAL_PAGES, REAL_SOURCES

BASE = "http://127.0.0.1:9"


def real_source(name: str) -> Any:
    data = yaml.safe_load(REAL_SOURCES.read_text(encoding="utf-8").replace("${NARCOWATCH_REAL_URL}", BASE))
    return next(s for s in SourcesFile.model_validate(data).sources if s.name == name)


def response(rel: str, url: str | None = None) -> HtmlResponse:
    url = url or f"{BASE}/{rel}"
    return HtmlResponse(url=url, body=(REAL_PAGES / rel).read_bytes(), request=Request(url))


def test_rows_of_a_real_result_page_are_offers_with_fields_relative_to_the_row() -> None:
    src = real_source("apollon")
    page = MarketCategoryPage(response("apollon/results/search_result_0.html", f"{BASE}/apollon/home.php?pg=1"), src)
    rows = page.rows()
    assert len(rows) == 15 and page.listing_urls() == []  # in rows mode links.listing is the link in a row
    assert page.next_page_urls() == [f"{BASE}/apollon/home.php?cid=2&csid=0&pg=2"]
    first, last = rows[0].to_item(), rows[-1].to_item()
    assert (first.title, first.vendor, first.price, first.currency, first.views, first.native_id) == (
        "UK Pharma Dihydrocodeine 30mg x 42 with Free UK Shipping", "FASTmedsUK", "58.05", "USD", 506, "43473")
    assert first.url == f"{BASE}/apollon/listing.php?ls_id=43473" and first.category == "Drugs / Opiates"
    assert (first.source_page, first.row, last.row) == (f"{BASE}/apollon/home.php?pg=1", 1, 15)
    assert last.vendor == "NARCOTICSDIRECT"  # not the first row's vendor: selectors stay inside the row


def test_rows_without_links_get_distinct_ids_from_their_content() -> None:
    data = {"name": "nolinks", "kind": "market", "start_urls": [BASE + "/"], "allow_private_addresses": True,
            "listing_rows": "div.col-1search",
            "fields": {"title": "div.head > a", "vendor": "p.padp a[href*='/u/']"}}
    src = MarketSource.model_validate(data)
    rows = MarketCategoryPage(response("empire/results/saved_empire_search_result_0.html"), src).rows()
    items = [r.to_item() for r in rows]
    assert len(items) == 15 and all(i.url == items[0].url for i in items)
    assert len({i.native_id for i in items}) == 15 and all(i.native_id.startswith("row-") for i in items)


def test_detail_values_win_and_row_values_fill_the_gaps() -> None:
    row = Listing(url="u", source="s", source_kind="market", title="Row title", vendor="rowvendor", views=5,
                  price="1.00", source_page="http://x/results?pg=1", row=3, extra={"a": "row", "b": "row"},
                  warc_record_id="<urn:uuid:page>", source_page_record="<urn:uuid:page>")
    detail = Listing(url="u", source="s", source_kind="market", title="Detail title", price=None,
                     ships_from_raw="Germany", extra={"b": "detail"}, warc_record_id="<urn:uuid:detail>")
    merged = merge_row(row, detail)
    assert (merged.title, merged.vendor, merged.views, merged.price, merged.ships_from_raw) == (
        "Detail title", "rowvendor", 5, "1.00", "Germany")
    assert merged.extra == {"a": "row", "b": "detail"}
    assert (merged.source_page, merged.row) == ("http://x/results?pg=1", 3)
    assert (merged.warc_record_id, merged.source_page_record) == ("<urn:uuid:detail>", "<urn:uuid:page>")


@pytest.mark.parametrize(("message", "data"), [
    ("links.listing", {"fields": {"title": "h1"}}),
    ("follow_listing", {"listing_rows": "tr", "follow_listing": True, "fields": {"title": "a"}}),
    ("detail_fields", {"listing_rows": "tr", "follow_listing": True, "links": {"listing": "a"},
                       "fields": {"title": "a"}}),
    ("invalid CSS", {"listing_rows": "tr[", "fields": {"title": "a"}}),
    ("invalid regex", {"listing_rows": "tr", "fields": {"title": "a"}, "gates": {"login": ["text:(unclosed"]}}),
])
def test_bad_rows_configuration_fails_at_load(message: str, data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match=message):
        MarketSource.model_validate({"name": "m", "kind": "market", "start_urls": [BASE + "/"],
                                     "allow_private_addresses": True, **data})


GATE_PAGES = [
    ("cryptonia/other/anti_ddos_page.html", "ddos"),
    ("cryptonia/other/saved_cryptonia_login_page_0.html", "login"),
    ("cryptonia/other/saved_cryptonia_login_page_1.html", "login"),
    ("dream/other/anti_ddos_0.html", "ddos"),
    ("dream/other/login_0.html", "login"),
    ("empire/other/saved_empire_login_page_0.html", "login"),
    ("bohemia/other/ddos-defender.html", "ddos"),
    ("bohemia/other/login.html", "login"),
]


@pytest.mark.parametrize(("rel", "kind"), GATE_PAGES)
def test_default_markers_recognise_the_saved_gate_pages(rel: str, kind: str) -> None:
    found = detect_gate(response(rel), Gates())
    assert found is not None and found[0] == kind, found


def real_offer_pages() -> list[str]:
    return sorted(str(p.relative_to(REAL_PAGES)) for m in ("apollon", "cryptonia", "dream", "empire")
                  for d in ("listings", "results") for p in (REAL_PAGES / m / d).glob("*.html"))


def test_default_markers_stay_quiet_on_real_offer_pages() -> None:
    """Not one of the 58 saved listing and result pages looks like a gate (the spider only asks when a
    page gave nothing, but a marker that fires on offers would be a bad default)."""
    noisy = {rel: detect_gate(response(rel), Gates()) for rel in real_offer_pages()}
    assert len(noisy) > 50
    assert {k: v for k, v in noisy.items() if v is not None} == {}


def test_configured_markers_and_defaults_off() -> None:
    page = response("dream/other/main_page_0.html")
    assert detect_gate(page, Gates()) is None
    assert detect_gate(page, Gates(captcha=["text:methaneoutlying"]))[0] == "captcha"  # type: ignore[index]
    assert detect_gate(response("dream/other/login_0.html"), Gates(defaults=False)) is None


def run(outcome: str, listings: int, rates: dict[str, float]) -> dict[str, Any]:
    return {"outcome": outcome, "listings_seen": listings, "fill_rates": rates}


def test_a_sharp_drop_of_a_field_is_drift_and_noise_is_not() -> None:
    history = [run("success", 30, {"title": 1.0, "vendor": 1.0, "views": 0.5})] * 3
    opts = Drift()
    drops = degraded({"listings_seen": 30, "fill_rates": {"title": 1.0, "vendor": 0.1, "views": 0.0},
                      "fill_samples": {"vendor": "http://x/l/1"}}, history, opts)
    assert [(d.field, d.before, d.after, d.sample_url) for d in drops] == [("vendor", 1.0, 0.1, "http://x/l/1")]
    # views were filled in only half the listings: not watched; a mild dip is not drift
    assert degraded({"listings_seen": 30, "fill_rates": {"title": 1.0, "vendor": 0.8}}, history, opts) == []
    # nothing where there were many
    assert [d.field for d in degraded({"listings_seen": 0}, history, opts)] == ["listings"]
    # too little history or too few listings now: no verdict
    assert degraded({"listings_seen": 0}, [run("success", 3, {"title": 1.0})], opts) == []
    assert degraded({"listings_seen": 2, "fill_rates": {"vendor": 0.0}}, history, opts) == []
    assert degraded({"listings_seen": 0}, [run("failed", 30, {})], opts) == []


def record(outcome: str = "success", **kw: Any) -> RunRecord:
    return RunRecord(run_id="r", source="apollon", start="2026-01-01T00:00:00.000Z",
                     end="2026-01-01T00:01:00.000Z", outcome=outcome, **kw)  # type: ignore[arg-type]


def test_judge_marks_degraded_and_mails_once_per_episode() -> None:
    src = real_source("empire")
    base = [run("success", 15, {"title": 1.0, "vendor": 1.0})]
    rec = record(items=15, fill_rates={"title": 1.0, "vendor": 0.0}, fill_samples={"vendor": "http://x/p/1"})
    mail = judge_run(rec, base, src)
    assert rec.outcome == "degraded" and rec.drift[0]["field"] == "vendor" and mail is not None
    subject, body = mail
    assert "'apollon'" in subject and "vendor" in subject
    assert "100%" in body and "0%" in body and "http://x/p/1" in body
    again = record(items=15, fill_rates={"title": 1.0, "vendor": 0.0})
    assert judge_run(again, [rec.to_document(), *base], src) is None and again.outcome == "degraded"
    gated = record("gated", gate={"kind": "login", "url": "http://x/login", "message": "m"})
    assert judge_run(gated, base, src) is not None
    assert judge_run(record("gated", gate={"kind": "login"}), [gated.to_document()], src) is None


def test_fill_rates_from_stats_and_watched_fields() -> None:
    src = real_source("apollon")
    assert {"title", "vendor", "price", "ships_from_raw", "views"} <= set(watched_fields(src))
    rates, samples = fill_rates({"narcowatch/fill/listings": 4, "narcowatch/fill/title": 4,
                                 "narcowatch/fill/vendor": 1, "narcowatch/fill_sample/vendor": "http://x/2"})
    assert rates == {"title": 1.0, "vendor": 0.25} and samples == {"vendor": "http://x/2"}


def test_saved_pages_folder_is_a_copy() -> None:
    assert (REAL_PAGES / "apollon" / "SOURCE.md").exists() and isinstance(REAL_PAGES, Path)


def test_b2b_rows_take_cas_numbers_from_the_row_or_its_title() -> None:
    html = b"""<table><tr class=p><td class=n>Fentanyl precursor 4-ANPP (CAS 21409-26-7)</td><td class=c></td></tr>
    <tr class=p><td class=n>NPP</td><td class=c>40064-34-4</td></tr><tr class=p><td class=n>x</td>
    <td class=c>21409-26-8</td></tr></table>"""
    src = SourcesFile.model_validate({"sources": [{
        "name": "b2b", "kind": "b2b_chemicals", "start_urls": [BASE + "/"], "allow_private_addresses": True,
        "listing_rows": "tr.p", "fields": {"title": "td.n", "cas_numbers": "td.c"}}]}).sources[0]
    page = MarketCategoryPage(HtmlResponse(url=BASE + "/", body=html, request=Request(BASE + "/")), src)
    assert [r.to_item().cas_numbers for r in page.rows()] == [["21409-26-7"], ["40064-34-4"], []]


def test_forum_thread_behind_a_login_wall_stops_instead_of_skipping() -> None:
    from spiders.forum import ForumSpider

    src = SourcesFile.model_validate({"sources": [{
        "name": "f", "kind": "forum", "start_urls": [BASE + "/"], "allow_private_addresses": True,
        "links": {"thread": "a.t"}, "thread_title": "h1",
        "post": {"container": "div.post", "author": "a.author", "body": "div.body"}}]}).sources[0]
    spider = ForumSpider.for_source(src)()
    calls: list[str] = []
    spider.skip = lambda response, reason, detail="": calls.append(reason)  # type: ignore[method-assign]
    assert list(spider.parse_thread(response("cryptonia/other/saved_cryptonia_login_page_0.html"))) == []
    assert calls == []  # stopped as gated, not counted as a thread without posts
    assert list(spider.parse_thread(response("dream/other/main_page_0.html"))) == [] and calls == ["no_posts"]
