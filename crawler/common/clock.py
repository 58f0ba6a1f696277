"""UTC time, one spelling: aware datetimes inside the code, ISO 8601 ``...T..:..:..mmmZ`` strings outside.

Every stored or logged time (listings, crawl runs, evidence, JSON logs) is written by ``utc_iso``: UTC,
milliseconds, ``Z`` (``2026-11-24T18:40:00.123Z``), which the ``date`` fields of ``index_mappings/`` read
as ``strict_date_optional_time``. Alert records keep the ``+00:00`` ending they have always been stored
with (``crawler.alerting.records.iso``). ``parse_iso`` reads both back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, overload

Timespec = Literal["seconds", "milliseconds"]
Suffix = Literal["Z", "+00:00"]


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def utc_iso(ts: datetime | None = None, *, timespec: Timespec = "milliseconds", suffix: Suffix = "Z") -> str:
    """``ts`` (default now) as UTC ISO 8601 ending in ``suffix``; a naive ``ts`` is taken to be UTC already.

    ``suffix="+00:00"`` is for alert records only, which have always been stored in that form.
    """
    ts = utc_now() if ts is None else ts
    ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    text = ts.isoformat(timespec=timespec)
    return text.replace("+00:00", "Z") if suffix == "Z" else text


def utc_now_iso() -> str:
    """The current time as UTC ISO 8601 with milliseconds and ``Z``."""
    return utc_iso()


def compact_utc(ts: datetime | None = None) -> str:
    """``ts`` (default now) as ``20261124T184000`` (UTC), for ids and file names."""
    ts = utc_now() if ts is None else ts
    return (ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)).strftime("%Y%m%dT%H%M%S")


@overload
def parse_iso(value: str) -> datetime: ...
@overload
def parse_iso(value: None) -> None: ...
@overload
def parse_iso(value: str | None) -> datetime | None: ...
def parse_iso(value: str | None) -> datetime | None:
    """An ISO 8601 string as an aware datetime (naive means UTC); None gives None.

    Raises ValueError on a string that is not ISO 8601 (``""`` included).
    """
    if value is None:
        return None
    ts = datetime.fromisoformat(value)
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
