"""Unit tests for the spaCy components, the Analyzer output shape and `nlp extract` on bad input."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import spacy
from click.testing import CliRunner

from nlp.analyzer import PIPE_NAMES, Analyzer, build_pipeline, listing_text
from nlp.cli import nlp_group, run_extract

SALE = ("Pure china white fentanyl powder 10g. Ships from China to USA and Canada, no shipping to Australia. "
        "Stealth vacuum sealed via DHL. Telegram @chemplug88, price $450, BTC 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa. "
        "Also 4-ANPP CAS 21409-26-7.")


@pytest.fixture(scope="module")
def rules() -> Analyzer:
    """The untrained pipeline: spacy.blank + narcowatch components with tables from nlp/data."""
    return Analyzer(build_pipeline())


def test_factories_are_registered_with_versioned_names() -> None:
    nlp = spacy.blank("en")
    for name in PIPE_NAMES:
        nlp.add_pipe(name)
    assert nlp.pipe_names == PIPE_NAMES
    assert all(n.startswith("narcowatch_") and n.endswith("_v1") for n in PIPE_NAMES)


def test_output_has_the_design_section_4_shape(rules: Analyzer) -> None:
    out = rules.analyze(SALE)
    for key in ("entities", "substances", "vendor", "ships_from", "ships_to", "ships_not_to", "intent", "risk",
                "text_normalized"):
        assert key in out, key
    assert "id" not in out
    for e in out["entities"]:
        assert SALE[e["start"]:e["end"]] == e["text"]
        assert e["label"] in {"SUBSTANCE", "VENDOR", "CONTACT", "CRYPTO_ADDRESS", "SHIPPING", "PRICE", "QUANTITY",
                              "CAS"}
    subs = {s["name"]: s for s in out["substances"]}
    assert subs["fentanyl"] == {"name": "fentanyl", "class": "fentanyl", "cas": "437-38-7",
                                "control": "US CSA Schedule II; UN 1961 Schedule I"}
    assert subs["4-anpp"]["class"] == "precursor" and subs["4-anpp"]["cas"] == "21409-26-7"
    assert out["ships_from"] == ["CN"] and out["ships_to"] == ["US", "CA"] and out["ships_not_to"] == ["AU"]
    assert {"kind": "telegram", "value": "@chemplug88"} in out["vendor"]["contacts"]
    assert out["vendor"]["wallets"] == [{"kind": "btc", "value": "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"}]
    assert out["intent"] == "sale" and 0.8 <= out["risk"] <= 1.0
    assert {e["label"] for e in out["entities"]} >= {"SUBSTANCE", "SHIPPING", "CONTACT", "CRYPTO_ADDRESS"}


def test_news_ranks_below_a_sale_offer(rules: Analyzer) -> None:
    news = rules.analyze("Police seized 20 kg of fentanyl at the port of Manzanillo, officials said on Monday.")
    offer = rules.analyze(SALE)
    assert news["intent"] == "other"
    assert news["risk"] < 0.5 < offer["risk"]


def test_analyze_many_keeps_order_and_equals_analyze(rules: Analyzer) -> None:
    texts = ["heroin 1g", "", SALE, "nothing here"]
    many = rules.analyze_many(texts, batch_size=2)
    assert many == [rules.analyze(t) for t in texts]
    assert many[1]["entities"] == [] and many[1]["text_normalized"] == ""


def test_analyze_rejects_non_strings(rules: Analyzer) -> None:
    with pytest.raises(TypeError, match="item 1 is int"):
        rules.analyze_many(["ok", 3])  # type: ignore[list-item]


def test_pipeline_round_trips_through_disk(rules: Analyzer, tmp_path: Path) -> None:
    rules.nlp.to_disk(tmp_path / "p")
    assert (tmp_path / "p" / "substances" / "substances.tsv").exists()
    assert (tmp_path / "p" / "shipping" / "countries.tsv").exists()
    again = Analyzer.load(tmp_path / "p")
    assert again.analyze(SALE) == rules.analyze(SALE)


def test_load_names_the_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        Analyzer.load(tmp_path)


def _extract(data: bytes, rules: Analyzer, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    monkeypatch.setattr(Analyzer, "load", classmethod(lambda cls, path=None: rules))
    out = io.StringIO()
    run_extract(io.BytesIO(data), out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_extract_turns_bad_lines_into_errors_and_goes_on(rules: Analyzer, monkeypatch: pytest.MonkeyPatch) -> None:
    data = (b'{"id": "a", "text": "heroin 1g", "source": "x"}\n'
            b"\n"
            b"\xff\xfe broken\n"
            b"{not json\n"
            b'{"id": "b"}\n'
            b'{"id": "c", "text": 5}\n'
            b"[1, 2]\n"
            b'{"id": "d", "text": "fentanyl"}')
    rows = _extract(data, rules, monkeypatch)
    assert len(rows) == 8
    assert rows[0]["id"] == "a" and rows[0]["source"] == "x" and rows[0]["substances"][0]["name"] == "heroin"
    assert [r.get("line") for r in rows[1:7]] == [2, 3, 4, 5, 6, 7]
    assert "empty" in rows[1]["error"] and "UTF-8" in rows[2]["error"] and "JSON" in rows[3]["error"]
    assert '"text"' in rows[4]["error"] and "not a string" in rows[5]["error"]
    assert rows[7]["id"] == "d" and rows[7]["substances"][0]["name"] == "fentanyl"


def test_extract_handles_a_one_megabyte_text(rules: Analyzer, monkeypatch: pytest.MonkeyPatch) -> None:
    # a long text is analysed up to the cap (1,000,000 characters); what lies past it is not read
    text = ("lorem ipsum dolor sit amet " * 40000)[:999_000] + " fentanyl " + "heroin " * 30000
    rows = _extract(json.dumps({"id": "big", "text": text}).encode() + b"\n", rules, monkeypatch)
    assert rows[0]["id"] == "big" and rows[0]["truncated"] is True
    assert [s["name"] for s in rows[0]["substances"]] == ["fentanyl", "heroin"]
    assert max(e["end"] for e in rows[0]["entities"]) <= 1_000_000
    ent = [e for e in rows[0]["entities"] if e["label"] == "SUBSTANCE"]
    assert ent and text[ent[0]["start"]:ent[0]["end"]] == "fentanyl" and ent[0]["start"] == 999_001


def test_extract_command_reads_a_file(rules: Analyzer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(Analyzer, "load", classmethod(lambda cls, path=None: rules))
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "1", "text": "4-ANPP for sale"}\nnot json\n', encoding="utf-8")
    result = CliRunner().invoke(nlp_group, ["extract", str(src)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert lines[0]["substances"][0]["name"] == "4-anpp"
    assert lines[1]["line"] == 2


def test_listing_text_feeds_structured_fields_to_the_rules(rules: Analyzer) -> None:
    text = listing_text("Fentanyl HCl 5g", "Lab tested, 99%", ships_from_raw="China",
                        ships_to_raw="Worldwide except Australia", vendor="chemking")
    out = rules.analyze(text)
    assert out["ships_from"] == ["CN"] and out["ships_to"] == ["WORLDWIDE"] and out["ships_not_to"] == ["AU"]
    assert out["vendor"]["handles"] == ["chemking"]
    assert listing_text("only a title") == "only a title"
