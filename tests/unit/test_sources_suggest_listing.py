"""`source suggest --listing-page` on the saved real listing and vendor pages: the gold markets field by field,
and the blind pages (berlusconi/, drugsmedicine/: tests/fixtures/real_sites/blind_expectations.md, written before
the code first ran on them)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from crawler.cli import main
from crawler.sources import listing_eval
from crawler.sources.suggest_eval import PAGES
from crawler.sources.suggest_listing import read_fields, suggest_listing

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@pytest.fixture(scope="module")
def figures() -> dict[tuple[str, str, str], dict[str, list[int]]]:
    return listing_eval.figures(PAGES)


def test_gold_listing_and_vendor_fields(figures: dict[tuple[str, str, str], dict[str, list[int]]]) -> None:
    """Every scored gold field of the four markets' listing and vendor pages, read by one suggestion per market
    (made from its first saved page): >= 90% per market and field, except Empire's stock (one of its two gold
    values is the auto-dispatch count '12 items available for auto-dispatch', where the page's 'Quantity Left'
    says 'Unlimited'). Category (not one of the analyst's six fields) is scored but not asserted: Dream and Empire
    show it as a sidebar path and links in a header, which no general rule read (a breadcrumb rule fitted to
    Empire's header read a wallet menu on Berlusconi and a category menu on Bohemia; not kept)."""
    scored = 0
    for (market, kind, mode), counts in figures.items():
        if mode != "site":
            continue
        for field, (right, n, _hidden) in counts.items():
            scored += n
            if field == "category":
                continue
            if (market, kind, field) == ("empire", "listings", "stock"):
                assert right >= n - 1, counts
                continue
            assert n == 0 or right / n >= 0.9, (market, kind, field, right, n)
    assert scored >= 80
    dream = figures[("dream", "listings", "site")]
    assert dream["title"][:2] == [2, 2] and dream["vendor"][:2] == [1, 1] and dream["price"][:2] == [2, 2]
    assert figures[("cryptonia", "vendors", "site")]["ships_from"][:2] == [13, 13]
    assert figures[("apollon", "vendors", "site")]["vendor"][:2] == [2, 2]


def test_misses_are_listed() -> None:
    misses = listing_eval.misses(PAGES, "empire")
    assert [m for m in misses if m[1] != "category"] == [("saved_empire_listing_6.html", "stock", "Unlimited", 12)]
    assert len([m for m in misses if m[1] == "category"]) == 7


def read(page: str) -> dict[str, str | None]:
    body = (PAGES / page).read_bytes().decode("utf-8", "replace")
    return read_fields(body, suggest_listing(body))


def test_blind_berlusconi_listing() -> None:
    """What the first run read (blind_expectations.md): all but the unlabelled price and category."""
    got = read("berlusconi/listings/product_0a07869e4f96_tab2.html")
    assert (got["title"], got["vendor"], got["ships_from"], got["ships_to"], got["stock"]) == \
        ("AXA MED TREN 1MG", "SocialPharma", "Europe", "Worldwide", "99")
    assert "price" not in got  # 35 EUR has no label: still missed


def test_blind_drugsmedicine_listing_and_vendor_page() -> None:
    got = read("drugsmedicine/listings/1g_of_pure_uncut_peruvian_cocaine.html")
    assert (got["title"], got["vendor"], got["ships_from"], got["ships_to"], got["category"]) == \
        ("1G of PURE UNCUT PERUVIAN COCAINE", "fredthebaker", "Germany", "Worldwide", "Cocaine")
    assert got["price"] == "฿0.0060"  # missed on the first run; read since the label-as-first-text rule
    profile = read("drugsmedicine/vendors/fredthebaker_2.html")
    assert profile["title"] == "fredthebaker" and "vendor" not in profile  # (the name is not labelled)


def test_cli_listing_page_yaml_is_a_valid_source(tmp_path: Path) -> None:
    page = PAGES / "cryptonia/listings/saved_cryptonia_listing_3.html"
    result = CliRunner().invoke(main, ["source", "suggest", "--listing-page", str(page)])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert '{label: "Ships from", regex:' in text
    data = yaml.safe_load(text)
    from crawler.sources.loader import _ADAPTER

    source = _ADAPTER.validate_python(data["sources"][0])
    assert source.fields.ships_from.label == "Ships from"
    assert source.fields.stock.label == "In stock"


def test_page_without_title_exits_1(tmp_path: Path) -> None:
    page = tmp_path / "empty.html"
    page.write_text("<html><body><p>nothing</p></body></html>")
    result = CliRunner().invoke(main, ["source", "suggest", "--listing-page", str(page)])
    assert result.exit_code == 1


@pytest.mark.parametrize(("title", "vendor"), [
    ("Contact JoyInc", "JoyInc"),
    ("Bohemia - Profile of 60Agent", "60Agent"),
    ("21Savage - User Profile - Apollon Market", "21Savage"),
    ("Cryptonia Market - GreenSupreme Profile", "GreenSupreme"),
    ("Empire Market - darkbusiness", None),  # no word says it is a profile
    ("Some Market - Fentanyl patches 100mcg", None),
])
def test_vendor_from_a_profile_title(title: str, vendor: str | None) -> None:
    page = f"<html><head><title>{title}</title></head><body><h3>{title}</h3><p>about me</p></body></html>"
    assert read_fields(page, suggest_listing(page)).get("vendor") == vendor


def test_result_page_assistant_points_listing_pages_to_listing_page_mode() -> None:
    """Before --listing-page, `source suggest` on a listing page proposed 2-3 junk rows (menus, the account's own
    name as vendor); its note now says what to use."""
    from crawler.sources.suggest import suggest

    s = suggest((PAGES / "empire/listings/saved_empire_listing_9.html").read_bytes(), "http://x/")
    assert s.row_count <= 3 and any("--listing-page" in n for n in s.notes)


_SAVED = """<html><head><meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">
<title>25g Speed Paste</title></head><body><h1>25g Speed Paste</h1>
<table><tr><td>Price</td><td>฿0.0012</td></tr><tr><td>Ships from</td><td>Österreich</td></tr></table>
</body></html>"""


def test_saved_file_with_a_wrong_charset_declaration_is_read_as_utf8(tmp_path: Path) -> None:
    """A browser's "save page" writes UTF-8 under the page's own ISO-8859-1 declaration (the saved Dream pages)."""
    from crawler.sources.suggest import saved_page_text

    utf8 = _SAVED.encode("utf-8")
    assert saved_page_text(utf8) == _SAVED
    page = tmp_path / "saved.html"
    page.write_bytes(utf8)
    result = CliRunner().invoke(main, ["source", "suggest", "--listing-page", str(page)])
    assert result.exit_code == 0, result.output
    assert "Österreich" in result.output and "Ã" not in result.output


def test_saved_file_really_in_its_declared_charset_is_left_to_the_declaration(tmp_path: Path) -> None:
    from crawler.sources.suggest import saved_page_text

    latin1 = _SAVED.replace("฿", "EUR ").encode("iso-8859-1")
    assert saved_page_text(latin1) == latin1  # not valid UTF-8: the declaration decides
    assert saved_page_text(b"<p>plain ascii</p>") == b"<p>plain ascii</p>"
    declared_utf8 = _SAVED.replace("ISO-8859-1", "utf-8").encode("utf-8")
    assert saved_page_text(declared_utf8) == declared_utf8
    page = tmp_path / "latin1.html"
    page.write_bytes(latin1)
    result = CliRunner().invoke(main, ["source", "suggest", "--listing-page", str(page)])
    assert result.exit_code == 0, result.output
    assert "Österreich" in result.output
