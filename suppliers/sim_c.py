"""Supplier C: its own JSON dialect, USD prices as JSON numbers, cursor paging, price-check tokens.

`Authorization: Bearer <key>`. Properties and statements are paged with an opaque `cursor`; each
offer carries a `token` that `/v3/price-check` answers with available / price_changed / sold_out.
A reservation is keyed by the caller's unique reference (`PUT /v3/reservations/{reference}`): a
repeated PUT returns the existing reservation, never a second one. The service enforces a request
rate limit with 429 and `Retry-After`.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from decimal import Decimal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from suppliers.rates import FREE_CANCEL_HOURS, cancellation_fee
from suppliers.simcore import SimState, StoredBooking, admin_routes, build_app, json_response
from suppliers.world import World

CODE = "C"
DEFAULT_API_KEY = "dev-supplier-c-key"
DEFAULT_RATE_LIMIT_PER_S = 200.0
MAX_LIMIT = 1000


def _number(amount: Decimal) -> float:
    # C's wire format has JSON numbers; two-decimal amounts round-trip exactly through repr(float).
    return float(amount)


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    return int(base64.urlsafe_b64decode(cursor.encode()).decode().split(":", 1)[1])


def _token(hotel_id: str, room: str, board: str, plan: str, check_in: dt.date, check_out: dt.date,
           total: Decimal) -> str:
    raw = f"C1|{hotel_id}|{room}|{board}|{plan}|{check_in.isoformat()}|{check_out.isoformat()}|{total}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _untoken(token: str):
    _, hotel_id, room, board, plan, check_in, check_out, total = base64.urlsafe_b64decode(
        token.encode()).decode().split("|")
    return hotel_id, room, board, plan, dt.date.fromisoformat(check_in), dt.date.fromisoformat(check_out), \
        Decimal(total)


def _error(status: int, message: str, headers: dict | None = None) -> Response:
    return JSONResponse({"ok": False, "error": message}, status_code=status, headers=headers or {})


def create_app(world: World, api_key: str = DEFAULT_API_KEY, rate_limit_per_s: float = DEFAULT_RATE_LIMIT_PER_S):
    state = SimState(CODE, world, api_key)
    state.rate_limit_per_s = rate_limit_per_s

    async def guard(request: Request, operation: str) -> Response | None:
        if request.headers.get("authorization", "") != f"Bearer {api_key}":
            return _error(401, "missing or invalid bearer token")
        return await state.before(operation, _error)

    async def properties(request: Request) -> Response:
        if (failure := await guard(request, "content")) is not None:
            return failure
        try:
            offset = _offset(request.query_params.get("cursor"))
            limit = min(MAX_LIMIT, max(1, int(request.query_params.get("limit", "200"))))
        except (ValueError, IndexError):
            return _error(400, "cursor is invalid or limit is not an integer")
        page = state.hotels[offset:offset + limit]
        _, missing = state.record_faults("content")
        data = []
        for index, hotel in enumerate(page):
            item = {"property_id": hotel.supplier_hotel_id, "property_name": hotel.name,
                    "addr": {"line": hotel.address, "city": hotel.city, "country_code": hotel.country},
                    "geo": {"lat": hotel.lat, "lng": hotel.lon}, "stars": hotel.star, "tel": hotel.phone}
            if missing and index == 0:
                del item["property_name"]
            data.append(item)
        following = offset + len(page)
        return json_response({"data": data, "next_cursor": _cursor(following) if following < len(state.hotels)
                              else None}, state, "content")

    async def search(request: Request) -> Response:
        if (failure := await guard(request, "availability")) is not None:
            return failure
        try:
            body = json.loads(await request.body())
            check_in, check_out = dt.date.fromisoformat(body["from"]), dt.date.fromisoformat(body["to"])
            ids = [str(i) for i in body["property_ids"]]
            since = state.delta_since(body.get("changed_since"))
        except (KeyError, TypeError, ValueError) as error:
            return _error(400, f"body needs property_ids, from, to: {error}")
        if check_out <= check_in or (check_out - check_in).days > 31:
            return _error(400, "to must be after from, at most 31 nights")
        negative, missing = state.record_faults("availability")
        results = []
        for property_id in ids:
            hotel = state.hotel_by_id.get(property_id)
            if hotel is None:
                continue
            offers: dict[tuple, dict] = {}
            for rate in state.stay_since(hotel, check_in, check_out, since):
                key = (rate.room_code, rate.board, rate.rate_plan)
                offer = offers.get(key)
                if offer is None:
                    offer = {"room_id": rate.room_code, "room_label": rate.room_name, "meal_plan": {
                        "RO": "room_only", "BB": "breakfast"}[rate.board], "plan": rate.rate_plan.lower(),
                        "sleeps": rate.max_occupancy, "refundable": rate.refundable, "nights": [],
                        "_total": Decimal(0)}
                    offers[key] = offer
                offer["nights"].append({"date": rate.stay_date.isoformat(), "price_usd": _number(rate.amount),
                                        "left": rate.allotment})
                offer["_total"] += rate.amount
            for (room, board, plan), offer in offers.items():
                total = offer.pop("_total")
                offer["total_usd"] = _number(total)
                offer["token"] = _token(hotel.supplier_hotel_id, room, board, plan, check_in, check_out, total)
                offer["penalties"] = ([{"from_hours_before": FREE_CANCEL_HOURS, "nights": 1}] if offer["refundable"]
                                      else [{"from_hours_before": 8760, "percent": 100}])
            if since is None or offers:
                results.append({"property_id": hotel.supplier_hotel_id, "offers": list(offers.values())})
        if results and results[0]["offers"]:  # the first offer gets the bad price, the last one the gap
            if negative:
                first = results[0]["offers"][0]
                first["nights"][0]["price_usd"] = -first["nights"][0]["price_usd"]
            if missing:
                del results[-1]["offers"][-1]["room_id"]
        delta = {"changed_since": body["changed_since"]} if since is not None else {}
        return json_response({"results": results, "currency": "USD", **delta}, state, "availability")

    def current(token: str):
        hotel_id, room, board, plan, check_in, check_out, quoted = _untoken(token)
        hotel = state.hotel_by_id.get(hotel_id)
        found = state.stay_total(hotel, room, board, plan, check_in, check_out) if hotel else None
        if found is None:
            raise KeyError("offer no longer exists")
        total, _, allotment = found
        return hotel_id, room, board, plan, check_in, check_out, quoted, total, allotment

    async def price_check(request: Request) -> Response:
        if (failure := await guard(request, "recheck")) is not None:
            return failure
        try:
            body = json.loads(await request.body())
            hotel_id, room, board, plan, check_in, check_out, quoted, total, allotment = current(body["token"])
        except (KeyError, TypeError, ValueError) as error:
            return _error(400, f"invalid token: {error}")
        if allotment <= 0:
            return json_response({"status": "sold_out", "total_usd": None, "token": None}, state, "recheck")
        status = "available" if total == quoted else "price_changed"
        return json_response({"status": status, "total_usd": _number(total), "token": _token(
            hotel_id, room, board, plan, check_in, check_out, total)}, state, "recheck")

    def reservation(booking: StoredBooking) -> dict:
        return {"reference": booking.our_reference, "confirmation_id": booking.supplier_ref,
                "state": {"confirmed": "booked", "cancelled": "cancelled", "no_show": "booked"}[booking.status],
                "property_id": booking.hotel_id, "room_id": booking.room_code, "check_in": booking.check_in.isoformat(),
                "check_out": booking.check_out.isoformat(), "rooms": booking.rooms,
                "total_usd": _number(booking.total), "penalty_usd": _number(booking.cancellation_fee)}

    async def put_reservation(request: Request) -> Response:
        if (failure := await guard(request, "book")) is not None:
            return failure
        state.booking_attempts += 1
        reference = request.path_params["reference"]
        existing = state.find(reference)
        if existing is not None:
            return json_response({"reservation": reservation(existing)}, state, "book")
        try:
            body = json.loads(await request.body(), parse_float=Decimal)
            hotel_id, room, board, plan, check_in, check_out, quoted, total, allotment = current(body["token"])
            rooms = int(body.get("rooms", 1))
        except (KeyError, TypeError, ValueError) as error:
            return _error(400, f"body needs a valid token: {error}")
        if allotment < rooms:
            return _error(409, "sold out")
        total = total * rooms
        expected = body.get("expected_total_usd")
        if expected is not None and Decimal(str(expected)) != total:
            return _error(409, f"price changed: total_usd is now {total}")
        booking = StoredBooking(state.new_ref("CX"), reference, hotel_id, room, board, plan, check_in, check_out,
                                rooms, total, "USD", plan == "BAR", list(body.get("guests", [])))
        state.store(booking)
        await state.after_booking()
        return json_response({"reservation": reservation(booking)}, state, "book", status_code=201)

    async def get_reservation(request: Request) -> Response:
        if (failure := await guard(request, "find_booking")) is not None:
            return failure
        booking = state.find(request.path_params["reference"])
        if booking is None:
            return _error(404, "no reservation with that reference")
        return json_response({"reservation": reservation(booking)}, state, "find_booking")

    async def by_confirmation(request: Request) -> Response:
        if (failure := await guard(request, "get_booking")) is not None:
            return failure
        booking = state.bookings.get(request.path_params["confirmation_id"])
        if booking is None:
            return _error(404, "no reservation with that confirmation id")
        return json_response({"reservation": reservation(booking)}, state, "get_booking")

    async def cancel(request: Request) -> Response:
        if (failure := await guard(request, "cancel")) is not None:
            return failure
        booking = state.bookings.get(request.path_params["confirmation_id"])
        if booking is None:
            return _error(404, "no reservation with that confirmation id")
        dry_run = request.query_params.get("dry_run", "false").lower() == "true"
        fee = booking.cancellation_fee if booking.status == "cancelled" else cancellation_fee(
            booking.total, booking.nights(), booking.refundable, booking.check_in, dt.date.today())
        if not dry_run and booking.status != "cancelled":
            state.set_status(booking, "cancelled")
            booking.cancellation_fee = fee
        return json_response({"reservation": reservation(booking), "penalty_usd": _number(fee), "dry_run": dry_run},
                             state, "cancel")

    async def statements(request: Request) -> Response:
        if (failure := await guard(request, "statement")) is not None:
            return failure
        try:
            start = dt.date.fromisoformat(request.query_params["from"])
            end = dt.date.fromisoformat(request.query_params["to"])
            offset = _offset(request.query_params.get("cursor"))
            limit = min(MAX_LIMIT, max(1, int(request.query_params.get("limit", "500"))))
        except (KeyError, ValueError, IndexError) as error:
            return _error(400, f"from and to are required dates; cursor/limit must be valid: {error}")
        lines = state.statement(start, end)
        page = [{"confirmation_id": line["supplier_ref"], "reference": line["our_reference"],
                 "check_in": line["check_in"], "check_out": line["check_out"], "kind": line["status"],
                 "amount_usd": _number(Decimal(line["amount"]))} for line in lines[offset:offset + limit]]
        following = offset + len(page)
        return json_response({"lines": page, "next_cursor": _cursor(following) if following < len(lines) else None},
                             state, "statement")

    routes = [
        Route("/v3/properties", properties, methods=["GET"]),
        Route("/v3/rates/search", search, methods=["POST"]),
        Route("/v3/price-check", price_check, methods=["POST"]),
        Route("/v3/reservations/{reference}", put_reservation, methods=["PUT"]),
        Route("/v3/reservations/{reference}", get_reservation, methods=["GET"]),
        Route("/v3/confirmations/{confirmation_id}", by_confirmation, methods=["GET"]),
        Route("/v3/confirmations/{confirmation_id}/cancel", cancel, methods=["POST"]),
        Route("/v3/statements", statements, methods=["GET"]),
        *admin_routes(state),
    ]
    return build_app(routes, state)
