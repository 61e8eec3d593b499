"""Orders across partners for operators: search (partner, status, created and check-in date ranges, hotel,
supplier, supplier reference, the partner's client reference, our reference), the REVIEW queue (oldest first),
and one order with its events as a timeline.

Keyset-paged by (created_at, id): `next_cursor` continues in the same order, whatever arrives meanwhile.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.admin_errors import invalid, not_found
from core.money import Money
from core.orders.service import OrderError
from core.orders.service import _decode_cursor as decode_cursor
from core.orders.service import _encode_cursor as encode_cursor

STATUSES = ("PENDING", "REVIEW", "CONFIRMED", "CANCELLED", "EXPIRED", "FAILED")
SORTS = ("newest", "oldest")
MAX_LIMIT = 200
_COLUMNS = (
    "o.id, o.partner_id, p.name AS partner_name, o.status, o.our_reference, o.client_reference, o.supplier_code,"
    " o.supplier_ref, o.hotel_id, h.name AS hotel_name, o.check_in, o.check_out, o.rooms, o.guests, o.contact,"
    " o.net_amount, o.net_currency, o.sell_amount, o.sell_currency, o.cancellation_fee, o.risk_score,"
    " o.risk_reasons, o.expires_at, o.created_at, o.updated_at, o.price_breakdown->>'room_type' AS room_type"
)
_FROM = " FROM orders o JOIN partners p ON p.id = o.partner_id LEFT JOIN master_hotels h ON h.id = o.hotel_id"


@dataclass(frozen=True)
class OrderFilter:
    partner_id: str | None = None
    status: str | None = None
    created_from: dt.date | None = None
    created_to: dt.date | None = None
    check_in_from: dt.date | None = None
    check_in_to: dt.date | None = None
    hotel_id: str | None = None
    supplier_code: str | None = None
    supplier_ref: str | None = None
    client_reference: str | None = None
    our_reference: str | None = None


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def order_row_json(row) -> dict:
    """The operator's view of an order: the partner's view plus partner, supplier, net and risk."""
    fee = row["cancellation_fee"]
    return {
        "order_id": str(row["id"]), "partner_id": str(row["partner_id"]), "partner_name": row["partner_name"],
        "status": row["status"], "our_reference": row["our_reference"], "client_reference": row["client_reference"],
        "supplier_code": row["supplier_code"], "supplier_ref": row["supplier_ref"], "hotel_id": row["hotel_id"],
        "hotel_name": row["hotel_name"], "room_type": row["room_type"], "check_in": row["check_in"].isoformat(),
        "check_out": row["check_out"].isoformat(), "rooms": row["rooms"], "guests": _json(row["guests"]),
        "contact": _json(row["contact"]), "net_price": Money(row["net_amount"], row["net_currency"]).as_json(),
        "total_price": Money(row["sell_amount"], row["sell_currency"]).as_json(),
        "cancellation_fee": Money(fee, row["sell_currency"]).as_json() if fee is not None else None,
        "risk_score": row["risk_score"], "risk_reasons": _json(row["risk_reasons"]),
        "expires_at": row["expires_at"].isoformat() if row["expires_at"] else None,
        "created_at": row["created_at"].isoformat(), "updated_at": row["updated_at"].isoformat(),
    }


def _uncursor(cursor: str) -> tuple[dt.datetime, uuid.UUID]:
    try:
        return decode_cursor(cursor)
    except OrderError:
        raise invalid("cursor", "not a cursor this API issued") from None


def _validate(f: OrderFilter) -> None:
    if f.status is not None and f.status not in STATUSES:
        raise invalid("status", f"one of {', '.join(STATUSES)}")
    if f.partner_id is not None:
        try:
            uuid.UUID(str(f.partner_id))
        except ValueError:
            raise invalid("partner_id", "not a partner id (UUID)") from None
    for low, high, field in ((f.created_from, f.created_to, "created_to"),
                             (f.check_in_from, f.check_in_to, "check_in_to")):
        if low is not None and high is not None and high < low:
            raise invalid(field, "must not be before the range's start")
    for field in ("hotel_id", "supplier_code", "supplier_ref", "client_reference", "our_reference"):
        value = getattr(f, field)
        if value is not None and not 1 <= len(value) <= 255:
            raise invalid(field, "1 to 255 characters")


def search_orders(engine: Engine, filters: OrderFilter = OrderFilter(), *, sort: str = "newest",
                  cursor: str | None = None, limit: int = 50) -> dict:
    """Orders matching every given filter (references exactly), newest or oldest first, keyset-paged."""
    _validate(filters)
    if sort not in SORTS:
        raise invalid("sort", f"one of {', '.join(SORTS)}")
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid("limit", f"must be between 1 and {MAX_LIMIT}")
    where, params = [], {"limit": limit + 1}
    for field, column in (("partner_id", "o.partner_id"), ("status", "o.status"), ("hotel_id", "o.hotel_id"),
                          ("supplier_code", "o.supplier_code"), ("supplier_ref", "o.supplier_ref"),
                          ("client_reference", "o.client_reference"), ("our_reference", "o.our_reference")):
        value = getattr(filters, field)
        if value is not None:
            where.append(f"{column} = :{field}")
            params[field] = uuid.UUID(str(value)) if field == "partner_id" else value
    for field, condition in (("created_from", "o.created_at >= CAST(:created_from AS date)"),
                             ("created_to", "o.created_at < CAST(:created_to AS date) + 1"),
                             ("check_in_from", "o.check_in >= :check_in_from"),
                             ("check_in_to", "o.check_in <= :check_in_to")):
        value = getattr(filters, field)
        if value is not None:
            where.append(condition)
            params[field] = value
    newest = sort == "newest"
    if cursor:
        params["after_at"], params["after_id"] = _uncursor(cursor)
        where.append(f"(o.created_at, o.id) {'<' if newest else '>'} (:after_at, :after_id)")
    direction = "DESC" if newest else "ASC"
    sql = (f"SELECT {_COLUMNS}{_FROM}" + (" WHERE " + " AND ".join(where) if where else "")
           + f" ORDER BY o.created_at {direction}, o.id {direction} LIMIT :limit")
    with engine.connect() as conn:
        rows = conn.execute(sa.text(sql), params).mappings().all()
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1]["created_at"], page[-1]["id"]) if len(rows) > limit else None
    return {"items": [order_row_json(row) for row in page], "next_cursor": next_cursor}


def review_queue(engine: Engine, *, partner_id: str | None = None, cursor: str | None = None,
                 limit: int = 50) -> dict:
    """Orders held for review, oldest first (the one waiting longest on top)."""
    return search_orders(engine, OrderFilter(partner_id=partner_id, status="REVIEW"), sort="oldest", cursor=cursor,
                         limit=limit)


def order_timeline(engine: Engine, order_id: str) -> dict:
    """One order (operator's view) and every event of it, oldest first: status changes, booking sent, flags."""
    try:
        key = uuid.UUID(str(order_id))
    except ValueError:
        raise invalid("order_id", "not an order id (UUID)") from None
    with engine.connect() as conn:
        row = conn.execute(sa.text(f"SELECT {_COLUMNS}{_FROM} WHERE o.id = :id"), {"id": key}).mappings().first()
        if row is None:
            raise not_found("order")
        events = conn.execute(sa.text(
            "SELECT id, from_status, to_status, reason, payload, actor, created_at FROM order_events"
            " WHERE order_id = :id ORDER BY id"), {"id": key}).mappings().all()
    return {**order_row_json(row), "events": [
        {"id": event["id"], "at": event["created_at"].isoformat(), "from_status": event["from_status"],
         "to_status": event["to_status"], "reason": event["reason"], "actor": event["actor"],
         "payload": _json(event["payload"])} for event in events]}
