"""The one cron grammar: sources.yaml ``schedule`` and scheduler.yaml ``schedules`` overrides alike.

Five fields (minute hour day month day-of-week, APScheduler's ``CronTrigger.from_crontab`` dialect) or
six with seconds first (``*/30 * * * * *``), always in UTC. ``parse_cron`` gives the trigger the
scheduler runs; ``check_cron`` is the config validator (the same parse, the expression back).
"""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

FIELDS = "minute hour day month day-of-week"


def parse_cron(expr: str, *, jitter: float | None = None) -> CronTrigger:
    """A UTC CronTrigger from a 5-field crontab (``*/5 * * * *``) or a 6-field one with seconds first.

    Raises ValueError starting ``invalid cron '<expr>':`` and saying what is wrong.
    """
    from apscheduler.triggers.cron import CronTrigger

    fields = expr.split()
    jit = int(jitter) if jitter else None
    if len(fields) not in (5, 6):
        raise ValueError(
            f"invalid cron {expr!r}: expected 5 fields ({FIELDS}) or 6 with seconds first, got {len(fields)}"
        )
    try:
        if len(fields) == 5:
            trigger = CronTrigger.from_crontab(expr, timezone=UTC)
            trigger.jitter = jit
            return trigger
        second, minute, hour, day, month, dow = fields
        return CronTrigger(
            second=second, minute=minute, hour=hour, day=day, month=month, day_of_week=dow, timezone=UTC, jitter=jit
        )
    except ValueError as exc:
        raise ValueError(f"invalid cron {expr!r}: {exc}") from None


def check_cron(expr: str) -> str:
    """Validate a cron expression (see ``parse_cron``) and return it unchanged."""
    parse_cron(expr)
    return expr
