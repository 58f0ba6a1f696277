"""The ``label`` selector (crawler/pages/labels.py) on hand-built pages: each structure markets use for
label/value pairs, the form controls and neighbouring labels a value must stop at, and bounds on hostile pages."""

from __future__ import annotations

import pytest
from parsel import Selector
from scrapy.http import HtmlResponse

from crawler.pages.base import parse_price, select_first, select_values
from crawler.pages.labels import label_values
from crawler.sources.models import SelectorSpec


def values(html: str, label: str) -> list[str]:
    return label_values(Selector(text=html).root, label)


@pytest.mark.parametrize(("html", "label", "expected"), [
    # table cells: the next cell only, not the next label cell
    ("<table><tr><td><b>Origin Country</b></td><td>Germany</td><td><b>Ships to</b></td><td>Austria, France</td>"
     "</tr></table>", "Origin Country", ["Germany"]),
    ("<table><tr><th>Ships to</th><td>Austria, France</td></tr></table>", "ships to", ["Austria, France"]),
    # definition lists: the dd elements up to the next dt
    ("<dl><dt>Ships from</dt><dd>Netherlands</dd><dt>Escrow</dt><dd>Yes</dd></dl>", "Ships from", ["Netherlands"]),
    # a label element and the elements after it
    ("<div><label>Ships to</label><span> United States, Worldwide </span></div>", "Ships to",
     ["United States, Worldwide"]),
    # the text after the label, several siblings up to a line break; the next labelled line is not part of it
    ("<div><small><label><b>Ship to : </b></label></small><small> World Wide </small><small> , Europe </small><br>"
     "<small><label><b>Payment :</b></label> Escrow</small></div>", "Ship to", ["World Wide, Europe"]),
    ("<p><small><label><b>Origin Country : </b></label> Netherlands </small><br></p>", "Origin Country",
     ["Netherlands"]),
    # "Label: value" inside one element, and a label that is the element's own first text
    ("<h5><span>Sale Price : 49.88 <b>USD</b> / 0.0053 <b>BTC</b></span></h5>", "Sale Price",
     ["49.88 USD / 0.0053 BTC"]),
    ("<div class='p'> price <div class='big'>฿0.0060</div></div>", "price", ["฿0.0060"]),
    # alternatives, case and colon do not matter
    ("<div><b>ORIGIN:</b> Spain</div>", "Ships from|Origin", ["Spain"]),
])
def test_label_structures(html: str, label: str, expected: list[str]) -> None:
    assert values(html, label) == expected


def test_form_controls_are_no_value() -> None:
    """A search form's 'Origin country: [select]' gives nothing; the listing's own label further down does."""
    html = ("<div><b>Origin country:</b> <select><option>Any</option><option>Germany</option></select></div>"
            "<div><b>Ships To:</b> <select><option>World Wide</option></select></div>"
            "<table><tr><td><b>Origin Country</b></td><td>Latvia</td></tr></table>"
            "<div><label>Quantity</label> <input name='qty' value='1'> Bitcoin (BTC)</div>")
    assert values(html, "Origin Country") == ["Latvia"]
    assert values(html, "Ships to") == []
    assert values(html, "Quantity") == []


def test_value_stops_at_the_next_label() -> None:
    html = "<div><b>Vendor</b> <a href='/u/bob'>bob</a> <b>Ships from:</b> France</div>"
    assert values(html, "Vendor") == ["bob"]
    assert values(html, "Ships from") == ["France"]


def test_label_selector_through_the_page_objects() -> None:
    """``{label: ...}`` is a selector like css/xpath: read by select_values (with regex) on a whole response and on
    a row; exactly one kind per selector."""
    body = (b"<html><body><div class='row'><label>Price</label><span>$50.96 (0.0008 BTC)</span></div>"
            b"<div class='row'><label>Price</label><span>$12.00</span></div></body></html>")
    response = HtmlResponse(url="http://m.example/x", body=body, encoding="utf-8")
    spec = SelectorSpec(label="Price", regex=r"\$[\d.]+")
    assert select_values(response, spec) == ["$50.96", "$12.00"]
    assert select_first(response.css("div.row")[1], SelectorSpec(label="price")) == "$12.00"
    from crawler.pages.base import absolute_links

    assert absolute_links(response, response, [SelectorSpec(label="Price")]) == []  # text, never a made-up URL
    with pytest.raises(ValueError, match="exactly one of css, xpath, value or label"):
        SelectorSpec(label="Price", css="span")


def test_price_currency_is_the_one_next_to_the_number() -> None:
    """'฿0.000787 (€7.28)' is a BTC price (the euro sign further on named it EUR before)."""
    assert parse_price("฿0.000787 (€7.28)") == ("0.000787", "BTC")
    assert parse_price("49.88 USD / 0.0053 BTC") == ("49.88", "USD")
    assert parse_price("USD 1,399.18") == ("1399.18", "USD")
    assert parse_price("2.950,00 €") == ("2950.00", "EUR")
    assert parse_price("1.5 g for 20 USD") == ("1.5", "USD")


def test_hostile_label_pages_are_bounded() -> None:
    """Nested without end and a label followed by megabytes of siblings: values stay short, the walk ends."""
    deep = "<div>" * 200 + "<b>Ships from:</b> Peru" + "</div>" * 200
    assert values(deep, "Ships from") == ["Peru"]
    deeper = "<div>" * 20_000 + "<b>Ships from:</b> Peru" + "</div>" * 20_000  # no RecursionError
    assert values(deeper, "Ships from") in ([], ["Peru"])  # (the parser may drop what lies too deep)
    wide = "<div><b>Ships to</b>" + "<span>Chile, </span>" * 50_000 + "</div>"
    got = values(wide, "Ships to")
    assert len(got) == 1 and len(got[0]) <= 400
