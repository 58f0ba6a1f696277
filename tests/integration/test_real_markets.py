"""Real saved market pages (tests/fixtures/real_pages), served on loopback and crawled end to end.

- Every gold value of the four gold markets (apollon, cryptonia, dream, empire) compared value by value with
  what the sources of tests/fixtures/real_sites/sources.yaml read; per-field accuracy printed and >= 0.95. The
  listing pages also crawled with the sources `source suggest --listing-page` wrote from one page per market
  (label selectors, no hand edits): >= 0.9 per field.
- The real t.me/s page read by the telegram_public kind: 12 posts, views, dates.
- A ``market`` source with ``listing_rows`` (Apollon: result page, its next page, one detail page followed)
  through the whole pipeline: indexed in the real node, alert mail, change detection and removals.
- Layout drift and a gate in scheduled runs (RunSink): ``degraded`` / ``gated`` and exactly one ops mail each.
"""

from __future__ import annotations

import email
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest
import yaml
from elasticsearch import Elasticsearch
from parsel import Selector

from crawler.es.names import IndexNames
from crawler.paths import ROOT
from tests import real_gold as gold
from tests.plugins.web import CrawlResult
from tests.real_web import REAL_PAGES, REAL_SOURCES, RealWeb


@pytest.fixture(scope="module")
def real_web() -> Iterator[RealWeb]:
    web = RealWeb()
    web.start()
    try:
        yield web
    finally:
        web.stop()


@pytest.fixture
def fresh_real_web() -> Iterator[RealWeb]:
    web = RealWeb()
    web.start()
    try:
        yield web
    finally:
        web.stop()


_CRAWL_ALL = """
import json, sys
from scrapy.crawler import CrawlerProcess
from scrapy.utils.project import get_project_settings

out, names = sys.argv[1], sys.argv[2:]
settings = get_project_settings()
settings.set("ITEM_PIPELINES", {}, priority="cmdline")
settings.set("LOG_LEVEL", "WARNING", priority="cmdline")
settings.set("FEEDS", {out + "/%(name)s.jsonl": {"format": "jsonlines", "overwrite": True}}, priority="cmdline")
process = CrawlerProcess(settings, install_root_handler=True)
crawlers = {name: process.create_crawler(name) for name in names}
for c in crawlers.values():
    process.crawl(c)
process.start()
for name, c in crawlers.items():
    with open(f"{out}/{name}.stats.json", "w", encoding="utf-8") as fh:
        json.dump(c.stats.get_stats(), fh, default=str)
"""


