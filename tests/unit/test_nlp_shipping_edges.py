"""The edges of the shipping grammar (nlp.extractors.find_shipping): how far a cue, a negation and a heading
reach, which lines belong to a list, where each evidence span lies. Each case is a text an analyst could meet
with the countries it must (and must not) yield; the boundary cases sit exactly on a window's edge and one past it.
Killed the surviving mutants of ``make mutation`` (docs/testing.md); no spaCy pipeline, hand-built texts only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nlp import extractors
from nlp.lexicon import Tokens
from nlp.normalize import normalize

TABLE = extractors.CountryTable.from_tsv(Path(__file__).resolve().parents[2] / "nlp" / "data" / "countries.tsv")


def ship(text: str) -> dict[str, Any]:
    norm = normalize(text)
    tokens = Tokens(norm.text)
    return extractors.find_shipping(norm.text, TABLE.find(norm.text, lambda s, e: text[s:e], tokens), tokens)


def roles(text: str) -> tuple[list[str], list[str], list[str], list[str]]:
    res = ship(text)
    return res["ships_from"], res["ships_to"], res["ships_not_to"], res["mentioned"]


# ---------------------------------------------------------------- lists under a heading

REMARK_40 = " (customs seize all parcels, sorry folk)"  # a remark after the country: 40 characters


@pytest.mark.parametrize(("text", "expected"), [
    # a numbered or bulleted list under the heading, with a long remark on a bulleted line
    ("Countries we don't ship to:\n1. Australia\n2. Norway", ([], [], ["AU", "NO"], [])),
    ("Countries we don't ship to:\na) Australia\nb) Norway", ([], [], ["AU", "NO"], [])),
    ("We do NOT ship to:\n- Australia (customs seize everything there, so please do not ask)\n- Norway",
     ([], [], ["AU", "NO"], [])),
    # an unbulleted line belongs to the list with a remark of up to 40 characters after its country ...
    ("We don't ship to:\nFrance" + REMARK_40 + "\nNorway", ([], [], ["FR", "NO"], [])),
    # ... one character more and it is prose, which ends the list: nothing below is carried either
    ("We don't ship to:\nFrance" + REMARK_40 + "!\nNorway", ([], [], [], ["FR", "NO"])),
    # a remark with a cue word of its own ("only") keeps the line in the list
    ("Countries we don't ship to:\n- Australia (only express)\n- Norway", ([], [], ["AU", "NO"], [])),
    # the heading's role goes to the list below it, not to a country above it
    ("We love Spain\nWe don't ship to:\n- Australia", ([], [], ["AU"], ["ES"])),
    # an indented line is no bullet: prose all the same
    ("We don't ship to:\n   France, we love our customers there, they are the very best\nNorway",
     ([], [], [], ["FR", "NO"])),
])
def test_which_lines_belong_to_a_list_under_a_heading(text: str, expected: tuple[list[str], ...]) -> None:
    assert roles(text) == expected


def test_the_remark_is_forty_characters() -> None:
    assert len(REMARK_40) == 40


@pytest.mark.parametrize(("blank_lines", "excluded"), [(0, ["AU"]), (1, ["AU"]), (2, ["AU"]), (3, [])])
def test_a_heading_reaches_its_list_over_at_most_two_blank_lines(blank_lines: int, excluded: list[str]) -> None:
    assert ship("We don't ship to:\n" + "\n" * blank_lines + "Australia")["ships_not_to"] == excluded


@pytest.mark.parametrize(("heading", "excluded"), [
    ("We do not ship to the following countries:", ["AU", "NO"]),  # up to three words after the cue
    ("We do not ship to the following four countries:", []),  # four: prose, not a heading
    ("We do NOT ship to: - - - -", ["AU", "NO"]),  # punctuation after the cue is no word
])
def test_a_heading_ends_in_its_cue_and_at_most_three_words(heading: str, excluded: list[str]) -> None:
    assert ship(heading + "\n- Australia\n- Norway")["ships_not_to"] == excluded


def test_a_heading_is_one_line_of_at_most_300_characters() -> None:
    cue = "we don't ship to:"
    for length, excluded in [(300, ["AU"]), (301, [])]:
        heading = "Please read. " + "x" * (length - len(cue) - 14) + " " + cue
        assert len(heading) == length
        assert ship(heading + "\nAustralia")["ships_not_to"] == excluded, length
        assert ship("Welcome!\n" + heading + "\nAustralia")["ships_not_to"] == excluded, length  # not the first line


def test_a_heading_that_keeps_parcels_inside_a_region_ships_to_it() -> None:
    assert roles("We never ship outside of:\n- Europe") == ([], ["EU"], [], [])


# ---------------------------------------------------------------- how far a cue reaches

@pytest.mark.parametrize(("gap", "to", "mentioned"), [(100, ["FR"], []), (101, [], ["FR"])])
def test_a_ships_to_cue_reaches_100_characters(gap: int, to: list[str], mentioned: list[str]) -> None:
    """Counted from the end of the cue (or of its last country) to the next country."""
    res = ship("We ship to" + " " * gap + "France")
    assert (res["ships_to"], res["mentioned"]) == (to, mentioned)


@pytest.mark.parametrize(("gap", "excluded"), [(40, ["AU", "NO"]), (41, ["AU"])])
def test_a_negation_reaches_over_a_list_gap_of_40_characters(gap: int, excluded: list[str]) -> None:
    """"We don't ship to Australia, Norway": the negation carries on over separators only, at most 40 of them."""
    assert ship("We don't ship to Australia," + " " * (gap - 1) + "Norway")["ships_not_to"] == excluded


@pytest.mark.parametrize("arrow", [">>", "→", "->", "=>"])
def test_arrows_between_two_countries_also_at_the_end_of_a_line(arrow: str) -> None:
    assert roles(f"China {arrow} USA") == (["CN"], ["US"], [], [])
    assert roles(f"France {arrow}\nEU") == (["FR"], ["EU"], [], [])


@pytest.mark.parametrize(("text", "expected"), [
    # an arrow's origin is the country right before it: at most 8 characters between the two
    ("China    >   USA", (["CN"], ["US"], [], [])),
    ("China    >    USA", (["CN"], [], [], ["US"])),
])
def test_an_arrow_links_a_country_right_before_it(text: str, expected: tuple[list[str], ...]) -> None:
    assert roles(text) == expected


# ---------------------------------------------------------------- cues: where they lie, which one governs

@pytest.mark.parametrize(("text", "expected"), [
    # labels written without a space: the cue ends where the country begins
    ("From:China To:USA", (["CN"], ["US"], [], [])),
    # a negation and a ships-to cue in one clause after the first: each governs its own country
    ("Ships from Germany. We don't ship to France, we ship to Spain", (["DE"], ["ES"], ["FR"], [])),
    # "ship only from": the cue that ends last before the country governs it ("only" alone would say "to")
    ("We ship only from our lab in Spain", (["ES"], [], [], [])),
    # "AUS" is Australia here, not the German "from" inside it; it does not make NZ an origin
    ("We ship to AUS, NZ", ([], ["AU", "NZ"], [], [])),
])
def test_which_cue_governs_a_country(text: str, expected: tuple[list[str], ...]) -> None:
    assert roles(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # a cue never reaches over a line break: the next line is another statement
    ("We ship to France\nWe love Norway\nThanks", ([], ["FR"], [], ["NO"])),
    # a country name wrapped over two lines (saved pages wrap their text) is still governed by its cue
    ("We don't ship to New\nZealand", ([], [], ["NZ"], [])),
])
def test_lines_bound_the_grammar(text: str, expected: tuple[list[str], ...]) -> None:
    assert roles(text) == expected


# ---------------------------------------------------------------- what find_shipping reports

def test_regions_and_worldwide_are_never_mere_mentions() -> None:
    res = ship("We love Europe, Scandinavia and Spain")
    assert res["mentioned"] == ["ES"] and res["spans"] == [(32, 37, "ES", "mentioned")]
    res = ship("Best prices worldwide")
    assert res["mentioned"] == [] and res["spans"] == []


def test_within_a_country_is_its_origin_and_destination_with_one_span() -> None:
    res = ship("We only ship within the US")
    assert (res["ships_from"], res["ships_to"]) == (["US"], ["US"])
    assert res["spans"] == [(24, 26, "US", "to")]


@pytest.mark.parametrize(("text", "only", "stated", "offered"), [
    ("Ships from Germany. Domestic only", True, True, True),
    ("Germany only, no international", True, True, False),
    ("Ships to USA, USA only", True, False, False),  # one country, said twice
    ("USA and Canada only", False, False, False),  # two countries
    ("EU only", False, False, False),  # a region is no home country
    ("US Domestic with free USPS shipping", False, False, True),
    ("NO DOMESTIC. Ships from Germany", False, False, False),
    ("Our domestic prices are the best", False, False, False),
])
def test_domestic_only_stated_and_offered(text: str, only: bool, stated: bool, offered: bool) -> None:
    res = ship(text)
    assert (res["domestic_only"], res["domestic_stated"], res["domestic_offered"]) == (only, stated, offered)


@pytest.mark.parametrize(("text", "expected"), [
    # a heading under a line that names a country still heads the list below it
    ("Ships from Germany\nWe don't ship to:\n- Australia\n- Norway", (["DE"], [], ["AU", "NO"], [])),
    # "we ship ... from X": an origin, also at the end of a sentence
    ("We ship our products from Spain.", (["ES"], [], [], [])),
    # "within" reaches over a list only: "Germany only" after other words keeps its own role
    ("We ship within 48 hours, Germany only", ([], ["DE"], [], [])),
    # the list before "only" ends at a sentence end
    ("We love the USA. Canada only", ([], ["CA"], [], ["US"])),
])
def test_more_cue_forms(text: str, expected: tuple[list[str], ...]) -> None:
    assert roles(text) == expected


@pytest.mark.parametrize(("gap", "expected"), [(100, (["ES"], [], [], [])), (101, ([], [], [], ["ES"]))])
def test_we_ship_reaches_its_origin_over_100_characters(gap: int, expected: tuple[list[str], ...]) -> None:
    """"We ship <words> from X": X is the origin if it begins at most 100 characters after "we ship"."""
    text = "We ship" + (" our" * 30)[:gap - 6] + " from Spain."
    assert text.index("Spain") - len("We ship") == gap
    assert roles(text) == expected


@pytest.mark.parametrize(("text", "stealth"), [
    ("Vacuum sealed and odor proof", True),
    ("Shipped after our vacation, the odometer smells nice", False),  # stealth words' first letters only
])
def test_stealth_needs_a_stealth_word(text: str, stealth: bool) -> None:
    assert ship(text)["stealth"] is stealth


# ---------------------------------------------------------------- bullets are no arrows; "within" a time is no place


@pytest.mark.parametrize(("text", "expected"), [
    # a dash opening a line is a bullet, not "X - Y": a list with no shipping heading ships nowhere
    ("Our favourite places:\n- Australia\n- Norway", ([], [], [], ["AU", "NO"])),
    # prose after a negation (four words: no heading) must never turn its list into destinations
    ("We do not ship to the following four countries:\n- Australia\n- Norway", ([], [], [], ["AU", "NO"])),
    ("Ships from China\n- USA\n- Canada", (["CN"], [], [], ["US", "CA"])),
    # arrows still read: inline, and one that ends the line above
    ("China - USA", (["CN"], ["US"], [], [])),
    ("China →\nUSA", (["CN"], ["US"], [], [])),
])
def test_a_bullet_dash_is_no_arrow(text: str, expected: tuple[list[str], ...]) -> None:
    assert roles(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("We ship within 48 hours to Germany", ([], ["DE"], [], [])),
    ("We ship within 2-3 business days to France and Spain", ([], ["FR", "ES"], [], [])),
    ("We ship within a week to Canada", ([], ["CA"], [], [])),
    # "within" a place is still from and to there
    ("We ship within the US", (["US"], ["US"], [], [])),
    ("Delivery within Europe", (["EU"], ["EU"], [], [])),
])
def test_within_a_time_is_no_place(text: str, expected: tuple[list[str], ...]) -> None:
    assert roles(text) == expected


def test_a_heading_overrides_what_a_list_line_says_without_a_cue_of_its_own() -> None:
    """"- Australia - customs are too strict" reads like "X - Y" (an origin), but the line has no cue of its
    own: the heading's negation decides, and Australia is excluded, not a place shipped from."""
    text = "We do not ship to:\n- Australia - customs are too strict\n- Norway"
    assert roles(text) == ([], [], ["AU", "NO"], [])


def test_within_a_place_reaches_over_separators_only() -> None:
    """"within Germany" is from and to Germany; a country later in the sentence, past other words, is not."""
    assert roles("Shipping within Germany, our lab also tested Canada samples") == (["DE"], ["DE"], [], ["CA"])
