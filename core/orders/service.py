"""The order flow: offer → risk → (credit, velocity, allotment held under locks) → live re-check → booking.

Nothing is booked twice: the booking request carries our unique reference, and when a booking's
outcome is unknown (timeout, 5xx) the order stays PENDING and is resolved by looking the booking
up by that reference (`find_booking`), never by booking again.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import secrets
import uuid
import zoneinfo
from decimal import Decimal

from core import audit
from core.billing import credit as billing_credit
from core.money import Money
from core.orders import allotment, credit, holds, risk, velocity
from core.orders.idempotency import link_order
from core.orders.state import TransitionRefused, record_event, transition
from core.orders.suppliers import adapter
from core.quotes.caches import caches_for, disabled_suppliers, flush_quotes
from core.quotes.ids import quote_of_offer
from core.quotes.store import FLUSH_DELAY_S
from core.suppliers.models import (
    BookingRequest,
    BookingStatus,
    CircuitOpen,
    RecheckStatus,
    SupplierError,
    SupplierTimeout,
)

ACTIVE = ("PENDING", "REVIEW", "CONFIRMED")
OTHER_PROCESS_FLUSH_S = FLUSH_DELAY_S * 10
CHECK_IN_HOUR = 14  # cancellation deadlines count from check-in day 14:00 in PLATFORM_TIMEZONE


class OrderError(Exception):
    """A refusal with an HTTP status, a code and extra fields for the error body."""

    def __init__(self, status: int, code: str, message: str, **extra) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def body(self) -> dict:
        return {"code": self.code, "message": self.message, **self.extra}


ORDER_COLUMNS = (
    "id, partner_id, quote_id, offer_id, status, our_reference, client_reference, supplier_code, supplier_ref,"
    " hotel_id, room_type_id, check_in, check_out, rooms, guests, contact, net_amount, net_currency, sell_amount,"
    " sell_currency, price_breakdown, cancellation_policy, cancellation_fee, risk_score, risk_reasons, expires_at,"
    " created_at, updated_at"
)


def order_json(row) -> dict:
    """The partner's view of an order: sell prices only, no supplier, net or risk internals."""
    breakdown = _json(row["price_breakdown"])
    fee = row["cancellation_fee"]
    return {
        "order_id": str(row["id"]), "status": row["status"], "our_reference": row["our_reference"],
        "client_reference": row["client_reference"],
        "quote_id": str(row["quote_id"]) if row["quote_id"] else None,
        "offer_id": str(row["offer_id"]) if row["offer_id"] else None,
        "hotel_id": row["hotel_id"], "hotel_name": breakdown.get("hotel_name"),
        "room_type": breakdown.get("room_type"),
        "room_name_local": breakdown.get("room_name_local", breakdown.get("room_type")),  # orders from before: one name
        "board": breakdown.get("board"),
        "check_in": row["check_in"].isoformat(), "check_out": row["check_out"].isoformat(), "rooms": row["rooms"],
        "guests": _json(row["guests"]), "contact": _json(row["contact"]),
        "total_price": Money(row["sell_amount"], row["sell_currency"]).as_json(),
        "cancellation_policy": _json(row["cancellation_policy"]),
        "refundable": bool(breakdown.get("refundable", True)),
        "cancellation_fee": Money(fee, row["sell_currency"]).as_json() if fee is not None else None,
        "confirmation_number": row["our_reference"] if row["status"] == "CONFIRMED" else None,
        "expires_at": row["expires_at"].isoformat() if row["expires_at"] else None,
        "created_at": row["created_at"].isoformat(), "updated_at": row["updated_at"].isoformat(),
    }


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


async def _load_order(conn, order_id: str, partner_id: str | None):
    query = f"SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1::uuid"
    args: list = [order_id]
    if partner_id is not None:
        query += " AND partner_id = $2::uuid"
        args.append(partner_id)
    return await conn.fetchrow(query, *args)


async def _offer(conn, offer_id: str, partner_id: str):
    """The partner's offer, found through its quote's key (an offer id names its quote)."""
    return await conn.fetchrow(
        "SELECT o.*, q.expires_at AS quote_expires_at, q.partner_id AS quote_partner"
        " FROM quote_offers o JOIN quotes q ON q.id = o.quote_id"
        " WHERE o.quote_id = $3 AND o.id = $1::uuid AND q.partner_id = $2::uuid",
        offer_id, partner_id, quote_of_offer(uuid.UUID(offer_id)))


