"""Vendor identifiers, grouping and merging, without a cluster."""

from __future__ import annotations

from crawler.es.vendors import _components, contact_identifier, identifiers, merge_profile, profile_id


def test_identifiers_are_typed_and_normalised() -> None:
    doc = {
        "vendor": "ChemKing",
        "platform": "market.onion",
        "vendor_handles": ["ChemKing", "admin"],
        "vendor_contacts": [
            {"kind": "telegram", "value": "https://t.me/ChemKing_Shop"},
            {"kind": "pgp", "value": "1234 5678 90AB CDEF 1234"},
            {"kind": "btc", "value": "BC1QAR0SRRR7XFKVY5L643LYDNW9RE59GTZZWF5MDQ"},
            {"kind": "email", "value": "Sales@Example.COM"},
        ],
    }
    assert identifiers(doc) == {
        "handle:chemking",
        "telegram:chemking_shop",
        "pgp:1234567890ABCDEF1234",
        "wallet:btc:bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        "email:sales@example.com",
    }
    assert contact_identifier("pgp", "abc") is None  # too short to be a key id


def test_channel_author_is_a_telegram_identifier() -> None:
    channel = {"vendor": "@chemking", "platform": "telegram"}
    market = {"vendor": "kingofchem", "vendor_contacts": [{"kind": "telegram", "value": "@ChemKing"}]}
    assert "telegram:chemking" in identifiers(channel) & identifiers(market)


def test_components_link_transitively() -> None:
    a = {"fingerprint": "a", "vendor": "alpha", "vendor_contacts": [{"kind": "wickr", "value": "w1x"}]}
    b = {"fingerprint": "b", "vendor": "beta", "vendor_contacts": [{"kind": "wickr", "value": "w1x"}]}
    c = {"fingerprint": "c", "vendor": "beta"}
    d = {"fingerprint": "d", "vendor": "delta"}
    groups = sorted(sorted(x["fingerprint"] for x in g[1]) for g in _components([a, b, c, d]))
    assert groups == [["a", "b", "c"], ["d"]]


def test_profile_id_prefers_strong_identifiers_and_is_stable() -> None:
    ids = {"handle:zeta", "telegram:zeta", "wallet:xmr:4abc"}
    assert profile_id(ids) == profile_id(set(sorted(ids, reverse=True)))
    assert profile_id(ids) != profile_id({"handle:zeta"})


def test_merge_counts_distinct_listings_and_platforms() -> None:
    docs = [
        {"fingerprint": "l1", "vendor": "zeta", "platform": "m1", "source": "s1", "substance_names": ["fentanyl"],
         "ships_from": ["CN"], "risk": 0.4, "first_seen": "2026-01-02T00:00:00Z", "last_seen": "2026-01-02T00:00:00Z"},
        {"fingerprint": "l2", "vendor": "zeta", "platform": "telegram", "source": "s2", "substance_names": ["4-ANPP"],
         "ships_from": ["CN"], "risk": 0.9, "first_seen": "2026-01-01T00:00:00Z", "last_seen": "2026-01-03T00:00:00Z"},
    ]
    p = merge_profile({"profile_id": "v-x"}, [], docs + docs)
    assert p["listing_count"] == 2 and p["platform_count"] == 2 and p["source_count"] == 2
    assert p["substances"] == ["fentanyl", "4-ANPP"] and p["countries"] == ["CN"]
    assert p["first_seen"] == "2026-01-01T00:00:00Z" and p["last_seen"] == "2026-01-03T00:00:00Z"
    assert p["max_risk"] == 0.9 and p["countries_geo"]
