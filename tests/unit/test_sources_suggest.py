"""`source suggest` on the saved real pages (tests/fixtures/real_pages) and on hand-built pages."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from crawler.cli import main
from crawler.sources import suggest as sg
from crawler.sources.suggest_eval import PAGES, ROW_GOLD, _read, measure

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@pytest.mark.parametrize("page", sorted(ROW_GOLD))
def test_gold_titles_and_vendors(page: str) -> None:
    """On every results page with offer-by-offer gold, the suggestion alone recovers >= 90% of titles and
    vendors (offers matched by their link)."""
    fig = measure(PAGES, page)
    assert fig.gold >= 10
    assert fig.title_rate >= 0.9, (page, fig)
    assert fig.vendor_rate >= 0.9, (page, fig)
    assert fig.views >= 0.9 * fig.views_gold, (page, fig)
    assert fig.dates >= 0.9 * fig.dates_gold, (page, fig)


def test_dream_rows_prices_and_countries() -> None:
    """Dream (no row gold): 32 offers (pages README), each with a price and ships from/to read off 'X → Y'."""
    fig = measure(PAGES, "dream/results/search_result_0.html", 32)
    assert fig.rows == 32
    for name in ("title", "price", "vendor", "ships_from", "ships_to"):
        assert fig.fill.get(name, 0) >= 0.9, (name, fig.fill)


def test_cryptonia_row_count_matches_count_gold() -> None:
    """Cryptonia's gold counts 15 titles on this page; the rows found are those offers."""
    fig = measure(PAGES, "cryptonia/results/saved_cryptonia_search_result_in_category_3.html", 15)
    assert fig.rows == 15
    assert fig.fill["vendor"] >= 0.9 and fig.fill["price"] >= 0.9


def test_yaml_is_a_sources_file() -> None:
    """The YAML printed is a `sources:` file with listing_rows, links and fields, valid for the config loader."""
    body = (PAGES / "empire/results/saved_empire_search_result_0.html").read_bytes()
    found = sg.suggest(body, "http://empire.example/")
    text = sg.to_yaml(found, name="empire-try", start_url="http://empire.example/search")
    data = yaml.safe_load(text)
    src = data["sources"][0]
    assert src["listing_rows"] == "div.col-1search"
    assert set(src["fields"]) >= {"title", "price", "vendor", "vendor_url", "views"}
    assert src["links"]["native_id_regex"] == "product/(\\d+)"
    assert "# sure" in text
    from crawler.sources.loader import _ADAPTER

    _ADAPTER.validate_python(src)


_PAGE = """<html><body>
<ul class="nav">{nav}</ul>
<div class="featured">{featured}</div>
<table class="offers">{rows}</table>
<a href="/search?page=2" class="pager-next">Next »</a>
</body></html>"""


def _hand_page() -> str:
    dest = ["Worldwide", "European Union"]
    nav = "".join(f'<li><a href="/c/{i}">Category {i}</a></li>' for i in range(12))
    featured = "".join(
        f'<div class="promo"><a href="/promo/{i}">Promoted offer number {i} for you</a>'
        f'<span class="p">€{i},50</span></div>' for i in range(3))
    rows = "".join(
        f'<tr><td><h3><a href="/offer/{100 + i}">Fentanyl patch offer {i} 25mcg</a></h3>'
        f'<small>Seller: <a href="/vendor/v{i % 2}">vend{i % 2}</a></small></td>'
        f'<td class="price">Price: {i + 1}.00 USD</td><td>Ships from Netherlands Ships to {dest[i % 2]}</td>'
        f'<td><b>Views</b>: {i * 10}</td><td><time>2024-01-0{i + 1}</time></td></tr>' for i in range(6))
    return _PAGE.format(nav=nav, featured=featured, rows=rows)


def test_hand_built_page_fields_by_value_shape() -> None:
    """A page we made: the six offer rows win over a 12-link menu and a 3-offer promo box; fields are found by
    labels and value shapes."""
    found = sg.suggest(_hand_page(), "http://127.0.0.1:1/")
    assert found.row_count == 6
    rows = found.preview
    assert [r["title"] for r in rows][:2] == ["Fentanyl patch offer 0 25mcg", "Fentanyl patch offer 1 25mcg"]
    assert rows[1]["vendor"] == "vend1" and rows[1]["vendor_url"] == "http://127.0.0.1:1/vendor/v1"
    assert rows[2]["price"] == "3.00 USD"
    assert rows[3]["views"] == "30"
    assert rows[4]["posted_at"] == "2024-01-05"
    assert rows[0]["ships_from"] == "Netherlands" and rows[0]["ships_to"] == "Worldwide"
    assert rows[1]["ships_to"] == "European Union"
    assert rows[0]["url"] == "http://127.0.0.1:1/offer/100"
    assert found.native_id_regex is not None and found.native_id_regex.spec == "offer/(\\d+)"
    assert found.pagination is not None and found.pagination.spec == "a.pager-next"


def test_example_anchors_the_rows() -> None:
    """--example: a title the analyst knows picks its group, even the smaller one."""
    found = sg.suggest(_hand_page(), "http://127.0.0.1:1/", examples=["Promoted offer number 1"])
    assert found.row_count == 3
    assert found.preview[1]["title"] == "Promoted offer number 1 for you"
    assert found.preview[1]["price"] == "€1,50"


