"""Harm-reduction and public-health writing is not an offer, even with drug names, street names and prices."""

import pytest

from nlp.analyzer import Analyzer, build_pipeline
from nlp.intent import public_health_prob


@pytest.fixture(scope="module")
def rules() -> Analyzer:
    return Analyzer(build_pipeline())


def test_explicit_no_sale_caps_probability() -> None:
    assert public_health_prob("fentanyl test strips. this site sells nothing.", 0.99, 0, 0) == 0.05
    assert public_health_prob("strips are free at our drop-in centre", 0.9, 0, 0) == 0.05


def test_two_health_cues_cap_probability_one_does_not() -> None:
    text = "carry naloxone and never use alone: fentanyl is in pressed m30 blues"
    assert public_health_prob(text, 0.9, 0, 0) == 0.2
    assert public_health_prob("fentanyl patches, overdose warning on the box", 0.9, 0, 0) == 0.9


def test_a_way_to_buy_keeps_the_offer() -> None:
    text = "naloxone and test strips free with every order of china white"
    assert public_health_prob(text, 0.9, 1, 0) == 0.9
    assert public_health_prob(text, 0.9, 0, 1) == 0.9


def test_harm_reduction_post_is_other_in_the_pipeline(rules: Analyzer) -> None:
    out = rules.analyze(
        "Test your drugs: fentanyl test strips save lives. Fentanyl has been found in pressed pills sold as "
        "oxycodone (M30 blues). Use fentanyl test strips, never use alone, and carry naloxone. This site sells "
        "nothing; strips are free at our drop-in centre."
    )
    assert out["intent"] == "other"
    assert "fentanyl" in [s["name"] for s in out["substances"]]


def test_offer_with_contact_mentioning_test_strips_stays_sale(rules: Analyzer) -> None:
    out = rules.analyze(
        "Fentanyl HCl 99% for sale, 5g $900. Test strips and naloxone included, overdose safe dosing guide. "
        "Wickr: whitelab. Ships worldwide, stealth."
    )
    assert out["intent"] == "sale"


def test_reporting_on_the_trade_is_not_an_offer() -> None:
    text = ("the potent pain killer has become a leading killer of heroin users and others illegally using "
            "prescription pills, and a target of law enforcement battling the ongoing opioid epidemic.")
    assert public_health_prob(text, 0.55, 0, 0) == 0.2
