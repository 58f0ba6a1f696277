"""Shipping and substance forms that the probe set's blind half (tests/fixtures/nlp_probe, scored once on
2026-12-03) showed misread: each rule with texts it must read and look-alikes it must leave alone. Hand-built
texts; no trained pipeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nlp import extractors
from nlp.lexicon import Tokens
from nlp.normalize import normalize

TABLE = extractors.CountryTable.from_tsv(Path(__file__).resolve().parents[2] / "nlp" / "data" / "countries.tsv")


def shipping(text: str) -> dict[str, Any]:
    norm = normalize(text)
    tokens = Tokens(norm.text)
    return extractors.find_shipping(norm.text, TABLE.find(norm.text, lambda s, e: text[s:e], tokens), tokens)


def roles(text: str) -> tuple[list[str], list[str], list[str]]:
    res = shipping(text)
    return res["ships_from"], res["ships_to"], res["ships_not_to"]


# ---------------------------------------------------------------- "world" after a destination cue

@pytest.mark.parametrize(("text", "expected"), [
    ("Xanax 1mg\nShips from: denmark → Ships to: world", (["DK"], ["WORLDWIDE"], [])),
    ("Ships to: World", ([], ["WORLDWIDE"], [])),
    ("We ship to the whole world!", ([], ["WORLDWIDE"], [])),
    ("we send to the entire world from Spain", (["ES"], ["WORLDWIDE"], [])),
])
def test_world_after_a_destination_cue_is_worldwide(text: str, expected: tuple[list[str], ...]) -> None:
    assert roles(text) == expected


@pytest.mark.parametrize("text", [
    "The best MDMA in the world",
    "world class quality, ships fast",
    "Ships to: World War II collectors",
    "we send to world's end",
    "welcome to the world of stealth",
])
def test_world_elsewhere_is_no_place(text: str) -> None:
    assert "WORLDWIDE" not in roles(text)[1]


# ---------------------------------------------------------------- "<region> except outside, X, Y"

@pytest.mark.parametrize(("text", "expected"), [
    ("Ships from: germany → Ships to: eu except outside, norway, finland", (["DE"], ["EU"], ["NO", "FI"])),
    ("Ships to: EU except Norway, Finland", ([], ["EU"], ["NO", "FI"])),
    ("Ships to: worldwide except outside, australia", ([], ["WORLDWIDE"], ["AU"])),
])
def test_region_except_list_is_excluded(text: str, expected: tuple[list[str], ...]) -> None:
    assert roles(text) == expected


@pytest.mark.parametrize("text", [
    # "outside" not as an item of the list: the negation still stops at words that are no separators
    "Except weekends and outside, Norway orders ship on Monday",
    "We don't ship on weekends or outside, Norway orders go Monday",
    "Ships to: EU except outside office hours, Norway gets it in 2 days",
])
def test_outside_elsewhere_does_not_extend_an_exclusion(text: str) -> None:
    assert "NO" not in roles(text)[2]


# ---------------------------------------------------------------- "will not ship international": domestic only

@pytest.mark.parametrize("text", [
    "We will not ship international. Ships from USA",
    "I dont ship internationally!! Located in Germany",
    "we do not ship worldwide",
])
def test_no_international_shipping_is_domestic_only(text: str) -> None:
    res = shipping(text)
    assert "WORLDWIDE" not in res["ships_not_to"]
    assert res["domestic_only"] and res["domestic_stated"]
    # once the origin is known, the destinations are that country alone
    assert extractors.domestic_destinations(res, res["ships_from"]) == res["ships_from"]


@pytest.mark.parametrize(("text", "to"), [
    # other destinations named: not domestic only
    ("we don't ship internationally, only to the US and Canada", ["US", "CA"]),
    # an exclusion of countries stays one
    ("We ship worldwide. We do not ship to Australia", ["WORLDWIDE"]),
])
def test_other_destinations_are_kept(text: str, to: list[str]) -> None:
    res = shipping(text)
    assert res["ships_to"] == to
    assert not res["domestic_stated"]
    assert "WORLDWIDE" not in res["ships_not_to"]


# ---------------------------------------------------------------- "25C" as a temperature

def _names_pipe(directory: Path, rows: str) -> Any:
    """A blank pipeline with only the substances component over a hand-built table; text -> canonical names."""
    import spacy

    import nlp.components  # noqa: F401  (registers the factories)

    table = directory / "substances.tsv"
    table.write_text("term\tcanonical\tclass\tcas\tcontrol\tstrength\tsource\n" + rows, encoding="utf-8")
    pipe = spacy.blank("en")
    pipe.add_pipe("narcowatch_substances_v1", config={"table": str(table)})

    def names(text: str) -> list[str]:
        st = pipe(text).user_data["nw"]
        return [h.term.canonical for h in st["hits"]]
    return names


@pytest.fixture(scope="module")
def substances(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return _names_pipe(tmp_path_factory.mktemp("lex"), "25c\t25c-nbome\thallucinogen\t\t\tstrong\ttest row\n"
                       "25c-nbome\t25c-nbome\thallucinogen\t\t\tstrong\ttest row\n")


@pytest.mark.parametrize("text", [
    "store below 25C in a dry place",
    "Store at 25C",
    "keep between 15-25C",
    "Storage: 25C / 77F",
    "temp 25c max",
])
def test_celsius_figure_is_no_substance(substances: Any, text: str) -> None:
    assert substances(text) == []


@pytest.mark.parametrize("text", [
    "25C blotters x10",
    "selling 25C 800ug tabs",
    "25C-NBOMe blotters, store below 25C",
])
def test_25c_as_a_name_stays(substances: Any, text: str) -> None:
    assert substances(text)[:1] == ["25c-nbome"]


# ---------------------------------------------------------------- "2 CB": 2C-B written apart, in drug context

@pytest.fixture(scope="module")
def substances_2cb(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import spacy

    import nlp.components  # noqa: F401  (registers the factories)

    table = tmp_path_factory.mktemp("lex2cb") / "substances.tsv"
    table.write_text("term\tcanonical\tclass\tcas\tcontrol\tstrength\tsource\n"
                     "2c-b\t4-bromo-2,5-dimethoxyphenethylamine\thallucinogen\t\t\tstrong\ttest row\n",
                     encoding="utf-8")
    pipe = spacy.blank("en")
    pipe.add_pipe("narcowatch_substances_v1", config={"table": str(table)})

    def names(text: str) -> list[str]:
        st = pipe(text).user_data["nw"]
        return [h.term.canonical for h in st["hits"]]
    return names


@pytest.mark.parametrize("text", [
    "2 CB Powder 99% Purity 1g",
    "selling 2 cb 20mg pills",
    "Pressed 2 CB tabs, 25mg each",
])
def test_2cb_written_apart_in_drug_context(substances_2cb: Any, text: str) -> None:
    assert substances_2cb(text) == ["4-bromo-2,5-dimethoxyphenethylamine"]


@pytest.mark.parametrize("text", [
    "2 CB radios for sale, free shipping",
    "Channel 19 on 2 CB sets",
    "1.2 cb powder",
    "room 2\ncb powder",
])
def test_2_cb_elsewhere_is_no_substance(substances_2cb: Any, text: str) -> None:
    assert substances_2cb(text) == []


# ---------------------------------------------------------------- a country as an address template's example

def test_address_template_example_is_no_country() -> None:
    text = ("- Remember ADDRESS FORMATTING\nPeter Shark (Name+Surname: Capatilize Every Word)\n"
            "TR11 0DF (Post Code: FULL CAPITALS)\nUNITED KINGDOM (Country: FULL CAPITALS)")
    res = shipping(text)
    assert (res["ships_from"], res["ships_to"], res["mentioned"]) == ([], [], [])


@pytest.mark.parametrize(("text", "expected"), [
    ("Ships from: United Kingdom (country of origin)", (["GB"], [], [])),
    ("Ships from: Germany (countrywide next day)", (["DE"], [], [])),
    ("Country: United Kingdom (GB)", ([], [], [])),
])
def test_country_before_other_brackets_stays(text: str, expected: tuple[list[str], ...]) -> None:
    assert roles(text) == expected
    if not expected[0]:
        assert shipping(text)["mentioned"] == ["GB"]


# ---------------------------------------------------------------- "near X" in a delivery-time table

@pytest.mark.parametrize("text", [
    "Estimated arrival time for Europe. Countries near Belgium 2-3 working days.",
    "We ship to countries neighbouring Germany",
    "Countries close to the Netherlands: 1-2 days",
])
def test_place_near_which_is_no_destination(text: str) -> None:
    to = roles(text)[1]
    assert not {"BE", "DE", "NL"} & set(to)


@pytest.mark.parametrize(("text", "to"), [
    ("Belgium 2-3 working days, Germany 3-4 days", ["BE", "DE"]),
    ("we ship to Germany and around Europe", ["DE", "EU"]),
    ("Shipping to Belgium: 2-3 days", ["BE"]),
])
def test_destinations_of_a_delivery_table_stay(text: str, to: list[str]) -> None:
    assert roles(text)[1] == to


# ---------------------------------------------------------------- slang in a coin or bullion listing

@pytest.fixture(scope="module")
def substances_slang(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return _names_pipe(tmp_path_factory.mktemp("lexmint"), "mint\tcannabis\tcannabis\t\t\tweak\ttest row\n"
                       "acapulco gold\tcannabis\tcannabis\t\t\tweak\ttest row\n"
                       "heroin\theroin\topioid\t\t\tstrong\ttest row\n")


@pytest.mark.parametrize("text", [
    "1/20th Troy Ounce Gold Coin- Perth Mint 2014 Year of the Horse",
    "Silver coins from the Royal Mint, 10 pcs",
    "Mint condition gold bullion bar",
])
def test_slang_in_a_bullion_listing_is_no_substance(substances_slang: Any, text: str) -> None:
    assert substances_slang(text) == []


@pytest.mark.parametrize(("text", "expected"), [
    ("Acapulco Gold 3.5g, pay in bitcoin", ["cannabis"]),  # "bitcoin" is no coin
    ("Heroin 1g and mint, gold coin accepted", ["heroin", "cannabis"]),  # a name: the text is about drugs
    ("Fresh mint 10g", ["cannabis"]),
])
def test_slang_elsewhere_stays(substances_slang: Any, text: str, expected: list[str]) -> None:
    assert substances_slang(text) == expected


# ---------------------------------------------------------------- "Ships From : AnyWorld": a place, no seller

@pytest.mark.parametrize("text", [
    "Ships From :\nAnyWorld Wide (WW)\nAlbania (AL)\nAlgeria (DZ)",
    "Shipping from: AnyWhere",
    "Sent from TheNetherlands",
])
def test_name_after_ships_from_is_no_handle(text: str) -> None:
    assert extractors.find_handles(text) == []


@pytest.mark.parametrize(("text", "handle"), [
    ("Greetings from HollandBoys", "HollandBoys"),
    ("Best MDMA from DutchMasters", "DutchMasters"),
    ("Welcome to DutchDeal", "DutchDeal"),
])
def test_signature_after_other_from_stays(text: str, handle: str) -> None:
    assert [h["value"] for h in extractors.find_handles(text)] == [handle]
