"""Fact loads from PostgreSQL into the warehouse, one day partition at a time, idempotently.

A load streams the day's rows from a server-side cursor in batches (Arrow → `insert_arrow`) into a
private staging table, then swaps whole days into the fact table with `REPLACE PARTITION`
(a day with no rows is dropped instead). A rerun or a retry therefore leaves exactly one copy of a
day, readers never see half a day, and memory is one batch whatever the day's size.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta

import psycopg
import pyarrow as pa
from clickhouse_connect.driver.client import Client

from core.db import plain_url
from warehouse.client import DATABASE, holds_data_alone

MONEY = pa.decimal128(18, 4)
TS = pa.timestamp("ms", tz="UTC")
BATCH_ROWS = 20_000


@dataclass(frozen=True)
class Fact:
    """A fact table: its PostgreSQL query (rows of the days in [start, end)) and Arrow columns."""

    name: str
    description: str
    query: str
    columns: tuple[tuple[str, pa.DataType], ...]

    @property
    def table(self) -> str:
        return f"fact_{self.name}"

    @property
    def qualified(self) -> str:
        return f"{DATABASE}.{self.table}"


FACTS: dict[str, Fact] = {}


def _fact(name: str, description: str, query: str, columns: list[tuple[str, pa.DataType]]) -> None:
    FACTS[name] = Fact(name, description, query, tuple(columns))


_DAY = "(({col}) AT TIME ZONE 'UTC')::date"
_IN_DAYS = "{col} >= %(start)s::date AT TIME ZONE 'UTC' AND {col} < %(end)s::date AT TIME ZONE 'UTC'"

_fact(
    "orders", "Orders by the day they were created: status now, price chain, room-nights, margin (sell, "
    "supplier's and platform's currency, at the order's own rates).",
    f"""
    SELECT {_DAY.format(col='o.created_at')}, o.id::text, o.partner_id::text, p.name,
           coalesce(o.quote_id::text, ''), coalesce(o.offer_id::text, ''), o.status, o.supplier_code,
           o.hotel_id, coalesce(h.city, ''), coalesce(h.country, ''), o.check_in, o.check_out, o.rooms,
           o.rooms * (o.check_out - o.check_in), o.net_amount, o.net_currency, o.platform_markup,
           o.partner_markup, o.fx_rate, o.sell_amount, o.sell_currency,
           round(o.sell_amount - o.net_amount * o.fx_rate, 4), o.created_at, o.updated_at,
           o.fx_as_of, coalesce(o.platform_currency, ''), round(o.sell_amount / o.fx_rate - o.net_amount, 4),
           CASE WHEN o.platform_currency = o.sell_currency THEN round(o.sell_amount - o.net_amount * o.fx_rate, 4)
                WHEN o.platform_currency = o.net_currency THEN round(o.sell_amount / o.fx_rate - o.net_amount, 4)
                ELSE round((o.sell_amount / o.fx_rate - o.net_amount) * o.platform_fx_rate, 4) END
    FROM orders o JOIN partners p ON p.id = o.partner_id LEFT JOIN master_hotels h ON h.id = o.hotel_id
    WHERE {_IN_DAYS.format(col='o.created_at')}
    """,
    [("day", pa.date32()), ("order_id", pa.string()), ("partner_id", pa.string()), ("partner_name", pa.string()),
     ("quote_id", pa.string()), ("offer_id", pa.string()), ("status", pa.string()), ("supplier_code", pa.string()),
     ("hotel_id", pa.string()), ("city", pa.string()), ("country", pa.string()), ("check_in", pa.date32()),
     ("check_out", pa.date32()), ("rooms", pa.uint16()), ("room_nights", pa.int32()), ("net_amount", MONEY),
     ("net_currency", pa.string()), ("platform_markup", MONEY), ("partner_markup", MONEY),
     ("fx_rate", pa.decimal128(18, 8)), ("sell_amount", MONEY), ("sell_currency", pa.string()),
     ("margin_amount", MONEY), ("created_at", TS), ("updated_at", TS), ("fx_as_of", pa.date32()),
     ("platform_currency", pa.string()), ("margin_net_amount", MONEY), ("margin_platform_amount", MONEY)],
)
_fact(
    "order_events", "Every order state transition, by the day it happened.",
    f"""
    SELECT {_DAY.format(col='e.created_at')}, e.id, e.order_id::text, coalesce(e.from_status, ''), e.to_status,
           coalesce(e.reason, ''), e.actor, e.created_at
    FROM order_events e WHERE {_IN_DAYS.format(col='e.created_at')}
    """,
    [("day", pa.date32()), ("event_id", pa.int64()), ("order_id", pa.string()), ("from_status", pa.string()),
     ("to_status", pa.string()), ("reason", pa.string()), ("actor", pa.string()), ("created_at", TS)],
)
_fact(
    "quotes", "Searches (quotes): offers shown and whether an order followed.",
    f"""
    SELECT {_DAY.format(col='q.created_at')}, q.id::text, q.partner_id::text, p.name,
           coalesce(nullif(q.request->>'city', ''),
                    (SELECT min(h.city) FROM quote_offers qo JOIN master_hotels h ON h.id = qo.hotel_id
                     WHERE qo.quote_id = q.id), ''),
           q.currency, (SELECT count(*) FROM quote_offers qo WHERE qo.quote_id = q.id),
           EXISTS (SELECT 1 FROM orders o WHERE o.quote_id = q.id)::int, q.created_at
    FROM quotes q JOIN partners p ON p.id = q.partner_id
    WHERE {_IN_DAYS.format(col='q.created_at')}
    """,
    [("day", pa.date32()), ("quote_id", pa.string()), ("partner_id", pa.string()), ("partner_name", pa.string()),
     ("city", pa.string()), ("currency", pa.string()), ("offers_shown", pa.uint32()), ("ordered", pa.uint8()),
     ("created_at", TS)],
)
_fact(
    "quote_offers", "Offers shown in quotes; `chosen` when an order took the offer.",
    f"""
    SELECT {_DAY.format(col='q.created_at')}, qo.id::text, q.id::text, q.partner_id::text, qo.hotel_id,
           coalesce(h.city, ''), qo.supplier_code, qo.room_type_id, qo.board, qo.check_in, qo.check_out, qo.rooms,
           qo.net_amount, qo.net_currency, qo.sell_amount, qo.sell_currency, qo.rank,
           EXISTS (SELECT 1 FROM orders o WHERE o.offer_id = qo.id)::int
    FROM quote_offers qo JOIN quotes q ON q.id = qo.quote_id LEFT JOIN master_hotels h ON h.id = qo.hotel_id
    WHERE {_IN_DAYS.format(col='q.created_at')}
    """,
    [("day", pa.date32()), ("offer_id", pa.string()), ("quote_id", pa.string()), ("partner_id", pa.string()),
     ("hotel_id", pa.string()), ("city", pa.string()), ("supplier_code", pa.string()), ("room_type_id", pa.int64()),
     ("board", pa.string()), ("check_in", pa.date32()), ("check_out", pa.date32()), ("rooms", pa.uint16()),
     ("net_amount", MONEY), ("net_currency", pa.string()), ("sell_amount", MONEY), ("sell_currency", pa.string()),
     ("rank", pa.int16()), ("chosen", pa.uint8())],
)
_fact(
    "supplier_calls", "Every call to a supplier API: operation, latency, outcome.",
    f"""
    SELECT {_DAY.format(col='c.started_at')}, c.id, c.supplier_code, c.operation, c.started_at,
           c.latency_ms::float8, c.outcome, coalesce(c.http_status, 0), coalesce(c.error, '')
    FROM supplier_calls c WHERE {_IN_DAYS.format(col='c.started_at')}
    """,
    [("day", pa.date32()), ("call_id", pa.int64()), ("supplier_code", pa.string()), ("operation", pa.string()),
     ("started_at", TS), ("latency_ms", pa.float64()), ("outcome", pa.string()), ("http_status", pa.int16()),
     ("error", pa.string())],
)
_fact(
    "inventory", "Supplier rates per night (the partition is the stay date), with the mapped master hotel, the "
    "platform's room group of the room, and the net in euros at the reference rate set of the night.",
    """
    WITH nights AS MATERIALIZED (
        SELECT DISTINCT currency, stay_date FROM rates
        WHERE stay_date >= %(start)s AND stay_date < %(end)s AND currency <> 'EUR'),
    -- the set in effect on the night: the newest published on or before it, else (older nights) the oldest
    eur AS MATERIALIZED (
        SELECT n.currency, n.stay_date,
               (SELECT f.rate FROM fx_rates f WHERE f.base_currency = 'EUR' AND f.quote_currency = n.currency
                ORDER BY f.as_of > n.stay_date, abs(n.stay_date - f.as_of) LIMIT 1) AS rate
        FROM nights n)
    SELECT r.stay_date, sh.supplier_code, sh.supplier_hotel_id, coalesce(m.master_hotel_id, ''),
           coalesce(mh.city, sh.city, ''), rt.id, rt.room_code, rt.name, coalesce(rt.room_class, ''), r.board,
           r.rate_plan, r.net_amount, r.currency, r.refundable::int, coalesce(a.allotment, 0), r.updated_at,
           CASE WHEN rm.status = 'pending_review' THEN '' ELSE coalesce(rm.room_group, '') END,
           coalesce(rm.name_en, ''),
           CASE WHEN r.currency = 'EUR' THEN r.net_amount ELSE round(r.net_amount / eur.rate, 4) END
    FROM rates r
    JOIN room_types rt ON rt.id = r.room_type_id
    JOIN supplier_hotels sh ON sh.id = rt.supplier_hotel
    LEFT JOIN hotel_mappings m ON m.supplier_hotel = sh.id AND m.master_hotel_id IS NOT NULL
                              AND m.status NOT IN ('rejected', 'pending_review')
    LEFT JOIN master_hotels mh ON mh.id = m.master_hotel_id
    LEFT JOIN room_mappings rm ON rm.room_type_id = rt.id AND rm.master_hotel_id = m.master_hotel_id
    LEFT JOIN availability a ON a.room_type_id = r.room_type_id AND a.stay_date = r.stay_date
    LEFT JOIN eur ON eur.currency = r.currency AND eur.stay_date = r.stay_date
    WHERE r.stay_date >= %(start)s AND r.stay_date < %(end)s
    """,
    [("day", pa.date32()), ("supplier_code", pa.string()), ("supplier_hotel_id", pa.string()),
     ("master_hotel_id", pa.string()), ("city", pa.string()), ("room_type_id", pa.int64()),
     ("room_code", pa.string()), ("room_name", pa.string()), ("room_class", pa.string()), ("board", pa.string()),
     ("rate_plan", pa.string()), ("net_amount", MONEY), ("currency", pa.string()), ("refundable", pa.uint8()),
     ("allotment", pa.int32()), ("updated_at", TS), ("room_group", pa.string()), ("room_name_en", pa.string()),
     ("eur_amount", MONEY)],
)
_fact(
    "settlement_lines", "Settlement lines of the cycles starting on the day (superseded revisions left out).",
    """
    SELECT c.period_start, l.id, c.id, c.supplier_code, c.period_start, c.period_end, l.class,
           coalesce(l.supplier_ref, ''), coalesce(l.order_id, ''), l.platform_amount, l.statement_amount,
           l.difference, coalesce(l.currency, '')
    FROM settlement_lines l JOIN settlement_cycles c ON c.id = l.cycle_id
    WHERE c.status <> 'superseded' AND c.period_start >= %(start)s AND c.period_start < %(end)s
    """,
    [("day", pa.date32()), ("line_id", pa.int64()), ("cycle_id", pa.int64()), ("supplier_code", pa.string()),
     ("period_start", pa.date32()), ("period_end", pa.date32()), ("class", pa.string()),
     ("supplier_ref", pa.string()), ("order_id", pa.string()), ("platform_amount", MONEY),
     ("statement_amount", MONEY), ("difference", MONEY), ("currency", pa.string())],
)

_fact(
    "billing_documents", "Partner invoices and credit notes by issue day (amount: the document's total).",
    """
    SELECT d.issued_on, d.id::text, d.document_number, d.kind, d.partner_id::text, p.name, d.currency, d.total,
           d.due_on
    FROM billing_documents d JOIN partners p ON p.id = d.partner_id
    WHERE d.issued_on >= %(start)s AND d.issued_on < %(end)s
    """,
    [("day", pa.date32()), ("document_id", pa.string()), ("document_number", pa.string()), ("kind", pa.string()),
     ("partner_id", pa.string()), ("partner_name", pa.string()), ("currency", pa.string()), ("amount", MONEY),
     ("due_on", pa.date32())],
)
_fact(
    "billing_payments", "Partner payments by the day they were received.",
    """
    SELECT b.received_on, b.id, b.partner_id::text, p.name, b.currency, b.amount
    FROM billing_payments b JOIN partners p ON p.id = b.partner_id
    WHERE b.received_on >= %(start)s AND b.received_on < %(end)s
    """,
    [("day", pa.date32()), ("payment_id", pa.int64()), ("partner_id", pa.string()), ("partner_name", pa.string()),
     ("currency", pa.string()), ("amount", MONEY)],
)


@dataclass(frozen=True)
class LoadResult:
    rows: int
    batches: int
    days_replaced: int
    days_emptied: int


def days_between(start: date, end: date) -> list[date]:
    """Days in [start, end)."""
    return [start + timedelta(days=offset) for offset in range((end - start).days)]


# How a day-built table may be stored: its PARTITION BY for the day column, and a day's partition id.
STORED_BY = {"day": ("{column}", "%Y%m%d"), "month": ("toYYYYMM({column})", "%Y%m")}


def partition_id(day: date, stored_by: str = "day") -> str:
    """The id of the partition holding `day` in a table stored one partition per day or per month."""
    return day.strftime(STORED_BY[stored_by][1])


def partition_key(column: str, stored_by: str = "day") -> str:
    """The PARTITION BY expression storing a table built by `column` (a Date) one partition per `stored_by`."""
    return STORED_BY[stored_by][0].format(column=column)


@contextmanager
def staging_table(client: Client, like: str, start: date,
                  create: Callable[[str], str] | None = None) -> Iterator[str]:
    """A private, empty copy of `like`'s structure (one per run, so concurrent runs never share one), or the
    table `create` makes given the name."""
    name = f"{DATABASE}._stage_{like.split('.')[-1]}_{partition_id(start)}_{uuid.uuid4().hex[:8]}"
    client.command(create(name) if create else f"CREATE TABLE {name} AS {like}")
    try:
        yield name
    finally:
        # SYNC: an Atomic database otherwise keeps a dropped table for 8 minutes, and every chDB session
        # open reloads each one (0.2-0.5 s after a few runs).
        client.command(f"DROP TABLE IF EXISTS {name} SYNC")


def _partition_rows(client: Client, *tables: str) -> dict[str, dict[str, tuple[int, int]]]:
    """Rows and active parts of each active partition of each of `tables` (in one database), by table, in one
    query."""
    database = tables[0].split(".")[0]
    found: dict[str, dict[str, tuple[int, int]]] = {table: {} for table in tables}
    for name, pid, rows, parts in client.query(
        "SELECT table, partition_id, sum(rows), count() FROM system.parts WHERE database = %(db)s"
        " AND table IN %(tables)s AND active GROUP BY table, partition_id",
        parameters={"db": database, "tables": [table.split(".")[1] for table in tables]},
    ).result_rows:
        found[f"{database}.{name}"][pid] = (int(rows), int(parts))
    return found


def _staged_days(client: Client, stage: str, stored_by: str, day_column: str) -> dict[str, int]:
    """Rows of each day `stage` holds, by day partition id: from the parts' metadata when a day is a partition."""
    if stored_by == "day":
        return {pid: rows for pid, (rows, _) in _partition_rows(client, stage)[stage].items()}
    return {str(row[0]): int(row[1]) for row in client.query(
        f"SELECT formatDateTime({day_column}, '%Y%m%d'), count() FROM {stage} GROUP BY 1").result_rows}


