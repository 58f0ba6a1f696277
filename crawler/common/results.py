"""Result counters that add up: one ``add()`` for every ``...Result`` dataclass of a batch, a flush or a delivery.

A result class is a dataclass that also derives from ``Summable``; ``total.add(part)`` then sums
``part`` into ``total`` field by field: numbers are added, dicts (``Counter`` included) are added key by
key, lists are extended (at most ``field(metadata={"keep": N})`` items in all, for capped error lists).
A field with ``metadata={"sum": False}``, and any field of another type, is left as it is.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Self, cast


class Summable:
    """Mixin giving a result dataclass ``add(other)``: the field-by-field sum described above."""

    def add(self, other: Self) -> None:
        """Add ``other``'s counts into this result (``other`` is left unchanged)."""
        for f in dataclasses.fields(cast(Any, self)):
            if f.metadata.get("sum") is False:
                continue
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if isinstance(mine, bool):
                continue
            if isinstance(mine, int | float) and isinstance(theirs, int | float):
                setattr(self, f.name, mine + theirs)
            elif isinstance(mine, dict) and isinstance(theirs, dict):
                for key, value in theirs.items():
                    mine[key] = mine.get(key, 0) + value
            elif isinstance(mine, list) and isinstance(theirs, list):
                limit = f.metadata.get("keep")
                mine.extend(theirs if limit is None else theirs[: max(0, limit - len(mine))])
