"""The PostgreSQL side of the sync: content upserts, the inventory write path, quarantine, run log.

Write path (one transaction per supplier batch): COPY into temp tables, then one
`INSERT … SELECT … ON CONFLICT DO UPDATE` each for room types, rates and availability. Unchanged
rows are not rewritten (`WHERE … IS DISTINCT FROM …`; a new rate key alone is no change), so a repeated sync
costs reads, not writes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import psycopg

from core.db import plain_url
from core.inventory import holds
from core.suppliers.models import InvalidRecord, NightlyRate, SupplierHotel


def connect(database_url: str, *, bulk: bool = False) -> psycopg.Connection:
    """Autocommit, so every `conn.transaction()` block is a real transaction.

    `bulk`: commits do not wait for the WAL flush (`synchronous_commit = off`). A crash may lose the
    last few batches of a sync, which the next scheduled sync fetches again; nothing else is at risk.
    """
    conn = psycopg.connect(plain_url(database_url), autocommit=True)
    if bulk:
        conn.execute("SET synchronous_commit = off")
    return conn


# ------------------------------------------------------------------ content


def content_hash(hotel: SupplierHotel) -> str:
    parts = (hotel.name, hotel.address, hotel.city, hotel.country, hotel.lat, hotel.lon, hotel.star, hotel.phone)
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, default=str).encode()).hexdigest()[:32]


def check_hotel(hotel: SupplierHotel) -> str | None:
    """Why a content record cannot be stored, or None."""
    if not hotel.supplier_hotel_id:
        return "missing field supplier_hotel_id"
    if not hotel.name or not hotel.name.strip():
        return "missing field name"
    if hotel.country is not None and (len(hotel.country) != 2 or not hotel.country.isalpha()):
        return f"invalid country {hotel.country!r}"
    if hotel.lat is not None and not -90 <= hotel.lat <= 90:
        return f"latitude out of range: {hotel.lat}"
    if hotel.lon is not None and not -180 <= hotel.lon <= 180:
        return f"longitude out of range: {hotel.lon}"
    if hotel.star is not None and not 0 <= hotel.star <= 5:
        return f"star rating out of range: {hotel.star}"
    return None


def _decimal(value: float | None, places: str) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal(places))


def upsert_supplier_hotels(conn: psycopg.Connection, code: str, hotels: Sequence[SupplierHotel]) -> int:
    """Insert new hotels and update changed ones (by content hash); returns rows written."""
    if not hotels:
        return 0
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE _sh (supplier_hotel_id TEXT, name TEXT, address TEXT, city TEXT, "
                       "country CHAR(2), lat NUMERIC(9,6), lon NUMERIC(9,6), star NUMERIC(2,1), phone TEXT, "
                       "raw JSONB, content_hash TEXT) ON COMMIT DROP")
        with cursor.copy("COPY _sh FROM STDIN") as copy:
            seen: set[str] = set()
            for hotel in hotels:
                if hotel.supplier_hotel_id in seen:
                    continue
                seen.add(hotel.supplier_hotel_id)
                copy.write_row((hotel.supplier_hotel_id, hotel.name, hotel.address, hotel.city,
                                hotel.country and hotel.country.upper(), _decimal(hotel.lat, "0.000001"),
                                _decimal(hotel.lon, "0.000001"), _decimal(hotel.star, "0.1"), hotel.phone,
                                json.dumps(hotel.raw, ensure_ascii=False, default=str), content_hash(hotel)))
        cursor.execute(
            "INSERT INTO supplier_hotels (supplier_code, supplier_hotel_id, name, address, city, country, lat, lon, "
            "star, phone, raw, content_hash) SELECT %s, supplier_hotel_id, name, address, city, country, lat, lon, "
            "star, phone, raw, content_hash FROM _sh "
            "ON CONFLICT (supplier_code, supplier_hotel_id) DO UPDATE SET name = EXCLUDED.name, "
            "address = EXCLUDED.address, city = EXCLUDED.city, country = EXCLUDED.country, lat = EXCLUDED.lat, "
            "lon = EXCLUDED.lon, star = EXCLUDED.star, phone = EXCLUDED.phone, raw = EXCLUDED.raw, "
            "content_hash = EXCLUDED.content_hash, fetched_at = now(), updated_at = now() "
            "WHERE supplier_hotels.content_hash IS DISTINCT FROM EXCLUDED.content_hash", (code,))
        return cursor.rowcount


def supplier_hotel_ids(conn: psycopg.Connection, code: str) -> dict[str, int]:
    rows = conn.execute("SELECT supplier_hotel_id, id FROM supplier_hotels WHERE supplier_code = %s",
                        (code,)).fetchall()
    return dict(rows)


# ------------------------------------------------------------------ inventory


@dataclass
class WriteCounts:
    room_types: int = 0
    rates: int = 0
    availability: int = 0
    holds_absorbed: int = 0
    orders_flagged: int = 0

    def __iadd__(self, other: WriteCounts) -> WriteCounts:
        self.room_types += other.room_types
        self.rates += other.rates
        self.availability += other.availability
        self.holds_absorbed += other.holds_absorbed
        self.orders_flagged += other.orders_flagged
        return self


def _policy_json(rate: NightlyRate) -> str:
    """The cancellation policy as PostgreSQL prints it back from JSONB (keys by length, ", " and ": "),
    so a stored policy compares equal as text. Hand-formatted: json.dumps per row cost a third of the
    write path's Python time; amounts are Decimal strings and currencies three letters (no escaping)."""
    return "[" + ", ".join(f'{{"fee": "{rule.fee.amount}", "currency": "{rule.fee.currency}", '
                           f'"hours_before": {rule.hours_before}}}' for rule in rate.cancellation) + "]"


