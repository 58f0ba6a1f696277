"""Unit tests for cross-validation folds (training comments only) and the span vote of several NER models."""

from __future__ import annotations

import pytest
import spacy
from spacy.language import Language

from nlp import datasets
from nlp.components import state
from nlp.ner import NerGate
from nlp.tools.cv import CANDIDATES, folds


@pytest.mark.parametrize(("n", "k"), [(10, 2), (11, 3), (1108, 5)])
def test_folds_partition_the_indices(n: int, k: int) -> None:
    parts = folds(n, k)
    assert len(parts) == k
    assert sorted(i for p in parts for i in p) == list(range(n))  # disjoint, every index held out once
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert folds(n, k) == parts  # fixed seed


def test_folds_need_two_parts_and_enough_items() -> None:
    with pytest.raises(ValueError, match="folds"):
        folds(5, 1)
    with pytest.raises(ValueError, match="folds"):
        folds(3, 4)


def test_cv_reads_the_training_split_only() -> None:
    train, test = datasets.split(datasets.drugs_ner())
    assert not {x.text for x in datasets.drugs_train()} & {x.text for x in test}
    assert len(datasets.drugs_train(fixes=True)) == len(train)  # fold indices mean the same comments either way
    assert {c.news for c in CANDIDATES.values()} <= {"all", "train", "none"}


def test_news_training_split_leaves_out_the_out_of_source_sentences() -> None:
    from nlp.tools.train import news_examples

    oos = {x.text for x in datasets.out_of_source()}
    assert oos & {x.text for x in news_examples("all")}  # the shipped NER saw some of them
    assert not oos & {x.text for x in news_examples("train")}
    assert news_examples("none") == []
    with pytest.raises(ValueError, match="news must be"):
        news_examples("some")


def _model(*words: str) -> Language:
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "SUBSTANCE", "pattern": w} for w in words])  # type: ignore[attr-defined]
    return nlp


def test_vote_keeps_spans_most_models_find() -> None:
    gate = NerGate(spacy.blank("en"), "ner_gate", always=True)
    gate.model_nlp = _model("tar", "gear")
    gate.voters = [_model("tar", "pow"), _model("gear", "tar")]
    doc = spacy.blank("en")("some tar and gear and pow")
    state(doc)["text"] = doc.text
    gate(doc)
    assert state(doc)["ner_spans_raw"] == [(5, 8), (13, 17)]  # tar 3 of 3, gear 2 of 3; pow 1 of 3 dropped
    gate.voters = []
    gate(doc)
    assert state(doc)["ner_spans_raw"] == [(5, 8), (13, 17)]  # one model: its own spans


def test_voters_survive_to_disk_and_back(tmp_path) -> None:  # type: ignore[no-untyped-def]
    gate = NerGate(spacy.blank("en"), "ner_gate", always=True)
    gate.model_nlp = _model("tar")
    gate.voters = [_model("pow"), _model("tar")]
    gate.to_disk(tmp_path)
    back = NerGate(spacy.blank("en"), "ner_gate", always=True).from_disk(tmp_path)
    assert len(back.voters) == 2
    doc = spacy.blank("en")("tar and pow")
    state(doc)["text"] = doc.text
    back(doc)
    assert state(doc)["ner_spans_raw"] == [(0, 3)]
