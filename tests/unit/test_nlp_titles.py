"""Offers from titles alone: an amount (weight, dose, count, pieces; many languages) in a short title-like line
is a sale offer; news sentences and one's own use with an amount are not."""

from __future__ import annotations

import pytest

from nlp.analyzer import Analyzer, build_pipeline
from nlp.intent import title_offer


@pytest.fixture(scope="module")
def rules() -> Analyzer:
    return Analyzer(build_pipeline())


OFFERS = [
    "500gr. Heroin",
    "25 Gr. Heroin #4",
    "Xanax 1mg x 200",
    "quarter pound cocaine",
    "1/2 kilo MDMA (pre-ban)",
    "CRYSTAL METH 3.5 G",
    ".2g DMT",
    "(10) Norco 10/325 Hydrocodone",
    "QP OF BUBBLE HASH",
    "Oxycodon 10mg 20 Stück",
    "Tilidin 100 Tabletten",
    "Fentanyl 100mcg/h patch x5",
    "Oksykodon 40 mg 30 tabletki",
    "Метадон 10 шт",
    "芬太尼 10克",
    "5x 2C-B Nijntje (Miffy) 15MG pills",
    "250g FAB-144",
    "Amnesia Haze (2g)",
    "Jesus Christ (Dutch Silver-Grey) 277ug - 50 Hits",
    "Yellow Twitter 110+ mgs",
    "Parabolax 25mgx100kpl",
    "10 Stck. Zolpidem org. ratiopharm",
    # counted forms, eighths, a bare number opening a short named title (Agora training-part misses)
    "1 Heroin Stamp",
    "0.2 #3 GOOD BROWN HEROIN",
    "3 Tan Dragonfly MDA",
    "10 Peyote seeds - Lophophora Williamsii",
    "5 pre-rolled Cannabis joints|UK Vendor",
    "Cookies And Cream BlueKudu Chocolate, 10 Doses!!!",
    "Malabar Shrooms (Cubensis) 1/8th",
    "10-ct THCookies - FRESHLY BAKED",
]


@pytest.mark.parametrize("title", OFFERS)
def test_titles_with_an_amount_are_offers(rules: Analyzer, title: str) -> None:
    assert rules.analyze(title)["intent"] == "sale", title


NOT_OFFERS = [
    "Officers discovered more than 1,500kg of heroin in the port city of Rotterdam.",
    "Police seized 500 kg of cocaine",
    "ANF Quetta recovered 305 Kg Amphetamine & 300 Liters HCL from an unattended vehicle",
    "I took 10mg of oxy yesterday and felt nothing",
    "Yeah but it's pretty weak 15g/ml",
    "how much is 1g of heroin usually?",
    "Heroin",  # a name alone is no offer
    "Heroin addiction and recovery: a guide for families",
    "The law defines small as this way: for methamphetamine and cocaine, it's less than 2 grams.",
    # a bare number first is no amount in a headline or a comment
    "12 people died from fentanyl overdose",
    "100 fentanyl deaths this year",
    "30 days clean off heroin",
    "2020 fentanyl report",
    "5 heroin ODs",
]


@pytest.mark.parametrize("text", NOT_OFFERS)
def test_news_and_own_use_with_amounts_are_not_offers(rules: Analyzer, text: str) -> None:
    assert rules.analyze(text)["intent"] == "other", text


def test_only_the_first_line_is_read_as_a_title() -> None:
    assert title_offer("5g mdma\nlong description follows here", [], [])
    assert not title_offer("we had a long talk about it today\n5g mdma", [], [])
    assert not title_offer("\n5g mdma", [], [])


def test_unnamed_amounts_only_in_short_titles() -> None:
    long_line = "great stuff " * 7 + "2 grams"  # 16 words, no name, amount last
    assert not title_offer(long_line, [], [])
    assert title_offer(long_line, [], [(0, 5)])  # with a substance named in the line
    assert title_offer("2 grams " + "great stuff " * 7, [], [])  # the amount first