_TEMP_TABLES = (
    "CREATE TEMP TABLE IF NOT EXISTS _rt (supplier_hotel BIGINT, room_code TEXT, name TEXT, max_occupancy SMALLINT) "
    "ON COMMIT DELETE ROWS",
    "CREATE TEMP TABLE IF NOT EXISTS _rates (room_type_id BIGINT, stay_date DATE, board TEXT, rate_plan TEXT, "
    "rate_key TEXT, net_amount NUMERIC(14,4), currency CHAR(3), refundable BOOLEAN, cancellation_policy JSONB) "
    "ON COMMIT DELETE ROWS",
    "CREATE TEMP TABLE IF NOT EXISTS _av (room_type_id BIGINT, stay_date DATE, allotment INTEGER) "
    "ON COMMIT DELETE ROWS",
)
STORED_RATE = ("room_type_id, stay_date, board, rate_plan, rate_key, net_amount, currency, refundable, "
               "cancellation_policy::text")
RATE_COLUMNS = ("room_type_id, stay_date, board, rate_plan, rate_key, net_amount, currency, refundable, "
                "cancellation_policy")
UPSERT_RATES = (
    f"INSERT INTO rates ({RATE_COLUMNS}) SELECT {RATE_COLUMNS} FROM _rates "
    "ON CONFLICT (room_type_id, stay_date, board, rate_plan) DO UPDATE SET rate_key = EXCLUDED.rate_key, "
    "net_amount = EXCLUDED.net_amount, currency = EXCLUDED.currency, refundable = EXCLUDED.refundable, "
    "cancellation_policy = EXCLUDED.cancellation_policy, updated_at = now() "
    "WHERE (rates.net_amount, rates.currency, rates.refundable, rates.cancellation_policy) "
    "IS DISTINCT FROM (EXCLUDED.net_amount, EXCLUDED.currency, EXCLUDED.refundable, EXCLUDED.cancellation_policy)")
UPSERT_AVAILABILITY = (
    "INSERT INTO availability (room_type_id, stay_date, allotment) SELECT room_type_id, stay_date, allotment FROM _av "
    "ORDER BY room_type_id, stay_date "  # the lock order of an order's hold
    "ON CONFLICT (room_type_id, stay_date) DO UPDATE SET allotment = EXCLUDED.allotment, updated_at = now() "
    "WHERE availability.allotment IS DISTINCT FROM EXCLUDED.allotment")


