"""Unit tests: fragments of DEA chemical names ("2-", "[3") never become substances, in the table or the output."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from nlp.analyzer import Analyzer, build_pipeline
from nlp.lexicon import Lexicon, Term, is_junk_name
from nlp.tools.build_lexicon import dea_names

DATA = Path(__file__).resolve().parents[2] / "nlp" / "data"
MODEL_TABLE = Path(__file__).resolve().parents[2] / "nlp" / "model" / "substances" / "substances.tsv"

# listing text from a demo crawl where an older table indexed "prostanozol" (from the term "[3") and "2-"
PATCH = ("FENTANYL 100mcg/hr HIGHEST DOSE PATCH ONLY $80 FREE WW DELIVERY TRANSDERMAL FENTANYL PATCH "
         "100MCG/HR DOSE FOR 3 DAYS BEST PRICE ON THIS OR ANY MARKET AT ONLY $100 PER PATCH, 2-3 days, 4-5 pcs")


@pytest.fixture(scope="module")
def rules() -> Analyzer:
    return Analyzer(build_pipeline())


@pytest.mark.parametrize("name", ["2-", "4-", "[3", "2,5-dimethoxy-4-", "4-20", "3", "-2", "(n)-", "1-(4-methylphenyl",
                                  "escaline)", "roxicet,", ""])
def test_fragments_are_junk(name: str) -> None:
    assert is_junk_name(name)


@pytest.mark.parametrize("name", ["fentanyl", "25i", "2c-b", "4-ap", "p2p", "m30", "30s", "u-47700",
                                  "[3,2-c]pyrazole-androst-4-en-17β-ol", "❄", "芬太尼", "opium, raw"])
def test_names_are_not_junk(name: str) -> None:
    assert not is_junk_name(name)


@pytest.mark.parametrize(("row", "names"), [
    ("2-(4-iodo-2,5-dimethoxyphenyl)-N-(2-methoxybenzyl)ethanamine (25I-NBOMe)",
     ["25i-nbome", "2-(4-iodo-2,5-dimethoxyphenyl)-n-(2-methoxybenzyl)ethanamine"]),
    ("2-(2,5-Dimethoxy-4-(n)-propylphenyl) ethanamine (2C-P)",
     ["2c-p", "2-(2,5-dimethoxy-4-(n)-propylphenyl) ethanamine"]),
    ("2-(4-Isopropylthio)-2,5-dimethoxyphenyl) ethanamine(2C-T-4 )", ["2c-t-4"]),
    ("MDPV (3,4-Methylenedioxypyrovalerone)", ["mdpv"]),
    ("AH-7921 (3,4-dichloro-N-[(1-dimethylamino)cyclohexylmethyl]benzamide))", ["ah-7921"]),
    ("Norclostebol (4-chloro-17beta-hydroxyestr-4-en-3-one", ["norclostebol"]),
    ("5F\u2013ADB; 5F\u2013MDMB\u2013PINACA (Methyl 2-(1-(5-fluoropentyl)-1H-indazole-3-carboxamido)"
     "-3,3-dimethylbutanoate)",
     ["5f-adb", "5f-mdmb-pinaca"]),
    ("SR-18 (Also known as RCS-8) (1-Cyclohexylethyl-3-(2-methoxyphenylacetyl) indole)", ["sr-18"]),
    ("Opium, raw", ["opium, raw"]),
])
def test_dea_row_names(row: str, names: list[str]) -> None:
    assert dea_names(row) == names


@pytest.mark.parametrize("table", [DATA / "substances.tsv", MODEL_TABLE])
def test_committed_tables_hold_no_fragments(table: Path) -> None:
    with table.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert len(rows) > 1000
    bad = [(r["term"], r["canonical"]) for r in rows if is_junk_name(r["term"]) or is_junk_name(r["canonical"])]
    assert bad == []
    canonicals = {r["canonical"] for r in rows}
    assert "2-" not in canonicals and "2,5-dimethoxy-4-" not in canonicals
    by_term = {r["term"]: r["canonical"] for r in rows}
    assert by_term["25i"] == "25i-nbome" and by_term["2c-p"] == "2c-p"


def test_lexicon_loader_skips_fragments_of_old_tables() -> None:
    rows = [Term("[3", "prostanozol", "other", "", "", "strong", "c_cs_alpha.xlsx"),
            Term("2-", "2-", "other", "", "", "strong", "c_cs_alpha.xlsx"),
            Term("25i", "2-", "other", "", "", "strong", "c_cs_alpha.xlsx"),
            Term("heroin", "heroin", "opioid", "", "", "strong", "core")]
    lex = Lexicon(rows)
    hits = lex.match("25i and heroin, dose for 3 days, 2- 4- and [3")
    assert [h.term.canonical for h in hits] == ["heroin"]


@pytest.mark.parametrize("text", [PATCH, "Cimbi 2- 3 x 4- ; 2,5-dimethoxy-4- ; [3,2-c] ; 17β-ol",
                                  "Tested 3 times, 2-4 days shipping, 5-7 business days, 100% pure"])
def test_numbers_and_fragments_never_become_substances(rules: Analyzer, text: str) -> None:
    out = rules.analyze(text)
    names = {s["name"] for s in out["substances"]}
    assert not any(is_junk_name(n) for n in names), names
    assert "prostanozol" not in names
    assert all(not is_junk_name(e["canonical"]) for e in out["entities"] if e["label"] == "SUBSTANCE")


def test_patch_listing_names_only_fentanyl(rules: Analyzer) -> None:
    assert [s["name"] for s in rules.analyze(PATCH)["substances"]] == ["fentanyl"]


def test_nbome_is_named_by_its_code(rules: Analyzer) -> None:
    out = rules.analyze("25I-NBOMe blotters 1000ug, ships from NL, wickr nbplug")
    assert "25i-nbome" in {s["name"] for s in out["substances"]}
