"""Alert mails: escaped HTML, marked excerpts, subjects, digests grouped by rule and substance."""

from __future__ import annotations

from typing import Any

from crawler.alerting.render import AlertView, mark_terms, one_line, render_alert, render_digest, render_ops, safe_link


def view(**listing: Any) -> AlertView:
    base: dict[str, Any] = {
        "title": "Fentanyl 99%",
        "description": "Selling fentanyl and 4-ANPP. Telegram @x.",
        "url": "https://market.example/l/1",
        "platform": "market",
        "source": "demo-market",
        "substance_names": ["fentanyl", "4-anpp"],
        "substance_classes": ["fentanyl", "precursor"],
        "ships_from": ["CN"],
        "ships_to": ["WORLDWIDE"],
        "ships_not_to": ["AU"],
        "price": 450,
        "currency": "USD",
        "risk": 0.9,
        "vendor": "chemlab",
        "vendor_contacts": [{"kind": "telegram", "value": "@x"}],
        "evidence": {"response_sha256": "f" * 64},
    }
    base.update(listing)
    return AlertView(
        alert_id="id1", rule="r1", reason="new", fingerprint="fp1", listing=base, kibana_url="http://kb:5601"
    )


def test_alert_mail_parts_and_subject() -> None:
    msg = render_alert(view(), sender="nw@example.org", recipients=["a@example.org", "b@example.org"])
    assert msg["Subject"] == "[narcowatch] New listing: fentanyl, 4-anpp on market, ships from CN (r1)"
    assert msg["To"] == "a@example.org, b@example.org"
    text = msg.get_body(preferencelist=("plain",)).get_content()
    html = msg.get_body(preferencelist=("html",)).get_content()
    for part in (text, html):
        assert "450 USD" in part and "chemlab" in part and "telegram: @x" in part
        assert "f" * 64 in part and "WORLDWIDE (not to AU)" in part and "0.90" in part
        assert "http://kb:5601/app/discover" in part
    assert "<mark>fentanyl</mark>" in html and "<mark>4-ANPP</mark>" in html
    assert "*fentanyl*" in text
    assert '<a href="https://market.example/l/1">' in html


def test_hostile_listing_values_are_escaped() -> None:
    msg = render_alert(
        view(
            title="<script>alert(1)</script>",
            description='fentanyl <img src=x onerror="alert(2)">',
            url="javascript:alert(3)",
            vendor='"><iframe src=//evil>',
            platform="mkt\r\nBcc: victim@example.org",
        ),
        sender="nw@example.org",
        recipients=["a@example.org"],
    )
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html and "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in html
    assert "<iframe" not in html
    assert 'href="javascript' not in html
    assert msg["Bcc"] is None and "\n" not in msg["Subject"]


def test_mark_terms_excerpt_window() -> None:
    text = "x" * 1000 + " buy Fentanyl now " + "y" * 1000
    segs = mark_terms(text, ["fentanyl"], limit=200)
    assert segs[0].text == "… " and segs[-1].text == " …"
    assert [s.text for s in segs if s.marked] == ["Fentanyl"]
    assert sum(len(s.text) for s in segs) <= 200 + 4
    assert mark_terms("no terms here", []) == [type(segs[0])("no terms here")]


def test_helpers() -> None:
    assert safe_link("https://a.example/x") == "https://a.example/x"
    assert safe_link("javascript:alert(1)") is None and safe_link("data:text/html,x") is None
    assert safe_link(None) is None
    assert one_line("a\r\nb\tc\x00d", 100) == "a b c d"
    assert one_line("abcdef", 4) == "abc…"


def test_digest_groups_by_rule_then_substance() -> None:
    views = [
        view(),
        view(title="Carfentanil", substance_names=["carfentanil"]),
        AlertView(alert_id="id9", rule="r2", reason="price_change", fingerprint="fp9",
                  listing={"title": "<b>Oxy</b>", "substance_names": ["oxycodone"]}),
    ]
    msg = render_digest(views, sender="nw@example.org", recipients=["d@example.org"], period_text="daily digest")
    assert msg["Subject"] == "[narcowatch] Digest: 3 alerts (carfentanil, fentanyl, oxycodone) - r1, r2"
    html = msg.get_body(preferencelist=("html",)).get_content()
    text = msg.get_body(preferencelist=("plain",)).get_content()
    assert html.index("Rule r1 (2)") < html.index("<h3>carfentanil (1)</h3>") < html.index("<h3>fentanyl (1)</h3>")
    assert html.index("<h3>fentanyl (1)</h3>") < html.index("Rule r2 (1)") < html.index("<h3>oxycodone (1)</h3>")
    assert "&lt;b&gt;Oxy&lt;/b&gt;" in html and "<b>Oxy</b>" not in html
    assert "== Rule r2 (1) ==" in text and "[price change]" in text


def test_ops_mail() -> None:
    msg = render_ops("source x failing", "3 runs <failed>", sender="nw@example.org", recipients=["ops@example.org"])
    assert msg["Subject"] == "[narcowatch ops] source x failing"
    assert "&lt;failed&gt;" in msg.get_body(preferencelist=("html",)).get_content()


def test_rule_substances_first_then_by_class_and_fallbacks() -> None:
    v = view(
        title=None,
        description="oxycodone 30mg x50, DM for fentanyl and NPP",
        substance_names=["oxycodone", "npp", "fentanyl"],
        substances=[
            {"name": "oxycodone", "class": "opioid"},
            {"name": "npp", "class": "precursor"},
            {"name": "fentanyl", "class": "fentanyl"},
        ],
        price=None,
        price_raw="$700",
        quantity="50 tabs",
        ships_from=[],
        ships_from_raw="Somewhere in Europe",
    )
    assert v.substances == ["fentanyl", "npp", "oxycodone"]
    v.focus_classes = ["precursor"]
    assert v.substances == ["npp", "fentanyl", "oxycodone"]
    assert v.subject.startswith("[narcowatch] New listing: npp, fentanyl, oxycodone on market, ships from Somewhere")
    assert v.title_text == "oxycodone 30mg x50, DM for fentanyl and NPP"
    assert v.price_text == "$700 (50 tabs)"
    assert view(price=450.0).price_text == "450 USD"


def test_digest_largest_groups_first() -> None:
    views = [view(substance_names=[name]) for name in ("heroin", "oxycodone", "oxycodone", "codeine", "tramadol")]
    msg = render_digest(views, sender="nw@example.org", recipients=["d@example.org"])
    assert msg["Subject"] == "[narcowatch] Digest: 5 alerts (oxycodone, codeine, heroin, …) - r1"
    html = msg.get_body(preferencelist=("html",)).get_content()
    first, second, last = (html.index(f"<h3>{h}</h3>") for h in ("oxycodone (2)", "codeine (1)", "tramadol (1)"))
    assert first < second < last
