"""Value parsing shared by the page objects: prices, dates, counts, CAS numbers, configured selectors."""

from __future__ import annotations

import pytest
from parsel import Selector

from crawler.pages.base import cas_valid, find_cas, parse_count, parse_datetime, parse_price, select_values
from crawler.sources.models import SelectorSpec


@pytest.mark.parametrize(("text", "expected"), [
    ("0.09925558 BTC", ("0.09925558", "BTC")),
    ("$1,234.50", ("1234.50", "USD")),
    ("Цена: 2.950,00 €", ("2950.00", "EUR")),
    ("12,50 €", ("12.50", "EUR")),
    ("USD 85.00 / 100 g", ("85.00", "USD")),
    ("£ 40", ("40", "GBP")),
    ("1 250 XMR", ("1250", "XMR")),
    ("¥3,000", ("3000", "CNY")),
    ("price on request", (None, None)),
])
def test_parse_price(text: str, expected: tuple[str | None, str | None]) -> None:
    assert parse_price(text) == expected


def test_parse_price_default_currency() -> None:
    assert parse_price("45.00", "usd".upper()) == ("45.00", "USD")
    assert parse_price(None, "EUR") == (None, "EUR")


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-10-08T20:00:00+00:00", "2026-10-08T20:00:00Z"),
    ("2026-10-08T22:00:00+02:00", "2026-10-08T20:00:00Z"),
    ("2014-01-18T00:13:00Z", "2014-01-18T00:13:00Z"),
    ("Tue, 05 Aug 2026 09:30:00 +0000", "2026-08-05T09:30:00Z"),
    ("1790000000.0", "2026-09-21T14:13:20Z"),
    ("13.03.2026 09:30", "2026-03-13T09:30:00Z"),
    ("18 Jan 2014 00:13", "2014-01-18T00:13:00Z"),
    ("not a date", None),
])
def test_parse_datetime(text: str, expected: str | None) -> None:
    assert parse_datetime(text) == expected


@pytest.mark.parametrize(("text", "expected"), [("479", 479), ("1.2K", 1200), ("3M", 3_000_000),
                                                ("12,345", 12345), ("", None)])
def test_parse_count(text: str, expected: int | None) -> None:
    assert parse_count(text) == expected


def test_cas_numbers_are_check_digit_verified() -> None:
    assert cas_valid("21409-26-7") and cas_valid("437-38-7")
    assert not cas_valid("21409-26-8")
    assert find_cas(["4-ANPP CAS 21409-26-7, NPP 39742-60-4, fake 12345-67-0, again 21409-26-7"]) == [
        "21409-26-7", "39742-60-4"]


def test_select_values_post_processing() -> None:
    sel = Selector(text="""<div><p class=v>Seller: <a href="/u/x">xyz</a></p>
        <ul><li>Origin: China</li><li>Destination: Worldwide</li></ul>
        <span class=t>  a  </span><span class=t>b</span><img data-src="/i.png"></div>""")
    assert select_values(sel, SelectorSpec(css="ul li", regex=r"^Origin:\s*(.+)")) == ["China"]
    assert select_values(sel, SelectorSpec(css="span.t", join=" / ")) == ["a / b"]
    assert select_values(sel, SelectorSpec(xpath="//p[@class='v']/a/@href")) == ["/u/x"]
    assert select_values(sel, SelectorSpec(css="img", attr="data-src")) == ["/i.png"]
    assert select_values(sel, SelectorSpec(css="p.v")) == ["Seller: xyz"]
    assert select_values(sel, SelectorSpec(value="BTC")) == ["BTC"]
    assert select_values(sel, SelectorSpec(css="ul li", regex="nothing")) == []


def test_selector_spec_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="exactly one of css, xpath, value or label"):
        SelectorSpec(css="h1", xpath="//h1")
    with pytest.raises(ValueError, match="invalid regex"):
        SelectorSpec(css="h1", regex="(")
