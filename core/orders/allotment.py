"""An order's hold in PostgreSQL, apart from the supplier's allotment (`availability.allotment` is only what
the supplier reported; `availability.held` counts the rooms our orders hold, one `inventory_holds` row per
order and night behind it). Sellable = greatest(allotment - held, 0).

- `take`: the nights are locked in date order; the hold is taken only if every night has the rooms.
- `mark_booked`: the supplier confirmed the booking; the hold stays until a sync fetched the supplier's count
  after this moment (that count includes the booking: `core.inventory.holds.absorb`).
- `release`: the order ended; what it still holds is given back. A night already absorbed gives nothing back,
  so a release never makes more rooms sellable than the supplier reported.

Each returns the sellable counts of the order's nights afterwards, for the hot cache (`core.orders.holds`).
"""

from __future__ import annotations

import datetime as dt
import json

LOCK_NIGHTS = ("SELECT stay_date, allotment, held FROM availability WHERE room_type_id = $1 AND stay_date >= $2"
               " AND stay_date < $3 ORDER BY stay_date FOR UPDATE")
SELLABLE = ("SELECT greatest(allotment - held, 0) AS sellable FROM availability WHERE room_type_id = $1"
            " AND stay_date >= $2 AND stay_date < $3 ORDER BY stay_date")


async def take(conn, order_id, room_type_id: int, check_in: dt.date, check_out: dt.date, rooms: int
               ) -> list[int] | None:
    """Hold `rooms` on every night of the stay for this (already inserted) order; None if a night lacks them."""
    nights = await conn.fetch(LOCK_NIGHTS, room_type_id, check_in, check_out)
    if len(nights) != (check_out - check_in).days or any(n["allotment"] - n["held"] < rooms for n in nights):
        return None
    await conn.execute(
        "INSERT INTO inventory_holds (order_id, room_type_id, stay_date, rooms)"
        " SELECT $1, $2, day::date, $5 FROM generate_series($3::date, $4::date - 1, interval '1 day') AS day",
        order_id, room_type_id, check_in, check_out, rooms)
    rows = await conn.fetch(
        "UPDATE availability SET held = held + $4, updated_at = now() WHERE room_type_id = $1 AND stay_date >= $2"
        " AND stay_date < $3 RETURNING stay_date, greatest(allotment - held, 0) AS sellable",
        room_type_id, check_in, check_out, rooms)
    return [row["sellable"] for row in sorted(rows, key=lambda row: row["stay_date"])]


async def mark_booked(conn, order_id) -> None:
    await conn.execute("UPDATE inventory_holds SET booked_at = now() WHERE order_id = $1", order_id)


async def release(conn, order_id, room_type_id: int, check_in: dt.date, check_out: dt.date) -> list[int]:
    """Give back what the order still holds (inside the caller's transaction)."""
    await conn.fetch(LOCK_NIGHTS, room_type_id, check_in, check_out)  # the same lock order as `take`
    await conn.execute(
        "WITH gone AS (DELETE FROM inventory_holds WHERE order_id = $1 RETURNING room_type_id, stay_date, rooms)"
        " UPDATE availability a SET held = a.held - gone.rooms, updated_at = now() FROM gone"
        " WHERE a.room_type_id = gone.room_type_id AND a.stay_date = gone.stay_date", order_id)
    return [row["sellable"] for row in await conn.fetch(SELLABLE, room_type_id, check_in, check_out)]


FLAGGED_SQL = """
SELECT o.id, o.status, o.partner_id, o.supplier_code, o.hotel_id, o.room_type_id, o.check_in, o.check_out, o.rooms,
       o.hold_flagged_at,
       (SELECT coalesce(json_agg(json_build_object('night', a.stay_date, 'allotment', a.allotment, 'held', a.held)
                                 ORDER BY a.stay_date), '[]')
        FROM availability a WHERE a.room_type_id = o.room_type_id AND a.stay_date >= o.check_in
          AND a.stay_date < o.check_out AND a.held > a.allotment) AS short_nights
FROM orders o
WHERE o.hold_flagged_at IS NOT NULL AND o.status = ANY($1::text[])
ORDER BY o.hold_flagged_at, o.id
LIMIT $2
"""


async def flagged_orders(conn, statuses: tuple[str, ...] = ("PENDING", "REVIEW"), limit: int = 100) -> list[dict]:
    """Orders a sync flagged because the supplier's allotment fell below what they hold, with the nights that are
    short now (empty once the supplier reported enough again)."""
    rows = await conn.fetch(FLAGGED_SQL, list(statuses), limit)
    return [{"order_id": str(row["id"]), "status": row["status"], "partner_id": str(row["partner_id"]),
             "supplier_code": row["supplier_code"], "hotel_id": row["hotel_id"], "room_type_id": row["room_type_id"],
             "check_in": row["check_in"].isoformat(), "check_out": row["check_out"].isoformat(), "rooms": row["rooms"],
             "flagged_at": row["hold_flagged_at"].isoformat(), "short_nights": json.loads(row["short_nights"])}
            for row in rows]