def booking_request(order, breakdown: dict) -> BookingRequest:
    product = breakdown["product"]
    return BookingRequest(
        our_reference=order["our_reference"], supplier_hotel_id=breakdown["supplier_hotel_id"],
        room_code=product["room_code"], board=breakdown["board"], rate_plan=product["rate_plan"],
        check_in=order["check_in"], check_out=order["check_out"], rooms=order["rooms"],
        guests=tuple(_json(order["guests"])), expected_total=Money(order["net_amount"], order["net_currency"]),
        # The cached key was issued for the sync's date range, not this stay: the adapter fetches a fresh one.
        rate_key=None, contact=_json(order["contact"]),
    )


def _sell_for_net(breakdown: dict, net: Money) -> Money:
    """What a changed net total would sell for, through the same price chain (for the 409 body)."""
    base = Decimal(breakdown["net"]["amount"])
    sell_exact = Decimal(breakdown["sell_exact"]["amount"])
    currency = breakdown["sell"]["currency"]
    if net.currency != breakdown["net"]["currency"] or base == 0:
        return Money(sell_exact, currency).rounded()
    return Money(net.amount * sell_exact / base, currency).rounded()


async def create_order(state, partner_id: str, client_id: str, body: dict,
                       idempotency_key: str | None = None) -> tuple[int, dict]:
    """Create and book an order; returns (HTTP status, order body). Raises OrderError for refusals.

    The order row and its link from the idempotency key are written in one transaction, so a retry
    after a crash finds this order instead of creating (and booking) another.
    """
    pool = state.pg
    settings = state.settings
    await expire_due(state, partner_id)
    await flush_quotes(state)
    async with pool.acquire() as conn:
        offer = await _offer(conn, str(body["offer_id"]), partner_id)
        if offer is None:
            # Quoted by another API process a moment ago: its batch may still be on the way.
            await asyncio.sleep(OTHER_PROCESS_FLUSH_S)
            offer = await _offer(conn, str(body["offer_id"]), partner_id)
        if offer is None:
            raise OrderError(404, "not_found", "no such offer")
        if offer["quote_expires_at"] <= dt.datetime.now(dt.UTC):
            raise OrderError(409, "quote_expired", "the quote has expired; request a new quote")
        lead = body["guests"][0]
        recent, duplicate = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE created_at > now() - interval '10 minutes'),"
            " count(*) FILTER (WHERE status = ANY($2::text[]) AND check_in = $3"
            "   AND lower(guests->0->>'last_name') = lower($4) AND lower(guests->0->>'first_name') = lower($5))"
            " FROM orders WHERE partner_id = $1::uuid AND created_at > now() - interval '1 day'",
            partner_id, list(ACTIVE), offer["check_in"], lead["last_name"], lead["first_name"])
    breakdown = _json(offer["price_breakdown"])
    sell = Money(offer["sell_amount"], offer["sell_currency"])
    nights = (offer["check_out"] - offer["check_in"]).days
    caches = caches_for(state)
    if offer["supplier_code"] in await disabled_suppliers(pool, caches):
        raise OrderError(409, "supplier_disabled", "this offer's supplier is no longer sold; request a new quote")
    fx = await caches.fx.table(pool)
    limits = velocity.limits_from(state)
    our_reference = f"HP-{secrets.token_hex(6).upper()}"
    order_id = uuid.uuid4()
    expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=settings.order_expiry_minutes)

    async with pool.acquire() as conn, holds.transaction(state, conn):
        account = await credit.lock_credit(conn, partner_id)
        if account.status != "active":
            raise OrderError(403, "partner_suspended", "this partner account is suspended")
        if (overdue := await billing_credit.overdue_refusal(state, conn, partner_id)) is not None:
            raise OrderError(402, "invoices_overdue", overdue)
        if (reason := await velocity.exceeded(conn, partner_id, limits)) is not None:
            raise OrderError(429, "velocity_limit", f"order velocity limit reached: {reason}")
        try:
            in_credit = sell.amount * fx.rate(sell.currency, account.currency)
        except LookupError:
            raise OrderError(422, "currency_unavailable",
                             f"no exchange rate from {sell.currency} to the credit currency") from None
        score, reasons = risk.score(risk.RiskInput(
            sell_in_credit=in_credit, credit_limit=account.limit, check_in=offer["check_in"], nights=nights,
            rooms=offer["rooms"], recent_orders=recent, duplicate_guest=duplicate > 0, today=dt.date.today()))
        risky = score >= settings.risk_score_threshold
        reject = risky and await risk.auto_reject_enabled(state, partner_id)
        if not reject and not account.allows(in_credit):
            raise OrderError(402, "credit_limit_exceeded",
                             f"outstanding exposure {account.exposure} plus this order exceeds the credit limit "
                             f"{account.limit} {account.currency}")
        stored = {
            **breakdown, "supplier_hotel_id": offer["supplier_hotel_id"],
            "room_type": offer["room_name_en"] or offer["room_type"], "room_name_local": offer["room_type"],
            "board": offer["board"], "rate_key": offer["rate_key"], "refundable": offer["refundable"],
            "credit": {"amount": str(in_credit), "currency": account.currency},
        }
        status = "FAILED" if reject else ("REVIEW" if risky else "PENDING")
        await conn.execute(
            "INSERT INTO orders (id, partner_id, quote_id, offer_id, status, our_reference, client_reference,"
            " supplier_code, hotel_id, room_type_id, check_in, check_out, rooms, guests, contact, net_amount,"
            " net_currency, platform_markup, partner_markup, fx_rate, sell_amount, sell_currency, price_breakdown,"
            " cancellation_policy, risk_score, risk_reasons, expires_at, fx_as_of, platform_currency, platform_fx_rate)"
            " VALUES ($1, $2::uuid, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb, $15::jsonb, $16,"
            " $17, $18, $19, $20, $21, $22, $23::jsonb, $24::jsonb, $25, $26::jsonb, $27, $28, $29, $30)",
            order_id, partner_id, offer["quote_id"], offer["id"], status, our_reference, body.get("client_reference"),
            offer["supplier_code"], offer["hotel_id"], offer["room_type_id"], offer["check_in"], offer["check_out"],
            offer["rooms"], json.dumps(body["guests"]), json.dumps(body["contact"]), offer["net_amount"],
            offer["net_currency"], offer["platform_markup"], offer["partner_markup"], offer["fx_rate"],
            offer["sell_amount"], offer["sell_currency"], json.dumps(stored), offer["cancellation_policy"],
            score, json.dumps(reasons), None if reject else expires_at,
            # the rate set the offer was priced with, kept as it was: a later rate load changes no order
            offer["fx_as_of"], fx.pivot if offer["platform_fx_rate"] is not None else None, offer["platform_fx_rate"],
        )
        if not reject:
            counts = await allotment.take(conn, order_id, offer["room_type_id"], offer["check_in"],
                                          offer["check_out"], offer["rooms"])
            if counts is None:
                raise OrderError(409, "sold_out", "the room is sold out for these dates")
            holds.note(offer["supplier_code"], offer["supplier_hotel_id"], offer["room_type_id"], offer["check_in"],
                       counts)
        reason = "risk_rejected" if reject else ("risk_review" if risky else "created")
        await record_event(conn, order_id, None, status, reason, {"risk_score": score, "risk_reasons": reasons},
                           actor=client_id)
        if idempotency_key is not None:
            await link_order(conn, partner_id, idempotency_key, order_id)
    if reject:
        raise OrderError(422, "risk_rejected", "the order was refused by risk checks", order_id=str(order_id))
    if status == "REVIEW":
        return 201, await _current(pool, order_id)
    return await _book(state, order_id, client_id)