def _keep_other_days(client: Client, target: str, stage: str, start: date, end: date, stored_by: str,
                     day_column: str) -> None:
    """Stage the rows `target` holds outside [start, end) in the partitions that range touches, so that swapping
    those partitions in whole replaces exactly the days of [start, end); then merge the stage to one part per
    partition, so the swap leaves one part per partition in `target` too."""
    client.command(
        f"INSERT INTO {stage} SELECT * FROM {target} WHERE {partition_key(day_column, stored_by)} "
        f"IN %(touched)s AND NOT ({day_column} >= %(start)s AND {day_column} < %(end)s)",
        parameters={"touched": sorted({int(partition_id(day, stored_by)) for day in days_between(start, end)}),
                    "start": start, "end": end})
    if any(parts > 1 for _, parts in _partition_rows(client, stage)[stage].values()):
        client.command(f"OPTIMIZE TABLE {stage} FINAL")


@dataclass(frozen=True)
class Swap:
    days_replaced: int
    days_emptied: int
    rows: int  # staged


def swap_days(client: Client, target: str, stage: str, start: date, end: date, stored_by: str = "day",
              day_column: str = "day") -> Swap:
    """Make each day in [start, end) of `target` exactly the staged day: replace it, or empty it if none staged.

    `target` and `stage` are stored one partition per `stored_by` (day or month) of `day_column`. A month
    partition also holds days outside [start, end): those rows are copied into the stage first, so each month
    is replaced whole by its new days and its kept ones. Concurrent swaps into one month must not overlap
    (the later would restore the days the earlier replaced): the callers serialise them.

    One ALTER carries every partition's command: each REPLACE/DROP PARTITION still swaps its partition
    atomically, but the table is locked and its parts listed once instead of once per partition. A REPLACE of
    a partition the table holds writes two parts, the staged part's clone and an empty part over the replaced one.

    When the session holds the warehouse alone (embedded) and the target has no partition outside the ones
    [start, end) touches, the staging table already is the whole new table: the two are exchanged in one atomic
    rename instead (a full rebuild or backfill), and the staging table's drop removes the old days at once.
    """
    wanted_days = {partition_id(day) for day in days_between(start, end)}
    wanted = {partition_id(day, stored_by) for day in days_between(start, end)}
    staged_days = {pid: rows for pid, rows in _staged_days(client, stage, stored_by, day_column).items()
                   if pid in wanted_days}
    swap = Swap(len(staged_days), len(wanted_days - set(staged_days)), sum(staged_days.values()))
    if stored_by != "day":
        _keep_other_days(client, target, stage, start, end, stored_by, day_column)
    partitions = _partition_rows(client, stage, target)
    staged, present = set(partitions[stage]), set(partitions[target])
    if holds_data_alone(client) and staged <= wanted and present <= wanted:
        client.command(f"EXCHANGE TABLES {target} AND {stage}")
        return swap
    commands = []
    for pid in sorted(wanted):
        if pid in staged:
            commands.append(f"REPLACE PARTITION ID '{pid}' FROM {stage}")
        elif pid in present:  # a concurrent run adding the day meanwhile loads the same rows: nothing to undo
            commands.append(f"DROP PARTITION ID '{pid}'")
    if commands:
        client.command(f"ALTER TABLE {target} {', '.join(commands)}")
    return swap


