"""Country centroids (ISO 3166-1 alpha-2 -> geo point) for the ships-from map in Kibana."""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

_TABLE = Path(__file__).with_name("data") / "country_centroids.csv"

# The source computes one centroid over all of a country's polygons, which lands the US in the Pacific
# (Alaska, Hawaii) and New Zealand and Kiribati on the wrong side of the antimeridian.
_CORRECTIONS: dict[str, tuple[float, float]] = {
    "US": (39.8283, -98.5795),  # geographic centre of the contiguous United States
    "NZ": (-41.5, 172.8),
    "KI": (1.45, 173.0),  # Tarawa
}


@lru_cache(maxsize=1)
def centroids() -> dict[str, tuple[float, float]]:
    """ISO alpha-2 code -> (lat, lon) of the country's centroid."""
    out: dict[str, tuple[float, float]] = {}
    with _TABLE.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            iso = row["iso"].strip().upper()
            if iso and iso not in out:
                out[iso] = (float(row["latitude"]), float(row["longitude"]))
    out.update(_CORRECTIONS)
    return out


def country_point(code: str | None) -> dict[str, float] | None:
    """``{"lat": .., "lon": ..}`` for an ISO alpha-2 code (UK means GB); None for regions and unknowns."""
    if not code:
        return None
    code = code.strip().upper()
    if code == "UK":
        code = "GB"
    point = centroids().get(code)
    return {"lat": point[0], "lon": point[1]} if point else None


def country_points(codes: list[str] | None) -> list[dict[str, float]]:
    """Geo points of every code that is a country, in order, without duplicates."""
    out: list[dict[str, float]] = []
    seen: set[str] = set()
    for code in codes or []:
        p = country_point(code)
        if p is not None and code.upper() not in seen:
            seen.add(code.upper())
            out.append(p)
    return out
