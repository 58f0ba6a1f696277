"""Report charts as inline SVG (matplotlib, Agg-free SVG backend): new offers per week by class, price history.

The SVG keeps its text as text (``svg.fonttype: none``) so the words are searchable in the HTML and the PDF,
and carries no date or random ids, so the same data gives the same bytes.
"""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from types import ModuleType
from typing import TYPE_CHECKING, Any

from crawler.common.clock import parse_iso

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CLASS_COLOURS = {
    "fentanyl": "#b2182b", "precursor": "#2166ac", "opioid": "#f4a582", "stimulant": "#4d9221",
    "depressant": "#762a83", "hallucinogen": "#e08214", "cannabis": "#a6d96a", "generic": "#92c5de",
    "other": "#878787",
}
"""Colours of the NLP's substance classes (nlp/data/substances.tsv); any other class gets one of EXTRA_COLOURS."""
EXTRA_COLOURS = ("#8c510a", "#01665e", "#c51b7d", "#4d4d4d", "#fee08b", "#35978f")


def _plt() -> ModuleType:
    import matplotlib

    matplotlib.use("svg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "narcowatch", "font.size": 9,
                         "font.family": "DejaVu Sans", "axes.spines.top": False, "axes.spines.right": False})
    return plt


def _label(text: str) -> str:
    """A label matplotlib shows as is (no mathtext from ``$``)."""
    return text.replace("$", r"\$")


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    text = buf.getvalue()
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time from the index as an aware datetime (None when absent or unreadable)."""
    if not value:
        return None
    try:
        return parse_iso(str(value))
    except ValueError:
        return None


def week_start(dt: datetime) -> date:
    """The Monday of ``dt``'s ISO week."""
    d = dt.date()
    return d - timedelta(days=d.weekday())


def weekly_counts(listings: list[dict[str, Any]]) -> tuple[list[date], dict[str, list[int]]]:
    """New offers (by ``first_seen``) per ISO week and substance class; every week between first and last."""
    counts: dict[str, Counter[date]] = defaultdict(Counter)
    for src in listings:
        seen = parse_time(src.get("first_seen"))
        if seen is None:
            continue
        for cls in src.get("substance_classes") or ["other"]:
            counts[str(cls)][week_start(seen)] += 1
    all_weeks = sorted({w for c in counts.values() for w in c})
    if not all_weeks:
        return [], {}
    weeks = []
    w = all_weeks[0]
    while w <= all_weeks[-1]:
        weeks.append(w)
        w += timedelta(days=7)
    order = sorted(counts, key=lambda c: (-sum(counts[c].values()), c))
    return weeks, {c: [counts[c].get(w, 0) for w in weeks] for c in order}


def weekly_offers_svg(listings: list[dict[str, Any]]) -> str:
    """A stacked bar chart of new offers per week by substance class, as an ``<svg>`` element."""
    plt = _plt()
    weeks, series = weekly_counts(listings)
    fig, ax = plt.subplots(figsize=(7.5, 2.8))
    if not weeks:
        ax.text(0.5, 0.5, "no offers with a first-seen time", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return _svg(fig)
    x = list(range(len(weeks)))
    bottom = [0] * len(weeks)
    extra = iter(EXTRA_COLOURS * (1 + len(series) // len(EXTRA_COLOURS)))
    for cls, values in series.items():
        colour = CLASS_COLOURS.get(cls) or next(extra)
        ax.bar(x, values, bottom=bottom, label=_label(cls), color=colour, width=0.7)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    step = max(1, len(weeks) // 10)
    ax.set_xticks(x[::step], [f"week of {w.isoformat()}" if len(weeks) == 1 else w.isoformat() for w in weeks[::step]])
    ax.set_ylabel("new offers")
    ax.set_title("New offers per week, by substance class (first seen)")
    ax.legend(frameon=False, fontsize=8, ncols=min(4, len(series)), loc="upper left", bbox_to_anchor=(0, -0.15))
    ax.yaxis.get_major_locator().set_params(integer=True)
    return _svg(fig)


def offer_price(src: dict[str, Any]) -> tuple[float, str] | None:
    """An offer's price and unit: USD where known, else the listing's own currency, else the first price the
    NLP found in the text (``"600 USD"``)."""
    usd, price, currency = src.get("price_usd"), src.get("price"), src.get("currency")
    if isinstance(usd, int | float):
        return float(usd), "USD"
    if isinstance(price, int | float) and currency:
        return float(price), str(currency).upper()
    for ent in src.get("entities") or []:
        if isinstance(ent, dict) and ent.get("label") == "PRICE":
            amount, _, unit = str(ent.get("canonical") or "").partition(" ")
            try:
                value = float(amount)
            except ValueError:
                continue
            if unit.strip() and value > 0:
                return value, unit.strip().upper()
    return None


def price_points(
    listings: list[dict[str, Any]], changes: list[dict[str, Any]]
) -> dict[tuple[str, str], list[tuple[datetime, float]]]:
    """Offer prices over time per (substance, currency): each offer when posted (else first seen), then each
    recorded price change."""
    by_fp: dict[str, list[str]] = {}
    points: dict[tuple[str, str], list[tuple[datetime, float]]] = defaultdict(list)
    for src in listings:
        names = [str(n) for n in src.get("substance_names") or []]
        by_fp[str(src.get("fingerprint"))] = names
        when = parse_time(src.get("posted_at")) or parse_time(src.get("first_seen"))
        price = offer_price(src)
        if when is not None and price is not None:
            for n in names:
                points[(n, price[1])].append((when, price[0]))
    for ch in changes:
        when, price = parse_time(ch.get("@timestamp")), offer_price(ch)
        if when is None or price is None:
            continue
        for n in by_fp.get(str(ch.get("fingerprint")), []):
            points[(n, price[1])].append((when, price[0]))
    return {k: sorted(p) for k, p in sorted(points.items()) if p}


def price_history_svg(substance: str, unit: str, points: list[tuple[datetime, float]]) -> str:
    """Offer prices of one substance over time, as an ``<svg>`` element."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.0, 2.2))
    xs = [p[0].replace(tzinfo=None) for p in points]
    ys = [p[1] for p in points]
    ax.plot(xs, ys, marker="o", linestyle="-", linewidth=1, markersize=4, color="#b2182b")
    ax.set_title(_label(f"{substance}: offer prices ({unit})"))
    ax.set_ylabel(_label(f"{unit} per offer"))
    ax.set_ylim(bottom=0)
    if min(xs) == max(xs):
        ax.set_xlim(min(xs) - timedelta(days=3), max(xs) + timedelta(days=3))
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(maxticks=6)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    return _svg(fig)