def stream_batches(database_url: str, fact: Fact, start: date, end: date,
                   batch_rows: int = BATCH_ROWS) -> Iterator[pa.Table]:
    """The fact's rows for [start, end) from a server-side cursor, `batch_rows` at a time, as Arrow."""
    names = [name for name, _ in fact.columns]
    schema = pa.schema([pa.field(name, kind) for name, kind in fact.columns])
    with psycopg.connect(plain_url(database_url)) as conn, conn.cursor(name=f"wh_{fact.name}") as cursor:
        cursor.itersize = batch_rows
        cursor.execute(fact.query, {"start": start, "end": end})
        while rows := cursor.fetchmany(batch_rows):
            columns = list(zip(*rows, strict=True))
            del rows  # hold one batch as Python objects at a time, not two
            arrays = []
            for index, (_, kind) in enumerate(fact.columns):
                arrays.append(pa.array(columns[index], type=kind))
                columns[index] = None
            yield pa.Table.from_arrays(arrays, names=names).cast(schema)
            del arrays, columns


def load_fact(client: Client, database_url: str, fact: Fact, start: date, end: date,
              batch_rows: int = BATCH_ROWS) -> LoadResult:
    """Load the days in [start, end) of `fact` from PostgreSQL; each day is replaced whole."""
    rows = batches = 0
    with staging_table(client, fact.qualified, start) as stage:
        for batch in stream_batches(database_url, fact, start, end, batch_rows):
            client.insert_arrow(stage, batch)
            rows += batch.num_rows
            batches += 1
        swap = swap_days(client, fact.qualified, stage, start, end)
    return LoadResult(rows, batches, swap.days_replaced, swap.days_emptied)