def write_inventory(conn: psycopg.Connection, rates: Sequence[NightlyRate], hotel_ids: dict[str, int],
                    fetched_at: dt.datetime | None = None) -> WriteCounts:
    """Upsert one supplier batch of nightly rates in one transaction.

    Every rate's hotel must be in `hotel_ids`, and (hotel, room, date, board, plan) unique in the batch.
    Availability is the smallest allotment any offer of a room shows for a night: the supplier's number, written
    to `allotment` only; the platform's holds (`held`) are never written here. With `fetched_at` (when the batch
    was fetched), holds of bookings confirmed before then are absorbed, and orders whose holds no longer fit a
    lowered allotment are flagged (`core/inventory/holds.py`).

    The batch's stored rows are read first: rows that are new are COPYed straight into `rates` and
    `availability` (as fast as a raw COPY), changed rows go through COPY into a temp table and
    `INSERT … ON CONFLICT DO UPDATE`, unchanged rows are not written at all. Should another writer
    insert one of the "new" rows meanwhile, the batch is redone with the upsert for every row.
    """
    try:
        return _write_inventory(conn, rates, hotel_ids, fetched_at, upsert_all=False)
    except psycopg.errors.UniqueViolation:
        return _write_inventory(conn, rates, hotel_ids, fetched_at, upsert_all=True)


def _stored(cursor: psycopg.Cursor, rows: list[tuple], allotments: dict[tuple[int, dt.date], int],
            scope: tuple[list[int], dt.date, dt.date]) -> tuple[dict[tuple, tuple], dict[tuple, int]]:
    """The stored rates and allotments of a batch's keys. A whole feed reads its room types' range (most of it is
    the batch); a sparse one (a delta feed's changes) reads exactly its keys, not every row around them."""
    nights = (scope[2] - scope[1]).days + 1
    if len(rows) >= len(scope[0]) * nights:
        cursor.execute(f"SELECT {STORED_RATE} FROM rates WHERE room_type_id = ANY(%s) AND stay_date BETWEEN %s AND %s",
                       scope)
        stored_rates = {row[:4]: row[4:] for row in cursor}
        cursor.execute("SELECT room_type_id, stay_date, allotment FROM availability WHERE room_type_id = ANY(%s) "
                       "AND stay_date BETWEEN %s AND %s", scope)
        return stored_rates, {(type_id, day): allotment for type_id, day, allotment in cursor}
    # One primary-key probe per key (LIMIT keeps the planner from a hash join over the whole table).
    cursor.execute(f"SELECT r.* FROM unnest(%s::bigint[], %s::date[], %s::text[], %s::text[]) AS k(t, d, b, p), "
                   f"LATERAL (SELECT {STORED_RATE} FROM rates WHERE room_type_id = k.t AND stay_date = k.d "
                   "AND board = k.b AND rate_plan = k.p LIMIT 1) AS r",
                   [list(column) for column in zip(*(row[:4] for row in rows), strict=True)])
    stored_rates = {row[:4]: row[4:] for row in cursor}
    cursor.execute("SELECT a.* FROM unnest(%s::bigint[], %s::date[]) AS k(t, d), LATERAL (SELECT room_type_id, "
                   "stay_date, allotment FROM availability WHERE room_type_id = k.t AND stay_date = k.d LIMIT 1) AS a",
                   [list(column) for column in zip(*allotments, strict=True)])
    return stored_rates, {(type_id, day): allotment for type_id, day, allotment in cursor}


