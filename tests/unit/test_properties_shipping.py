"""Property tests of the shipping extractor (nlp.extractors.find_shipping) on hand-built and generated text.

Example counts are bounded so the file runs in a few seconds; the country table is the shipped one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from nlp import extractors
from nlp.lexicon import Tokens
from nlp.normalize import normalize
from tests.support.examples import examples

DATA = Path(__file__).resolve().parents[2] / "nlp" / "data"
TABLE = extractors.CountryTable.from_tsv(DATA / "countries.tsv")


def ship(text: str) -> dict[str, Any]:
    norm = normalize(text)
    tokens = Tokens(norm.text)
    mentions = TABLE.find(norm.text, lambda s, e: text[s:e], tokens)
    return extractors.find_shipping(norm.text, mentions, tokens)


def _names() -> list[tuple[str, str]]:
    """(name as written, code) for every table name that, alone after "ships to", is that country."""
    out = []
    for key, code in sorted(TABLE.by_key.items()):
        if code in ("WORLDWIDE", "EU") or not key.replace(" ", "").isalpha() or len(key) < 4:
            continue
        name = key.title()
        if ship(f"Ships to {name}")["ships_to"] == [code]:
            out.append((name, code))
    return out


NAMES = _names()
NEGATIONS = ["no", "not", "never", "don't", "dont", "do not", "we don't", "we dont", "we do not", "doesn't",
             "doesnt", "does not", "won't", "wont", "will not", "we will not", "cannot", "can't", "cant",
             "we can't", "sorry, we don't", "don´t", "won`t", "we donʼt", "do  not", "we\tdont"]
VERBS = ["ship", "ships", "shipping", "send", "sending", "deliver", "delivery", "post", "postage", "mail"]
POSITIVE = ["Ships from {c}", "Ships to {c}", "We ship to {c}", "Delivery to {c}", "Shipping to {c} and {d}",
            "Stock in {c}", "Worldwide shipping", "Fast delivery", "Based in {c}"]


def test_an_exclusion_wins_over_an_earlier_ships_to() -> None:
    """The same country said to be shipped to, then excluded: excluded, not both."""
    res = ship("Ships to USA and Canada. No shipping to Canada anymore")
    assert res["ships_to"] == ["US"] and res["ships_not_to"] == ["CA"]
    res = ship("We ship to France, Germany. We don't ship to Germany")
    assert res["ships_to"] == ["FR"] and res["ships_not_to"] == ["DE"]


@pytest.mark.parametrize("text", ["we dont mail to Canada", "We wont ship to Canada", "seller doesnt send to Canada"])
def test_negations_without_apostrophe(text: str) -> None:
    res = ship(text)
    assert res["ships_to"] == [] and res["ships_not_to"] == ["CA"]


sentence = st.builds(
    lambda tpl, c, d: tpl.format(c=c[0], d=d[0]), st.sampled_from(POSITIVE), st.sampled_from(NAMES),
    st.sampled_from(NAMES))


@settings(max_examples=examples(300), deadline=None)
@given(before=st.lists(sentence, max_size=3), neg=st.sampled_from(NEGATIONS), verb=st.sampled_from(VERBS),
       country=st.sampled_from(NAMES), after=st.lists(sentence, max_size=2),
       sep=st.sampled_from([". ", "\n", "; ", "! "]))
@example(before=[], neg="we dont", verb="mail", country=("Canada", "CA"), after=[], sep=". ")
def test_a_negated_shipping_sentence_never_yields_its_country_in_ships_to(
        before: list[str], neg: str, verb: str, country: tuple[str, str], after: list[str], sep: str) -> None:
    text = sep.join([*before, f"{neg} {verb} to {country[0]}".capitalize(), *after])
    res = ship(text)
    assert country[1] not in res["ships_to"], (text, res)


WORDS = ["ships", "ship", "shipping", "to", "from", "no", "not", "don't", "dont", "except", "excluding", "only",
         "worldwide", "and", "or", "we", "deliver", "->", "→", ",", ".", ";", "\n", "but", "EU", "USA", "US", "UK",
         "France", "Germany", "Canada", "China", "Netherlands", "Australia", "domestic", "stealth", "price", "10g"]


@settings(max_examples=examples(400), deadline=None)
@given(words=st.lists(st.sampled_from(WORDS) | st.sampled_from([n for n, _ in NAMES]), max_size=25))
def test_ships_to_and_ships_not_to_are_disjoint_on_shipping_words(words: list[str]) -> None:
    res = ship(" ".join(words))
    assert not set(res["ships_to"]) & set(res["ships_not_to"]), res


@settings(max_examples=examples(200), deadline=None)
@given(text=st.text(max_size=200))
def test_ships_to_and_ships_not_to_are_disjoint_on_any_text(text: str) -> None:
    res = ship(text)
    assert not set(res["ships_to"]) & set(res["ships_not_to"]), res


def test_the_name_list_is_not_trivially_small() -> None:
    assert len(NAMES) > 100


@pytest.mark.parametrize(("text", "frm", "to"), [
    ("China → USA", ["CN"], ["US"]),
    ("China -> USA", ["CN"], ["US"]),
    ("China => USA", ["CN"], ["US"]),
    ("China > USA", ["CN"], ["US"]),
    ("China to USA", ["CN"], ["US"]),
    ("Netherlands - Germany", ["NL"], ["DE"]),
    ("Spain →  France", ["ES"], ["FR"]),
    ("Germany seller, fast", ["DE"], []),
    ("China based vendor", ["CN"], []),
    ("USA stock available", ["US"], []),
    ("UK domestic", ["GB"], []),
    ("Canada only", [], ["CA"]),
    ("lab in China. Germany → Poland", ["DE"], ["PL"]),
])
def test_roles_from_the_words_after_a_mention_or_an_arrow(text: str, frm: list[str], to: list[str]) -> None:
    """No cue before the mention: "X → Y", "X seller", "X only" decide (the fallback grammar)."""
    res = ship(text)
    assert (res["ships_from"], res["ships_to"], res["ships_not_to"]) == (frm, to, [])


def test_mentions_without_a_role_spans_and_worldwide() -> None:
    res = ship("we ship to Germany and France. We love Spain")
    assert res["ships_to"] == ["DE", "FR"] and res["mentioned"] == ["ES"]
    assert res["spans"] == [(11, 18, "DE", "to"), (23, 29, "FR", "to"), (39, 44, "ES", "mentioned")]
    assert ship("Best price in Germany")["mentioned"] == ["DE"]
    res = ship("Ships from worldwide warehouses")  # WORLDWIDE is never an origin, nor a mere mention
    assert res["ships_from"] == [] and res["mentioned"] == [] and res["spans"] == [(11, 20, "WORLDWIDE", "from")]


@pytest.mark.parametrize(("text", "carriers", "stealth", "domestic"), [
    ("USA only", [], False, True),
    ("Domestic only. Ships from USA", [], False, True),
    ("we ship to Germany and France", [], False, False),
    ("Worldwide shipping only", [], False, False),
    ("Sent with royal mail", ["Royal Mail"], False, False),
    ("vacuum sealed, tracked", [], True, False),
    ("we ship to Germany", [], False, False),
])
def test_carriers_stealth_and_domestic_only(text: str, carriers: list[str], stealth: bool, domestic: bool) -> None:
    res = ship(text)
    assert (res["carriers"], res["stealth"], res["domestic_only"]) == (carriers, stealth, domestic)
