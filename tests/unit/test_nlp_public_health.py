"""Harm-reduction and public-health writing is not an offer, even with drug names, street names and prices."""

import pytest

from nlp import datasets
from nlp.analyzer import Analyzer, build_pipeline
from nlp.intent import _HEALTH_CUE_ALTERNATIVES, _HEALTH_CUES, _HEALTH_FIRST_WORDS, public_health_prob
from nlp.lexicon import Tokens


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


def _spellings(alternative: str) -> list[str]:
    """Every text a cue alternative matches ("seizures?": "seizures", "seizure")."""
    out = [alternative]
    if "(epidemic|crisis)" in alternative:
        out = [alternative.replace("(epidemic|crisis)", w) for w in ("epidemic", "crisis")]
    return [v for o in out for v in ((o.replace("s?", "s"), o.replace("s?", "")) if "s?" in o else (o,))]


def test_every_cue_starts_with_a_token_the_fast_path_knows() -> None:
    # the fast path skips texts whose tokens hold no first word of a cue: each cue must start with one
    spellings = [s for alt in _HEALTH_CUE_ALTERNATIVES for s in _spellings(alt)]
    assert len(spellings) == 36
    for cue in spellings:
        assert _HEALTH_CUES.fullmatch(cue), cue
        assert Tokens(f"the {cue} here").words[1] in _HEALTH_FIRST_WORDS, cue


def test_fast_path_gives_the_same_probability() -> None:
    texts = [x.text.lower() for x in datasets.seizure_news()[:1500]]
    texts += ["carry naloxone and never use alone", "overdose deaths and an overdose", "police seized 2 kg",
              "the drop-in clinic", "opioid crisis, public health", "m30 blues 100 pcs", "seizures"]
    lowered = 0
    for text in texts:
        slow = public_health_prob(text, 0.9, 0, 0)
        assert public_health_prob(text, 0.9, 0, 0, Tokens(text).words) == slow, text
        lowered += slow < 0.9
    assert lowered > 100


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