def test_value_shapes() -> None:
    assert sg.country_share("US → US") == 1.0
    assert sg.country_share("United Kingdom") == 1.0
    assert sg.country_share("Worldwide") == 1.0
    assert sg.country_share("Pure Peruvian Cocaine Flake") < 0.5  # a demonym in a title is not a country field
    assert sg.country_share("Cocaine flake 1g") == 0.0
    assert sg.is_price("฿0.000523") and sg.is_price("USD 75.00") and sg.is_price("2.950,00 €")
    assert not sg.is_price("Views: 506") and not sg.is_price("Item # 35791")
    assert sg.is_date("Created Oct 19, 2019") and not sg.is_date("100 Items Available")
    assert sg.native_id_regex(["listing.php?ls_id=43473", "listing.php?ls_id=92209"]) == "ls_id=(\\d+)"


def test_no_rows_on_a_page_without_offers() -> None:
    found = sg.suggest("<html><body><p>Nothing for sale here.</p></body></html>")
    assert found.rows is None and found.notes


def test_hostile_page_nested_without_end_is_bounded() -> None:
    """Deep nesting and a huge flat list: the assistant answers (rows or none) without blowing up."""
    deep = "<div>" * 20000 + "x" + "</div>" * 20000
    sg.suggest(f"<html><body>{deep}</body></html>")
    flat = "".join(f'<p><a href="/o/{i}">offer {i} text here</a> {i}.00 USD</p>' for i in range(5000))
    found = sg.suggest(f"<html><body>{flat}</body></html>")
    assert found.rows is not None


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/away":
            self.send_response(302)
            self.send_header("Location", "http://203.0.113.9/stolen")
            self.end_headers()
            return
        body = b"<html><body>" + b"x" * (20000 if self.path == "/big" else 10) + b"</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def loopback() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_rules(loopback: str) -> None:
    """URLs: loopback only (or --allow-host), no redirect off it, bounded size."""
    url, body = sg.fetch_page(loopback + "/ok")
    assert url == loopback + "/ok" and body.startswith(b"<html>")
    with pytest.raises(sg.PageRefused, match="not a loopback address"):
        sg.fetch_page("http://203.0.113.9/")
    with pytest.raises(sg.PageRefused, match=r"203\.0\.113\.9 is not a loopback"):
        sg.fetch_page(loopback + "/away")
    with pytest.raises(sg.PageRefused, match="bigger than"):
        sg.fetch_page(loopback + "/big", max_bytes=1000)
    with pytest.raises(sg.PageRefused, match="not an http"):
        sg.fetch_page("file:///etc/passwd")


def test_cli_suggest_saved_file(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(_hand_page(), encoding="utf-8")
    result = CliRunner().invoke(main, ["source", "suggest", str(page), "--name", "hand", "--start-url",
                                       "http://127.0.0.1:1/search"])
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(result.stdout)
    assert data["sources"][0]["name"] == "hand"
    assert data["sources"][0]["start_urls"] == ["http://127.0.0.1:1/search"]
    assert "first 6 of 6 offers" in result.stderr and "Fentanyl" in result.stderr  # the preview table


def test_cli_help() -> None:
    for cmd in (["source", "--help"], ["source", "suggest", "--help"], ["source", "try", "--help"]):
        result = CliRunner().invoke(main, cmd)
        assert result.exit_code == 0, result.output
    assert "--example" in CliRunner().invoke(main, ["source", "suggest", "--help"]).output
    assert "--pages" in CliRunner().invoke(main, ["source", "try", "--help"]).output


def test_table_columns_named_by_their_headers() -> None:
    """A chemical supplier table: the seller is found by its column header, CAS numbers by their check digit,
    and the b2b_chemicals block is valid for the loader."""
    rows = "".join(
        f'<tr><td><a href="/p/{i}">Product number {i} reagent grade</a></td><td>{cas}</td>'
        f'<td>{firm} Chemical Co. Ltd</td></tr>'
        for i, (cas, firm) in enumerate([("21409-26-7", "Hubei"), ("39742-60-4", "Wuhan"), ("79-03-8", "Jinan"),
                                         ("103-63-9", "Hebei")]))
    page = f"<html><body><table><tr><th>Product</th><th>CAS</th><th>Supplier</th></tr>{rows}</table></body></html>"
    found = sg.suggest(page, "http://b2b.example/")
    assert [r["vendor"] for r in found.preview] == [f"{f} Chemical Co. Ltd" for f in ("Hubei", "Wuhan", "Jinan",
                                                                                      "Hebei")]
    assert found.preview[2]["cas_numbers"] == "79-03-8"
    from crawler.sources.loader import _ADAPTER

    src = _ADAPTER.validate_python(sg.source_dict(found, kind="b2b_chemicals"))
    assert src.fields.cas_numbers is not None and src.listing_rows is not None


def test_shops_rows_titles_and_what_rows_show() -> None:
    """Chemical shops and Bohemia: every row that shows a CAS number or shipping has it read (the fill rates below
    100% are rows that show none: mixtures and solutions, digital goods). es-drei's title is the product link (its
    host 'shop.' is no profile link); Warchem's offers are its product rows priced in zł, not its category menu."""
    for page in ("chemshops/labchem/search_results.html", "chemshops/tcichemicals/search_acetamide.html",
                 "chemshops/esdrei/search_wasser.html"):
        right, shown = measure(PAGES, page).shown["cas_numbers"]
        assert shown >= 10 and right == shown, page
    bohemia = measure(PAGES, "bohemia/results/listings.html")
    assert bohemia.shown["ships_from"] == bohemia.shown["ships_to"] == (18, 18)
    _s, rows = _read(PAGES, "chemshops/esdrei/search_wasser.html")
    assert rows[0]["title"] == "Wasser (demineralisiert, silicatfrei, zur Analyse)"
    _s, rows = _read(PAGES, "chemshops/warchem/search_woda.html")
    assert len(rows) == 14 and rows[0]["title"] == "WODA AMONIAKALNA 1% (AMONIAK) - czysty"
    assert rows[0]["currency"] == "PLN" and rows[0]["price"] in ("4.00", "3.25")
