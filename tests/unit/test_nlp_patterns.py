"""Unit tests for the NLP pattern families: normalisation, substances, CAS, contacts, crypto, shipping, prices."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from nlp import extractors
from nlp.lexicon import Lexicon, Term, Tokens, cas_valid, filter_context
from nlp.normalize import normalize

DATA = Path(__file__).resolve().parents[2] / "nlp" / "data"


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon.from_tsv(DATA / "substances.tsv")


@pytest.fixture(scope="module")
def countries() -> extractors.CountryTable:
    return extractors.CountryTable.from_tsv(DATA / "countries.tsv")


def canon(lexicon: Lexicon, text: str, sale: bool = True) -> list[tuple[str, str]]:
    norm = normalize(text, is_known=lexicon.is_known, is_word=lexicon.vocabulary.__contains__)
    tokens = Tokens(norm.text)
    hits = filter_context(lexicon.match(norm.text, tokens), tokens, sale)
    out = []
    for h in hits:
        s, e = norm.to_original(h.start, h.end)
        out.append((text[s:e], h.term.canonical))
    return out


# ---------------------------------------------------------------- normalisation

@pytest.mark.parametrize("raw", ["f3ntanyl", "fent@nyl", "f.e.n.t.a.n.y.l", "f-e-n-t-a-n-y-l", "f e n t a n y l",
                                 "FENT.ANYL", "f\u200bent\u200canyl", "fеntаnyl", "ｆｅｎｔａｎｙｌ"])
def test_obfuscated_fentanyl_is_found_with_offsets_into_the_original(lexicon: Lexicon, raw: str) -> None:
    text = f"selling {raw} 10g"
    found = canon(lexicon, text)
    assert ("fentanyl" in [c for _t, c in found]), found
    span = next(t for t, c in found if c == "fentanyl")
    assert span.replace("\u200b", "").replace("\u200c", "") .lower().startswith(raw[0].lower())
    assert normalize(text, is_known=lexicon.is_known).text.startswith("selling fentanyl")


def test_leetspeak_is_left_alone_where_it_is_not_a_drug_word(lexicon: Lexicon) -> None:
    text = "M30 pills, 4-ANPP, mail bob@mail.com, covid19, h2o"
    assert normalize(text, is_known=lexicon.is_known).text == text.lower()


def test_russian_text_is_not_folded_to_latin(lexicon: Lexicon) -> None:
    assert normalize("Продаю фентанил", is_known=lexicon.is_known).text == "продаю фентанил"


def test_offset_map_survives_removed_characters() -> None:
    n = normalize("a\u200bb f.e.n.t x", is_known={"fent"}.__contains__)
    assert n.text == "ab fent x"
    assert n.to_original(3, 7) == (4, 11)
    assert n.to_original(8, 9) == (12, 13)


# ---------------------------------------------------------------- substances

@pytest.mark.parametrize(("text", "canonical"), [
    ("Fentanyl powder", "fentanyl"), ("carfentanil 99%", "carfentanil"), ("acetyl fentanyl", "acetylfentanyl"),
    ("4-ANPP in stock", "4-anpp"), ("NPP powder", "npp"), ("1-boc-4-AP", "1-boc-4-ap"),
    ("N-Boc-4-piperidone", "1-boc-4-piperidone"), ("4-piperidone hcl", "4-piperidone"),
    ("norfentanyl", "norfentanyl"), ("propionyl chloride", "propionyl chloride"),
    ("BMK glycidate", "bmk glycidate"), ("PMK glycidate", "pmk glycidate"), ("P2P oil", "p2p"),
    ("pseudoephedrine", "pseudoephedrine"),
    ("fentanilo", "fentanyl"), ("фентанил", "fentanyl"), ("芬太尼现货", "fentanyl"), ("फेंटानिल", "fentanyl"),
    ("卡芬太尼", "carfentanil"), ("丙酰氯", "propionyl chloride"), ("эфедрин", "ephedrine"),
    ("4-哌啶酮", "4-piperidone"), ("norfentanilo", "norfentanyl"),
])
def test_names_in_five_languages(lexicon: Lexicon, text: str, canonical: str) -> None:
    assert canonical in [c for _t, c in canon(lexicon, text)]


@pytest.mark.parametrize(("text", "canonical"), [
    ("Pressed M30 blues, 100 pills", "fentanyl"), ("china white 10g", "fentanyl"),
    ("dance fever, 1g sample", "fentanyl"),
])
def test_curated_slang_counts_in_a_sale_listing(lexicon: Lexicon, text: str, canonical: str) -> None:
    assert canonical in [c for _t, c in canon(lexicon, text, sale=True)]


@pytest.mark.parametrize(("text", "canonical"), [
    ("❄️ 1g 90% pure, telegram @snowman", "cocaine"), ("🔵💊 x100 pressed", "oxycodone"),
    ("💎 shards 3.5g", "methamphetamine"),
])
def test_emoji_codes_count_in_a_sale_listing(lexicon: Lexicon, text: str, canonical: str) -> None:
    assert canonical in [c for _t, c in canon(lexicon, text, sale=True)]
    assert canon(lexicon, text, sale=False) == [] or canonical not in [c for _t, c in canon(lexicon, text, False)]


def test_emoji_in_chat_do_not_fire(lexicon: Lexicon) -> None:
    assert canon(lexicon, "Snow day ❄️ with my 🐉 toy", sale=False) == []


@pytest.mark.parametrize("text", [
    "Grandma's china white porcelain teapot",
    "He sang the blues all night",
    "I love dance fever, the disco show",
    "The BMW M30 engine is reliable",
])
def test_curated_slang_does_not_fire_in_ordinary_text(lexicon: Lexicon, text: str) -> None:
    assert canon(lexicon, text, sale=False) == []


@pytest.mark.parametrize("text", ["Pure quality, fast delivery, white box", "Girl with a fire in her shoes",
                                  "Ice cream and candy at the beach"])
def test_common_words_that_are_also_dea_slang_do_not_fire(lexicon: Lexicon, text: str) -> None:
    assert canon(lexicon, text, sale=True) == []


def test_cas_numbers_are_recognised_with_check_digit(lexicon: Lexicon) -> None:
    found = canon(lexicon, "CAS 21409-26-7 and 79099-07-3, not 21409-26-8")
    assert ("21409-26-7", "4-anpp") in found
    assert ("79099-07-3", "1-boc-4-piperidone") in found
    assert all(t != "21409-26-8" for t, _c in found)


def test_cas_check_digit() -> None:
    assert cas_valid("437-38-7") and cas_valid("7732-18-5")
    assert not cas_valid("437-38-8") and not cas_valid("12-3")


@pytest.mark.parametrize("name", ["precursors.tsv", "core_substances.tsv"])
def test_hand_tables_have_valid_cas_and_a_source_on_every_row(name: str) -> None:
    rows = [line.split("\t") for line in (DATA / name).read_text(encoding="utf-8").splitlines()
            if line and not line.startswith("#")]
    assert len(rows) >= 20
    for row in rows:
        assert len(row) == 6, row[0]
        assert row[5].strip(), f"{name}: {row[0]} has no source"
        if row[2]:
            assert cas_valid(row[2]), f"{name}: {row[0]} CAS {row[2]}"


def test_precursor_core_set_is_present(lexicon: Lexicon) -> None:
    for key in ["4 anpp", "npp", "4 ap", "1 boc 4 ap", "4 piperidone", "1 boc 4 piperidone", "norfentanyl",
                "propionyl chloride", "ephedrine", "pseudoephedrine", "p2p", "bmk glycidate", "pmk glycidate"]:
        term = lexicon.by_key[key]
        assert term.cls == "precursor" and term.cas, key


def test_substance_table_holds_analogues_and_dea_lists() -> None:
    with (DATA / "substances.tsv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    fent = {r["canonical"] for r in rows if r["class"] == "fentanyl"}
    assert len(fent) >= 250
    assert any("c_cs_alpha" in r["source"] for r in rows)
    assert any("slangUE" in r["source"] for r in rows)


# ---------------------------------------------------------------- contacts

@pytest.mark.parametrize(("text", "kind", "value"), [
    ("telegram: @chem_plug88", "telegram", "@chem_plug88"),
    ("TG @fentking", "telegram", "@fentking"),
    ("join https://t.me/pharmashop24", "telegram", "@pharmashop24"),
    ("Wickr: medsplug", "wickr", "medsplug"),
    ("wickr me - bigchem.", "wickr", "bigchem"),
    ("Signal +1 415 555 2671", "signal", "+14155552671"),
    ("session id 05" + "a" * 64, "session", "05" + "a" * 64),
    ("Threema ID: ABCD1234", "threema", "ABCD1234"),
    ("WhatsApp: +86 131 2345 6789", "whatsapp", "+8613123456789"),
    ("wa.me/447911123456", "whatsapp", "+447911123456"),
    ("WeChat: chem_supplier88", "wechat", "chem_supplier88"),
    ("微信：chemhub2020", "wechat", "chemhub2020"),
    ("ICQ 123456789", "icq", "123456789"),
    ("jabber: plug@xmpp.jp", "jabber", "plug@xmpp.jp"),
    ("mail us at sales@chem-supply.com", "email", "sales@chem-supply.com"),
    ("call or text +1 (415) 555-2671", "phone", "+14155552671"),
    ("PGP fingerprint: 8A1B 2C3D 4E5F 6071 8293 A4B5 C6D7 E8F9 0A1B 2C3D", "pgp",
     "8A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D"),
])
def test_contact_channels(text: str, kind: str, value: str) -> None:
    found = [(c["kind"], c["value"]) for c in extractors.find_contacts(text)]
    assert (kind, value) in found, found


@pytest.mark.parametrize("text", [
    "Send a signal to the committee", "the session was closed", "tg is a tag", "my phone is broken",
    "CAS 21409-26-7", "git commit 8a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d",
])
def test_contact_negatives(text: str) -> None:
    assert extractors.find_contacts(text) == []


def test_vendor_handles() -> None:
    values = [h["value"] for h in extractors.find_handles("Vendor: DutchDeal. Sold by - chemking")]
    assert values == ["DutchDeal", "chemking"]
    assert [h["value"] for h in extractors.find_handles("see http://x.onion/vendor/green-machine")] == ["green-machine"]


# ---------------------------------------------------------------- crypto

@pytest.mark.parametrize(("addr", "kind"), [
    ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "btc"),
    ("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "btc"),
    ("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "btc"),
    ("bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297", "btc"),
    ("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "trx"),
    ("0x52908400098527886E0F7030069857D2E4169EE7", "eth"),
    ("44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A", "xmr"),
])
def test_crypto_addresses(addr: str, kind: str) -> None:
    found = extractors.find_wallets(f"pay to {addr} please")
    assert [(w["kind"], w["start"]) for w in found] == [(kind, 7)]


@pytest.mark.parametrize("addr", [
    "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb",  # base58check checksum wrong
    "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdr",  # bech32 checksum wrong
    "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u",
])
def test_crypto_checksums_are_verified(addr: str) -> None:
    assert extractors.find_wallets(f"pay to {addr}") == []


# ---------------------------------------------------------------- shipping

def ship(countries: extractors.CountryTable, text: str) -> dict:
    norm = normalize(text)
    tokens = Tokens(norm.text)
    mentions = countries.find(norm.text, lambda s, e: text[s:e], tokens)
    return extractors.find_shipping(norm.text, mentions, tokens)


@pytest.mark.parametrize(("text", "frm", "to", "not_to"), [
    ("Ships from China to USA and Canada", ["CN"], ["US", "CA"], []),
    ("Shipping worldwide except Australia", [], ["WORLDWIDE"], ["AU"]),
    ("Ships from Netherlands. No shipping to USA", ["NL"], [], ["US"]),
    ("We don't ship to France or Germany, we ship to EU", [], ["EU"], ["FR", "DE"]),
    ("Ships from: NL → EU", ["NL"], ["EU"], []),
    ("Sent from the UK, delivery to Spain, Italy", ["GB"], ["ES", "IT"], []),
    ("Dispatch from Hong Kong; ships to United States", ["HK"], ["US"], []),
    ("We do not deliver to Russia", [], [], ["RU"]),
])
def test_ships_from_to_and_exclusions(countries: extractors.CountryTable, text: str, frm: list[str], to: list[str],
                                      not_to: list[str]) -> None:
    res = ship(countries, text)
    assert (res["ships_from"], res["ships_to"], res["ships_not_to"]) == (frm, to, not_to)


def test_no_shipping_to_never_yields_ships_to(countries: extractors.CountryTable) -> None:
    for text in ["no shipping to USA", "we don't ship to France", "not shipping to Canada, sorry"]:
        assert ship(countries, text)["ships_to"] == [], text


def test_carriers_stealth_domestic(countries: extractors.CountryTable) -> None:
    res = ship(countries, "USPS priority mail, vacuum sealed stealth, domestic only")
    assert res["carriers"] == ["USPS"] and res["stealth"] and res["domestic_only"]
    res = ship(countries, "Fast delivery by DHL and EMS")
    assert res["carriers"] == ["DHL", "EMS"] and not res["stealth"] and not res["domestic_only"]


def test_lowercase_two_letter_words_are_not_countries(countries: extractors.CountryTable) -> None:
    assert ship(countries, "ship to us in a day")["ships_to"] == []


# ---------------------------------------------------------------- price and quantity

def test_prices_and_quantities() -> None:
    prices = [(p["amount"], p["currency"]) for p in extractors.find_prices("$450 per 10g, €12,50, 0.02 BTC")]
    assert prices == [("450", "USD"), ("12.50", "EUR"), ("0.02", "BTC")]
    qty = [(q["amount"], q["unit"]) for q in extractors.find_quantities("10g, 100 pills, 5 kg, 2.5mg x 50")]
    assert qty == [("10", "g"), ("100", "pill"), ("5", "kg"), ("2.5", "mg"), ("50", "piece")]
    for text in ["$450 per 10g, €12,50, 0.02 BTC, 40 usd", "10 great pills x 3, usd 25", "nothing 12 here"]:
        prices, quantities = extractors.find_amounts(text)
        assert prices == extractors.find_prices(text), text
        assert quantities == extractors.find_quantities(text), text


@pytest.mark.parametrize("text", ["MDMA 1g,5g,10g", "1g,5g,10g available", "Heroin 1g, 5g, 10g"])
def test_comma_lists_of_amounts(text: str) -> None:
    """A number after a comma that follows a unit starts the next amount; after a digit it is a decimal."""
    prices, quantities = extractors.find_amounts(text)
    assert prices == [] == extractors.find_prices(text)
    assert [(q["amount"], q["unit"]) for q in quantities] == [("1", "g"), ("5", "g"), ("10", "g")]
    assert quantities == extractors.find_quantities(text)


@pytest.mark.parametrize(("text", "prices", "quantities"), [
    ("1,5g", [], [("1.5", "g")]),
    ("20eur,50eur", [("20", "EUR"), ("50", "EUR")], []),
    ("1g,2g = 30,50 usd", [("30.50", "USD")], [("1", "g"), ("2", "g")]),
    ("1,000 usd for 10g", [("1000", "USD")], [("10", "g")]),
])
def test_commas_inside_and_between_amounts(text: str, prices: list[tuple[str, str]],
                                            quantities: list[tuple[str, str]]) -> None:
    found_p, found_q = extractors.find_amounts(text)
    assert [(p["amount"], p["currency"]) for p in found_p] == prices
    assert [(p["amount"], p["currency"]) for p in extractors.find_prices(text)] == prices
    assert [(q["amount"], q["unit"]) for q in found_q] == quantities


def test_lexicon_term_dataclass_is_hashable() -> None:
    t = Term("a", "a", "other", "", "", "strong", "x")
    assert {t: 1}[t] == 1
