"""Moving a demo day's bookings back to the day they stand for: the one place that rewrites timestamps.

Why rewrite at all: the demo's quotes and orders go through the real services, and those stamp the present in
many places (column defaults `now()`, the quote writer's clock, expiry, velocity and risk windows counted back
from `now()`), while the suppliers sell only the nights ahead of today. A clock threaded through all of that would
change the serving path for a demo; instead each day's activity happens now, against the stays the suppliers sell,
and is then shifted whole, by a number of days, to the day it stands for: its quotes, orders (created, updated,
expiry, stay dates), order events and the supplier calls the bookings made. Lead times, stay lengths and the order
of events are kept. The nights an order held are given back first (`allotment.release`): a booking of the past
holds no room ahead.
"""

from __future__ import annotations

import datetime as dt

from core.orders import allotment

BOOKING_OPERATIONS = ("recheck", "book", "cancel", "find_booking", "get_booking")


async def shift_back(conn, days: int, quote_ids: list, order_ids: list, since: dt.datetime) -> None:
    """Move the given quotes and orders (and the supplier calls made since `since` for bookings) `days` back."""
    if days <= 0:
        return
    interval = dt.timedelta(days=days)
    async with conn.transaction():
        for row in await conn.fetch("SELECT id, room_type_id, check_in, check_out FROM orders"
                                    " WHERE id = ANY($1::uuid[]) AND room_type_id IS NOT NULL", order_ids):
            await allotment.release(conn, row["id"], row["room_type_id"], row["check_in"], row["check_out"])
        await conn.execute("UPDATE quotes SET created_at = created_at - $2::interval,"
                           " expires_at = expires_at - $2::interval WHERE id = ANY($1::uuid[])", quote_ids, interval)
        await conn.execute(
            "UPDATE orders SET created_at = created_at - $2::interval, updated_at = updated_at - $2::interval,"
            " expires_at = expires_at - $2::interval, check_in = check_in - $3::int, check_out = check_out - $3::int"
            " WHERE id = ANY($1::uuid[])", order_ids, interval, days)
        await conn.execute("UPDATE order_events SET created_at = created_at - $2::interval"
                           " WHERE order_id = ANY($1::uuid[])", order_ids, interval)
        await conn.execute("UPDATE supplier_calls SET started_at = started_at - $2::interval"
                           " WHERE started_at >= $1 AND operation = ANY($3::text[])",
                           since, interval, list(BOOKING_OPERATIONS))
