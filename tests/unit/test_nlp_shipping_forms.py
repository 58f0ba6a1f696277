"""Shipping forms found on real text after the grammar was built (issue 12 item 1 leftovers): runs of spaces
and tabs between words, other apostrophes, a country list wrapped over a line break, a domestic delivery time
glued by a hyphen, route notations with arrows ("[NL > EU]", "UK>WW", "NL  → WW, EU"). Each form has cases
that must match and look-alikes that must not. Hand-built texts, no spaCy pipeline except for domestic-only
(decided once the origin is known, in the output building).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nlp import extractors
from nlp.analyzer import Analyzer, build_pipeline
from nlp.lexicon import Tokens
from nlp.normalize import normalize

TABLE = extractors.CountryTable.from_tsv(Path(__file__).resolve().parents[2] / "nlp" / "data" / "countries.tsv")


def roles(text: str) -> tuple[list[str], list[str], list[str], list[str]]:
    norm = normalize(text)
    tokens = Tokens(norm.text)
    res: dict[str, Any] = extractors.find_shipping(norm.text, TABLE.find(norm.text, lambda s, e: text[s:e], tokens),
                                                   tokens)
    return res["ships_from"], res["ships_to"], res["ships_not_to"], res["mentioned"]


# ---------------------------------------------------------------- runs of spaces and tabs

@pytest.mark.parametrize(("text", "expected"), [
    # "from the X" after "we ship ...", however wide the gaps (the look-back was 10 characters)
    ("We ship all of our orders from   the UK", (["GB"], [], [], [])),
    ("We ship all orders to the EU from   the   USA", (["US"], ["EU"], [], [])),
    ("We ship all of our orders from\t\tthe\tUK", (["GB"], [], [], [])),
    # cues of several words with several spaces inside ("out  of", "do  not")
    ("Sent  out  of   Spain", (["ES"], [], [], [])),
    ("We  do  not  ship  to  France", ([], [], ["FR"], [])),
    ("Stock\tin\tGermany", (["DE"], [], [], [])),
    # not: a bare "from" without "we ship" is where the product comes from, however it is spaced
    ("cocaine from   the   Netherlands", ([], [], [], ["NL"])),
    ("We ship all of our orders.  Coca leaves from   the   Andes of Peru", ([], [], [], ["PE"])),
])
def test_spaces_and_tabs_between_words(text: str, expected: tuple[list[str], ...]) -> None:
    assert roles(text) == expected


@pytest.mark.parametrize("apostrophe", ["'", "`", "´", "ʼ", "’"])
def test_a_negation_with_any_apostrophe_excludes(apostrophe: str) -> None:
    assert roles(f"We don{apostrophe}t ship to France") == ([], [], ["FR"], [])
    assert roles(f"WE WON{apostrophe}T SHIP TO: Germany, Italy") == ([], [], ["DE", "IT"], [])
    assert roles(f"we won{apostrophe}t be shipping out of Europe") == ([], ["EU"], [], [])


def test_a_word_ending_in_n_and_an_accent_is_no_negation() -> None:
    assert roles("Ships from the Netherlands. Bon´ voyage, ships to France") == (["NL"], ["FR"], [], [])


# ---------------------------------------------------------------- a list wrapped over a line break

@pytest.mark.parametrize(("text", "expected"), [
    ("we ship to Germany, France,\nItaly, Spain", ([], ["DE", "FR", "IT", "ES"], [], [])),
    ("We ship to Germany, France\nand Spain", ([], ["DE", "FR", "ES"], [], [])),
    ("We ship to Germany, France,\nItaly, Spain,\nPortugal and Austria", ([], ["DE", "FR", "IT", "ES", "PT", "AT"],
                                                                         [], [])),
    ("Ships from Germany &\nthe Netherlands", (["DE", "NL"], [], [], [])),
    # a negation goes on over the break too: no wrapped country may come out in ships_to
    ("We don't ship to Germany, France,\nItaly or Spain", ([], [], ["DE", "FR", "IT", "ES"], [])),
    ("Ships to Europe. We don't ship to Norway,\nSwitzerland", ([], ["EU"], ["NO", "CH"], [])),
    # not: the line ends the sentence, or in a country with no separator after it
    ("we ship to Germany, France.\nItaly, Spain", ([], ["DE", "FR"], [], ["IT", "ES"])),
    ("we ship to Germany, France\nItaly, Spain", ([], ["DE", "FR"], [], ["IT", "ES"])),
    # not: the next line is prose, not a list line
    ("We ship to Germany, France,\nsorry, Italy and Spain are closed this week",
     ([], ["DE", "FR"], [], ["IT", "ES"])),
    # not: the line's last country has no role
    ("Cocaine from Peru,\nItaly, Spain", ([], [], [], ["PE", "IT", "ES"])),
])
def test_a_list_wrapped_over_a_line_break(text: str, expected: tuple[list[str], ...]) -> None:
    assert roles(text) == expected


# ---------------------------------------------------------------- route notation

@pytest.mark.parametrize(("text", "expected"), [
    ("[NL > EU]", (["NL"], ["EU"], [], [])),
    ("NL -> EU", (["NL"], ["EU"], [], [])),
    ("UK>WW", (["GB"], ["WORLDWIDE"], [], [])),
    ("Ships: DE → EU", (["DE"], ["EU"], [], [])),
    ("Ships: DE > EU", (["DE"], ["EU"], [], [])),
    # as Dream Market writes it (shared/data/listings/dream_market_cocaine_listings.csv, ships_from_to):
    # two spaces, a list after the arrow, in a shouted title
    ("✯50g FLAKES COCAINE 92% ✯GA✯ NL  → WW, US", (["NL"], ["WORLDWIDE", "US"], [], [])),
    ("DE  → DE, EU", (["DE"], ["DE", "EU"], [], [])),
    ("WW  → WW", ([], ["WORLDWIDE"], [], [])),
    # other arrows; codes that are everyday words elsewhere (IT, IN, SG is no word) beside a true arrow
    ("IT ⇒ EU", (["IT"], ["EU"], [], [])),
    ("IN -> US", (["IN"], ["US"], [], [])),
    ("SG ➔ WW, AU", (["SG"], ["WORLDWIDE", "AU"], [], [])),
    ("US --> WW", (["US"], ["WORLDWIDE"], [], [])),
    ("GER -> AUS", (["DE"], ["AU"], [], [])),
    ("10G PERUVIAN COKE 90%+ ➡ FROM DE+TRACK+LAB", (["DE"], [], [], ["PE"])),
    # not: lower case, no code on one side, an everyday word beside a bare ">", a breadcrumb
    ("it -> me", ([], [], [], [])),
    ("purity > 89%", ([], [], [], [])),
    ("IT > 5 GRAMS", ([], [], [], [])),
    ("IT IS > NL", ([], [], [], ["NL"])),
    ("BEST IT IS > THE REST", ([], [], [], [])),
    ("TOP QTY ⇒ SG, IN", ([], [], [], [])),
    ("Home » Europe » Germany", ([], [], [], ["DE"])),
])
def test_route_notation(text: str, expected: tuple[list[str], ...]) -> None:
    assert roles(text) == expected


# ---------------------------------------------------------------- domestic with a delivery time

@pytest.fixture(scope="module")
def rules() -> Analyzer:
    return Analyzer(build_pipeline())


@pytest.mark.parametrize(("text", "frm", "to"), [
    ("USA Domestic-3 To 4 Days", ["US"], ["US"]),
    ("UK Domestic - 1 to 2 days", ["GB"], ["GB"]),
    ("Germany domestic-2 business days", ["DE"], ["DE"]),
    # not: a number after the hyphen that is no delivery time
    ("1g coke. Ships from USA. domestic-1 price, any other domestic price", ["US"], []),
])
def test_domestic_with_a_delivery_time_glued_by_a_hyphen(rules: Analyzer, text: str, frm: list[str],
                                                         to: list[str]) -> None:
    res = rules.analyze(text)
    assert (res["ships_from"], res["ships_to"]) == (frm, to)
