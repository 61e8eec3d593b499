"""Quote retention: stored quotes and offer sets older than QUOTE_RETENTION_DAYS are dropped a day at a time.

Both tables are partitioned by UTC day (migration 0020b_quote_partitions). A day older than the retention is
handed to `before_drop` first (the Dagster asset loads the warehouse's conversion facts of that day there),
then its partitions are dropped whole: no row-by-row DELETE, no bloat. Rows that landed in the default
partition (a day without its own) are deleted by the same rule. Offer sets are kept one day longer than
quotes, as a quote answered just after midnight may name a set priced the day before. Orders keep every
price step of the offer they booked (`orders.price_breakdown`), so nothing an order needs goes with them.
The partitions of the next DAYS_AHEAD days are made here too (the quote writer makes its day's if missing).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg

from core.db import plain_url

DAYS_AHEAD = 3
QUOTES, OFFER_SETS = "quotes", "quote_offer_sets"
_DAY_SUFFIX = re.compile(r"_p(\d{8})$")


@dataclass
class RetentionResult:
    cutoff: dt.date  # quotes of days before this one are gone
    dropped_days: list[dt.date] = field(default_factory=list)
    dropped_partitions: list[str] = field(default_factory=list)
    rows_dropped: int = 0  # estimated from the statistics for dropped partitions, exact for the default's rows
    kept_days: list[dt.date] = field(default_factory=list)
    created_partitions: int = 0

    def metadata(self) -> dict:
        return {
            "cutoff": self.cutoff.isoformat(), "dropped_days": [day.isoformat() for day in self.dropped_days],
            "dropped_partitions": len(self.dropped_partitions), "rows_dropped": self.rows_dropped,
            "kept_days": len(self.kept_days),
            "oldest_kept_day": min(self.kept_days).isoformat() if self.kept_days else "",
            "created_partitions": self.created_partitions,
        }


def day_partitions(conn: psycopg.Connection, table: str) -> dict[dt.date, str]:
    """The day partitions of a partitioned table, by day."""
    found = {}
    for (name,) in conn.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                                " WHERE i.inhparent = %s::regclass", (table,)):
        match = _DAY_SUFFIX.search(name)
        if match:
            found[dt.datetime.strptime(match.group(1), "%Y%m%d").date()] = name
    return found


def _default_days(conn: psycopg.Connection, table: str, before: dt.date) -> set[dt.date]:
    rows = conn.execute(f"SELECT DISTINCT (created_at AT TIME ZONE 'UTC')::date FROM {table}_default"
                        " WHERE created_at < %s::date AT TIME ZONE 'UTC'", (before,))
    return {day for (day,) in rows}


def first_day_held(database_url: str, start: dt.date, end: dt.date, retention_days: int,
                   today: dt.date | None = None) -> dt.date:
    """The first day in [start, end) whose quotes PostgreSQL may still hold (`end` if none): the days before it are
    older than the retention and have neither their partition nor rows in the default one, so retention dropped
    them and the warehouse's conversion facts of those days are all that is left (a reload must not empty them)."""
    today = today or dt.datetime.now(dt.UTC).date()
    cutoff = today - dt.timedelta(days=retention_days)
    if start >= cutoff:
        return start
    with psycopg.connect(plain_url(database_url)) as conn:
        held = set(day_partitions(conn, QUOTES)) | _default_days(conn, QUOTES, cutoff)
    day = start
    while day < min(end, cutoff) and day not in held:
        day += dt.timedelta(days=1)
    return day


def apply_retention(database_url: str, retention_days: int, today: dt.date | None = None,
                    before_drop: Callable[[dt.date], None] | None = None) -> RetentionResult:
    """Drop the quote days older than `retention_days` (each first handed to `before_drop`), and make the
    partitions of the days ahead."""
    today = today or dt.datetime.now(dt.UTC).date()
    cutoff = today - dt.timedelta(days=retention_days)
    cutoffs = {QUOTES: cutoff, OFFER_SETS: cutoff - dt.timedelta(days=1)}
    result = RetentionResult(cutoff)
    with psycopg.connect(plain_url(database_url), autocommit=True) as conn:
        partitions = {table: day_partitions(conn, table) for table in cutoffs}
        expired = {day for day in partitions[QUOTES] if day < cutoff} | _default_days(conn, QUOTES, cutoff)
        for day in sorted(expired):
            if before_drop is not None:
                before_drop(day)  # raises: nothing is dropped (a rerun hands the days over again)
            result.dropped_days.append(day)
        for table, table_cutoff in cutoffs.items():
            for day, name in sorted(partitions[table].items()):
                if day < table_cutoff:
                    result.rows_dropped += _drop(conn, name)
                    result.dropped_partitions.append(name)
            deleted = conn.execute(f"DELETE FROM {table}_default WHERE created_at < %s::date AT TIME ZONE 'UTC'",
                                   (table_cutoff,))
            result.rows_dropped += deleted.rowcount
        for ahead in range(DAYS_AHEAD + 1):
            day = today + dt.timedelta(days=ahead)
            for table in cutoffs:
                result.created_partitions += bool(conn.execute("SELECT ensure_day_partition(%s::regclass, %s)",
                                                               (table, day)).fetchone()[0])
        result.kept_days = sorted(day for day in day_partitions(conn, QUOTES) if day >= cutoff)
    return result


def _drop(conn: psycopg.Connection, name: str) -> int:
    """Drop one day partition; returns its estimated rows. A short lock wait: writers are never held long."""
    with conn.transaction():
        conn.execute("SET LOCAL lock_timeout = '10s'")
        rows = conn.execute("SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE relname = %s",
                            (name,)).fetchone()[0]
        conn.execute(f'DROP TABLE "{name}"')
    return int(rows)
