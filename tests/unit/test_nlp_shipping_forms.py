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


@pytest.mark.parametrize(("text", "expected"), [
    # "Express post Australia wide." (shared/data/listings/vendorall_0114.csv, Agora descriptions)
    ("MDMA crystal 1g. Express post Australia wide.", ([], ["AU"], [], [])),
    ("EU-wide shipping, tracked", ([], ["EU"], [], [])),
    ("UK and Ireland wide", ([], ["GB", "IE"], [], [])),
    ("We don't ship to Australia wide", ([], [], ["AU"], [])),
    # not: "widely", a wide selection
    ("Australia widely known for quality", ([], [], [], ["AU"])),
    ("Best USA wide selection of pills", ([], [], [], ["US"])),
])
def test_a_country_wide_is_a_destination(text: str, expected: tuple[list[str], ...]) -> None:
    assert roles(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # a delivery time after a dash is no route (saved Cryptonia vendor page: "Australia, New Zeland - 10/11 days.")
    ("Australia, New Zeland - 10/11 days.", ([], ["AU", "NZ"], [], [])),
    ("UK - 1-2 days\nGermany - 3-5 days", ([], ["GB", "DE"], [], [])),
    # the dash between two countries still is
    ("Netherlands - Germany", (["NL"], ["DE"], [], [])),
])
def test_a_dash_before_a_delivery_time_is_no_arrow(text: str, expected: tuple[list[str], ...]) -> None:
    assert roles(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # delivery-time tables of saved market pages (Empire, Dream, Apollon vendor and listing pages)
    ("*** UK- NDD EU-5DAYS WW-14DAYS***", ([], ["GB", "EU", "WORLDWIDE"], [], [])),
    ("Germany 2-4 days", ([], ["DE"], [], [])),
    ("Germany 2-4 Tage", ([], ["DE"], [], [])),
    ("- CANADA 5-14DD", ([], ["CA"], [], [])),
    ("1.Germany: 1-2 business days", ([], ["DE"], [], [])),
    ("UK (1-3 WORKING DAYS)", ([], ["GB"], [], [])),
    ("USA : 7 to 10 days (may take up to 14 days)", ([], ["US"], [], [])),
    # a cue before it still decides; not: a time in the past, a number that is no time
    ("We don't ship to Germany 2-4 days", ([], [], ["DE"], [])),
    ("Ships from Germany 2-4 days", (["DE"], [], [], [])),
    ("I was in Germany 2 days ago", ([], [], [], ["DE"])),
    ("Germany 2-4 grams", ([], [], [], ["DE"])),
])
def test_a_delivery_time_after_a_country_makes_it_a_destination(text: str, expected: tuple[list[str], ...]) -> None:
    assert roles(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # "from <origin> to <destination>" with words between that the "ship ... to" cue does not span
    ("Shipping from the UK to the EU", (["GB"], ["EU"], [], [])),
    ("Shipping from the UK to the EU and worldwide", (["GB"], ["EU", "WORLDWIDE"], [], [])),
    ("Shipping from the UK to all of the EU", (["GB"], ["EU"], [], [])),
    ("Ships from UK, France to Germany", (["GB", "FR"], ["DE"], [], [])),
    ("Ships from Germany worldwide", (["DE"], ["WORLDWIDE"], [], [])),
    # not: a list of origins, worldwide as the only "origin", an origin after a destination's clause
    ("Ships from Germany, Netherlands", (["DE", "NL"], [], [], [])),
    ("Ships from Germany and the Netherlands", (["DE", "NL"], [], [], [])),
    ("Origin Country : World Wide", ([], [], [], [])),
    ("Ships from UK to EU, also ships from NL", (["GB", "NL"], ["EU"], [], [])),
])
def test_from_an_origin_to_a_destination(text: str, expected: tuple[list[str], ...]) -> None:
    assert roles(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # the negation after the country: these sentences negate shipping there, so never ships_to
    ("Shipping to the USA is not possible", ([], [], ["US"], [])),
    ("Shipping to Australia is no longer available", ([], [], ["AU"], [])),
    ("Shipping to Australia is currently suspended", ([], [], ["AU"], [])),
    ("Shipping to Canada: not available", ([], [], ["CA"], [])),
    ("Shipping to Canada and the US: not available", ([], [], ["CA", "US"], [])),
    ("We stopped shipping to Canada", ([], [], ["CA"], [])),
    # not: the negation is of something else, in another clause, or of another country's clause
    ("Shipping to the USA is possible", ([], ["US"], [], [])),
    ("Ships to Germany. Tracking is not available", ([], ["DE"], [], [])),
    ("We ship to Germany, shipping to Canada is not possible", ([], ["DE"], ["CA"], [])),
    ("We stopped using tracking. Ships to Canada", ([], ["CA"], [], [])),
])
def test_a_negation_after_the_destination(text: str, expected: tuple[list[str], ...]) -> None:
    assert roles(text) == expected


@pytest.mark.parametrize("template", ["Shipping to {c} is not possible", "Delivery to {c}: not available",
                                      "We stopped shipping to {c}", "Shipping to {c} is no longer offered"])
