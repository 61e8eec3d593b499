"""The order state machine: allowed transitions, each one an `order_events` row and an `outbox_events`
row written in the same transaction as the status change (the relay publishes the outbox).

    PENDING ──► CONFIRMED ──► CANCELLED
       │  └──► FAILED / EXPIRED / CANCELLED
    REVIEW ──► PENDING (approved) / FAILED (rejected) / EXPIRED / CANCELLED
    (new) ──► PENDING / REVIEW / FAILED (refused by risk before anything was held)

Leaving a holding state (PENDING, REVIEW, CONFIRMED) for an end state gives back what the order still holds
(`core.orders.allotment`); CONFIRMED marks its hold booked, for the next sync to absorb.
"""

from __future__ import annotations

import json

from core.orders import allotment, holds
from core.outbox import write_event

HOLDING = frozenset({"PENDING", "REVIEW", "CONFIRMED"})
ENDED = frozenset({"CANCELLED", "EXPIRED", "FAILED"})
TRANSITIONS: dict[str | None, frozenset[str]] = {
    None: frozenset({"PENDING", "REVIEW", "FAILED"}),
    "PENDING": frozenset({"CONFIRMED", "FAILED", "EXPIRED", "CANCELLED"}),
    "REVIEW": frozenset({"PENDING", "FAILED", "EXPIRED", "CANCELLED"}),
    "CONFIRMED": frozenset({"CANCELLED"}),
    "CANCELLED": frozenset(),
    "EXPIRED": frozenset(),
    "FAILED": frozenset(),
}


class TransitionRefused(Exception):
    """The order is not (any longer) in the state the transition starts from."""


def allowed(from_status: str | None, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, frozenset())


async def record_event(conn, order_id, from_status: str | None, to_status: str, reason: str,
                       payload: dict | None = None, actor: str = "system", publish: bool = True) -> None:
    payload = payload or {}
    await conn.execute(
        "INSERT INTO order_events (order_id, from_status, to_status, reason, payload, actor)"
        " VALUES ($1, $2, $3, $4, $5::jsonb, $6)",
        order_id, from_status, to_status, reason, json.dumps(payload), actor,
    )
    if publish:  # carries the current trace: the event's consumers continue the order's trace
        await write_event(conn, "order", str(order_id), f"order.{to_status.lower()}",
                          {"order_id": str(order_id), "from": from_status, "to": to_status, "reason": reason,
                           "actor": actor, **payload})


async def release_hold(conn, order_id) -> None:
    """Give back what an order still holds (its room type, the nights not yet absorbed by a sync)."""
    order = await conn.fetchrow(
        "SELECT o.room_type_id, o.check_in, o.check_out, sh.supplier_code, sh.supplier_hotel_id"
        " FROM orders o JOIN room_types rt ON rt.id = o.room_type_id"
        " JOIN supplier_hotels sh ON sh.id = rt.supplier_hotel WHERE o.id = $1", order_id)
    counts = await allotment.release(conn, order_id, order["room_type_id"], order["check_in"], order["check_out"])
    holds.note(order["supplier_code"], order["supplier_hotel_id"], order["room_type_id"], order["check_in"], counts)


async def transition(conn, order_id, from_status: str, to_status: str, reason: str, *, payload: dict | None = None,
                     actor: str = "system", sets: dict | None = None) -> None:
    """Move an order from `from_status` to `to_status` (inside the caller's transaction).

    Conditional on the current status, so two racing transitions cannot both win.
    """
    if not allowed(from_status, to_status):
        raise TransitionRefused(f"{from_status} → {to_status} is not a valid order transition")
    assignments = ["status = $3", "updated_at = now()"]
    values: list = [order_id, from_status, to_status]
    for column, value in (sets or {}).items():
        values.append(value)
        assignments.append(f"{column} = ${len(values)}")
    row = await conn.fetchrow(
        f"UPDATE orders SET {', '.join(assignments)} WHERE id = $1 AND status = $2 RETURNING id", *values)
    if row is None:
        raise TransitionRefused(f"order {order_id} is no longer {from_status}")
    if from_status in HOLDING and to_status in ENDED:
        await release_hold(conn, order_id)
    elif to_status == "CONFIRMED":
        await allotment.mark_booked(conn, order_id)
    await record_event(conn, order_id, from_status, to_status, reason, payload, actor)