async def _current(pool, order_id) -> dict:
    async with pool.acquire() as conn:
        return order_json(await _load_order(conn, str(order_id), None))


async def _fail(state, order_id, reason: str, payload: dict | None = None) -> None:
    async with state.pg.acquire() as conn, holds.transaction(state, conn):
        try:
            await transition(conn, order_id, "PENDING", "FAILED", reason, payload=payload)
        except TransitionRefused:
            pass


async def _confirm(pool, order_id, booking, reason: str) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await transition(conn, order_id, "PENDING", "CONFIRMED", reason,
                         payload={"supplier_ref": booking.supplier_ref},
                         sets={"supplier_ref": booking.supplier_ref, "expires_at": None})


async def _book(state, order_id, actor: str) -> tuple[int, dict]:
    """Re-check the live price, then book once. The order is PENDING and holds its allotment."""
    pool = state.pg
    async with pool.acquire() as conn:
        order = await _load_order(conn, str(order_id), None)
    breakdown = _json(order["price_breakdown"])
    request = booking_request(order, breakdown)
    try:
        supplier = await adapter(state, order["supplier_code"])
        recheck = await supplier.recheck(None, request)
    except SupplierError as error:
        await _fail(state, order_id, "recheck_failed", {"error": error.reason})
        raise OrderError(503, "supplier_unavailable", "the hotel could not be re-checked; try again",
                         order_id=str(order_id)) from None
    if recheck.status == RecheckStatus.SOLD_OUT:
        await _fail(state, order_id, "sold_out_at_recheck")
        raise OrderError(409, "sold_out", "the room is no longer available", order_id=str(order_id))
    if recheck.status == RecheckStatus.PRICE_CHANGED:
        new_price = _sell_for_net(breakdown, recheck.total) if recheck.total else None
        await _fail(state, order_id, "price_changed", {"new_price": new_price.as_json() if new_price else None})
        raise OrderError(409, "price_changed", "the price has changed; quote again to book at the new price",
                         order_id=str(order_id), new_price=new_price.as_json() if new_price else None)
    if recheck.rate_key:
        request = BookingRequest(**{**request.__dict__, "rate_key": recheck.rate_key})
    async with pool.acquire() as conn, conn.transaction():
        await record_event(conn, order_id, "PENDING", "PENDING", "booking_sent", actor=actor, publish=False)
    try:
        booking = await supplier.book(request)
    except CircuitOpen:
        await _fail(state, order_id, "supplier_circuit_open")
        raise OrderError(503, "supplier_unavailable", "the supplier is unavailable; try again later",
                         order_id=str(order_id)) from None
    except SupplierError as error:
        if isinstance(error, SupplierTimeout) or error.transient:
            # Outcome unknown: look it up by our reference, never book again.
            await resolve_pending(state, order_id)
            return 201, await _current(pool, order_id)
        await _fail(state, order_id, "supplier_refused", {"error": error.reason})
        raise OrderError(409, "supplier_refused", "the supplier refused the booking", order_id=str(order_id)) from None
    if booking.status == BookingStatus.CONFIRMED:
        await _confirm(pool, order_id, booking, "booked")
    elif booking.status in (BookingStatus.FAILED, BookingStatus.CANCELLED):
        await _fail(state, order_id, "supplier_refused")
    return 201, await _current(pool, order_id)


