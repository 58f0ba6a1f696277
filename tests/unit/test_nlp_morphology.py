"""Unit tests for fentanyl-analogue names found by their naming pattern, and the medication table."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlp.analyzer import Analyzer, build_pipeline
from nlp.lexicon import FENT_CONTROL, Lexicon, Term

DATA = Path(__file__).resolve().parents[2] / "nlp" / "data"


@pytest.fixture(scope="module")
def rules() -> Analyzer:
    return Analyzer(build_pipeline())


def _subs(out: dict) -> list[tuple[str, str, str]]:
    return [(e["text"], e["canonical"], e["class"]) for e in out["entities"] if e["label"] == "SUBSTANCE"]


@pytest.mark.parametrize(("text", "name"), [
    ("the ometheylfentanyls are worse than carfent", "ometheylfentanyls"),
    ("especially 4-flourohmethylfentanyl, it killed 4 people I know", "4-flourohmethylfentanyl"),
    ("new batch of para-fluoro-fentanyl in stock", "para-fluoro-fentanyl"),
    ("3,4-dichloro-n-fentynal powder", "3,4-dichloro-n-fentynal"),
])
def test_unlisted_analogue_names_are_fentanyl(rules: Analyzer, text: str, name: str) -> None:
    subs = _subs(rules.analyze(text))
    assert (name, name.lower().removesuffix("s"), "fentanyl") in subs or any(
        t == name and cls == "fentanyl" for t, _c, cls in subs)
    assert not any(t != name and t in name for t, _c, _cls in subs)  # the whole name, no piece of it


def test_analogue_pattern_keeps_table_entries() -> None:
    lex = Lexicon([Term("acetylfentanyl", "acetyl fentanyl", "fentanyl", "3258-84-2", "", "strong", "t"),
                   Term("fentanyl", "fentanyl", "fentanyl", "437-38-7", "", "strong", "t")])
    hits = lex.match("acetylfentanyl and butyrfentanyl and fentanyl")
    got = [(h.term.canonical, h.term.control, h.term.source) for h in sorted(hits, key=lambda h: h.start)]
    assert got == [("acetyl fentanyl", "", "t"), ("butyrfentanyl", FENT_CONTROL, "fentanyl naming pattern"),
                   ("fentanyl", "", "t")]


@pytest.mark.parametrize("text", ["the fence was painted", "fentana", "non-fentanyl opioids", "fake-fentanyl pills",
                                  "a fentanylx token"])
def test_analogue_pattern_negatives(text: str) -> None:
    lex = Lexicon([Term("fentanyl", "fentanyl", "fentanyl", "437-38-7", "", "strong", "t")])
    names = [text[h.start:h.end] for h in lex.match(text)]
    assert all(n == "fentanyl" for n in names), names


@pytest.mark.parametrize(("text", "canonical"), [
    ("take a tablet of Tagamet beforehand", "cimetidine"),
    ("neurontin works wonders for withdrawal", "gabapentin"),
    ("some Dramamine beforehand", "dimenhydrinate"),
    ("carry naloxone, always", "naloxone"),
])
def test_medications_are_substances_of_class_other(rules: Analyzer, text: str, canonical: str) -> None:
    out = rules.analyze(text)
    assert [(c, cls) for _t, c, cls in _subs(out)] == [(canonical, "other")]
    assert {s["name"] for s in out["substances"]} == {canonical}


def test_medication_table_rows_are_well_formed() -> None:
    for n, line in enumerate((DATA / "medications.tsv").read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("#") or not line.strip():
            continue
        cols = line.split("\t")
        assert len(cols) == 6, f"medications.tsv:{n}: {len(cols)} columns"
        assert cols[1] == "other" and cols[5], f"medications.tsv:{n}: class or source"
        assert cols[0] in cols[4].split(";"), f"medications.tsv:{n}: the canonical name is one of the names"
