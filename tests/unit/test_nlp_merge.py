"""Unit tests for the SUBSTANCE merge rules chosen on the dev split: links hold no mentions, pill counts join names."""

from __future__ import annotations

import pytest

from nlp.analyzer import Analyzer, build_pipeline


@pytest.fixture(scope="module")
def rules() -> Analyzer:
    return Analyzer(build_pipeline())


def _subs(out: dict) -> list[str]:
    return [e["text"] for e in out["entities"] if e["label"] == "SUBSTANCE"]


def test_subreddit_and_link_are_not_mentions_in_discussion(rules: Analyzer) -> None:
    text = ("Sorry for ruining the r/opiates sub, see https://www.reddit.com/r/opiates/comments/5eeeoc/heroin_wd "
            "but my heroin withdrawal is bad")
    out = rules.analyze(text)
    assert out["intent"] == "other"
    assert _subs(out) == ["heroin"]
    assert [e["start"] for e in out["entities"] if e["label"] == "SUBSTANCE"] == [text.rindex("heroin")]


def test_a_community_named_before_subreddit_is_not_a_mention(rules: Analyzer) -> None:
    text = "Sorry for ruining the opiate subreddit, my heroin withdrawal is bad"
    assert _subs(rules.analyze(text)) == ["heroin"]
    assert _subs(rules.analyze("Sorry, my heroin withdrawal is bad and opiate users know it")) == ["heroin", "opiate"]


def test_links_in_a_sale_listing_are_kept(rules: Analyzer) -> None:
    text = ("Pure fentanyl powder 10g for sale, price $450, ships from China, stealth. "
            "Order at http://shop.example/fentanyl-powder or telegram @chemplug88")
    out = rules.analyze(text)
    assert out["intent"] == "sale"
    starts = [e["start"] for e in out["entities"] if e["label"] == "SUBSTANCE"]
    assert text.index("fentanyl-powder") in starts


@pytest.mark.parametrize(("text", "span"), [
    ("one dude gave me 6 or 7 roxy 5s and hes like yo", "roxy 5s"),
    ("Keep in mind that OC 80's were extended release", "OC 80"),
    ("I had a few oxycodone 30s left over from surgery", "oxycodone 30s"),
])
def test_pill_count_after_a_name_joins_the_span(rules: Analyzer, text: str, span: str) -> None:
    assert span in _subs(rules.analyze(text))


@pytest.mark.parametrize(("text", "span"), [
    ("I already had the oxycodone 10mg from before", "oxycodone"),
    ("took heroin 3 times last week", "heroin"),
    ("heroin 1990s were different", "heroin"),
])
def test_doses_and_other_numbers_stay_apart(rules: Analyzer, text: str, span: str) -> None:
    assert _subs(rules.analyze(text)) == [span]


@pytest.mark.parametrize(("text", "span"), [
    ("he gives me the Oxycodone Immediate Release 10mg twice a day", "Oxycodone Immediate Release"),
    ("switched to morphine extended release last month", "morphine extended release"),
    ("my doctor put me on MS Contins for the pain", "MS Contins"),
])
def test_release_form_after_a_name_joins_the_span(rules: Analyzer, text: str, span: str) -> None:
    assert _subs(rules.analyze(text)) == [span]


@pytest.mark.parametrize(("text", "span"), [
    ("3 hours later I take an Oxycodone IR and wait", "Oxycodone"),  # abbreviations stay apart (dev split)
    ("oxycodone. Release dates for the album are out", "oxycodone"),
    ("ended up in the ER after the heroin", "heroin"),
])
def test_abbreviations_and_other_words_after_a_name_stay_apart(rules: Analyzer, text: str, span: str) -> None:
    assert _subs(rules.analyze(text)) == [span]
