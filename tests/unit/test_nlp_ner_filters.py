"""Unit tests for the filters on statistical SUBSTANCE guesses: everyday English words and bare doses."""

from __future__ import annotations

import pytest

from nlp.datasets import NerExample
from nlp.ner import _DOSE_RE
from nlp.tools.train import ner_stoplist


def test_english_words_are_stopped_unless_lexicon_terms_or_tagged() -> None:
    fit = [NerExample("I took dope up in the mountains", [(7, 11)]),
           NerExample("more dope and some heroin", [(5, 9), (19, 25)])]
    stop = ner_stoplist(fit, lexicon_keys={"heroin", "morphine"})
    assert {"mountains", "shrine", "drainage", "custom"} <= stop
    assert not {"dope", "heroin", "morphine"} & stop  # tagged in the examples, or a lexicon term


def test_words_mostly_untagged_in_training_are_stopped() -> None:
    fit = [NerExample("xyzzy and xyzzy again", []), NerExample("xyzzy is a drug word here", [(0, 5)]),
           NerExample("plugh one", []), NerExample("plugh two", [(0, 5)])]
    stop = ner_stoplist(fit, lexicon_keys=())
    assert "xyzzy" not in stop  # 1 of 3 tagged: 33%, over the 30% line
    assert "plugh" not in stop  # half tagged
    fit.append(NerExample("xyzzy xyzzy xyzzy", []))
    assert "xyzzy" in ner_stoplist(fit, lexicon_keys=())  # 1 of 6


@pytest.mark.parametrize("text", ["10mgs", "10 mg", "0.5ml", "30MG", "2 grams", "100ug"])
def test_bare_doses_are_not_substances(text: str) -> None:
    assert _DOSE_RE.fullmatch(text)


@pytest.mark.parametrize("text", ["m30", "oxy 30mg", "30s", "4-anpp", "2c-b"])
def test_names_with_numbers_are_not_doses(text: str) -> None:
    assert not _DOSE_RE.fullmatch(text)
