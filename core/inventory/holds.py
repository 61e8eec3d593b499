"""The sync's side of the platform's holds (`inventory_holds`, `availability.held`; see core/orders/allotment.py).

A sync writes the supplier's allotment and never `held`. Inside the batch's transaction it then:

- absorbs the holds of bookings the supplier had confirmed before the batch was fetched: the supplier's count
  includes them now, so they stop counting twice (a booking confirmed later keeps its hold, counted twice
  until the next sync: never sold twice, at worst sold once too few);
- flags the orders whose holds no longer fit where the supplier's allotment fell below what is held: per night,
  holds of confirmed bookings first, then the others by age; an unconfirmed order past the allotment gets
  `orders.hold_flagged_at` and an `order_events` row (`hold_exceeds_allotment`) for an operator, once.
"""

from __future__ import annotations

import datetime as dt
import json

import psycopg

Night = tuple[int, dt.date]


def _arrays(nights: list[Night]) -> tuple[list[int], list[dt.date]]:
    return [night[0] for night in nights], [night[1] for night in nights]


def absorbable(cursor: psycopg.Cursor, nights: set[Night], fetched_at: dt.datetime) -> list[Night]:
    """Which of these nights carry holds of bookings confirmed before `fetched_at` (one index probe when none)."""
    if not nights:
        return []
    days = [night[1] for night in nights]
    rows = cursor.execute(
        "SELECT DISTINCT room_type_id, stay_date FROM inventory_holds WHERE room_type_id = ANY(%s)"
        " AND stay_date BETWEEN %s AND %s AND booked_at < %s",
        (sorted({night[0] for night in nights}), min(days), max(days), fetched_at)).fetchall()
    return [night for night in rows if night in nights]


def lock_nights(cursor: psycopg.Cursor, nights: list[Night]) -> None:
    """Lock these availability rows in (room type, night) order: the order an order's hold takes them in."""
    cursor.execute("SELECT 1 FROM availability a JOIN unnest(%s::bigint[], %s::date[]) AS n(t, d)"
                   " ON a.room_type_id = n.t AND a.stay_date = n.d ORDER BY a.room_type_id, a.stay_date FOR UPDATE",
                   _arrays(nights))


def absorb(cursor: psycopg.Cursor, nights: list[Night], fetched_at: dt.datetime) -> int:
    """Drop the holds on these (locked) nights whose booking was confirmed before `fetched_at`; returns rooms
    absorbed."""
    if not nights:
        return 0
    cursor.execute(
        "WITH gone AS (DELETE FROM inventory_holds h USING unnest(%s::bigint[], %s::date[]) AS n(t, d)"
        "  WHERE h.room_type_id = n.t AND h.stay_date = n.d AND h.booked_at < %s"
        "  RETURNING h.room_type_id, h.stay_date, h.rooms),"
        " per_night AS (SELECT room_type_id, stay_date, sum(rooms) AS rooms FROM gone GROUP BY 1, 2)"
        " UPDATE availability a SET held = a.held - p.rooms, updated_at = now() FROM per_night p"
        " WHERE a.room_type_id = p.room_type_id AND a.stay_date = p.stay_date RETURNING p.rooms",
        (*_arrays(nights), fetched_at))
    return sum(row[0] for row in cursor.fetchall())


UNFIT_SQL = """
WITH over AS (
    SELECT a.room_type_id, a.stay_date, a.allotment FROM availability a
    JOIN unnest(%s::bigint[], %s::date[]) AS n(t, d) ON a.room_type_id = n.t AND a.stay_date = n.d
    WHERE a.held > a.allotment),
ranked AS (
    SELECT h.order_id, h.stay_date, over.allotment, h.booked_at,
           sum(h.rooms) OVER (PARTITION BY h.room_type_id, h.stay_date
                              ORDER BY h.booked_at IS NULL, o.created_at, o.id) AS upto
    FROM inventory_holds h JOIN over USING (room_type_id, stay_date) JOIN orders o ON o.id = h.order_id)
SELECT order_id, array_agg(stay_date ORDER BY stay_date), min(allotment)
FROM ranked WHERE booked_at IS NULL AND upto > allotment GROUP BY order_id
"""


def flag_unfit(cursor: psycopg.Cursor, nights: list[Night]) -> list[str]:
    """Flag the unconfirmed orders whose holds on these nights exceed the allotment; returns the newly flagged."""
    if not nights:
        return []
    unfit = {order_id: (days, allotment) for order_id, days, allotment
             in cursor.execute(UNFIT_SQL, _arrays(nights)).fetchall()}
    if not unfit:
        return []
    # SKIP LOCKED: an order changing state right now (ending, or being confirmed) is not waited for; it holds its
    # row and may wait for the nights this transaction holds.
    flagged = cursor.execute(
        "UPDATE orders SET hold_flagged_at = now(), updated_at = now() WHERE id IN (SELECT id FROM orders"
        " WHERE id = ANY(%s) AND hold_flagged_at IS NULL FOR UPDATE SKIP LOCKED) RETURNING id, status",
        (list(unfit),)).fetchall()
    for order_id, status in flagged:
        days, allotment = unfit[order_id]
        cursor.execute(
            "INSERT INTO order_events (order_id, from_status, to_status, reason, payload, actor)"
            " VALUES (%s, %s, %s, 'hold_exceeds_allotment', %s, 'inventory_sync')",
            (order_id, status, status, json.dumps({"nights": [day.isoformat() for day in days],
                                                   "supplier_allotment": allotment})))
    return [str(order_id) for order_id, _ in flagged]
