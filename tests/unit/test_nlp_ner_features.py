"""The lexicon as a NER feature (which words the tables know, written into LEMMA) and the news test for class
words (a seizure word that starts a word, in a text with no first-person speaker)."""

from __future__ import annotations

from typing import Any, cast

import pytest
import spacy

from nlp.analyzer import Analyzer, build_pipeline
from nlp.components import _news
from nlp.lexicon import Hit, Term
from nlp.ner import (
    LEX_NAME,
    LEX_SLANG,
    NER_CONFIG,
    NER_CONFIG_LEX,
    lexicon_spans,
    set_lexicon_features,
    uses_lexicon_features,
)


def _hit(start: int, end: int, strength: str, source: str, cls: str = "opioid") -> Hit:
    return Hit(start, end, Term("x", "x", cls, "", "", strength, source), 0)


def test_lexicon_spans_tell_names_from_slang_and_leave_out_learned_terms() -> None:
    hits = [_hit(0, 6, "strong", "core_substances.tsv"), _hit(7, 11, "weak", "lookup_df.rda.csv (CTN-0094/DOPE)"),
            _hit(12, 16, "learned", "drugs_training.jsonl train split (3/3 annotated)"),
            _hit(17, 21, "strong", "drugs_training.jsonl train split (5/6 annotated)"),
            _hit(22, 26, "strong", "slangUE.txt (DEA Drug Slang Code Words 2017)"),
            _hit(27, 37, "strong", "CAS number in text", cls="unknown")]
    spans = lexicon_spans(hits, lambda s, e: (s + 100, e + 100))  # offsets go through the map to the original
    # learned terms come from the annotations the NER trains on: no feature, or it would only copy them
    assert spans == [(100, 106, LEX_NAME), (107, 111, LEX_SLANG), (122, 126, LEX_SLANG)]


def test_features_are_written_on_the_tokens_of_each_span_only() -> None:
    nlp = spacy.blank("en")
    doc = set_lexicon_features(nlp.make_doc("got some china white and roxies today"),
                               [(9, 20, LEX_SLANG), (25, 31, LEX_SLANG), (0, 2, LEX_NAME)])
    assert [t.lemma_ for t in doc] == [LEX_NAME, "", LEX_SLANG, LEX_SLANG, "", LEX_SLANG, ""]


def test_the_gate_knows_whether_a_model_embeds_the_feature() -> None:
    for config, wanted in ((NER_CONFIG, False), (NER_CONFIG_LEX, True)):
        nlp = spacy.blank("en")
        ner = cast(Any, nlp.add_pipe("ner", config=config))
        ner.add_label("SUBSTANCE")
        nlp.initialize()
        assert uses_lexicon_features(nlp) is wanted


def test_a_feature_model_reads_the_lexicon_hits_of_the_pipeline() -> None:
    """The gate gives the NER docs whose tokens carry the raw lexicon hits (also slang the context filter drops)."""
    from nlp.datasets import NerExample
    from nlp.ner import train_ner

    seen: list[list[str]] = []
    base = [NerExample("i took some roxies today", [(12, 18)]), NerExample("the weather is fine", [])]
    model = train_ner(epochs=2, base=base, features=lambda text: [(12, 18, LEX_SLANG)] if "roxies" in text else [])
    pipe = build_pipeline(with_ner=True)
    gate = cast(Any, pipe.get_pipe("ner_gate"))
    gate.model_nlp, gate.lex_features, gate.always = model, uses_lexicon_features(model), True
    real_pipe = model.pipe

    def spy(docs: Any, **kw: Any) -> Any:
        docs = list(docs)
        seen.extend([t.lemma_ for t in d] for d in docs)
        return real_pipe(docs, **kw)

    model.pipe = spy  # type: ignore[method-assign]
    Analyzer(pipe).analyze("so i took some roxies today")
    assert seen and LEX_SLANG in seen[0] and seen[0][seen[0].index(LEX_SLANG) - 1] == ""


@pytest.mark.parametrize("text", ["police seized 128 tons of drugs in the port", "officers arrested two suspects",
                                  "he was charged with trafficking drugs"])
def test_news_is_news(text: str) -> None:
    assert _news(text)


@pytest.mark.parametrize("text", ["i got discharged from the hospital with pills",  # "charged" inside a word
                                  "the police took my drugs last night",  # a first-person speaker
                                  "i had a seizure on tramadol", "my court date is monday, no drugs till then"])
def test_discussion_that_names_the_police_is_not_news(text: str) -> None:
    assert not _news(text)
