"""Unit tests for substance classes: name stems for DEA rows without a class, and market names of common drugs."""

from __future__ import annotations

import pytest

from nlp.analyzer import Analyzer, build_pipeline
from nlp.tools.build_lexicon import stem_class


@pytest.mark.parametrize(("name", "cls"), [
    ("etizolam", "depressant"), ("bromazepam", "depressant"), ("phenobarbital", "depressant"),
    ("zolpidem", "depressant"), ("25i-nbome", "hallucinogen"), ("2c-b", "hallucinogen"),
    ("5-meo-dipt", "hallucinogen"), ("lysergic acid diethylamide", "hallucinogen"), ("4-chloro-a-pvp", "stimulant"),
    ("mephedrone", "stimulant"), ("n-ethylpentylone", "stimulant"), ("lisdexamfetamine", "stimulant"),
    ("5f-mdmb-pinaca", "cannabis"), ("jwh-018", "cannabis"), ("isotonitazene", "opioid"), ("tapentadol", "opioid"),
    ("acetylfentanyl", "fentanyl"), ("anpp", "precursor"), ("norfentanyl", "precursor"),
])
def test_stems_give_classes(name: str, cls: str) -> None:
    assert stem_class(name) == cls


@pytest.mark.parametrize("name", ["testosterone", "nandrolone", "drostanolone", "chlorhexadol", "lysergic acid",
                                  "gamma hydroxybutyric acid", "boldenone"])
def test_names_without_a_telling_stem_get_none(name: str) -> None:
    assert stem_class(name) is None


def test_an_alias_can_tell_the_class() -> None:
    assert stem_class("5f-adb", "5f-mdmb-pinaca") == "cannabis"


@pytest.fixture(scope="module")
def rules() -> Analyzer:
    return Analyzer(build_pipeline())


@pytest.mark.parametrize(("title", "canonical", "cls"), [
    ("100x XTC pills Pink Superman 200mg, free shipping", "mdma", "hallucinogen"),
    ("MDA 1g sand, tracked shipping", "mda", "hallucinogen"),
    ("Etilaam 1mg x 30 tabs, etizolam by Intas", "etizolam", "depressant"),
    ("25I-NBOMe blotters 800ug x 10", "25i-nbome", "hallucinogen"),
    ("Alpha-PVP crystals 5g, ships from NL", "a-pvp", "stimulant"),
    ("MXE 1g powder 99%", "methoxetamine", "hallucinogen"),
    ("Kokain 1g 90% rein, Versand DE", "cocaine", "stimulant"),
    ("Tramal 100mg x 20 caps", "tramadol", "opioid"),
    ("Psilocybe cubensis dried 14g", "psilocybin", "hallucinogen"),
    ("Zolpidem 10mg x 30", "zolpidem", "depressant"),
])
def test_market_names_have_their_class(rules: Analyzer, title: str, canonical: str, cls: str) -> None:
    subs = {(s["name"], s["class"]) for s in rules.analyze(title)["substances"]}
    assert (canonical, cls) in subs, subs
