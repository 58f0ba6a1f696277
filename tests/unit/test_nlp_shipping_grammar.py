"""Shipping policy grammar: negations with and without apostrophes and in capitals, lists after a colon, on the
lines below a heading and in bullets, "worldwide except", country codes, misspellings and region words."""

from __future__ import annotations

import pytest

from nlp import datasets
from nlp.analyzer import Analyzer, build_pipeline
from nlp.extractors import CountryTable

SCANDINAVIA = ["DK", "NO", "SE"]


@pytest.fixture(scope="module")
def rules() -> Analyzer:
    return Analyzer(build_pipeline())


def ship(rules: Analyzer, text: str) -> tuple[list[str], list[str], list[str]]:
    res = rules.analyze(text)
    return res["ships_from"], res["ships_to"], res["ships_not_to"]


POSITIVE = [
    # (text, ships_from, ships_to, ships_not_to)
    ("We dont ship to France.", [], [], ["FR"]),
    ("WE DONT SHIP TO FRANCE!!", [], [], ["FR"]),
    ("we wont ship to usa", [], [], ["US"]),
    ("We don't ship to Australia, USA or Canada", [], [], ["AU", "US", "CA"]),
    ("* WE DON'T SHIP TO AUSTRALIA AND USA.", [], [], ["AU", "US"]),
    ("I DO NOT SHIP THIS PRODUCT TO AUSTRALIA & NEW ZELAND!!! Sorry", [], [], ["AU", "NZ"]),
    ("NO SHIPPING TO ROMANIA  ESTONIA or FINLAND and NO DOMESTIC", [], [], ["RO", "EE", "FI"]),
    ("* We DO NOT ship to: CANADA, AUSTRALIA", [], [], ["CA", "AU"]),
    ("Countries I don't ship to: Australia Norway United states of America I have 2 options", [], [],
     ["AU", "NO", "US"]),
    ("Countries I don't ship to:\nAustralia\nNorway\nUnited States of America", [], [], ["AU", "NO", "US"]),
    ("Countries I don't ship to:\n\n• Australia\n• Norway", [], [], ["AU", "NO"]),
    ("We do NOT ship to:\n- AUS\n- RUS\n- USA\nEverything else is fine.", [], [], ["AU", "RU", "US"]),
    ("Excluded countries: Australia, Norway", [], [], ["AU", "NO"]),
    ("Shipping worldwide except Australia, New Zealand and Scandinavia", [], ["WORLDWIDE"],
     ["AU", "NZ", *SCANDINAVIA]),
    ("Worldwide shipping except: AUS, NZ", [], ["WORLDWIDE"], ["AU", "NZ"]),
    ("Shipping to all countries except Russia and Ukraine", [], ["WORLDWIDE"], ["RU", "UA"]),
    ("Ships from Germany to Worldwide. Not to: Australia, Switzerland", ["DE"], ["WORLDWIDE"], ["AU", "CH"]),
    ("Will not ship to Austalia or Swizerland", [], [], ["AU", "CH"]),
    ("We ship to all of Europe but not to the Middle East", [], ["EU"],
     ["AE", "BH", "CY", "EG", "IL", "IQ", "IR", "JO", "KW", "LB", "OM", "PS", "QA", "SA", "SY", "TR", "YE"]),
    ("We ship from the Netherlands. We do NOT ship to The Netherlands.", ["NL"], [], ["NL"]),
    ("The product you order will not be shipped out of europe.", [], ["EU"], []),
    ("We ship to UK, Germany, France", [], ["GB", "DE", "FR"], []),
    ("Ships to: USA, Canada", [], ["US", "CA"], []),
    ("Ship to :\nWorld Wide , Europe , Netherlands , Germany Payment : Full Escrow", [],
     ["WORLDWIDE", "EU", "NL", "DE"], []),
    ("> We ship all our products from The Netherlands to Worldwide", ["NL"], ["WORLDWIDE"], []),
    ("We ship to the Nordic countries", [], ["DK", "FI", "IS", "NO", "SE"], []),
    ("Ships from China to USA and Canada", ["CN"], ["US", "CA"], []),
    # domestic only: ships to the origin and nothing else (forms from saved market pages and Agora text)
    ("Ships from:\n--Select Shipping Method--\n(DE) DOMESTIC only (KEIN Tracking), 1-5 Tage (3.33 USD)", ["DE"],
     ["DE"], []),
    ("Ships from Germany. Domestic only", ["DE"], ["DE"], []),
    ("Shipping from the Netherlands, only domestic shipping", ["NL"], ["NL"], []),
    ("Ships from: USA → Ships to: Worldwide\nDomestic only", ["US"], ["US"], []),
    ("MDMA pills for Australian Domestic ONLY!", ["AU"], ["AU"], []),
    ("Shipping: I am only willing to ship within the US", ["US"], ["US"], []),
    ("All of my products are shipped out of Germany. Domestic: 2-8 days", ["DE"], ["DE"], []),
    ("US Domestic with free USPS shipping", ["US"], ["US"], []),
    # a list before "only": every country of it
    ("USA and Canada only", [], ["US", "CA"], []),
    ("ships to US & CA only", [], ["US", "CA"], []),
    ("BC Bud Canada & US ONLY (If outside these countries PM)", [], ["CA", "US"], []),
    ("UK & EU only", [], ["GB", "EU"], []),
    ("250G COCAINE UK-NEXT DAY DELIVERY", [], ["GB"], []),
]


