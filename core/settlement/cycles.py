"""Settlement cycles: SETTLE_CYCLE_DAYS-day windows starting Monday 00:00 in the platform's time zone.

Cycles are anchored on Monday 2024-01-01, so with the default 7 days every cycle is a calendar
week (Monday to the next Monday, exclusive). Orders belong to the cycle their check-out date falls in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

ANCHOR = dt.date(2024, 1, 1)  # a Monday


@dataclass(frozen=True)
class Cycle:
    start: dt.date
    end: dt.date  # exclusive

    @property
    def key(self) -> str:
        return self.start.isoformat()

    @property
    def last_day(self) -> dt.date:
        return self.end - dt.timedelta(days=1)


def cycle_containing(day: dt.date, days: int = 7) -> Cycle:
    offset = (day - ANCHOR).days % days
    start = day - dt.timedelta(days=offset)
    return Cycle(start, start + dt.timedelta(days=days))


def cycle_starting(start: dt.date, days: int = 7) -> Cycle:
    """The cycle that starts on `start`; ValueError if no cycle starts that day."""
    cycle = cycle_containing(start, days)
    if cycle.start != start:
        raise ValueError(f"{start.isoformat()} does not start a {days}-day cycle (cycles start on"
                         f" {cycle.start.isoformat()} and {cycle.end.isoformat()})")
    return cycle


def last_closed_cycle(now: dt.datetime, timezone: str, days: int = 7) -> Cycle:
    """The most recent cycle whose end has passed in the platform's time zone."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    current = cycle_containing(today, days)
    return cycle_containing(current.start - dt.timedelta(days=1), days)


def cycle_starts(first: dt.date, until: dt.date, days: int = 7) -> list[dt.date]:
    start = cycle_containing(first, days).start
    starts = []
    while start <= until:
        starts.append(start)
        start += dt.timedelta(days=days)
    return starts
