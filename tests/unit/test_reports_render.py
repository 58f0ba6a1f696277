"""Report rendering with hostile listing text: every field escaped, no script, no link but http(s), safe CSV."""

from __future__ import annotations

import csv
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from crawler.reports.bundle import Bundle, Capture
from crawler.reports.charts import weekly_counts
from crawler.reports.data import Doc, Selection
from crawler.reports.render import build_offers, csv_cell, render_html, safe_url, write_csv

EVIL = '<script>alert(1)</script><img src=x onerror=alert(2)>"\'&'


class Tags(HTMLParser):
    """Every start tag with its attributes, and every piece of text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def hostile_doc(i: int, **over: Any) -> Doc:
    src: dict[str, Any] = {
        "fingerprint": f"fp{i}", "title": f"{EVIL} title {i}", "description": f"{EVIL} description",
        "vendor": f"{EVIL}vendor", "vendor_url": "javascript:alert(3)", "platform": "evil.example",
        "source": "evil", "url": "javascript:alert(4)", "price": 10.0, "currency": "USD", "price_usd": 10.0,
        "quantity": EVIL, "substance_names": ["fentanyl"], "substance_classes": ["fentanyl"],
        "substances": [{"name": "fentanyl", "class": "fentanyl", "cas": EVIL}],
        "vendor_contacts": [{"kind": "wickr", "value": EVIL}], "ships_from": ["CN"], "ships_to_raw": EVIL,
        "risk": 0.9, "intent": "sale", "first_seen": "2026-11-02T10:00:00Z", "last_seen": "2026-11-20T10:00:00Z",
        "fetched_at": "2026-11-20T10:00:00Z", "status": "active",
        "evidence": {"response_sha256": "ab" * 32, "warc_record_id": f"<urn:uuid:{EVIL}>"},
    }
    src.update(over)
    return Doc(f"fp{i}", "nw-listings-v1", 1, i, 1, src)


def test_hostile_text_is_escaped_and_no_script_or_foreign_link_survives(tmp_path: Path) -> None:
    docs = [hostile_doc(1), hostile_doc(2, url="https://shop.example/p/2?<b>x</b>", vendor_url="http://v.example/")]
    sel = Selection("platform", EVIL, {}, {"platform": EVIL, "since": "30d", "classes": [EVIL]}, docs,
                    notes=[EVIL])
    bundle = Bundle({d.id: Capture(record_id="r", warc="evidence/r.warc.gz") for d in docs})
    html = render_html(sel, build_offers(sel, bundle, tmp_path), created_at="2026-12-01T00:00:00Z",
                       command=f"narcowatch report platform '{EVIL}'")
    parser = Tags()
    parser.feed(html)
    tag_names = {t for t, _ in parser.tags}
    assert "script" not in tag_names and "img" not in tag_names  # no thumbnails given, none injected
    for _tag, attrs in parser.tags:
        assert not any(k.startswith("on") for k in attrs), attrs
        href = attrs.get("href")
        if href is not None:
            assert href.startswith(("#", "http://", "https://")), href
    text = "".join(parser.text)
    assert text.count("<script>alert(1)</script>") >= 10  # shown as text, everywhere it appeared
    assert "javascript:alert(4)" in text  # a non-web URL is shown, never linked
    assert "default-src 'none'" in html  # the page may load nothing from anywhere


def test_svg_chart_is_embedded_without_script_and_counts_weeks() -> None:
    srcs = [hostile_doc(i).source for i in range(3)] + [
        hostile_doc(9, first_seen="2026-11-25T00:00:00Z", substance_classes=["precursor"]).source]
    weeks, series = weekly_counts(srcs)
    assert [w.isoformat() for w in weeks] == ["2026-11-02", "2026-11-09", "2026-11-16", "2026-11-23"]
    assert series == {"fentanyl": [3, 0, 0, 0], "precursor": [0, 0, 0, 1]}


def test_csv_defuses_formulas_and_joins_lists(tmp_path: Path) -> None:
    assert csv_cell("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert csv_cell("@chemking") == "'@chemking"
    assert csv_cell(["a", "-b"]) == "a; '-b"
    assert csv_cell(None) == ""
    assert safe_url("JAVASCRIPT:alert(1)") is None and safe_url("https://x.example/") == "https://x.example/"
    sel = Selection("platform", "p", {}, {}, [hostile_doc(1, title="=cmd|' /C calc'!A0")])
    write_csv(tmp_path / "l.csv", build_offers(sel, Bundle(), tmp_path))
    with open(tmp_path / "l.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["title"] == "'=cmd|' /C calc'!A0"
    assert rows[0]["contacts"] == f"wickr: {EVIL}"
