"""Price and quantity parsing never raises, whatever the string (hypothesis), and keeps its output shape.

find_amounts (the pipeline's one scan) and find_prices/find_quantities are not compared here: they
differ on some strings (see docs/testing.md, "known differences").
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.pages.base import parse_price
from nlp import extractors
from tests.support.examples import examples

# text made of what prices are made of, so that the parsers' branches are reached, plus any text at all
PRICE_ALPHABET = "0123456789.,' $€£¥₿₽₹฿Ƀɱ-+eE\u00a0\u2009" + "usdeurgbpbtcxmrUSDEURGBPBTCXMRrmbkgmlx"
price_like = st.text(PRICE_ALPHABET, max_size=40)
any_text = st.text(max_size=120)


@settings(max_examples=examples(400), deadline=None)
@given(text=price_like | any_text, default=st.sampled_from([None, "USD", "BTC"]))
def test_page_price_parsing_never_raises(text: str, default: str | None) -> None:
    amount, currency = parse_price(text, default)
    if amount is not None:
        Decimal(amount)  # a decimal string, never something else
    assert currency is None or currency.isupper()


@settings(max_examples=examples(400), deadline=None)
@given(text=price_like | any_text)
def test_nlp_price_and_quantity_parsing_never_raises(text: str) -> None:
    prices, quantities = extractors.find_amounts(text)  # what the pipeline runs
    prices += extractors.find_prices(text)
    quantities += extractors.find_quantities(text)
    for p in prices:
        assert 0 <= p["start"] < p["end"] <= len(text) and p["currency"].isupper()
        float(p["amount"])
    for q in quantities:
        assert 0 <= q["start"] < q["end"] <= len(text)
        float(q["amount"])