def crawl_all(web: RealWeb, names: list[str], tmp_path: Path, config: Path = REAL_SOURCES) -> dict[str, CrawlResult]:
    """Crawl several sources of ``config`` (REAL_SOURCES) in one subprocess (one reactor), without pipelines."""
    out = tmp_path / "crawl"
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "NARCOWATCH_CONFIG": str(config), "NARCOWATCH_HOME": str(tmp_path / "home"),
           "NARCOWATCH_REAL_URL": web.base_url}
    proc = subprocess.run([sys.executable, "-c", _CRAWL_ALL, str(out), *names], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = {}
    for name in names:
        feed = out / f"{name}.jsonl"
        items = [json.loads(line) for line in feed.read_text(encoding="utf-8").splitlines() if line.strip()] \
            if feed.exists() else []
        stats = json.loads((out / f"{name}.stats.json").read_text(encoding="utf-8"))
        results[name] = CrawlResult(items, stats, proc.stderr)
    return results


def crawl(web: RealWeb, name: str, tmp_path: Path) -> CrawlResult:
    return crawl_all(web, [name], tmp_path)[name]


SUGGESTED_FROM = {"apollon": "listing_0.html", "cryptonia": "saved_cryptonia_listing_0.html",
                  "dream": "listing_0.html", "empire": "saved_empire_listing_0.html"}
"""The one listing page per market ``source suggest --listing-page`` was run on (its first saved page)."""


def with_suggested_sources(directory: Path) -> Path:
    """REAL_SOURCES plus, per gold market, the source an analyst gets from ``source suggest --listing-page`` on one
    saved listing page, unedited but for what a listing page cannot show: where the listings are linked from
    (the folder's index page) and that they are on this machine."""
    from crawler.sources.suggest import source_dict
    from crawler.sources.suggest_listing import suggest_listing

    data = yaml.safe_load(REAL_SOURCES.read_text(encoding="utf-8"))
    for market, page in SUGGESTED_FROM.items():
        body = (REAL_PAGES / market / "listings" / page).read_bytes().decode("utf-8", "replace")
        src = source_dict(suggest_listing(body), name=f"{market}-suggested",
                          start_url=f"${{NARCOWATCH_REAL_URL}}/{market}/listings/")
        src.update(links={"listing": "a.file"}, allow_private_addresses=True, robots="ignore",
                   rate_limit={"download_delay": 0, "concurrency": 8})
        data["sources"].append(src)
    path = directory / "sources_with_suggested.yaml"
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_gold_markets_field_by_field(real_web: RealWeb, tmp_path: Path) -> None:
    base = real_web.base_url
    report, scores = [], {}
    suggested = [f"{m}-suggested" for m in SUGGESTED_FROM]
    results = crawl_all(real_web, ["apollon", "apollon-listings", "empire", "empire-listings", "cryptonia",
                                   "cryptonia-listings", "dream-listings", "apollon-browser", *suggested], tmp_path,
                        with_suggested_sources(tmp_path / "config"))
    checks = {
        "apollon rows": gold.row_checks("apollon", results["apollon"].items, {
            "results/search_result_0.html": f"{base}/apollon/home.php?cid=2&csid=0&pg=1",
            "results/search_result_1.html": f"{base}/apollon/home.php?cid=2&csid=0&pg=2"}),
        # saved_empire_search_result_1.html was saved cut off mid-page: the crawler counts it as a bad page
        # (narcowatch/bad_page/truncated) and reads no row of it; its 10 gold rows are left out (asserted below)
        "empire rows": [c for c in gold.row_checks("empire", results["empire"].items, {
            p: f"{base}/empire/{p}" for p in gold.row_gold("empire")}) if "search_result_1" not in c[0]],
        "cryptonia rows": gold.row_checks("cryptonia", results["cryptonia"].items, {
            p: f"{base}/cryptonia/{p}" for p in gold.row_gold("cryptonia")}),
        "apollon pages": gold.listing_checks("apollon", results["apollon-listings"].items),
        "empire pages": gold.listing_checks("empire", results["empire-listings"].items),
        "cryptonia pages": gold.listing_checks("cryptonia", results["cryptonia-listings"].items),
        "dream pages": gold.listing_checks("dream", results["dream-listings"].items),
    }
    for name, cs in checks.items():
        scores[name] = gold.score(cs)
        report.append(gold.report(name, scores[name]))
    text = "\n".join(report)
    print("\nper-field accuracy on the real pages' gold (right/scored):\n" + text)
    (tmp_path / "accuracy.txt").write_text(text)
    assert results["empire"].stats.get("narcowatch/bad_page/truncated") == 1
    assert sum(n for s in scores.values() for _, n in s.values()) >= 300
    low = {f"{name}: {field}": f"{r}/{n}" for name, s in scores.items() for field, (r, n) in s.items()
           if r / n < 0.95}
    misses = [c for cs in checks.values() for c in cs if not gold.same(c[1], c[2], c[3])]
    assert not low, f"fields below 0.95: {low}\nmisses: {misses[:20]}"
    # the listing pages crawled with the sources `source suggest --listing-page` wrote from ONE page per market
    # (label selectors): every gold value those sources have a field for, page by page
    # (a currency is scored where the gold price is shown: Dream's listing_2 gold says 50.96 USD, the page
    # "฿0.000272 ($3.1096)")
    fields = {"title", "price", "currency", "vendor", "ships_from", "ships_to", "stock"}
    suggested_scores = {}
    for m in SUGGESTED_FROM:
        cs = [c for c in gold.listing_checks(m, results[f"{m}-suggested"].items) if c[1] in fields]
        priced = {c[0] for c in cs if c[1] == "price"}
        suggested_scores[m] = gold.score([c for c in cs if c[1] != "currency" or c[0] in priced])
    print("suggested listing-page sources:\n" + "\n".join(gold.report(m, sc) for m, sc in suggested_scores.items()))
    assert all(len(results[f"{m}-suggested"].items) == len(list((REAL_PAGES / m / "listings").glob("*.html")))
               for m in SUGGESTED_FROM)
    assert sum(n for sc in suggested_scores.values() for _, n in sc.values()) >= 40
    low = {f"{m}: {f}": f"{r}/{n}" for m, sc in suggested_scores.items() for f, (r, n) in sc.items() if r / n < 0.9}
    assert not low, low
    # the rows crawl followed the pagination and the one saved detail page, and merged it into its row
    apollon = {i["native_id"]: i for i in results["apollon"].items}
    assert len(apollon) == 30 and apollon["73431"]["ships_from_raw"] == "Netherlands"
    assert apollon["73431"]["vendor"] == "DutchTopBoy" and apollon["73431"]["views"] == 1342
    # the browser kind reads the same rows from the pages rendered in Chromium
    # (prices too, except 73431's: its followed detail page says 49.88 USD where its row says 49.94)
    rendered = {i["native_id"]: (i["title"], i["vendor"], i["row"], i["price"] if i["native_id"] != "73431" else 0)
                for i in results["apollon-browser"].items}
    assert rendered == {k: (i["title"], i["vendor"], i["row"], i["price"] if k != "73431" else 0)
                        for k, i in apollon.items()}


def test_telegram_public_reads_the_real_channel_page(real_web: RealWeb, tmp_path: Path) -> None:
    page = Selector(text=(REAL_PAGES / "telegram_tme_s/channel_page/voennoe_obozrenie_t.me_s.html").read_text())
    posts = page.css("div.tgme_widget_message[data-post]")
    expected = {}
    for post in posts:
        views = post.css(".tgme_widget_message_views::text").get()
        m = re.fullmatch(r"([\d.]+)([KM]?)", views or "")
        count = round(float(m.group(1)) * {"": 1, "K": 1000, "M": 1000000}[m.group(2)]) if m else None
        when = post.css(".tgme_widget_message_date time::attr(datetime)").get()
        expected[post.attrib["data-post"]] = (count, when[:19] if when else None)
    result = crawl(real_web, "telegram-real", tmp_path)
    got = {i["native_id"]: (i["views"], (i["posted_at"] or "")[:19] or None) for i in result.items}
    assert len(expected) == 12 and len(got) == 12
    assert got == expected
    assert all(i["description"] and i["vendor"] == "@topwar_official" for i in result.items)


# ---------------------------------------------------------------- through the whole pipeline

RULES = {
    "sender": "narcowatch-test@localhost",
    "ops": ["ops@test.example"],
    "rules": [{"name": "opioid-offers", "condition": {"substance_classes": ["opioid", "fentanyl"],
                                                        "intent": "sale"},
               "recipients": ["analyst@test.example"], "events": ["new"]}],
}


def real_config(directory: Path, names: list[str], **changes: Any) -> Path:
    data = yaml.safe_load(REAL_SOURCES.read_text(encoding="utf-8"))
    sources = [dict(s, **changes) for s in data["sources"] if s["name"] in names]
    (directory / "sources").mkdir(parents=True, exist_ok=True)
    (directory / "sources" / "real.yaml").write_text(yaml.safe_dump({"sources": sources}, allow_unicode=True))
    (directory / "alerts.yaml").write_text(yaml.safe_dump(RULES))
    return directory


def mails(directory: Path) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in sorted(directory.glob("*.eml"))]