@pytest.mark.parametrize(("text", "frm", "to", "not_to"), POSITIVE)
def test_policy_forms(rules: Analyzer, text: str, frm: list[str], to: list[str], not_to: list[str]) -> None:
    assert ship(rules, text) == (frm, to, not_to)


NEGATIVE = [
    # (text, codes that must not be exclusions, codes that must not be read at all)
    ("***NO RESHIPS TO AUSTRALIA / CANADA / USA.", ["AU", "CA", "US"], []),  # no reship is not no shipping
    ("Scandinavian Countries = 0% Refund", SCANDINAVIA, []),
    ("We do not ship on weekends. Our lab in Spain makes the best paste in Europe", ["ES", "EU"], []),
    ("We don't ship on Sundays and the lab is somewhere far away in the hills of Spain", ["ES"], []),
    ("Wir sind Verkäufer aus Deutschland", ["AU", "DE"], ["AU"]),  # German "aus" is "from", not Australia
    ("WE CAN SHIP FAST, NO ESP NEEDED", ["CA", "ES"], ["CA", "ES"]),
    ("We don't ship to:\nPlease read our terms first. France is lovely in spring.", ["FR"], []),
]


NOT_DOMESTIC = [
    # (text, ships_from, ships_to): no "domestic only" / domestic shipping, or it names no single origin
    ("Shipped from India  domestic shipping are not accepted", ["IN"], []),
    ("NO SHIPPING TO ROMANIA or FINLAND and NO DOMESTIC. Ships from Germany", ["DE"], []),
    ("We ship all our products from The Netherlands. We will match any other domestic price.", ["NL"], []),
    ("Ships from: Germany → Ships to: Worldwide\nDomestic Tracked or International", ["DE"], ["WORLDWIDE"]),
    ("Ships from China. USA only", ["CN"], ["US"]),  # "USA only" is no domestic shipping from China
    ("Domestic only", [], []),  # no origin: nothing to ship to
    ("Ships from Germany and Austria. Domestic only", ["DE", "AT"], []),  # two origins: which one?
    # where the product comes from, not where the parcel is posted
    ("Ketamine imported straight from India. Ships from: UK", ["GB"], []),
    ("MDMA directly from the lab in the Netherlands. Ships from: Germany", ["DE"], []),
    ("USA and then Canada only", ["CA"], ["CA"]),  # not a list: only the country before "only" (its origin too)
]


@pytest.mark.parametrize(("text", "frm", "to"), NOT_DOMESTIC)
def test_domestic_only_needs_one_stated_origin(rules: Analyzer, text: str, frm: list[str], to: list[str]) -> None:
    res = rules.analyze(text)
    assert (res["ships_from"], res["ships_to"]) == (frm, to)


def test_domestic_only_never_ships_to_an_excluded_origin(rules: Analyzer) -> None:
    frm, to, not_to = ship(rules, "Ships from Germany. We do not ship to Germany. Domestic only")
    assert (frm, to, not_to) == (["DE"], [], ["DE"])


@pytest.mark.parametrize(("text", "not_excluded", "not_read"), NEGATIVE)
def test_not_exclusions(rules: Analyzer, text: str, not_excluded: list[str], not_read: list[str]) -> None:
    frm, to, not_to = ship(rules, text)
    assert not set(not_excluded) & set(not_to), not_to
    assert not set(not_read) & set(frm + to + not_to)


def test_country_codes_and_regions_load() -> None:
    from nlp.components import DATA_DIR

    table = CountryTable.from_tsv(DATA_DIR / "countries.tsv")
    assert table.alpha3["RUS"] == "RU" and table.alpha3["GER"] == "DE" and "CAN" not in table.alpha3
    assert table.by_key["scandinavia"] == "DK,NO,SE"
    assert table.by_key["new zeland"] == "NZ" and "aus" not in table.by_key


def test_three_letter_codes_only_in_capitals(rules: Analyzer) -> None:
    assert ship(rules, "We do not ship to RUS")[2] == ["RU"]
    assert ship(rules, "We do not ship to rus or deu, sorry")[2] == ["RU"]  # "rus" is an alias, "DEU" a code


def _invariants(rules: Analyzer, texts: list[str]) -> None:
    for text in texts:
        _frm, to, not_to = ship(rules, text)
        assert not set(to) & set(not_to), text
        for sentence in text.replace("!", ".").split("."):
            low = sentence.lower()
            if any(neg in low for neg in ("don't ship to", "dont ship to", "do not ship to", "no shipping to")):
                _f, _t, neg_codes = ship(rules, sentence)
                assert not set(neg_codes) & set(to), (sentence, to)


def test_invariants_on_every_text_here(rules: Analyzer) -> None:
    _invariants(rules, [t for t, *_ in POSITIVE] + [t for t, *_ in NEGATIVE] + [t for t, *_ in NOT_DOMESTIC])


def test_invariants_on_the_labelled_set(rules: Analyzer) -> None:
    items = datasets.shipping_labels()
    assert len(items) >= 150 and {x.split for x in items} == {"dev", "test"}
    _invariants(rules, [x.text for x in items])