async def resolve_pending(state, order_id) -> str:
    """Settle a PENDING order whose booking was sent: found by our reference → CONFIRMED; else it stays
    PENDING until it expires (then EXPIRED, releasing its hold). Returns the status afterwards."""
    pool = state.pg
    async with pool.acquire() as conn:
        order = await _load_order(conn, str(order_id), None)
        sent = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM order_events WHERE order_id = $1"
                                   " AND reason = 'booking_sent')", order["id"])
    if order["status"] != "PENDING":
        return order["status"]
    expired = order["expires_at"] is not None and order["expires_at"] <= dt.datetime.now(dt.UTC)
    if sent:
        try:
            supplier = await adapter(state, order["supplier_code"])
            booking = await supplier.find_booking(order["our_reference"])
        except SupplierError:
            return "PENDING"  # still unknown; try again later (even past expiry: it may exist)
        if booking is not None and booking.status in (BookingStatus.CONFIRMED, BookingStatus.PENDING):
            if booking.status == BookingStatus.CONFIRMED:
                await _confirm(pool, order["id"], booking, "found_by_reference")
                return "CONFIRMED"
            return "PENDING"
    if expired:
        async with pool.acquire() as conn, holds.transaction(state, conn):
            try:
                await transition(conn, order["id"], "PENDING", "EXPIRED", "unconfirmed_past_expiry")
            except TransitionRefused:
                pass
        return "EXPIRED"
    return "PENDING"