def _write_inventory(conn: psycopg.Connection, rates: Sequence[NightlyRate], hotel_ids: dict[str, int],
                     fetched_at: dt.datetime | None, upsert_all: bool) -> WriteCounts:
    counts = WriteCounts()
    if not rates:
        return counts
    room_types: dict[tuple[int, str], tuple[str, int]] = {}
    for rate in rates:
        key = (hotel_ids[rate.supplier_hotel_id], rate.room_code)
        if key not in room_types:
            room_types[key] = (rate.room_name, rate.max_occupancy)
    with conn.cursor() as cursor:
        for statement in _TEMP_TABLES:  # once per connection; emptied at every commit
            cursor.execute(statement)
    with conn.transaction(), conn.cursor() as cursor:
        with cursor.copy("COPY _rt FROM STDIN") as copy:
            for (supplier_hotel, room_code), (name, occupancy) in room_types.items():
                copy.write_row((supplier_hotel, room_code, name, occupancy))
        cursor.execute(
            "INSERT INTO room_types (supplier_hotel, room_code, name, max_occupancy) "
            "SELECT supplier_hotel, room_code, name, max_occupancy FROM _rt "
            "ON CONFLICT (supplier_hotel, room_code) DO UPDATE SET name = EXCLUDED.name, "
            "max_occupancy = EXCLUDED.max_occupancy WHERE room_types.name IS DISTINCT FROM EXCLUDED.name "
            "OR room_types.max_occupancy IS DISTINCT FROM EXCLUDED.max_occupancy")
        counts.room_types = cursor.rowcount
        cursor.execute("SELECT rt.supplier_hotel, rt.room_code, rt.id FROM room_types rt "
                       "JOIN _rt USING (supplier_hotel, room_code)")
        type_ids = {(supplier_hotel, room_code): type_id for supplier_hotel, room_code, type_id in cursor}

        rows = []
        allotments: dict[tuple[int, dt.date], int] = {}
        for rate in rates:
            type_id = type_ids[(hotel_ids[rate.supplier_hotel_id], rate.room_code)]
            rows.append((type_id, rate.stay_date, rate.board, rate.rate_plan, rate.rate_key, rate.net.amount,
                         rate.net.currency, rate.refundable, _policy_json(rate)))
            night = (type_id, rate.stay_date)
            known = allotments.get(night)
            if known is None or rate.allotment < known:
                allotments[night] = rate.allotment
        scope = (list({row[0] for row in rows}), min(row[1] for row in rows), max(row[1] for row in rows))
        stored_rates: dict[tuple, tuple] = {}
        stored_nights: dict[tuple, int] = {}
        if not upsert_all:
            stored_rates, stored_nights = _stored(cursor, rows, allotments, scope)
        new_rates, changed_rates = [], []
        for row in rows:
            stored = stored_rates.get(row[:4]) if not upsert_all else None
            if stored is None:
                (changed_rates if upsert_all else new_rates).append(row)
            elif stored[1:] != (row[5], row[6], row[7], row[8]):
                # A rate key alone is not a change: a supplier issues it for the sync's whole window (and A and C
                # derive it from the window's total), while bookings fetch a key for their own stay.
                changed_rates.append(row)
        new_nights, changed_nights = [], []
        for night, allotment in allotments.items():
            stored = stored_nights.get(night) if not upsert_all else None
            if stored is None:
                (changed_nights if upsert_all else new_nights).append((*night, allotment))
            elif stored != allotment:
                changed_nights.append((*night, allotment))

        if new_rates:
            with cursor.copy(f"COPY rates ({RATE_COLUMNS}) FROM STDIN") as copy:
                for row in new_rates:
                    copy.write_row(row)
        if changed_rates:
            with cursor.copy("COPY _rates FROM STDIN") as copy:
                for row in changed_rates:
                    copy.write_row(row)
            cursor.execute(UPSERT_RATES)
        counts.rates = len(new_rates) + (cursor.rowcount if changed_rates else 0)
        absorbed = holds.absorbable(cursor, set(allotments), fetched_at) if fetched_at else []
        if absorbed:  # every night this transaction will change, locked at once in the holds' lock order
            holds.lock_nights(cursor, sorted({*absorbed, *(night[:2] for night in changed_nights)}))
            counts.holds_absorbed = holds.absorb(cursor, absorbed, fetched_at)
        if new_nights:
            with cursor.copy("COPY availability (room_type_id, stay_date, allotment) FROM STDIN") as copy:
                for row in new_nights:
                    copy.write_row(row)
        if changed_nights:
            with cursor.copy("COPY _av FROM STDIN") as copy:
                for row in changed_nights:
                    copy.write_row(row)
            cursor.execute(UPSERT_AVAILABILITY)
        counts.availability = len(new_nights) + (cursor.rowcount if changed_nights else 0)
        if changed_nights:
            counts.orders_flagged += len(holds.flag_unfit(cursor, [night[:2] for night in changed_nights]))
    return counts


# ------------------------------------------------------------------ quarantine and run log


def rate_record(rate: NightlyRate) -> dict:
    return {"supplier_hotel_id": rate.supplier_hotel_id, "room_code": rate.room_code, "room_name": rate.room_name,
            "board": rate.board, "rate_plan": rate.rate_plan, "stay_date": rate.stay_date.isoformat(),
            "net_amount": str(rate.net.amount), "currency": rate.net.currency, "allotment": rate.allotment,
            "refundable": rate.refundable, "rate_key": rate.rate_key}


