"""Vendor handles: stated (`vendor: X`, `/vendor/X`, `X presents`) and signed (possessive, welcome, signature)."""

from __future__ import annotations

import pytest

from nlp import extractors
from nlp.analyzer import Analyzer, build_pipeline, listing_text


def values(text: str) -> list[str]:
    return [h["value"] for h in extractors.find_handles(text)]


@pytest.fixture(scope="module")
def rules() -> Analyzer:
    return Analyzer(build_pipeline())


@pytest.mark.parametrize(("text", "handle"), [
    # stated
    ("Vendor: DutchDeal. Fast shipping", "DutchDeal"),
    ("seller - chemking\n10g MDMA", "chemking"),
    ("reviews at http://agora.onion/vendor/green-machine", "green-machine"),
    ("87%!! DutchDeal offers the best uncut MDMA", "DutchDeal"),
    ("10g speed paste\n10g speed paste OptiKing Presents 10g of paste", "OptiKing"),
    ("rollz4u is on Agora now!", "rollz4u"),
    # possessive at the head of the title or the description
    ("BlueFrog's ✪ AMNESIA HAZE ✪ 10g\nTop shelf weed", "BlueFrog"),
    ("25 x NightOwl's Blue Microdots 100ug", "NightOwl"),
    ("1 Gram NightOwl's Tan MDMA", "NightOwl"),
    ("Lab tested speed\nPharmaKing’s speed is tested by a lab", "PharmaKing"),
    # welcome, from, sold by, we are
    ("Welcome to the CardHouse superstore. This item is one card", "CardHouse"),
    ("Welcome to GreenCorsair's Weed Shop, UK grown", "GreenCorsair"),
    ("Order with confidence. Order from SexyHash.", "SexyHash"),
    ("Thanks...from RiteZ", "RiteZ"),
    ("brought to you by TheGoodDoc", "TheGoodDoc"),
    ("We are CocaConnect. We ship daily", "CocaConnect"),
    # signatures and names set off in the title
    ("Subutex 8mg FREE UK SHIPPING - QualityRx\nBlister packed", "QualityRx"),
    ("I will post your custom listing. -StarFoxZ", "StarFoxZ"),
    ("(5) Yellow Norcos - *WalterWhiteMT* $50", "WalterWhiteMT"),
    ("[ blotterKING ] 1x LSD", "blotterKING"),
    ("<<<<<<FineScans The No 1 Forger>>>>>>", "FineScans"),
    ("acidMAN | 1x LSD Blotter | 110ug", "acidMAN"),
    # Title-case names only after a greeting / "it's me", before a stop
    ("Hi I am Moonshiva i just became a vendor on Agora", "Moonshiva"),
    ("Hi Y'all! It's me Wintertime! I have your pills", "Wintertime"),
    ("Loud!!! Oak here folks with an exclusive deal", "Oak"),
])
def test_handles_found(text: str, handle: str) -> None:
    found = extractors.find_handles(text)
    assert handle in [h["value"] for h in found], found
    h = next(h for h in found if h["value"] == handle)
    assert text[h["start"]:h["end"]] == handle


@pytest.mark.parametrize("text", [
    # news and discussion
    "Police seized 20 kg of fentanyl from China at the port, the DEA said on Monday.",
    "The vendor, from China, was arrested by Europol. J. Allan Hobson offers a new theory.",
    "We are proudly announcing new cards. The Marketplace is on I2P. Description is on the way...",
    "Dutch Passion Current offers: SUPERCHEAP!",
    # trade words, countries, brands, people
    "Cocaine sold by the kilo, shipped from the UK or from USA, paid by PayPal or from MasterCard",
    "NEW VENDOR - FREE SHIPPING TO USA",
    "Purchase both in generic, store-brand form",
    "John McMurry's Organic Chemistry 8th Ed",
    "The Famous HollyMolly's Sexy Cocaine",
    "Includes: - poker - DeadTedSteven's Fence Method - sim cards",
    "Valium 10 mg made by Roche. Ativan by Wyeth-Pfizer. Dormicum from Hoffman-LaRoche",
    "Hacking Windows XP (ExtremeTech)",
    "1g Methylone (bk-MDMA) crystals",
    "*VERY STRONG* LSD - Indoor-Soil-Organic - Worldwide",
    # common words after intro cues
    "I AM BACK! THIS IS THE BEST MDMA. I'm Sorry, I am Dutch. This is Uncut and pure.",
    "Hello all I am Back, and better",
    "Click here folks",
    # e-mail, URL and domain parts
    "mail MaxPower@safe-mail.net or see www.SpeedKing.com",
    # a handle cut off by a preview
    "see http://agora.onion/vendor/Holland ...",
])
def test_no_handles(text: str) -> None:
    assert extractors.find_handles(text) == [], extractors.find_handles(text)


def test_existing_forms_and_order() -> None:
    assert values("Vendor: DutchDeal. Sold by - chemking") == ["DutchDeal", "chemking"]
    assert values("see http://x.onion/vendor/green-machine") == ["green-machine"]
    # one entry per handle, case-insensitively; the stated form first
    assert values("Vendor: NightOwl\nNightOwl's Blue Microdots - NightOwl") == ["NightOwl"]


def test_long_text_stays_linear() -> None:
    text = ("AbCd " * 200_000) + "- QualityRx"
    assert values(text) == ["QualityRx"]


def test_listing_text_vendor_line_and_vendor_entities(rules: Analyzer) -> None:
    out = rules.analyze(listing_text("25 x NightOwl's Blue Microdots 100ug", "Lab tested",
                                     ships_from_raw="Netherlands", vendor="nightowl_nl"))
    assert out["vendor"]["handles"] == ["nightowl_nl", "NightOwl"]  # the stated "Vendor: X" line first
    ents = [e for e in out["entities"] if e["label"] == "VENDOR"]
    assert [(e["text"], e["canonical"]) for e in ents] == [("NightOwl", "NightOwl"), ("nightowl_nl", "nightowl_nl")]
    out = rules.analyze("Police seized fentanyl from China, sold by the kilo, officials said.")
    assert out["vendor"]["handles"] == []
    assert not [e for e in out["entities"] if e["label"] == "VENDOR"]
