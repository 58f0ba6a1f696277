"""Referral report and vendor dossier made from one crawl of the fixture web (real node, real Chromium).

One module-scoped crawl (the Telegram channel, the JavaScript shop with screenshots, the market) feeds every
test: both reports are made with the CLI, opened in Chromium, their PDFs read back, their evidence verified,
then a tampered copy must fail verification naming the damaged files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from elasticsearch import Elasticsearch

from crawler.paths import ROOT
from tests.plugins.es import delete_prefix
from tests.plugins.web import DEMO_SOURCES

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.elasticsearch]

SOURCES: dict[str, dict[str, Any]] = {
    "demo-telegram-sales": {}, "demo-shop": {"scroll": {"times": 1, "delay": 0.2}}, "demo-market": {},
}
"""The crawled sources and changes to their demo browser options (one scroll: fewer shop pages, a faster test)."""


def narcowatch(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crawler.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory, es_url: str, es_client: Elasticsearch,
            demo_web: str) -> Iterator[dict[str, Any]]:
    """One crawl of three demo sources through the whole pipeline into a private index prefix."""
    work = tmp_path_factory.mktemp("reports")
    demo = yaml.safe_load(DEMO_SOURCES.read_text())
    sources = [s for s in demo["sources"] if s["name"] in SOURCES]
    for s in sources:
        s.get("browser", {}).update(SOURCES[s["name"]])
    (work / "config" / "sources").mkdir(parents=True)
    (work / "config" / "sources" / "demo.yaml").write_text(yaml.safe_dump({"sources": sources}))
    (work / "config" / "alerts.yaml").write_text("rules: []\n")
    prefix = f"nwtest-rep-{uuid.uuid4().hex[:6]}"
    env = dict(os.environ, NARCOWATCH_ES_URL=es_url, NARCOWATCH_INDEX_PREFIX=prefix,
               NARCOWATCH_HOME=str(work / "home"), NARCOWATCH_DEMO_URL=demo_web.rstrip("/"))
    # the test node's credentials stay in the environment (the ES test plugin exports them): security is on
    try:
        proc = narcowatch(env, "crawl", *SOURCES, "--config", str(work / "config"), "--log-level", "WARNING",
                          "-s", f"NARCOWATCH_ALERTS_FILE={work / 'config' / 'alerts.yaml'}",
                          "-s", f"NARCOWATCH_EVIDENCE_DIR={work / 'evidence'}", timeout=600)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
        es_client.indices.refresh(index=f"{prefix}-*")
        yield {"env": env, "work": work, "prefix": prefix}
    finally:
        delete_prefix(es_client, prefix)


@pytest.fixture(scope="module")
def platform_report(crawled: dict[str, Any]) -> Path:
    out = crawled["work"] / "report-shop"
    proc = narcowatch(crawled["env"], "report", "platform", "painfree-pharmacy.example", "--since", "30d",
                      "--class", "fentanyl", "--class", "opioid", "--min-risk", "0.5", "-o", str(out),
                      "--evidence-dir", str(crawled["work"] / "evidence"))
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    assert f"Report written to {out}" in proc.stdout
    return out


@pytest.fixture(scope="module")
def vendor_report(crawled: dict[str, Any]) -> Path:
    out = crawled["work"] / "report-chemking"
    proc = narcowatch(crawled["env"], "report", "vendor", "@chemking_direct", "-o", str(out),
                      "--evidence-dir", str(crawled["work"] / "evidence"))
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    return out


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    from crawler.reports.pdf import launch_options

    with sync_playwright() as pw:
        browser = pw.chromium.launch(**launch_options())
        try:
            yield browser
        finally:
            browser.close()


def open_report(browser: Any, html: Path) -> tuple[Any, Any, list[str]]:
    """The report in a JavaScript-less page; returns the page, its context and every non-data request made."""
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1100, "height": 1400})
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(("data:", "about:")) else requests.append(r.url))
    page.set_content(html.read_text(encoding="utf-8"), wait_until="load")
    return page, context, requests


def distinct_colours(png: bytes) -> int:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(png)) as img:
        return len(img.convert("RGB").getcolors(maxcolors=1 << 20) or [])


def visible(page: Any, selector: str) -> list[dict[str, float]]:
    return [b for el in page.query_selector_all(selector) if (b := el.bounding_box()) and b["width"] > 20
            and b["height"] > 20]


def test_platform_report_renders_every_section_in_chromium(platform_report: Path, chromium: Any) -> None:
    rows = (platform_report / "listings.csv").read_text(encoding="utf-8-sig").splitlines()
    page, context, requests = open_report(chromium, platform_report / "report.html")
    try:
        text = page.inner_text("body")
        assert "Referral report: painfree-pharmacy.example" in text
        assert "Account / channel / vendor: PainFree Pharmacy" in text
        assert "fentanyl" in text and "min_risk = 0.5" in text
        shot = page.screenshot(full_page=False)
        assert distinct_colours(shot) > 50, "the report's first screen is (nearly) blank"
        chart = visible(page, "#weekly-chart svg")
        assert chart and chart[0]["height"] > 100, "the weekly chart did not render"
        assert page.query_selector_all("#weekly-chart svg path"), "the chart has no bars"
        offers = visible(page, "article.offer")
        assert len(offers) == len(rows) - 1 > 0, "one rendered offer per CSV row"
        thumbs = visible(page, "article.offer .thumb img")
        assert thumbs, "no screenshot thumbnail rendered"
        assert all(img.evaluate("i => i.complete && i.naturalWidth > 100")
                   for img in page.query_selector_all("article.offer .thumb img")), "a thumbnail did not decode"
        sections = page.query_selector_all("section")
        assert len(sections) >= 2 and all(s.bounding_box()["height"] > 30 for s in sections)
        assert requests == [], f"the report page asked the network for {requests}"
    finally:
        context.close()


def test_vendor_dossier_spans_platforms_with_price_charts(vendor_report: Path, chromium: Any) -> None:
    custody = json.loads((vendor_report / "custody.json").read_text())
    assert custody["report"]["kind"] == "vendor"
    page, context, requests = open_report(chromium, vendor_report / "report.html")
    try:
        text = page.inner_text("body")
        assert "Vendor dossier: @chemking_direct" in text
        assert "Platform: telegram" in text and "Platform: agora-demo.onion" in text
        assert "wickr: chemking" in text
        for label in ("handles", "contacts", "wallets", "platforms", "first seen", "last seen"):
            assert label in page.inner_text("#profile")
        charts = visible(page, "#price-charts figure svg")
        assert charts, "no price-history chart rendered"
        assert "offer prices (" in page.inner_text("#price-charts")
        assert distinct_colours(page.screenshot(full_page=False)) > 50
        assert requests == []
    finally:
        context.close()


def test_pdfs_have_the_report_text_and_pages(platform_report: Path, vendor_report: Path) -> None:
    from pypdf import PdfReader

    shop = PdfReader(platform_report / "report.pdf")
    offers = len((platform_report / "listings.csv").read_text(encoding="utf-8-sig").splitlines()) - 1
    assert 2 <= len(shop.pages) <= offers + 4, len(shop.pages)
    first = shop.pages[0].extract_text()
    assert "Referral report: painfree-pharmacy.example" in first and "New offers per week" in first
    everything = "\n".join(p.extract_text() for p in shop.pages)
    assert "PainFree Pharmacy" in everything and "of " + str(len(shop.pages)) in everything
    dossier = PdfReader(vendor_report / "report.pdf")
    dossier_text = "\n".join(p.extract_text() for p in dossier.pages)
    assert len(dossier.pages) >= 2
    assert "Vendor dossier" in dossier_text and "Platform: telegram" in dossier_text


def test_bundle_csv_and_custody_describe_the_same_documents(platform_report: Path, crawled: dict[str, Any],
                                                           es_client: Elasticsearch) -> None:
    import csv

    custody = json.loads((platform_report / "custody.json").read_text())
    with open(platform_report / "listings.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["listing_id"] for r in rows} == {d["_id"] for d in custody["documents"]}
    assert all(float(r["risk"]) >= 0.5 for r in rows)
    for d in custody["documents"]:
        now = es_client.get(index=f"{crawled['prefix']}-listings", id=d["_id"])
        assert (d["_version"], d["_seq_no"]) == (now["_version"], now["_seq_no"])
        assert d["response_sha256"] == now["_source"]["evidence"]["response_sha256"]
    assert custody["command"][:3] == ["narcowatch", "report", "platform"]
    assert custody["elasticsearch"]["query"]["bool"]["filter"]
    files = custody["files"]
    assert {"report.html", "report.pdf", "listings.csv", "evidence/MANIFEST.sha256"} <= set(files)
    assert sum(f.endswith(".png") for f in files) >= 1 and sum(f.endswith(".warc.gz") for f in files) >= 1
    manifest = (platform_report / "evidence" / "MANIFEST.sha256").read_text().splitlines()
    assert len(manifest) == sum(1 for f in files if f.startswith("evidence/") and not f.endswith("MANIFEST.sha256"))


def test_verify_passes_then_fails_naming_a_changed_warc_and_a_missing_screenshot(
    platform_report: Path, crawled: dict[str, Any], tmp_path: Path
) -> None:
    ok = narcowatch(crawled["env"], "evidence", "verify", str(platform_report))
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-2000:]
    assert "verified:" in ok.stdout and "equals the index's response_sha256" in ok.stdout
    assert "equals the Narcowatch-Screenshot-SHA256 of its WARC record" in ok.stdout

    copy = tmp_path / "tampered"
    shutil.copytree(platform_report, copy)
    warc = sorted((copy / "evidence").glob("*.warc.gz"))[0]
    data = bytearray(warc.read_bytes())
    data[len(data) // 2] ^= 0x01
    warc.write_bytes(bytes(data))
    shot = sorted((copy / "evidence").glob("*.png"))[0]
    shot.unlink()
    bad = narcowatch(crawled["env"], "evidence", "verify", str(copy))
    assert bad.returncode == 1, bad.stdout[-3000:]
    failures = bad.stdout.split("FAILED:", 1)[1]
    assert f"MISMATCH evidence/{warc.name}" in failures
    assert f"MISSING evidence/{shot.name}" in failures
    others = [line for line in failures.splitlines()[1:]
              if line.strip() and warc.name not in line and shot.name not in line]
    assert others == [], others


def test_verify_checks_records_against_the_index_not_only_the_bundle(
    vendor_report: Path, crawled: dict[str, Any], tmp_path: Path
) -> None:
    """A forged capture with custody.json and the manifest re-hashed to match still fails: the index decides."""
    from io import BytesIO

    from warcio.archiveiterator import ArchiveIterator
    from warcio.warcwriter import WARCWriter

    from crawler.reports.bundle import file_sha256, write_manifest

    copy = tmp_path / "forged"
    shutil.copytree(vendor_report, copy)
    warc = sorted((copy / "evidence").glob("*.warc.gz"))[0]
    with open(warc, "rb") as fh:
        record = next(r for r in ArchiveIterator(fh) if r.rec_type == "response")
        headers, http, body = record.rec_headers, record.http_headers, record.content_stream().read()
    forged = body.replace(b"chemking", b"someone_else") + b"<!-- forged -->"
    buf = BytesIO()
    writer = WARCWriter(buf, gzip=True, warc_version="WARC/1.1")
    http.replace_header("Content-Length", str(len(forged)))
    writer.write_record(writer.create_warc_record(
        headers.get_header("WARC-Target-URI"), "response", payload=BytesIO(forged), length=len(forged),
        warc_headers_dict={"WARC-Record-ID": headers.get_header("WARC-Record-ID")}, http_headers=http))
    warc.write_bytes(buf.getvalue())
    write_manifest(copy / "evidence")
    custody = json.loads((copy / "custody.json").read_text())
    rel_warc = f"evidence/{warc.name}"
    forged_docs = [d for d in custody["documents"] if d["evidence_warc"] == rel_warc]
    for d in forged_docs:  # the forger also rewrites the hashes the bundle claims for the record
        d["response_sha256"] = hashlib.sha256(forged).hexdigest()
    for rel in custody["files"]:
        custody["files"][rel] = file_sha256(copy / rel)
    (copy / "custody.json").write_text(json.dumps(custody))

    bad = narcowatch(crawled["env"], "evidence", "verify", str(copy))
    assert bad.returncode == 1, bad.stdout[-3000:]
    failures = bad.stdout.split("FAILED:", 1)[1]
    assert f"MISMATCH evidence/{warc.name}: record body sha256" in failures
    assert "!= the index's response_sha256" in failures
    assert "MISSING" not in failures and "custody.json)" not in failures  # every file hash itself matches
    assert failures.count("!= the index's response_sha256") == len(forged_docs)


def test_unknown_platform_or_vendor_is_a_clear_error(crawled: dict[str, Any], es_client: Elasticsearch) -> None:
    from crawler.es.names import IndexNames
    from crawler.reports.data import ReportError, platform_selection, vendor_selection

    names = IndexNames(crawled["prefix"])
    with pytest.raises(ReportError, match=r"no listings of platform 'nope\.example'.*platforms in .*: .*telegram"):
        platform_selection(es_client, names, "nope.example")
    with pytest.raises(ReportError, match=r"no vendor profile has the id, handle or contact 'nobody_at_all'"):
        vendor_selection(es_client, names, "nobody_at_all")
    assert vendor_selection(es_client, names, "t.me/chemking_direct").docs  # a handle in any of its forms


def test_tampered_index_paths_are_refused_counted_and_named(platform_report: Path, crawled: dict[str, Any],
                                                            es_client: Elasticsearch) -> None:
    """Index records tampered to name files outside the evidence directories (a copy of the run's own WARC, so
    the record is there to copy, and a passwd stand-in as screenshot): the report refuses both, counts and names
    them on stderr, in the HTML and in custody.json, and still bundles the other listings' evidence.

    Runs last in this module: it changes (then restores) documents the reports above were made from."""
    custody = json.loads((platform_report / "custody.json").read_text())
    target = next(d for d in custody["documents"] if d["evidence_warc"] and d["screenshot"])
    same_page = [d["_id"] for d in custody["documents"] if d["warc_record_id"] == target["warc_record_id"]]
    index = f"{crawled['prefix']}-listings"
    originals = {lid: es_client.get(index=index, id=lid)["_source"]["evidence"] for lid in same_page}
    outside = crawled["work"] / "outside"
    outside.mkdir()
    stolen = outside / "stolen.warc.gz"
    shutil.copyfile(originals[target["_id"]]["warc_file"], stolen)  # it holds the record: only the guard says no
    passwd = outside / "passwd"
    passwd.write_bytes(b"root:x:0:0:root:/root:/bin/bash\nnarcowatch-SECRET-LINE\n")
    try:
        for lid in same_page:  # every listing of that page, else one of them bundles the page from the real file
            tampered = {"warc_file": str(stolen), "screenshot": str(passwd)}
            es_client.update(index=index, id=lid, doc={"evidence": tampered})
        es_client.indices.refresh(index=index)
        out = crawled["work"] / "report-tampered"
        proc = narcowatch(crawled["env"], "report", "platform", "painfree-pharmacy.example", "--since", "30d",
                          "--class", "fentanyl", "--class", "opioid", "--min-risk", "0.5", "-o", str(out), "--no-pdf",
                          "--evidence-dir", str(crawled["work"] / "evidence"))
    finally:
        for lid, evidence in originals.items():
            es_client.update(index=index, id=lid, doc={"evidence": evidence})
        es_client.indices.refresh(index=index)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    assert "2 evidence files refused: not inside the evidence directories" in proc.stderr
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "2 evidence files refused (not inside the evidence directories" in html
    assert str(stolen) in html and str(passwd) in html
    made = json.loads((out / "custody.json").read_text())
    assert sorted(made["refused_evidence"]) == sorted([str(stolen), str(passwd)])
    docs = {d["_id"]: d for d in made["documents"]}
    for lid in same_page:
        assert docs[lid]["evidence_warc"] is None and docs[lid]["screenshot"] is None
        assert "raw capture refused" in docs[lid]["problem"]
    assert not any(b"SECRET-LINE" in p.read_bytes() for p in (out / "evidence").iterdir())
    bundled = [d for d in made["documents"] if d["_id"] not in same_page]
    assert bundled and all(d["evidence_warc"] for d in bundled)  # the report went on for the others
