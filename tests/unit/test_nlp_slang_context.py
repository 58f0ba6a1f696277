"""Unit tests for list slang against the classes a sale text names, and for standards numbers that are not slang."""

from __future__ import annotations

import pytest

from nlp.analyzer import Analyzer, build_pipeline
from nlp.lexicon import Lexicon, Term, Tokens, filter_context

CORE = "core_substances.tsv: hand table"
DEA = "slangUE.txt (DEA Drug Slang Code Words 2017)"
LEX = Lexicon([
    Term("cocaine", "cocaine", "stimulant", "50-36-2", "", "strong", "c_cs_alpha.xlsx (DEA, code 9041)"),
    Term("weed", "cannabis", "cannabis", "", "", "strong", DEA),  # list slang the annotations promoted
    Term("indica", "cannabis", "cannabis", "", "", "strong", CORE),
    Term("hydro", "hydrocodone", "opioid", "", "", "strong", DEA),
    Term("rocket fuel", "pcp", "hallucinogen", "", "", "weak", DEA),
    Term("cookies", "cocaine", "stimulant", "", "", "weak", DEA),
    Term("lovely", "pcp", "hallucinogen", "", "", "weak", "lookup_df.rda.csv (CTN-0094/DOPE)"),
    Term("m30", "fentanyl", "fentanyl", "", "", "weak", CORE),
    Term("china white", "fentanyl", "fentanyl", "", "", "weak", CORE),
    Term("heroin", "heroin", "opioid", "", "", "strong", CORE),
    Term("iso", "isotonitazene", "opioid", "", "", "weak", CORE),
    Term("boy", "heroin", "opioid", "", "", "weak", DEA),
    Term("grass", "cannabis", "cannabis", "", "", "weak", DEA),
])


def kept(text: str, sale: bool = True) -> list[str]:
    tokens = Tokens(text)
    return [text[h.start:h.end] for h in filter_context(LEX.match(text, tokens), tokens, sale)]


@pytest.mark.parametrize(("text", "expected"), [
    ("2.0g rocket fuel cocaine, stealth shipping", ["cocaine"]),
    ("14g girl scout cookies indoor, aaa+ weed, shipping", ["weed"]),
    ("lovely pressed m30 pills, 100 count, shipping from canada", ["m30"]),
    ("indica dominant hydro 3g shipping", ["indica"]),
])
def test_list_slang_of_another_class_than_the_named_substances_goes(text: str, expected: list[str]) -> None:
    assert kept(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("heroin and china white, 10g, shipping", ["heroin", "china white"]),  # curated slang always stays
    ("heroin 5g aka boy, shipping", ["heroin", "boy"]),  # same class as the name
    ("rocket fuel 2g pills shipping", ["rocket fuel"]),  # no name in the text: the cue rule decides
])
def test_slang_that_agrees_or_stands_alone_stays(text: str, expected: list[str]) -> None:
    assert kept(text) == expected


def test_dropped_slang_lends_its_class_to_nothing() -> None:
    # "hydro" goes (cannabis is named), so opioid slang beside it has no named class to agree with
    assert kept("indica, hydro boy from the valley") == ["indica"]


def test_dropped_slang_does_not_vouch_for_its_neighbour() -> None:
    # "grass" agrees with the named cannabis, but its only neighbour is the dropped "hydro": no cue, no name near
    assert kept("indica seeds from our own garden in the hills, and hydro grass") == ["indica"]


def test_discussion_keeps_every_class() -> None:
    # a comment may name weed and hydro side by side: the class rule is for sale texts only
    assert kept("i smoke weed and take hydro at night", sale=False) == ["weed", "hydro"]


@pytest.mark.parametrize("text", ["iso 9001 certified lab, shipping", "ISO 14001 and cocaine 5g"])
def test_standards_numbers_are_not_slang(text: str) -> None:
    assert "iso" not in [w.lower() for w in kept(text.lower())]


def test_iso_with_drug_context_is_isotonitazene() -> None:
    assert kept("iso 10g for sale, shipping worldwide") == ["iso"]


@pytest.fixture(scope="module")
def rules() -> Analyzer:
    return Analyzer(build_pipeline())


@pytest.mark.parametrize("text", ["AAA+ Indica 7g, indoor grown, stealth shipping", "Kush 1oz top shelf, free shipping",
                                  "Cannabis sativa seeds x10"])
def test_cannabis_names_in_titles(rules: Analyzer, text: str) -> None:
    assert {s["class"] for s in rules.analyze(text)["substances"]} == {"cannabis"}