def quarantine(conn: psycopg.Connection, records: Iterable[InvalidRecord], run_id: str | None) -> int:
    written = 0
    with conn.transaction(), conn.cursor() as cursor, cursor.copy(
        "COPY supplier_quarantine (supplier_code, feed, record, reason, run_id) FROM STDIN"
    ) as copy:
        for record in records:
            copy.write_row((record.supplier_code, record.feed,
                            json.dumps(record.record, ensure_ascii=False, default=str), record.reason[:1000], run_id))
            written += 1
    return written


def previous_good_rows(conn: psycopg.Connection, code: str, feed: str) -> int | None:
    """Rows fetched by the last good run that fetched everything (a delta run's count compares with nothing)."""
    row = conn.execute("SELECT rows_fetched FROM supplier_sync_runs WHERE supplier_code = %s AND feed = %s "
                       "AND status = 'ok' AND coalesce((contract->>'delta_answers')::int, 0) = 0 "
                       "ORDER BY id DESC LIMIT 1", (code, feed)).fetchone()
    return row[0] if row else None


def hotels_without_rates(conn: psycopg.Connection, code: str, start: dt.date, end: dt.date) -> set[str]:
    """The supplier's hotels with no rate stored in [start, end)."""
    rows = conn.execute("SELECT sh.supplier_hotel_id FROM supplier_hotels sh WHERE sh.supplier_code = %s "
                        "AND NOT EXISTS (SELECT 1 FROM room_types rt JOIN rates r ON r.room_type_id = rt.id "
                        "WHERE rt.supplier_hotel = sh.id AND r.stay_date >= %s AND r.stay_date < %s)",
                        (code, start, end)).fetchall()
    return {row[0] for row in rows}


@dataclass(frozen=True)
class DeltaBase:
    """What the last good inventory run covered, and from when a delta feed may be asked for changes."""

    changed_since: dt.datetime
    window_start: dt.date
    window_end: dt.date


def delta_base(conn: psycopg.Connection, code: str) -> DeltaBase | None:
    row = conn.execute("SELECT contract->>'next_changed_since', window_start, window_end FROM supplier_sync_runs "
                       "WHERE supplier_code = %s AND feed = 'inventory' AND status = 'ok' ORDER BY id DESC LIMIT 1",
                       (code,)).fetchone()
    if row is None or row[0] is None or row[1] is None:
        return None
    return DeltaBase(dt.datetime.fromisoformat(row[0]), row[1], row[2])


def record_run(conn: psycopg.Connection, *, run_id: str | None, code: str, feed: str, started_at: dt.datetime,
               status: str, rows_fetched: int, rows_upserted: int, rows_quarantined: int, latency_ms: float,
               errors: list[str], contract: dict, window: tuple[dt.date, dt.date] | None = None) -> int:
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO supplier_sync_runs (run_id, supplier_code, feed, started_at, status, window_start, "
            "window_end, rows_fetched, rows_upserted, rows_quarantined, latency_ms, errors, contract) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (run_id, code, feed, started_at, status, window[0] if window else None, window[1] if window else None,
             rows_fetched, rows_upserted, rows_quarantined, round(latency_ms, 1), json.dumps(errors[:50]),
             json.dumps(contract, default=str))).fetchone()
    return row[0]


@dataclass(frozen=True)
class SyncRun:
    id: int
    supplier_code: str
    status: str
    run_id: str | None
    window_start: dt.date | None
    window_end: dt.date | None
    contract: dict
    errors: list


def latest_runs(conn: psycopg.Connection, feed: str = "inventory") -> dict[str, SyncRun]:
    """Per supplier, its latest sync run of this feed."""
    rows = conn.execute("SELECT DISTINCT ON (supplier_code) id, supplier_code, status, run_id, window_start, "
                        "window_end, contract, errors FROM supplier_sync_runs WHERE feed = %s "
                        "ORDER BY supplier_code, id DESC", (feed,)).fetchall()
    return {row[1]: SyncRun(*row) for row in rows}


def mark_cache_updated(conn: psycopg.Connection, sync_run_ids: list[int]) -> None:
    if sync_run_ids:
        with conn.transaction():
            conn.execute("UPDATE supplier_sync_runs SET cache_updated = true WHERE id = ANY(%s)", (sync_run_ids,))
