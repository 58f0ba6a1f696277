"""Slow tests of the trained pipeline shipped in nlp/model: intent negatives, languages, held-out figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nlp.analyzer import Analyzer

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer.load()


@pytest.mark.parametrize("text", [
    "Border agents seized 5 kg of fentanyl and 20,000 M30 pills hidden in a truck at Nogales, CBP said on Tuesday.",
    "Fentanyl test strips save lives. Never use alone and carry naloxone. Call the helpline if you struggle.",
    "Anyone know if the blues going around in Philly are pressed with fent? My friend OD'd last week.",
    "The court sentenced the man to 12 years for trafficking heroin and carfentanil from China.",
    "Harm reduction tip: start low, go slow, test every batch for fentanyl.",
])
def test_news_harm_reduction_and_discussion_are_not_sale(analyzer: Analyzer, text: str) -> None:
    out = analyzer.analyze(text)
    assert out["intent"] == "other", out["p_sale"]
    assert out["risk"] < 0.5


@pytest.mark.parametrize("text", [
    "Pressed M30 blues, 100 pills for $300. Telegram @bluesplug. Stealth shipping USA only.",
    "We supply 4-ANPP CAS 21409-26-7 and NPP 99% purity, delivery to USA and Mexico. WhatsApp +86 131 2345 6789",
    "Продаю фентанил, доставка по России, телеграм @ruschem",
    "出售芬太尼 4-ANPP 现货，微信：chemhub2020",
])
def test_fentanyl_and_precursor_offers_rank_highest(analyzer: Analyzer, text: str) -> None:
    out = analyzer.analyze(text)
    assert out["intent"] == "sale"
    assert out["risk"] >= 0.7
    assert {s["class"] for s in out["substances"]} & {"fentanyl", "precursor"}


def test_risk_orders_offers_above_other_drugs_and_news(analyzer: Analyzer) -> None:
    fent = analyzer.analyze("Fentanyl powder 10g $450, ships from China to USA, telegram @fentplug")["risk"]
    weed = analyzer.analyze("Cannabis 10g $90, ships from Canada, telegram @weedplug")["risk"]
    news = analyzer.analyze("Police seized 10 g of fentanyl in a raid, officials said.")["risk"]
    assert fent > weed > news


def test_no_shipping_to_is_an_exclusion_in_the_trained_pipeline(analyzer: Analyzer) -> None:
    out = analyzer.analyze("Heroin #4, 5g. Ships from Netherlands. No shipping to USA. We don't ship to France.")
    assert out["ships_from"] == ["NL"]
    assert "US" not in out["ships_to"] and "FR" not in out["ships_to"]
    assert out["ships_not_to"] == ["US", "FR"]


def test_held_out_figures_meet_the_acceptance_bars() -> None:
    from nlp.evaluate import evaluate

    report = evaluate().as_dict()
    rows = {(r["set"], r["label"]): r for r in report["prf"]}
    assert rows[("drugs_training test 25% (exact)", "SUBSTANCE")]["f1"] >= 0.85
    assert report["accuracy"]["intent (listings vs news + discussion)"]["value"] >= 0.95
    assert report["accuracy"]["ships_from (agora, text names it; gold in ships_from)"]["value"] >= 0.9
    vendor = rows[("agora test, vendor named in text", "vendor.handles")]
    assert vendor["precision"] >= 0.98 and vendor["recall"] >= 0.6
    acc = report["accuracy"]
    assert acc["agora titles test 25%: a substance of another class (lower is better)"]["value"] <= 0.03
    assert acc["agora titles test 25%, non-drug categories: any substance (lower is better)"]["value"] <= 0.02


def test_extract_command_end_to_end(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"id": "1", "text": "carfentanil 1g, wickr: chemking"}\n\xff\n{"id": "2", "text": "hello"}\n')
    proc = subprocess.run([sys.executable, "-m", "nlp.cli", "extract", str(src)], cwd=ROOT, capture_output=True,
                          timeout=300, check=True)
    rows = [json.loads(x) for x in proc.stdout.decode().splitlines()]
    assert [r.get("id", r.get("line")) for r in rows] == ["1", 2, "2"]
    assert rows[0]["substances"][0]["name"] == "carfentanil"
    assert rows[0]["vendor"]["contacts"] == [{"kind": "wickr", "value": "chemking"}]