def test_no_name_after_a_later_negation_is_a_destination(template: str) -> None:
    names = [(key.title(), code) for key, code in TABLE.by_key.items() if code not in ("EU", "WORLDWIDE")]
    assert len(names) > 500
    leaks = [(name, roles(template.format(c=name))) for name, code in names
             if code in roles(template.format(c=name))[1]]
    assert leaks == []


@pytest.mark.parametrize(("text", "expected"), [
    # any shipping verb right before a worldwide word ("Ships worldwide" gave nothing)
    ("Ships worldwide", ([], ["WORLDWIDE"], [], [])),
    ("We send worldwide", ([], ["WORLDWIDE"], [], [])),
    ("Shipped worldwide from Spain", (["ES"], ["WORLDWIDE"], [], [])),
    # the dot of "excl." ends no clause
    ("Ships worldwide excl. Australia and NZ", ([], ["WORLDWIDE"], ["AU", "NZ"], [])),
    ("Worldwide (excl. USA/AUS)", ([], [], ["US", "AU"], [])),
    # not: a worldwide word that is not the destination, a sentence's dot
    ("Worldwide famous Dutch seller", (["NL"], [], [], [])),
    ("We ship to Germany. USA is slow", ([], ["DE"], [], ["US"])),
])
def test_ships_worldwide_and_abbreviations(text: str, expected: tuple[list[str], ...]) -> None:
    assert roles(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Shipping Destinations: US, CA, UK", ([], ["US", "CA", "GB"], [], [])),
    ("Location: Netherlands", (["NL"], [], [], [])),
    ("Vendor location: Canada", (["CA"], [], [], [])),
    ("We're based in the UK and ship across Europe", (["GB"], ["EU"], [], [])),
    ("We deliver throughout Europe", ([], ["EU"], [], [])),
    # not: a location that is no label, restricted destinations, a negated "across"
    ("The location of the lab in China is secret", ([], [], [], ["CN"])),
    ("Restricted destinations: Australia", ([], [], ["AU"], [])),
    ("We don't ship across Europe", ([], [], [], [])),
])
def test_destinations_locations_and_across(text: str, expected: tuple[list[str], ...]) -> None:
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


# ---------------------------------------------------------------- other languages

@pytest.mark.parametrize(("text", "expected"), [
    # de
    ("Versand aus Deutschland nach Europa", (["DE"], ["EU"], [], [])),
    ("Kein Problem: Versand aus den Niederlanden nach Belgien", (["NL"], ["BE"], [], [])),
    ("Versand nach Deutschland und Österreich. Kein Versand in die Schweiz", ([], ["DE", "AT"], ["CH"], [])),
    ("Wir versenden nicht nach Österreich und in die Schweiz", ([], [], ["AT", "CH"], [])),
    ("Versand weltweit außer USA und Kanada", ([], ["WORLDWIDE"], ["US", "CA"], [])),
    ("Versand nach Deutschland, nicht versichert", ([], ["DE"], [], [])),
    # nl
    ("Wij verzenden vanuit Nederland naar heel Europa", (["NL"], ["EU"], [], [])),
    ("Wij leveren niet naar België of Duitsland", ([], [], ["BE", "DE"], [])),
    ("Verzending wereldwijd behalve Rusland", ([], ["WORLDWIDE"], ["RU"], [])),
    # fr
    ("Expédition depuis la France vers l'Europe", (["FR"], ["EU"], [], [])),
    ("Nous ne livrons pas en Belgique et en Suisse", ([], [], ["BE", "CH"], [])),
    ("Livraison dans le monde entier sauf Russie", ([], ["WORLDWIDE"], ["RU"], [])),
    ("Pas de problème, livraison en France", ([], ["FR"], [], [])),
    ("Depuis 2015, vendeur en France", ([], [], [], ["FR"])),
    # es
    ("Envío desde España a toda Europa", (["ES"], ["EU"], [], [])),
    ("No enviamos a Francia ni a Italia", ([], [], ["FR", "IT"], [])),
    ("Envíos a toda Europa excepto Rusia", ([], ["EU"], ["RU"], [])),
    ("No problem, envío a España", ([], ["ES"], [], [])),
    # it
    ("Spedizione dall'Italia in tutta Europa", (["IT"], ["EU"], [], [])),
    ("Non spediamo in Francia e Germania", ([], [], ["FR", "DE"], [])),
    ("Spedizione in tutto il mondo tranne Russia", ([], ["WORLDWIDE"], ["RU"], [])),
    ("Il pacco non è assicurato. Spedizione dall'Italia", (["IT"], [], [], [])),
    # pl
    ("Wysyłka z Polski do całej Europy", (["PL"], ["EU"], [], [])),
    ("Nie wysyłamy do Niemiec i Francji", ([], [], ["DE", "FR"], [])),
    ("Wysyłka na cały świat oprócz Rosji", ([], ["WORLDWIDE"], ["RU"], [])),
    ("Nie ma problemu, wysyłka do Polski", ([], ["PL"], [], [])),
    # ru
    ("Доставка из России по всему миру", (["RU"], ["WORLDWIDE"], [], [])),
    ("Мы не отправляем в Германию и Францию", ([], [], ["DE", "FR"], [])),
    ("Доставка по всему миру, кроме России и Беларуси", ([], ["WORLDWIDE"], ["RU", "BY"], [])),
    ("Не волнуйтесь, доставка в Германию", ([], ["DE"], [], [])),
    # zh: no spaces between words
    ("从中国发货到美国", (["CN"], ["US"], [], [])),
    ("我们从荷兰发货到全世界", (["NL"], ["WORLDWIDE"], [], [])),
    ("不发货到德国、法国和美国", ([], [], ["DE", "FR", "US"], [])),
    ("全球发货，除了美国和加拿大", ([], ["WORLDWIDE"], ["US", "CA"], [])),
    ("德国发货，欧洲包邮", (["DE"], ["EU"], [], [])),
    ("不错的货，发货到德国", ([], ["DE"], [], [])),
    # hi: postpositions after the country
    ("हम भारत से दुनिया भर में शिप करते हैं", (["IN"], ["WORLDWIDE"], [], [])),
    ("हम अमेरिका और कनाडा को शिप नहीं करते", ([], [], ["US", "CA"], [])),
    ("अमेरिका को शिप करना संभव नहीं है", ([], [], ["US"], [])),
    ("रूस को छोड़कर पूरी दुनिया में डिलीवरी", ([], ["WORLDWIDE"], ["RU"], [])),
    ("हम अमेरिका को शिप करते हैं", ([], ["US"], [], [])),
    # the table writes the nukta, normalize() drops it: both spellings are France
    ("फ़्रांस में डिलीवरी", ([], ["FR"], [], [])),
    ("फ्रांस में डिलीवरी", ([], ["FR"], [], [])),
    # a negation later in the clause: no role, never ships_to; a danda (।) ends the clause
    ("अमेरिका को शिप करना अभी बिलकुल संभव नहीं है", ([], [], [], ["US"])),
    ("हम अमेरिका को शिप करते हैं। हम रूस को शिप नहीं करते", ([], ["US"], ["RU"], [])),
    ("भारत एक बड़ा देश है", ([], [], [], ["IN"])),
])
def test_shipping_in_other_languages(text: str, expected: tuple[list[str], ...]) -> None:
    assert roles(text) == expected


