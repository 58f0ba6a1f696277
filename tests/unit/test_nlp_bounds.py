"""Bounded input for the NLP step: the analysis cap, `nlp extract` on too-deep and too-long lines, and the
passes that used to rescan the text per match (their results on many matches must stay right)."""

from __future__ import annotations

import io
import itertools
import json

import pytest

from nlp import analyzer as analyzer_mod
from nlp import cli, extractors
from nlp.analyzer import Analyzer, build_pipeline
from nlp.lexicon import Lexicon, Term


@pytest.fixture(scope="module")
def rules() -> Analyzer:
    return Analyzer(build_pipeline())


def _extract(data: bytes, rules: Analyzer, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    monkeypatch.setattr(Analyzer, "load", classmethod(lambda cls, path=None: rules))
    out = io.StringIO()
    cli.run_extract(io.BytesIO(data), out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_extract_reports_a_too_deep_line_and_goes_on(rules: Analyzer, monkeypatch: pytest.MonkeyPatch) -> None:
    deep = b'{"id": "x", "text": "a", "meta": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    data = b'{"id": "a", "text": "heroin 1g"}\n' + deep + b'\n{"id": "b", "text": "fentanyl"}\n'
    rows = _extract(data, rules, monkeypatch)
    assert [r.get("id") for r in rows] == ["a", None, "b"]
    assert rows[1] == {"line": 2, "error": "invalid JSON: nested too deeply"}
    assert rows[2]["substances"][0]["name"] == "fentanyl"


def test_extract_reports_a_too_long_line_without_holding_it(rules: Analyzer,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "MAX_LINE_BYTES", 1000)
    long_line = b'{"id": "x", "text": "' + b"a" * 5000 + b'"}'
    data = b'{"id": "a", "text": "heroin 1g"}\n' + long_line + b'\n{"id": "b", "text": "fentanyl"}'
    rows = _extract(data, rules, monkeypatch)
    assert [r.get("id") for r in rows] == ["a", None, "b"]
    assert rows[1]["line"] == 2 and "longer than 1000 bytes" in rows[1]["error"]
    # a line of exactly the limit (newline included) is read
    ok = b'{"id": "c", "text": "' + b"b" * (1000 - 24) + b'"}\n'
    assert len(ok) == 1000
    assert _extract(ok, rules, monkeypatch)[0]["id"] == "c"


def test_only_the_first_max_chars_are_analysed(rules: Analyzer) -> None:
    text = "fentanyl 10g " + "x" * 100 + " heroin 5g"
    res = rules.analyze_many([text], max_chars=50)[0]
    assert res["truncated"] is True
    assert [s["name"] for s in res["substances"]] == ["fentanyl"]
    assert all(e["end"] <= 50 for e in res["entities"])
    full = rules.analyze_many([text])[0]
    assert full["truncated"] is False and {s["name"] for s in full["substances"]} == {"fentanyl", "heroin"}


def test_default_cap_is_documented_and_applied(rules: Analyzer, monkeypatch: pytest.MonkeyPatch) -> None:
    assert analyzer_mod.MAX_ANALYSED_CHARS >= 100_000
    monkeypatch.setattr(analyzer_mod, "MAX_ANALYSED_CHARS", 20)
    # the default is read when the call is made, not frozen at import
    res = rules.analyze("heroin 1g " + "y" * 50 + " cocaine 2g")
    assert res["truncated"] is True and [s["name"] for s in res["substances"]] == ["heroin"]


def test_long_text_still_finds_entities_past_the_spacy_doc_limit(rules: Analyzer) -> None:
    # texts longer than the spaCy Doc limit are read by the rules all the same
    text = "hello world. " * 3000 + "Ships from China, no shipping to Australia. fentanyl 10g $450"
    res = rules.analyze(text)
    assert res["substances"][0]["name"] == "fentanyl"
    assert res["ships_from"] == ["CN"] and res["ships_not_to"] == ["AU"]
    assert res["prices"] == [{"amount": "450", "currency": "USD"}]


def test_many_fentanyl_names_each_found_once() -> None:
    lex = Lexicon([Term("fentanyl", "fentanyl", "fentanyl", "437-38-7", "", "strong", "t")])
    text = " ".join(["fentanyl", "para-fluoro-fentanyl", "4-fluorofentanyl"] * 200)
    hits = lex.match(text)
    assert len(hits) == 600
    assert sorted({text[h.start:h.end] for h in hits}) == ["4-fluorofentanyl", "fentanyl", "para-fluoro-fentanyl"]
    # the whole name replaces the table's "fentanyl" inside it, never both
    assert not any(a.start < b.end and b.start < a.end for a in hits for b in hits if a is not b)


def test_many_prices_and_contacts_do_not_double() -> None:
    prices, qty = extractors.find_amounts("$5 10 usd 20 eur " * 300)
    assert len(prices) == 900 and len(qty) == 0
    assert prices[:3] == [{"amount": "5", "currency": "USD", "start": 0, "end": 2},
                          {"amount": "10", "currency": "USD", "start": 3, "end": 9},
                          {"amount": "20", "currency": "EUR", "start": 10, "end": 16}]
    contacts = extractors.find_contacts("wickr: abc12345 mail me x@y.com " * 200)
    assert len(contacts) == 400
    spans = sorted((c["start"], c["end"]) for c in contacts)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


def test_analysis_adds_no_words_to_the_shared_vocabulary(rules: Analyzer) -> None:
    """The components read the text itself: new words of a page must not grow spaCy's vocabulary (a daemon reads
    millions of pages), and the output is the same."""
    rules.analyze("warm up")
    before = len(rules.nlp.vocab)
    res = rules.analyze_many([f"zqxw{i} pure fentanyl 10g qwzx{i} ships from China" for i in range(50)])
    assert len(rules.nlp.vocab) == before
    assert res[0]["substances"] and res[0]["ships_from"] == ["CN"]


def test_analysis_pauses_the_garbage_collector_and_restores_it(rules: Analyzer,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    seen: list[bool] = []
    real = analyzer_mod.components.build_output
    monkeypatch.setattr(analyzer_mod.components, "build_output", lambda d: (seen.append(gc.isenabled()), real(d))[1])
    assert gc.isenabled()
    rules.analyze_many(["heroin 1g", "fentanyl"])
    assert seen == [False, False] and gc.isenabled()
    gc.disable()
    try:
        rules.analyze("heroin 1g")
        assert not gc.isenabled()  # a caller that turned it off keeps it off
    finally:
        gc.enable()
    with pytest.raises(TypeError):
        rules.analyze_many(["heroin", 5])  # type: ignore[list-item]
    assert gc.isenabled()  # also after an error