async def expire_due(state, partner_id: str | None = None, limit: int = 50) -> int:
    """Expire REVIEW/PENDING orders past `expires_at` (PENDING ones are looked up first). Returns how many ended."""
    pool = state.pg
    async with pool.acquire() as conn:
        query = ("SELECT id, status FROM orders WHERE status IN ('PENDING', 'REVIEW') AND expires_at <= now()")
        args: list = []
        if partner_id is not None:
            query += " AND partner_id = $1::uuid"
            args.append(partner_id)
        rows = await conn.fetch(query + f" ORDER BY expires_at LIMIT {int(limit)}", *args)
    ended = 0
    for row in rows:
        if row["status"] == "REVIEW":
            async with pool.acquire() as conn, holds.transaction(state, conn):
                try:
                    await transition(conn, row["id"], "REVIEW", "EXPIRED", "review_not_decided_in_time")
                    ended += 1
                except TransitionRefused:
                    pass
        elif await resolve_pending(state, row["id"]) != "PENDING":
            ended += 1
    return ended


async def get_order(state, partner_id: str | None, order_id: str) -> dict:
    async with state.pg.acquire() as conn:
        row = await _load_order(conn, order_id, partner_id)
    if row is None:
        raise OrderError(404, "not_found", "no such order")
    due = row["expires_at"] is not None and row["expires_at"] <= dt.datetime.now(dt.UTC)
    if row["status"] == "PENDING" or (row["status"] == "REVIEW" and due):
        # A booking whose outcome was unknown is looked up by our reference now; a due order expires.
        if row["status"] == "PENDING":
            await resolve_pending(state, row["id"])
        if due:
            await expire_due(state, str(row["partner_id"]))
        async with state.pg.acquire() as conn:
            row = await _load_order(conn, order_id, partner_id)
    return order_json(row)