@pytest.mark.parametrize(("neg", "lang"), [
    ("Wir versenden nicht nach {c}", "de"), ("Kein Versand nach {c}", "de"), ("Wij verzenden niet naar {c}", "nl"),
    ("Geen verzending naar {c}", "nl"), ("Nous ne livrons pas en {c}", "fr"), ("Pas de livraison vers {c}", "fr"),
    ("No enviamos a {c}", "es"), ("Non spediamo in {c}", "it"), ("Nie wysyłamy do {c}", "pl"),
    ("Мы не отправляем в {c}", "ru"), ("不发货到{c}", "zh"), ("हम {c} को शिप नहीं करते", "hi"),
])
def test_a_negated_sentence_in_any_language_never_ships_to_its_country(neg: str, lang: str) -> None:
    """Every name of a language's rows, after that language's negation, is excluded and never in ships_to."""
    names = [(name, code) for name, code, row_lang in _names_by_language() if row_lang == lang]
    assert len(names) >= 15
    for name, code in names:
        text = neg.format(c=name)
        _frm, to, not_to, _m = roles(text)
        assert code not in to, (text, to)
        assert code in not_to or "," in code, (text, not_to)


def _names_by_language() -> list[tuple[str, str, str]]:
    rows = []
    for line in (Path(__file__).resolve().parents[2] / "nlp" / "data" / "countries.tsv").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        code, names, source = line.split("\t")
        lang = source.split(":", 1)[0]
        if code not in ("EU", "WORLDWIDE") and lang in ("de", "nl", "fr", "es", "it", "pl", "ru", "zh", "hi"):
            rows.extend((name, code, lang) for name in names.split(";"))
    return rows


def test_every_language_of_the_name_table_has_country_rows_with_a_source() -> None:
    langs = {lang for _n, _c, lang in _names_by_language()}
    assert langs == {"de", "nl", "fr", "es", "it", "pl", "ru", "zh", "hi"}


@pytest.mark.parametrize(("text", "frm", "to"), [
    # "only" in other languages: one destination and "only" is domestic, sent from there (Agora: "Versand nur nach
    # Deutschland. Versand per DHL PAKET mit Tracking ID.")
    ("50g Haze. Versand nur nach Deutschland. Versand per DHL PAKET mit Tracking ID.", ["DE"], ["DE"]),
    ("Wysyłka tylko do Polski", ["PL"], ["PL"]),
    ("Доставка только по России", ["RU"], ["RU"]),
    # not: no "only", or two destinations
    ("Versand nach Deutschland", [], ["DE"]),
    ("Versand nur nach Deutschland und Österreich", [], ["DE", "AT"]),
])
def test_only_in_other_languages_is_domestic(rules: Analyzer, text: str, frm: list[str], to: list[str]) -> None:
    res = rules.analyze(text)
    assert (res["ships_from"], res["ships_to"]) == (frm, to)
