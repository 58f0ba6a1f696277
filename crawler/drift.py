"""Layout drift: per-field fill rates of each crawl, and the verdict that a run is ``degraded`` when they (or
its listing count) fall sharply against the source's recent runs; the ops mail that says so."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scrapy.statscollectors import StatsCollector

    from crawler.sources.models import Drift, SourceBase

FILL_PREFIX = "narcowatch/fill/"
"""Stats keys: ``narcowatch/fill/listings`` (listings yielded), ``narcowatch/fill/<field>`` (how many had the
field), ``narcowatch/fill_sample/<field>`` (URL of the first listing without it)."""

SOCIAL_FIELDS = ("title", "description", "vendor", "posted_at")
"""Fields watched for kinds without configured field selectors (forum, social, feed)."""

_ITEM_NAME = {"ships_from": "ships_from_raw", "ships_to": "ships_to_raw"}


def watched_fields(source: SourceBase) -> list[str]:
    """The Listing attributes whose fill rate is recorded for ``source``: every configured field (listing
    kinds; constants excluded), else SOCIAL_FIELDS."""
    specs = [getattr(source, "fields", None), getattr(source, "detail_fields", None)]
    names: dict[str, None] = {}
    for spec in specs:
        if spec is None or not hasattr(spec, "model_fields"):
            continue
        for name, value in spec:
            if value is None or name == "extra" or getattr(value, "value", None) is not None:
                continue
            names.setdefault(_ITEM_NAME.get(name, name), None)
    return list(names) if names else list(SOCIAL_FIELDS)


def _filled(value: Any) -> bool:
    return value not in (None, "", [], {})


def count_fill(stats: StatsCollector, source: SourceBase, item: object) -> None:
    """Add one yielded listing to the crawl's fill counts."""
    stats.inc_value(FILL_PREFIX + "listings")
    for name in watched_fields(source):
        if _filled(getattr(item, name, None)):
            stats.inc_value(FILL_PREFIX + name)
        else:
            stats.inc_value(FILL_PREFIX + name, 0)
            if stats.get_value("narcowatch/fill_sample/" + name) is None:
                stats.set_value("narcowatch/fill_sample/" + name, getattr(item, "url", None))


def fill_rates(stats: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, str]]:
    """``({field: rate}, {field: sample URL of a listing without it})`` from a crawl's stats."""
    total = int(stats.get(FILL_PREFIX + "listings") or 0)
    rates: dict[str, float] = {}
    samples: dict[str, str] = {}
    for key, value in stats.items():
        if key.startswith(FILL_PREFIX) and key != FILL_PREFIX + "listings" and total:
            rates[key[len(FILL_PREFIX):]] = round(int(value) / total, 4)
        elif key.startswith("narcowatch/fill_sample/") and value:
            samples[key.rsplit("/", 1)[1]] = str(value)
    return dict(sorted(rates.items())), samples


@dataclass
class Drop:
    """One sign of layout drift: a field (or ``listings``, the count) far below its baseline."""

    field: str
    before: float
    """Baseline: mean fill rate (or listing count) of the recent runs."""
    after: float
    """This run's rate (or count)."""
    sample_url: str | None = None
    """A listing of this run without the field (or the start URL when no listings were found)."""

    def line(self) -> str:
        if self.field == "listings":
            return f"listings: {self.before:.0f} per run before, {self.after:.0f} now"
        return f"{self.field}: filled in {self.before:.0%} of listings before, {self.after:.0%} now" + (
            f" (e.g. {self.sample_url})" if self.sample_url else "")


def degraded(
    current: Mapping[str, Any],
    history: Iterable[Mapping[str, Any]],
    options: Drift | None,
    *,
    start_url: str | None = None,
) -> list[Drop]:
    """The drops that make ``current`` (a run record document) degraded against ``history`` (the source's
    recent run documents, newest first); empty when the run looks like the recent ones.

    Baseline: up to ``options.runs`` recent successful runs that found listings (degraded runs are left out,
    so a layout change stays visible, run after run, until the selectors are fixed).
    """
    if options is None or not getattr(options, "enabled", True):
        return []
    base = [h for h in history if h.get("outcome") == "success" and (h.get("listings_seen") or 0) > 0]
    base = base[: options.runs]
    if not base:
        return []
    mean_listings = sum(int(h.get("listings_seen") or 0) for h in base) / len(base)
    seen = int(current.get("listings_seen") or 0)
    samples = current.get("fill_samples") or {}
    if mean_listings >= options.min_listings and seen == 0:
        return [Drop("listings", mean_listings, 0, start_url)]
    if seen < min(options.min_listings, 5) or mean_listings < options.min_listings:
        return []  # too few listings now or before for a rate to mean much
    drops = []
    rates = current.get("fill_rates") or {}
    for name in sorted({k for h in base for k in (h.get("fill_rates") or {})}):
        before_rates = [float((h.get("fill_rates") or {}).get(name, 0.0)) for h in base]
        before = sum(before_rates) / len(before_rates)
        after = float(rates.get(name, 0.0))
        if before >= options.min_rate and after < before * (1 - options.drop):
            drops.append(Drop(name, round(before, 4), after, samples.get(name)))
    return drops


def degraded_mail(source: str, record: Mapping[str, Any], drops: list[Drop]) -> tuple[str, str]:
    """Subject and body of the ops mail for a degraded run."""
    fields = ", ".join(d.field for d in drops)
    subject = f"[narcowatch ops] source {source!r}: layout drift ({fields})"
    lines = "\n".join(f"  - {d.line()}" for d in drops)
    sample = next((d.sample_url for d in drops if d.sample_url), None)
    body = (
        f"The last crawl of {source!r} read much less than its recent runs: the site's layout (or what it\n"
        f"serves us) has probably changed.\n\n{lines}\n\n"
        f"Run:        {record.get('run_id')}\n"
        f"Listings:   {record.get('listings_seen')}\n"
        f"Sample URL: {sample or '-'}\n"
        f"Fill rates: {json.dumps(record.get('fill_rates') or {}, sort_keys=True)}\n\n"
        "Check the source's selectors against the page (`narcowatch source try SOURCE`), fix them, then crawl by\n"
        "hand. This mail is sent once; the next runs stay `degraded` without mail until the fields are back.\n"
    )
    return subject, body


def gated_mail(source: str, record: Mapping[str, Any]) -> tuple[str, str]:
    """Subject and body of the ops mail for a run stopped by a gate page."""
    gate = record.get("gate") or {}
    subject = f"[narcowatch ops] source {source!r}: stopped by a {gate.get('kind', '?')} gate"
    body = (
        f"The crawl of {source!r} met a {gate.get('kind', '?')} page and stopped.\n\n"
        f"URL:     {gate.get('url') or '-'}\n"
        f"Run:     {record.get('run_id')}\n"
        f"Message: {gate.get('message') or '-'}\n\n"
        "narcowatch never solves CAPTCHAs or bypasses login walls and anti-DDoS pages. Check the site by hand;\n"
        "if it needs a session, put fresh cookies in the environment variables the source's `session` names.\n"
        "This mail is sent once; the next runs stay `gated` without mail until a run gets through.\n"
    )
    return subject, body