def _encode_cursor(created_at: dt.datetime, order_id) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{order_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[dt.datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, order_id = base64.urlsafe_b64decode(padded.encode()).decode().split("|", 1)
        return dt.datetime.fromisoformat(created), uuid.UUID(order_id)
    except (ValueError, UnicodeDecodeError):
        raise OrderError(422, "validation_error", "cursor: not a cursor this API issued") from None


async def list_orders(state, partner_id: str, *, status: str | None, date_from: dt.date | None,
                      date_to: dt.date | None, cursor: str | None, limit: int) -> dict:
    """The partner's orders, newest first, keyset-paged by (created_at, id)."""
    await expire_due(state, partner_id)
    where = ["partner_id = $1::uuid"]
    args: list = [partner_id]
    if status:
        args.append(status)
        where.append(f"status = ${len(args)}")
    if date_from:
        args.append(date_from)
        where.append(f"created_at >= ${len(args)}::date")
    if date_to:
        args.append(date_to)
        where.append(f"created_at < ${len(args)}::date + 1")
    if cursor:
        created, last_id = _decode_cursor(cursor)
        args.extend([created, last_id])
        where.append(f"(created_at, id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit + 1)
    async with state.pg.acquire() as conn:
        rows = await conn.fetch(f"SELECT {ORDER_COLUMNS} FROM orders WHERE {' AND '.join(where)}"
                                f" ORDER BY created_at DESC, id DESC LIMIT ${len(args)}", *args)
    page = rows[:limit]
    next_cursor = _encode_cursor(page[-1]["created_at"], page[-1]["id"]) if len(rows) > limit else None
    return {"items": [order_json(row) for row in page], "next_cursor": next_cursor}


def cancellation_fee(order, now: dt.datetime, timezone: str) -> Money:
    """The fee the partner owes for cancelling now, from the policy stored on the order (sell currency)."""
    total = Money(order["sell_amount"], order["sell_currency"])
    breakdown = _json(order["price_breakdown"])
    if not breakdown.get("refundable", True):
        return total
    tz = zoneinfo.ZoneInfo(timezone)
    check_in_at = dt.datetime.combine(order["check_in"], dt.time(CHECK_IN_HOUR), tzinfo=tz)
    hours_left = (check_in_at - now).total_seconds() / 3600
    fee = Money(Decimal(0), total.currency)
    for rule in _json(order["cancellation_policy"]) or []:
        if hours_left <= rule["hours_before"]:
            amount = Money(Decimal(rule["fee"]["amount"]), rule["fee"]["currency"])
            if amount.currency == fee.currency and amount.amount > fee.amount:
                fee = amount
    return fee if fee.amount <= total.amount else total


async def cancel_order(state, partner_id: str | None, order_id: str, actor: str, *,
                       reason: str = "cancelled_by_partner", staff: audit.Actor | None = None,
                       note: str = "") -> dict:
    """Cancel an order (a confirmed one at its supplier first). `partner_id` None: any partner's (an operator,
    `staff`, whose audit entry is written in the cancellation's transaction, with `note` as its reason)."""
    pool = state.pg
    payload_note = {"note": note} if note else {}
    async with pool.acquire() as conn:
        order = await _load_order(conn, order_id, partner_id)
    if order is None:
        raise OrderError(404, "not_found", "no such order")
    if order["status"] == "PENDING":
        if await resolve_pending(state, order["id"]) == "PENDING":
            sent = await _booking_sent(pool, order["id"])
            if sent:
                raise OrderError(409, "booking_in_progress",
                                 "the booking's outcome is still being confirmed; retry shortly")
        async with pool.acquire() as conn:
            order = await _load_order(conn, order_id, partner_id)
    status = order["status"]
    if status == "CANCELLED":
        return order_json(order)
    if status in ("EXPIRED", "FAILED"):
        raise OrderError(409, "not_cancellable", f"an order in status {status} cannot be cancelled")
    if status in ("PENDING", "REVIEW"):
        async with pool.acquire() as conn, holds.transaction(state, conn):
            try:
                await transition(conn, order["id"], status, "CANCELLED", reason, actor=actor,
                                 payload=payload_note or None,
                                 sets={"cancellation_fee": Decimal(0), "expires_at": None})
            except TransitionRefused:
                raise OrderError(409, "conflict", "the order changed meanwhile; read it again") from None
            if staff is not None:
                await audit.record_async(conn, staff, "order.cancel", f"order:{order['id']}", {"status": status},
                                         {"status": "CANCELLED", "cancellation_fee": "0"}, note)
        return await _current(pool, order["id"])
    fee = cancellation_fee(order, dt.datetime.now(dt.UTC), state.settings.platform_timezone)
    try:
        supplier = await adapter(state, order["supplier_code"])
        result = await supplier.cancel(order["supplier_ref"])
    except SupplierError:
        raise OrderError(503, "supplier_unavailable", "the cancellation could not be sent; try again") from None
    async with pool.acquire() as conn, holds.transaction(state, conn):
        try:
            await transition(conn, order["id"], "CONFIRMED", "CANCELLED", reason, actor=actor,
                             payload={"fee": fee.as_json(),
                                      "supplier_fee": {"amount": str(result.fee.amount),
                                                       "currency": result.fee.currency}, **payload_note},
                             sets={"cancellation_fee": fee.rounded().amount})
        except TransitionRefused:
            pass  # a concurrent cancel won; its result is what we return
        else:
            if staff is not None:
                await audit.record_async(conn, staff, "order.cancel", f"order:{order['id']}",
                                         {"status": "CONFIRMED"},
                                         {"status": "CANCELLED", "cancellation_fee": fee.rounded().as_json(),
                                          "supplier_fee": {"amount": str(result.fee.amount),
                                                           "currency": result.fee.currency}}, note)
    return await _current(pool, order["id"])


async def _booking_sent(pool, order_id) -> bool:
    async with pool.acquire() as conn:
        return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM order_events WHERE order_id = $1"
                                   " AND reason = 'booking_sent')", order_id)


async def review_order(state, order_id: str, approve: bool, actor: str, note: str | None = None,
                       staff: audit.Actor | None = None) -> tuple[int, dict]:
    """An operator's decision on an order held for review: approve → booked now; reject → FAILED (released).
    With `staff`, its audit entry is written in the decision's transaction."""
    pool = state.pg
    async with pool.acquire() as conn:
        order = await _load_order(conn, order_id, None)
    if order is None:
        raise OrderError(404, "not_found", "no such order")
    if order["status"] != "REVIEW":
        raise OrderError(409, "not_in_review", f"the order is {order['status']}, not held for review")
    target = "PENDING" if approve else "FAILED"
    async with pool.acquire() as conn, holds.transaction(state, conn):
        try:
            await transition(conn, order["id"], "REVIEW", target, "review_approved" if approve else "review_rejected",
                             payload={"note": note} if note else None, actor=actor)
        except TransitionRefused:
            raise OrderError(409, "conflict", "the order changed meanwhile; read it again") from None
        if staff is not None:
            await audit.record_async(conn, staff, "order.approve" if approve else "order.reject",
                                     f"order:{order['id']}", {"status": "REVIEW"}, {"status": target}, note or "")
    if not approve:
        return 200, await _current(pool, order["id"])
    return await _book(state, order["id"], actor)
