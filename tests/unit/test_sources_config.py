"""Source configuration: every kind validates, errors carry file, line and field, the schema is current."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from crawler.config import ConfigError
from crawler.paths import CONFIG_DIR
from crawler.sources import check_sources, get_source, load_sources
from crawler.sources.cli import SCHEMA_PATH, config_group, schema_text
from crawler.sources.models import MarketSource, parse_selector

DEMO = CONFIG_DIR / "demo" / "sources.yaml"

MARKET = """\
sources:
  - name: m1
    kind: market
    start_urls: ["http://market.example/"]
    links:
      listing: a.item
    fields:
      title: h1
"""


def write(tmp_path: Path, text: str, name: str = "sources.yaml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_demo_config_loads_every_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NARCOWATCH_DEMO_URL", "http://127.0.0.1:8808")
    sources = load_sources(DEMO)
    kinds = {s.kind for s in sources}
    assert kinds == {"market", "browser", "b2b_chemicals", "forum", "telegram_public", "reddit", "mastodon", "feed"}
    market = next(s for s in sources if s.name == "demo-market")
    assert market.start_urls == ["http://127.0.0.1:8808/market/"]
    assert market.removal_grace == timedelta(hours=1)
    assert market.fields.category is not None and market.fields.category.join == " / "
    tg = get_source("demo-telegram-sales", DEMO)
    assert tg.urls() == ["http://127.0.0.1:8808/s/chemking_direct"]
    assert tg.platform_name == "telegram"
    assert tg.domains == ["127.0.0.1"]


def test_example_analyst_configs_validate() -> None:
    sources, issues = check_sources(CONFIG_DIR)
    assert issues == []
    assert sources, "config/sources/ holds example configurations"
    assert all(not s.enabled for s in sources), "examples are disabled by default"


def test_defaults_and_selector_forms(tmp_path: Path) -> None:
    (src,) = load_sources(write(tmp_path, MARKET))
    assert isinstance(src, MarketSource)
    assert src.platform_name == "market.example"
    assert src.robots == "obey" and src.rate_limit.download_delay == 1.0 and src.rate_limit.concurrency == 2
    assert src.removal_grace == timedelta(hours=48)
    assert src.links.listing[0].css == "a.item"
    assert parse_selector("xpath://h1/text()") == {"xpath": "//h1/text()"}
    assert parse_selector("css:h1::text") == {"css": "h1::text"}
    assert parse_selector("h1.title") == {"css": "h1.title"}


def test_errors_name_file_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, """\
sources:
  - name: good
    kind: feed
    start_urls: ["http://feeds.example/rss.xml"]
  - name: Bad Name
    kind: market
    start_urls: ["not a url"]
    schedule: "61 * * * *"
    proxy: "ftp://proxy"
    links:
      listing: "a.item["
    fields:
      title: {xpath: "//h1[", regex: "("}
      pricee: td.price
  - name: x
    kind: darkweb
""")
    with pytest.raises(ConfigError) as info:
        load_sources(path)
    issues = {(i.line, i.field): i.message for i in info.value.issues}
    assert all(i.file == str(path) for i in info.value.issues)
    assert "pattern" in issues[(5, "sources[1].name")]
    assert "not an absolute http(s) URL" in issues[(7, "sources[1].start_urls")]
    assert "invalid cron" in issues[(8, "sources[1].schedule")]
    assert "not a proxy URL" in issues[(9, "sources[1].proxy")]
    assert "invalid CSS selector" in issues[(11, "sources[1].links.listing[0]")]
    assert "invalid XPath" in issues[(13, "sources[1].fields.title")]
    assert "Extra inputs are not permitted" in issues[(14, "sources[1].fields.pricee")]
    assert "does not match any of the expected tags" in issues[(16, "sources[2].kind")]
    text = str(info.value)
    assert f"{path}:8: sources[1].schedule: invalid cron" in text


def test_kind_specific_requirements(tmp_path: Path) -> None:
    path = write(tmp_path, """\
sources:
  - name: nolisting
    kind: market
    start_urls: ["http://m.example/"]
    links: {}
    fields: {title: h1}
  - name: nocas
    kind: b2b_chemicals
    start_urls: ["http://b.example/"]
    links: {listing: a}
    fields: {title: h1}
  - name: tg
    kind: telegram_public
  - name: socks
    kind: market
    start_urls: ["http://m.example/"]
    proxy: "socks5://127.0.0.1:9050"
    links: {listing: a}
    fields: {title: h1}
