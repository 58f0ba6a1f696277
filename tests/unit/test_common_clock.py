"""The one UTC time spelling (crawler.common.clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from crawler.common.clock import compact_utc, parse_iso, utc_iso, utc_now, utc_now_iso


def test_utc_iso_is_milliseconds_and_z_whatever_the_zone() -> None:
    t = datetime(2026, 11, 24, 19, 40, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert utc_iso(t) == "2026-11-24T18:40:00.123Z"
    assert utc_iso(datetime(2026, 11, 24, 18, 40)) == "2026-11-24T18:40:00.000Z"  # naive means UTC
    assert utc_iso(t, timespec="seconds") == "2026-11-24T18:40:00Z"
    assert compact_utc(t) == "20261124T184000"


def test_now_is_aware_utc() -> None:
    now = utc_now()
    assert now.tzinfo is UTC
    text = utc_now_iso()
    assert text.endswith("Z") and abs(parse_iso(text) - now) < timedelta(seconds=5)


def test_parse_iso_reads_z_offsets_and_naive() -> None:
    want = datetime(2026, 11, 24, 18, 40, 0, 123000, tzinfo=UTC)
    assert parse_iso("2026-11-24T18:40:00.123Z") == want
    assert parse_iso("2026-11-24T18:40:00.123+00:00") == want  # alert records written before the change
    assert parse_iso("2026-11-24T19:40:00.123+01:00") == want
    assert parse_iso("2026-11-24T18:40:00.123") == want
    assert parse_iso(None) is None
    with pytest.raises(ValueError):
        parse_iso("yesterday")
