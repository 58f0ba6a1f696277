"""Hostile configuration input (issue 13 item 4): alias bombs, deep nesting, catastrophic user regexes and
``${VAR}`` values in error messages."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest
from parsel import Selector

from crawler.alerting.rules import load_alerts_config
from crawler.config import ConfigError
from crawler.config.regexes import check_user_regex, user_search
from crawler.pages.base import select_values
from crawler.scheduling.settings import load_settings
from crawler.sources.loader import check_sources
from crawler.sources.models import SelectorSpec

# Each level repeats the one before nine times: expanded, 9**6 = 531441 strings from ~400 bytes.
# (The issue's 463-byte bomb has nine levels and took 2 GB; six keeps a planted bug cheap to detect.)
ALIAS_BOMB = textwrap.dedent("""\
    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
    b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
    d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
    sources: [*e,*e,*e,*e,*e,*e,*e,*e,*e]
    """)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _only_issue(issues: list) -> str:
    assert len(issues) == 1, [str(i) for i in issues]
    return str(issues[0])


def test_alias_bomb_in_sources_is_refused_with_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "sources.yaml", ALIAS_BOMB)
    sources, issues = check_sources(path)
    assert sources == []
    text = _only_issue(issues)
    assert text.startswith(f"{path}:2: ")  # the first alias, *a on line 2
    assert "aliases are not allowed (*a)" in text


@pytest.mark.parametrize("loader, name", [(load_alerts_config, "alerts.yaml"), (load_settings, "scheduler.yaml")])
def test_alias_refused_in_every_yaml_the_project_loads(tmp_path: Path, loader, name: str) -> None:
    path = _write(tmp_path, name, "x: &x {a: 1}\ny: *x\n")
    with pytest.raises(ConfigError) as info:
        loader(path if name == "alerts.yaml" else tmp_path)
    text = _only_issue(info.value.issues)
    assert text.startswith(f"{path}:2: ") and "aliases are not allowed (*x)" in text


def test_merge_key_alias_is_refused_too(tmp_path: Path) -> None:
    path = _write(tmp_path, "sources.yaml", "base: &base {kind: market}\nsources:\n  - <<: *base\n    name: x\n")
    _, issues = check_sources(path)
    assert any("aliases are not allowed (*base)" in str(i) and ":3: " in str(i) for i in issues)


def test_deep_nesting_is_a_config_error_not_a_recursion_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "sources.yaml", "sources: " + "[" * 5000 + "]" * 5000 + "\n")
    _, issues = check_sources(path)
    text = _only_issue(issues)
    assert str(path) in text and "nested more than" in text


def test_oversized_config_file_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "sources.yaml", "sources: []\n" + "#" * (6 * 1024 * 1024) + "\n")
    _, issues = check_sources(path)
    assert "bytes (at most" in _only_issue(issues)


MARKET = """\
sources:
  - name: x
    kind: market
    start_urls: ["http://market.example/"]
    links:
      listing: a.l
{extra}
    fields:
      title: {title}
"""


@pytest.mark.parametrize("rx", ["(a+)+$", r"(\\w+\\s?)*$", "(?:x*y?){2,}", "((ab)*c)+", "(a|b+)*c"])
def test_nested_quantifier_in_selector_regex_fails_config_check(tmp_path: Path, rx: str) -> None:
    path = _write(tmp_path, "sources.yaml", MARKET.format(extra="", title='{css: h1, regex: "' + rx + '"}'))
    _, issues = check_sources(path)
    text = _only_issue(issues)
    assert text.startswith(f"{path}:9: sources[0].fields.title: ") and "nests quantifiers" in text


def test_nested_quantifier_in_native_id_regex_fails_config_check(tmp_path: Path) -> None:
    extra = '      native_id_regex: "/item/((\\\\w+)+)$"'
    path = _write(tmp_path, "sources.yaml", MARKET.format(extra=extra, title="h1"))
    _, issues = check_sources(path)
    text = _only_issue(issues)
    assert text.startswith(f"{path}:7: sources[0].links.native_id_regex: ") and "nests quantifiers" in text


@pytest.mark.parametrize("rx", [r"BZ-(\d+)", r"^Origin:\s*(.+)", r"Ships to:?\s*([^.]+)", r"(ab){2,5}x+", r"(?:a|b)+",
                                r"/item/([\w-]+)$", r"(\d{1,3}[.,]?)+"])
def test_ordinary_regexes_still_pass(rx: str) -> None:
    # (\d{1,3}[.,]?)+ has only bounded inner repeats: polynomial at worst, and the run-time limit holds it
    check_user_regex(rx)


def test_too_long_regex_is_refused() -> None:
    with pytest.raises(ValueError, match="characters long"):
        check_user_regex("a" * 2000)


@pytest.mark.timeout(30)
def test_catastrophic_regex_on_hostile_text_is_cut_off(caplog: pytest.LogCaptureFixture) -> None:
    # (a|aa)+$ has no nested quantifier, so it passes the load check; the run-time limit must stop it.
    # With the stdlib re, 60 a's and a '!' take longer than the test's timeout (Fibonacci(60) paths).
    spec = SelectorSpec(css="h1", regex="(a|aa)+$")
    sel = Selector(text="<h1>" + "a" * 60 + "!</h1><h1>aaa</h1>")
    with caplog.at_level(logging.WARNING, logger="crawler.config.regexes"):
        values = select_values(sel, spec)
    assert values == ["a"]  # the harmless value still matches (last group of 'aaa')
    assert any("took more than" in r.getMessage() for r in caplog.records)
    assert user_search("(a|aa)+$", "a" * 60 + "!") is None


def test_config_errors_name_the_variable_never_its_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NW_TEST_START", "ftp://user:hunter2secret@evil.example/")
    monkeypatch.setenv("NW_TEST_PROXY", "socks9://tok3nvalue@proxy.example")
    text = MARKET.format(extra="", title="h1").replace('["http://market.example/"]', '["${NW_TEST_START}"]')
    text = text.replace("    links:", '    proxy: "${NW_TEST_PROXY}"\n    links:')
    path = _write(tmp_path, "sources.yaml", text)
    _, issues = check_sources(path)
    shown = "\n".join(str(i) for i in issues)
    assert "${NW_TEST_START}" in shown and "${NW_TEST_PROXY}" in shown, shown
    assert "hunter2secret" not in shown and "tok3nvalue" not in shown, shown


def test_nested_quantifier_in_gate_text_marker_fails_config_check(tmp_path: Path) -> None:
    text = MARKET.format(extra="", title="h1") + '    gates:\n      login: ["text:(please\\\\s*)+log in"]\n'
    path = _write(tmp_path, "sources.yaml", text)
    _, issues = check_sources(path)
    assert any(":11: " in str(i) and "gates.login" in str(i) and "nests quantifiers" in str(i) for i in issues), \
        [str(i) for i in issues]
