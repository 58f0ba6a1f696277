"""Change classification and the batch spool: the parts of the processor that need no services."""

from pathlib import Path

from crawler import fingerprint as fp
from crawler.events import ListingEvent
from crawler.items import Listing
from crawler.processing import BatchSpool, classify


def listing(**kw: object) -> Listing:
    base: dict[str, object] = {"url": "http://m.example/l/1", "source": "m", "source_kind": "market",
                               "title": "Fentanyl HCl 99%", "price": "120.00", "currency": "USD"}
    base.update(kw)
    return fp.apply(Listing(**base))  # type: ignore[arg-type]


def test_classify_new_unchanged_price_text_and_relisted() -> None:
    item = listing()
    seen = {"content_hash": item.content_hash, "price": 120.0, "currency": "USD", "status": "active"}
    assert classify(item, None) == "new"
    assert classify(item, seen) == "unchanged"
    assert classify(listing(price="99"), seen) == "price_change"
    assert classify(listing(currency="EUR"), seen) == "price_change"
    assert classify(listing(description="now with stealth shipping"), seen) == "changed"
    assert classify(item, {**seen, "status": "removed"}) == "relisted"


def test_price_formats_compare_as_numbers() -> None:
    item = listing(price="120")
    seen = {"content_hash": "other", "price": "120.00", "currency": "USD"}
    assert classify(item, seen) == "changed"


def test_spool_round_trip_keeps_order_items_and_events(tmp_path: Path) -> None:
    spool = BatchSpool(tmp_path)
    first = [listing(), listing(url="http://m.example/l/2", nlp={"risk": 0.9})]
    event = ListingEvent(fingerprint=first[0].fingerprint or "", kind="new", content_hash="h", source="m")
    spool.put(first, [event], "2026-01-01T00:00:00Z")
    spool.put([listing(url="http://m.example/l/3")], None, "2026-01-02T00:00:00Z")
    paths = spool.pending()
    assert len(paths) == 2 and not list(tmp_path.glob("*.tmp"))
    items, events, now = spool.load(paths[0])
    assert [i.url for i in items] == [i.url for i in first]
    assert items[1].nlp == {"risk": 0.9}
    assert events == [event] and now == "2026-01-01T00:00:00Z"
    items, events, now = spool.load(paths[1])
    assert events is None and items[0].url.endswith("/3")


def test_nlp_text_labels_sellers_only_on_offer_pages() -> None:
    offer = listing(vendor="chemking", ships_from_raw="China", ships_to_raw="Worldwide", quantity="5 g")
    text = offer.text()
    assert "Ships from: China → Ships to: Worldwide" in text
    assert "Vendor: chemking" in text and "Price: 120.00 USD" in text and "Quantity: 5 g" in text
    post = listing(source_kind="feed", vendor="CNN Health", title="Fentanyl seizure at the border")
    assert "Vendor" not in post.text() and "Price" not in post.text()
    assert post.text().startswith("Fentanyl seizure at the border")
