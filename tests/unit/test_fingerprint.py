"""Fingerprints are stable across URL noise and content hashes change only with the tracked fields."""

from crawler.fingerprint import apply, canonical_url, content_hash, fingerprint
from crawler.items import Listing


def make(**kw: object) -> Listing:
    base = {"url": "http://Market.example:80/item/7?utm_source=x&b=2&a=1#top", "source": "m", "source_kind": "market"}
    base.update(kw)
    return Listing(**base)  # type: ignore[arg-type]


def test_canonical_url_drops_noise_and_sorts_query() -> None:
    assert canonical_url("http://Market.example:80/item/7?utm_source=x&b=2&a=1#top") == (
        "http://market.example/item/7?a=1&b=2"
    )


def test_fingerprint_ignores_tracking_and_source_name() -> None:
    a = make()
    b = make(url="http://market.example/item/7?a=1&b=2", source="other-source")
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(make(url="http://market.example/item/8"))


def test_native_id_wins_over_url_within_a_platform() -> None:
    a = make(platform="telegram", native_id="chan/12", url="http://x/s/chan?before=20")
    b = make(platform="telegram", native_id="chan/12", url="http://x/s/chan")
    c = make(platform="reddit", native_id="chan/12", url="http://x/s/chan")
    assert fingerprint(a) == fingerprint(b) != fingerprint(c)


def test_content_hash_tracks_price_and_text_but_not_whitespace() -> None:
    a = make(title="Fentanyl  HCl", price="100")
    assert content_hash(a) == content_hash(make(title="fentanyl hcl ", price="100"))
    assert content_hash(a) != content_hash(make(title="Fentanyl HCl", price="90"))
    assert content_hash(a) != content_hash(make(title="Fentanyl HCl", price="100", description="new"))


def test_apply_fills_both_fields() -> None:
    item = apply(make(title="x"))
    assert item.fingerprint is not None and len(item.fingerprint) == 40
    assert item.content_hash is not None and len(item.content_hash) == 32


def test_stock_and_quantity_changes_are_content_changes() -> None:
    base = make(title="Fentanyl HCl", price="100", stock="12 in stock", quantity="10g")
    assert content_hash(base) != content_hash(make(title="Fentanyl HCl", price="100", stock="sold out",
                                                   quantity="10g"))
    assert content_hash(base) != content_hash(make(title="Fentanyl HCl", price="100", stock="12 in stock",
                                                   quantity="50g"))
    assert content_hash(base) != content_hash(make(title="Fentanyl HCl", price="100", stock="12 in stock",
                                                   quantity="10g", currency="EUR"))


def test_path_and_query_values_keep_their_case() -> None:
    """Sites with case-sensitive ids (/item/aB3 and /item/Ab3 are two offers) must not collide."""
    def fp_of(url: str) -> str:
        return fingerprint(make(url=url))

    assert fp_of("http://m.example/item/aB3") != fp_of("http://m.example/item/Ab3")
    assert fp_of("http://m.example/view?id=aB3") != fp_of("http://m.example/view?id=Ab3")
    assert fp_of("http://m.example/view?Id=1") != fp_of("http://m.example/view?id=1")
    assert fp_of("HTTP://M.Example/item/aB3") == fp_of("http://m.example/item/aB3")  # scheme and host do not
    assert canonical_url("http://M.example/Item/aB3?Q=Xy") == "http://m.example/Item/aB3?Q=Xy"


def test_native_ids_keep_their_case() -> None:
    a = make(platform="Telegram", native_id="chan/aB3")
    assert fingerprint(a) != fingerprint(make(platform="telegram", native_id="chan/Ab3"))
    assert fingerprint(a) == fingerprint(make(platform="telegram", native_id="chan/aB3"))


def test_ids_and_hashes_are_stable_across_versions() -> None:
    """Pinned values: a changed formula would make every indexed listing a duplicate (new id) or a
    change (new hash) on the next crawl, with an alert storm. Change these only with a migration."""
    a = Listing(url="http://Market.example/item/7?b=2&a=1", source="m", source_kind="market",
                title="Fentanyl HCl 99% — pureté", description="Stealth, ships from 中国", price="450",
                currency="USD", stock="12", quantity="10g")
    assert fingerprint(a) == "7bfb55e511f8d8321f5d6f6112554674ce41221a"
    assert content_hash(a) == "9e2c002530c6b8bb1655d6cb8f0d1531"
    b = Listing(url="http://x/s/chan", source="m", source_kind="market", platform="Telegram", native_id="chan/12")
    assert fingerprint(b) == "117fb68b9af3bcd13c9862e8f2dd94c77379dfd7"


def test_default_ports_only_for_their_scheme() -> None:
    assert canonical_url("https://M.example:443/a") == "https://m.example/a"
    assert canonical_url("http://m.example:80/a") == "http://m.example/a"
    assert canonical_url("https://m.example:80/a") == "https://m.example:80/a"
    assert canonical_url("http://m.example:443/a") == "http://m.example:443/a"
    assert canonical_url("http://[::1]:80/a") == "http://[::1]/a"
    assert canonical_url("https://[fe80::1]:443/a") == "https://[fe80::1]/a"


def test_empty_path_and_blank_parameters() -> None:
    assert canonical_url("http://m.example") == "http://m.example/"
    assert canonical_url("http://m.example/v?b=1&a=") == "http://m.example/v?a=&b=1"


def test_native_ids_without_platform_are_per_host() -> None:
    a = make(native_id="17", url="http://one.example/item/17")
    assert fingerprint(a) != fingerprint(make(native_id="17", url="http://two.example/item/17"))
    assert fingerprint(a) == fingerprint(make(native_id="17", url="http://ONE.example/other-page"))
