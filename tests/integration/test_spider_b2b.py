"""The b2b_chemicals spider reads every product of the fixture B2B site with its CAS number and supplier."""

from __future__ import annotations

from crawler.demo_web import DemoWeb


def test_b2b_products_field_by_field(demo_web_server: DemoWeb, crawl_demo) -> None:
    result = crawl_demo("demo-b2b")
    base = demo_web_server.base_url
    items = result.by("native_id")
    assert len(result.items) == len(demo_web_server.b2b) == 22
    for row in demo_web_server.b2b:
        item = items[row["id"]]
        assert item["url"] == f"{base}/b2b/product/{row['id']}"
        assert (item["source"], item["source_kind"], item["platform"]) == (
            "demo-b2b", "b2b_chemicals", "chemsourcing-b2b.example")
        assert item["title"] == row["name"]
        assert item["cas_numbers"] == [row["cas"]]
        assert item["price"] == row["price"] and item["currency"] == row["currency"]
        assert item["quantity"] == row["moq"]
        assert item["vendor"] == row["supplier"]
        assert item["ships_from_raw"] == row["country"]
        assert item["extra"] == {"purity": row["purity"], "moq": row["moq"]}
        assert row["description"] in item["description"]
    anpp = items["1001"]
    assert anpp["title"] == "4-ANPP"
    assert anpp["cas_numbers"] == ["21409-26-7"]
    assert anpp["price_raw"] == "USD 85.00 / 100 g"
    assert anpp["vendor_url"] == f"{base}/b2b/supplier/hubei-kangsheng-biotech-co-ltd"
    # the second product page was reached through pagination
    assert "1022" in items