""")
    _, issues = check_sources(path)
    messages = {i.field: (i.line, i.message) for i in issues}
    assert "links.listing" in messages["sources[0]"][1] and messages["sources[0]"][0] == 2
    assert "cas_numbers" in messages["sources[1]"][1]
    assert "channels" in messages["sources[2]"][1]
    assert "Privoxy" in messages["sources[3]"][1]


def test_yaml_syntax_and_duplicates(tmp_path: Path) -> None:
    bad = write(tmp_path / "a", "sources:\n  - name: a\n    kind: [market\n")
    with pytest.raises(ConfigError) as info:
        load_sources(bad)
    assert info.value.issues[0].line is not None and "YAML syntax" in info.value.issues[0].message

    root = tmp_path / "conf"
    write(root, MARKET, "sources.yaml")
    write(root, MARKET.replace("http://market.example/", "http://other.example/"), "sources/more.yaml")
    _, issues = check_sources(root)
    assert len(issues) == 1
    assert issues[0].file == str(root / "sources" / "more.yaml")
    assert issues[0].line == 2 and "duplicate source name 'm1'" in issues[0].message


def test_directory_reads_sources_yaml_and_sources_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "conf"
    write(root, MARKET, "sources.yaml")
    write(root, MARKET.replace("m1", "m2"), "sources/b.yaml")
    write(root, MARKET.replace("m1", "m3"), "sources/nested/c.yml")
    write(root, "rules: []\n", "alerts.yaml")  # other files in the directory are not sources
    monkeypatch.setenv("NARCOWATCH_CONFIG", str(root))
    assert sorted(s.name for s in load_sources()) == ["m1", "m2", "m3"]
    with pytest.raises(ConfigError, match="no source named 'zz'"):
        get_source("zz")


def test_env_interpolation_and_unset_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = MARKET.replace("http://market.example/", "${MARKET_URL}/shop/")
    monkeypatch.setenv("MARKET_URL", "http://market.example:9999")
    (src,) = load_sources(write(tmp_path, text))
    assert src.start_urls == ["http://market.example:9999/shop/"]
    monkeypatch.delenv("MARKET_URL")
    with pytest.raises(ConfigError, match="is an environment variable unset"):
        load_sources(write(tmp_path, text))


def test_config_check_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    monkeypatch.setenv("NARCOWATCH_DEMO_URL", "http://127.0.0.1:8808")
    ok = runner.invoke(config_group, ["check", str(DEMO)])
    assert ok.exit_code == 0, ok.output
    assert "demo-market" in ok.output and "10 source(s)" in ok.output
    bad = write(tmp_path, MARKET.replace("title: h1", "title: h1\n      nonsense: x"))
    res = runner.invoke(config_group, ["check", str(bad)])
    assert res.exit_code == 1
    assert f"{bad}:9: sources[0].fields.nonsense: Extra inputs are not permitted" in res.output


def test_config_check_also_checks_alerts_of_a_directory(tmp_path: Path) -> None:
    root = tmp_path / "conf"
    write(root, MARKET, "sources.yaml")
    write(root, "rules:\n  - name: r1\n    nonsense: 1\n", "alerts.yaml")
    res = CliRunner().invoke(config_group, ["check", str(root)])
    assert res.exit_code == 1
    assert f"{root / 'alerts.yaml'}:3:" in res.output and "nonsense" in res.output
    ok = CliRunner().invoke(config_group, ["check", str(CONFIG_DIR)])
    assert ok.exit_code == 0, ok.output
    assert "alert rule(s)" in ok.output


def test_published_schema_is_current() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), (
        "config/schema/sources.schema.json is stale: run `narcowatch config schema --write`")
    schema = json.loads(schema_text())
    kinds = schema["properties"]["sources"]["items"]["discriminator"]["mapping"]
    assert set(kinds) == {"market", "browser", "b2b_chemicals", "forum", "telegram_public", "reddit", "mastodon",
                          "feed"}
    title = schema["$defs"]["ListingFields"]["properties"]["title"]["anyOf"]
    assert {"type": "string"} in title  # selectors may be written as plain strings