def daily_figures(client: Client, table: str, start: date, end: date, money: list[str] | tuple[str, ...] = (),
                  day_column: str = "day") -> dict[str, dict[str, int | float]]:
    """Per day in [start, end) of a day-partitioned table: its rows and, per `currency`, each `money` column's total.

    Keys are `rows` and e.g. `gmv_USD`; every currency in the table appears on every day (0 where none), so the
    asset catalog plots each as one unbroken series over the partitions, whichever run built a day. Money is a float
    for plotting only: the warehouse keeps Decimal.
    """
    sums = "".join(f", sum({name})" for name in money)
    grouping = ", currency" if money else ""
    rows = client.query(f"SELECT {day_column}{grouping}, count(){sums} FROM {table} WHERE {day_column} >= %(start)s "
                        f"AND {day_column} < %(end)s GROUP BY {day_column}{grouping}",
                        parameters={"start": start, "end": end}).result_rows
    currencies = sorted({row[0] for row in client.query(f"SELECT DISTINCT currency FROM {table}").result_rows}
                        | {row[1] for row in rows}) if money else []
    days: dict[str, dict[str, int | float]] = {}
    for offset in range((end - start).days):
        days[(start + timedelta(days=offset)).isoformat()] = {
            "rows": 0, **{f"{name}_{currency}": 0.0 for name in money for currency in currencies}}
    for row in rows:
        figures = days.setdefault(row[0].isoformat(), {"rows": 0})
        count_at = 2 if money else 1
        figures["rows"] += int(row[count_at])
        for name, total in zip(money, row[count_at + 1:], strict=True):
            figures[f"{name}_{row[1]}"] = round(float(total or 0), 4)
    return days