@pytest.mark.slow
@pytest.mark.smtp
def test_rows_are_indexed_alerted_tracked_and_removed(
    fresh_real_web: RealWeb, tmp_path: Path, smtp_sink: Any, es_client: Elasticsearch, es_env: IndexNames
) -> None:
    config = real_config(tmp_path / "config", ["apollon"], removal_grace="0s")
    env = dict(os.environ, NARCOWATCH_HOME=str(tmp_path / "home"), NARCOWATCH_REAL_URL=fresh_real_web.base_url)

    def run(*args: str) -> dict[str, Any]:
        proc = subprocess.run([sys.executable, "-m", "crawler.runner", "crawl", "apollon", "--config", str(config),
                               "--log-level", "WARNING", *args], env=env, capture_output=True, text=True,
                              timeout=600, check=False)
        assert proc.returncode == 0, proc.stderr[-4000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    first = run()
    assert (first["listings"], first["new"], first["outcome"]) == (30, 30, "ok")
    assert first["fill_rates"]["title"] == 1.0 and first["fill_rates"]["vendor"] == 1.0
    es_client.indices.refresh(index=es_env.listings)
    docs = {h["_source"]["native_id"]: h["_source"] for h in es_client.search(
        index=es_env.listings, query={"term": {"source": "apollon"}}, size=100)["hits"]["hits"]}
    assert len(docs) == 30  # one document per offer: the followed detail page did not make a second one
    first_row = docs["43473"]
    assert first_row["title"] == "UK Pharma Dihydrocodeine 30mg x 42 with Free UK Shipping"
    assert (first_row["vendor"], first_row["price"], first_row["currency"]) == ("FASTmedsUK", 58.05, "USD")
    assert first_row["url"] == f"{fresh_real_web.base_url}/apollon/listing.php?ls_id=43473"
    evidence = first_row["evidence"]
    assert evidence["page_url"].endswith("pg=1") and evidence["row"] == 1 and evidence["warc_record_id"]
    assert evidence["page_record_id"] == evidence["warc_record_id"]  # a row's record is its result page's
    followed = docs["73431"]["evidence"]  # a followed row: the detail page's record and the result page's
    assert docs["73431"]["ships_from_raw"] == "Netherlands" and followed["row"] == 7
    assert followed["page_record_id"] == evidence["page_record_id"] != followed["warc_record_id"]
    assert "opioid" in first_row["substance_classes"]
    # alertable: the opioid offers raised alert mail
    assert smtp_sink.wait_for(1, timeout=30)
    alert_mails = [m for m in mails(smtp_sink.directory) if "analyst@test.example" in str(m["To"])]
    # one mail per new opioid offer, in the order the rows were processed (the pages are crawled concurrently,
    # so on a loaded machine the Dihydrocodeine row's mail need not be the first: CI saw Iranian Heroin first)
    bodies = [m.get_body(("plain",)).get_content() for m in alert_mails]
    assert any("Dihydrocodeine" in b for b in bodies), [b.split("\n", 3)[2] for b in bodies]
    sent = len(mails(smtp_sink.directory))

    # the second page is gone: its 15 offers are removed, the first page's are unchanged, no new mail
    fresh_real_web.routes.pop("/apollon/home.php?cid=2&csid=0&pg=2")
    second = run("-s", "NARCOWATCH_NLP_ENABLED=False")  # unchanged offers are not analysed again anyway
    assert (second["listings"], second["new"], second["removed"]) == (15, 0, 15), second
    # (once, on a loaded machine, one first-page offer was not counted unchanged; likely 73431, whose followed
    # detail page says 49.88 USD where its row says 49.94: when the detail fetch fails the row alone is the
    # listing, a price change. The second run's counts are printed for the record.)
    print("second crawl:", {k: second[k] for k in ("unchanged", "changed", "price_changes", "relisted")})
    assert second["unchanged"] + second["changed"] + second["price_changes"] + second["relisted"] == 15
    es_client.indices.refresh(index=es_env.listings)
    removed = es_client.count(index=es_env.listings, query={"bool": {"filter": [
        {"term": {"source": "apollon"}}, {"term": {"status": "removed"}}]}})["count"]
    assert removed == 15
    assert len(mails(smtp_sink.directory)) == sent


# ---------------------------------------------------------------- drift and gates in scheduled runs


def scheduled(config: Path, source: str) -> Any:
    from crawler.scheduling.settings import SchedulerSettings
    from crawler.scheduling.worker import RunSink, run_source

    # the worker crawls without the listing pipeline (indexing is the previous test's subject): run records,
    # fill rates, drift, gates and ops mail are what these tests look at
    settings = SchedulerSettings(worker_command=[sys.executable, "-m", "crawler.runner", "crawl", "-s",
                                                 "NARCOWATCH_PIPELINE_ENABLED=False", "--log-level", "WARNING"])
    return run_source(source, str(config), settings=settings, sink=RunSink(settings, config_path=str(config)),
                      trigger="manual")


def ops_mails(smtp_sink: Any) -> list[email.message.EmailMessage]:
    return [m for m in mails(smtp_sink.directory) if "ops@test.example" in str(m["To"])]


@pytest.mark.slow
@pytest.mark.smtp
def test_layout_drift_marks_the_run_degraded_and_mails_ops_once(
    fresh_real_web: RealWeb, tmp_path: Path, smtp_sink: Any, es_client: Elasticsearch, es_env: IndexNames,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NARCOWATCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NARCOWATCH_REAL_URL", fresh_real_web.base_url)
    config = real_config(tmp_path / "config", ["empire"])
    good = scheduled(config, "empire")
    assert good.outcome == "success" and good.fill_rates["vendor"] == 1.0 and good.items == 15
    # the market renames its vendor profile links: the vendor selectors find nothing any more
    fresh_real_web.rewrite = [(b"/u/", b"/vendor/")]
    bad = scheduled(config, "empire")
    if bad.outcome != "degraded":  # say what the drift check saw (it failed once in a full CI run)
        from crawler.scheduling.worker import local_runs_path

        pytest.fail(f"not degraded: {bad.outcome} {bad.message!r} fill {bad.fill_rates} items {bad.items}; "
                    f"run log: {local_runs_path().read_text(encoding='utf-8')[-3000:]}")
    assert {d["field"] for d in bad.drift} == {"vendor", "vendor_url"}
    assert all((d["before"], d["after"]) == (1.0, 0.0) for d in bad.drift)
    ops = smtp_sink.wait_for(1, timeout=15) and ops_mails(smtp_sink)
    assert len(ops) == 1
    body = ops[0].get_body(("plain",)).get_content()
    assert "'empire'" in ops[0]["Subject"] and "vendor" in ops[0]["Subject"]
    assert "vendor: filled in 100% of listings before, 0% now" in body
    assert re.search(r"Sample URL: https?://\S+/product/\d+", body), body
    # (the next degraded run sends no second mail: tests/unit/test_pages_rows.py, judge_run)
    es_client.indices.refresh(index=es_env.crawl_runs)
    runs = [h["_source"] for h in es_client.search(index=es_env.crawl_runs, size=10, sort=[{"started_at": "asc"}],
                                                   query={"term": {"source": "empire"}})["hits"]["hits"]]
    assert [r["outcome"] for r in runs] == ["success", "degraded"]
    assert runs[0]["fill_rates"]["title"] == 1.0 and runs[1]["fill_rates"]["vendor"] == 0.0


@pytest.mark.slow
@pytest.mark.smtp
def test_a_gate_stops_the_source_counts_it_and_mails_ops_once(
    fresh_real_web: RealWeb, tmp_path: Path, smtp_sink: Any, es_env: IndexNames, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NARCOWATCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NARCOWATCH_REAL_URL", fresh_real_web.base_url)
    # the market's address now answers with Dream's anti-DDoS CAPTCHA page (a real saved one)
    fresh_real_web.routes["/apollon/home.php?cid=2&csid=0&pg=1"] = "dream/other/anti_ddos_0.html"
    config = real_config(tmp_path / "config", ["apollon"])
    first = scheduled(config, "apollon")
    assert first.outcome == "gated", first
    assert first.gate["kind"] == "ddos" and first.gate["counts"] == {"ddos": 1}
    assert first.gate["url"].endswith("pg=1") and "never solves" in first.message
    assert fresh_real_web.hits.get("/apollon/home.php?cid=2&csid=0&pg=2") is None  # nothing after the gate
    ops = smtp_sink.wait_for(1, timeout=15) and ops_mails(smtp_sink)
    assert len(ops) == 1 and "ddos gate" in ops[0]["Subject"]
    assert "pg=1" in ops[0].get_body(("plain",)).get_content()
