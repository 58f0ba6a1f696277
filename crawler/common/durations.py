"""The one duration grammar of narcowatch's configuration (sources.yaml and alerts.yaml alike).

A duration is a number of seconds (``45``, ``1.5``) or a number with a unit, case-insensitive, with
optional spaces: ``s``/``sec``, ``m``/``min``, ``h``, ``d``, ``w`` (``90s``, ``15 min``, ``48h``,
``1w``). Negative durations are always refused. Zero is refused unless the field allows it
(``allow_zero``): a source's ``removal_grace: 0s`` means "as soon as missed", while an alert
throttle window, retry delay or lease of zero means nothing and is an error.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
PATTERN = r"^\s*[0-9]+(\.[0-9]+)?\s*(s|sec|m|min|h|d|w)?\s*$"
"""The grammar as a JSON-schema pattern (the parser also takes upper case)."""
_DURATION = re.compile(r"^\s*(?P<n>[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>s|sec|m|min|h|d|w)?\s*$", re.IGNORECASE)
EXAMPLES = "90s, 15m, 1h, 1d or 1w"


def parse_duration(value: Any, *, allow_zero: bool = False) -> timedelta:
    """A configured duration -> timedelta; ValueError (with the value and the grammar) if it is not one.

    A timedelta passes through (after the same sign check); ``True``/``False`` are not durations.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool) or value is None:
        raise ValueError(f"{value!r} is not a duration: write e.g. {EXAMPLES}")
    elif isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration: write e.g. {EXAMPLES}")
        seconds = float(match["n"]) * UNIT_SECONDS[(match["unit"] or "s").lower()]
    if seconds < 0 or (seconds == 0 and not allow_zero):
        need = "zero or positive" if allow_zero else "positive"
        raise ValueError(f"{value!r}: a duration must be {need}")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """timedelta -> the shortest exact ``90s`` / ``15m`` / ``1h`` / ``1d`` / ``1w`` spelling."""
    seconds = int(value.total_seconds())
    for unit in ("w", "d", "h", "m"):
        size = UNIT_SECONDS[unit]
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def duration_schema(*, allow_zero: bool = False) -> dict[str, Any]:
    """The JSON schema of a duration field (for the published config schemas)."""
    number: dict[str, Any] = {"type": "number", "minimum" if allow_zero else "exclusiveMinimum": 0}
    return {
        "anyOf": [{"type": "string", "pattern": PATTERN}, number],
        "description": f"A duration: {EXAMPLES} (also sec, min), or a number of seconds.",
    }
