"""Supplier A: JSON REST in the style of the large bed banks.

Every request carries `Api-key` and `X-Signature` = hex SHA-256 of key + secret + the Unix time in
seconds (sent as `X-Timestamp`, accepted within five minutes). Content is paged with from/to;
availability returns per-room rates with opaque rate keys, each BOOKABLE or RECHECK, and per-night
prices and allotment; bookings carry the client's reference (a second booking with the same
reference is refused with 409); cancellation has a SIMULATION mode that only quotes the fee.
Amounts are decimal strings, CNY for Chinese hotels and EUR elsewhere.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
from decimal import Decimal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from suppliers.rates import FREE_CANCEL_HOURS, cancellation_fee
from suppliers.simcore import SimState, StoredBooking, admin_routes, build_app, json_response
from suppliers.world import World

CODE = "A"
DEFAULT_API_KEY = "dev-supplier-a-key"
DEFAULT_SECRET = "dev-supplier-a-secret"
MAX_PAGE = 1000
MAX_HOTELS_PER_QUERY = 2000


def signature(api_key: str, secret: str, timestamp: int) -> str:
    return hashlib.sha256(f"{api_key}{secret}{timestamp}".encode()).hexdigest()


def encode_rate_key(hotel_id: str, room: str, board: str, plan: str, check_in: dt.date, check_out: dt.date,
                    total: Decimal) -> str:
    raw = f"{hotel_id}|{room}|{board}|{plan}|{check_in:%Y%m%d}|{check_out:%Y%m%d}|{total}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_rate_key(key: str) -> tuple[str, str, str, str, dt.date, dt.date, Decimal]:
    raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4)).decode()
    hotel_id, room, board, plan, check_in, check_out, total = raw.split("|")
    return (hotel_id, room, board, plan, dt.datetime.strptime(check_in, "%Y%m%d").date(),
            dt.datetime.strptime(check_out, "%Y%m%d").date(), Decimal(total))


def _error(status: int, message: str, headers: dict | None = None) -> Response:
    return JSONResponse({"error": {"code": status, "message": message}}, status_code=status, headers=headers or {})


def _date(value: object, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{name} must be a date YYYY-MM-DD") from None


def create_app(world: World, api_key: str = DEFAULT_API_KEY, secret: str = DEFAULT_SECRET):
    state = SimState(CODE, world, api_key, secret)

    def authorised(request: Request) -> bool:
        key = request.headers.get("api-key", "")
        signed = request.headers.get("x-signature", "")
        try:
            stamp = int(request.headers.get("x-timestamp", "0"))
        except ValueError:
            return False
        if not hmac.compare_digest(key, api_key) or abs(time.time() - stamp) > 300:
            return False
        return hmac.compare_digest(signed, signature(api_key, secret, stamp))

    async def guard(request: Request, operation: str) -> Response | None:
        if not authorised(request):
            return _error(401, "invalid Api-key or X-Signature")
        return await state.before(operation, _error)

    def hotel_json(hotel, missing: bool = False) -> dict:
        item = {
            "code": hotel.supplier_hotel_id,
            "name": {"content": hotel.name},
            "address": {"content": hotel.address},
            "city": {"content": hotel.city},
            "countryCode": hotel.country,
            "coordinates": {"latitude": hotel.lat, "longitude": hotel.lon},
            "categoryCode": f"{hotel.star:g}EST" if hotel.star is not None else None,
            "phones": [{"phoneNumber": hotel.phone, "phoneType": "PHONEHOTEL"}] if hotel.phone else [],
        }
        if missing:
            del item["name"]
        return item

    async def content(request: Request) -> Response:
        if (failure := await guard(request, "content")) is not None:
            return failure
        try:
            start = int(request.query_params.get("from", "1"))
            end = int(request.query_params.get("to", str(start + 99)))
        except ValueError:
            return _error(400, "from and to must be integers")
        if start < 1 or end < start or end - start + 1 > MAX_PAGE:
            return _error(400, f"from must be >= 1, to >= from, and at most {MAX_PAGE} per page")
        page = state.hotels[start - 1:end]
        _, missing = state.record_faults("content")
        hotels = [hotel_json(h, missing and i == 0) for i, h in enumerate(page)]
        return json_response({"from": start, "to": start + len(page) - 1, "total": len(state.hotels),
                              "hotels": hotels}, state, "content")

    async def availability(request: Request) -> Response:
        if (failure := await guard(request, "availability")) is not None:
            return failure
        try:
            body = json.loads(await request.body())
            check_in = _date(body["stay"]["checkIn"], "stay.checkIn")
            check_out = _date(body["stay"]["checkOut"], "stay.checkOut")
            codes = [str(code) for code in body["hotels"]["hotel"]]
            since = state.delta_since(body.get("changedSince"))
        except (KeyError, TypeError, ValueError) as error:
            return _error(400, f"invalid availability request: {error}")
        if check_out <= check_in or (check_out - check_in).days > 31:
            return _error(400, "stay.checkOut must be after stay.checkIn, at most 31 nights")
        if len(codes) > MAX_HOTELS_PER_QUERY:
            return _error(400, f"at most {MAX_HOTELS_PER_QUERY} hotels per request")
        negative, missing = state.record_faults("availability")
        hotels = []
        for code in codes:
            hotel = state.hotel_by_id.get(code)
            if hotel is None:
                continue
            rooms: dict[str, dict] = {}
            offers: dict[tuple, dict] = {}
            if since is not None:
                first_nights = {(r.room_code, r.board, r.rate_plan): r.amount
                                for r in state.stay(hotel, check_in, check_in + dt.timedelta(days=1))}
            for rate in state.stay_since(hotel, check_in, check_out, since):
                room = rooms.setdefault(rate.room_code, {"code": rate.room_code, "name": rate.room_name,
                                                         "maxOccupancy": rate.max_occupancy, "rates": []})
                offer = offers.get((rate.room_code, rate.board, rate.rate_plan))
                if offer is None:
                    offer = {"rateClass": "NOR" if rate.refundable else "NRF", "boardCode": rate.board,
                             "ratePlan": rate.rate_plan, "paymentType": "AT_WEB", "currency": rate.currency,
                             "dailyRates": [], "_total": Decimal(0)}
                    offers[(rate.room_code, rate.board, rate.rate_plan)] = offer
                    room["rates"].append(offer)
                offer["dailyRates"].append({"date": rate.stay_date.isoformat(), "dailyNet": str(rate.amount),
                                            "allotment": rate.allotment})
                offer["_total"] += rate.amount
            for (room_code, board, plan), offer in offers.items():
                total = offer.pop("_total")
                offer["net"] = str(total)
                offer["rateKey"] = encode_rate_key(hotel.supplier_hotel_id, room_code, board, plan, check_in,
                                                   check_out, total)
                offer["rateType"] = "BOOKABLE" if plan == "BAR" else "RECHECK"
                # The stay's first night, as a whole answer has it, also when a delta leaves that night out.
                first_night = (offer["dailyRates"][0]["dailyNet"] if since is None else
                               str(first_nights[(room_code, board, plan)]))
                offer["cancellationPolicies"] = [
                    {"hoursBefore": FREE_CANCEL_HOURS if offer["rateClass"] == "NOR" else 8760,
                     "amount": first_night if offer["rateClass"] == "NOR" else offer["net"]}]
            if since is not None and not offers:
                continue
            hotels.append({"code": hotel.supplier_hotel_id, "name": hotel.name, "currency": offers and next(
                iter(offers.values()))["currency"], "rooms": list(rooms.values())})
        if hotels and hotels[0]["rooms"]:  # faults hit different records: the first gets the price, the last the gap
            if negative:
                first = hotels[0]["rooms"][0]["rates"][0]
                first["dailyRates"][0]["dailyNet"] = "-" + first["dailyRates"][0]["dailyNet"]
            if missing:
                del hotels[-1]["rooms"][-1]["rates"][-1]["boardCode"]
        delta = {"changedSince": body["changedSince"]} if since is not None else {}
        return json_response({"hotels": {"checkIn": check_in.isoformat(), "checkOut": check_out.isoformat(),
                                         "total": len(hotels), "hotels": hotels, **delta}}, state, "availability")

    def _stay_of(key: str):
        hotel_id, room, board, plan, check_in, check_out, quoted = decode_rate_key(key)
        hotel = state.hotel_by_id.get(hotel_id)
        if hotel is None:
            raise KeyError("unknown hotel in rateKey")
        found = state.stay_total(hotel, room, board, plan, check_in, check_out)
        if found is None:
            raise KeyError("rate no longer offered")
        total, currency, allotment = found
        return hotel, room, board, plan, check_in, check_out, quoted, total, currency, allotment

    async def checkrates(request: Request) -> Response:
        if (failure := await guard(request, "recheck")) is not None:
            return failure
        try:
            body = json.loads(await request.body())
            key = body["rooms"][0]["rateKey"]
            (hotel, room, board, plan, check_in, check_out, quoted, total, currency,
             allotment) = _stay_of(key)
        except (KeyError, TypeError, ValueError, IndexError) as error:
            return _error(400, f"invalid rateKey: {error}")
        if allotment <= 0:
            return _error(409, "rate not available: sold out")
        fresh = encode_rate_key(hotel.supplier_hotel_id, room, board, plan, check_in, check_out, total)
        return json_response({"hotel": {"code": hotel.supplier_hotel_id, "checkIn": check_in.isoformat(),
                                        "checkOut": check_out.isoformat(), "currency": currency, "rooms": [
                                            {"code": room, "rates": [{"rateKey": fresh, "net": str(total),
                                                                      "previousNet": str(quoted),
                                                                      "rateType": "BOOKABLE",
                                                                      "boardCode": board}]}]}},
                             state, "recheck")

    def booking_json(booking: StoredBooking) -> dict:
        return {"reference": booking.supplier_ref, "clientReference": booking.our_reference,
                "status": booking.status.upper() if booking.status != "no_show" else "CONFIRMED",
                "totalNet": str(booking.total), "currency": booking.currency,
                "cancellationAmount": str(booking.cancellation_fee),
                "hotel": {"code": booking.hotel_id, "checkIn": booking.check_in.isoformat(),
                          "checkOut": booking.check_out.isoformat(),
                          "rooms": [{"code": booking.room_code, "boardCode": booking.board,
                                     "ratePlan": booking.rate_plan, "rooms": booking.rooms}]},
                "creationDate": booking.created_at.isoformat()}

    async def book(request: Request) -> Response:
        if (failure := await guard(request, "book")) is not None:
            return failure
        state.booking_attempts += 1
        try:
            body = json.loads(await request.body())
            reference = str(body["clientReference"])
            room_request = body["rooms"][0]
            key = room_request["rateKey"]
            rooms = int(room_request.get("rooms", 1))
            (hotel, room, board, plan, check_in, check_out, quoted, total, currency,
             allotment) = _stay_of(key)
        except (KeyError, TypeError, ValueError, IndexError) as error:
            return _error(400, f"invalid booking request: {error}")
        if not reference or len(reference) > 64:
            return _error(400, "clientReference must be 1..64 characters")
        if state.find(reference) is not None:
            return _error(409, f"clientReference {reference} already booked")
        if allotment < rooms:
            return _error(409, "rate not available: sold out")
        total = total * rooms
        tolerance = Decimal(str(body.get("tolerance", "0")))
        if total > quoted * rooms * (1 + tolerance / 100):
            return _error(409, f"price changed: now {total} {currency}")
        booking = StoredBooking(state.new_ref("1-"), reference, hotel.supplier_hotel_id, room, board, plan,
                                check_in, check_out, rooms, total, currency, plan == "BAR",
                                list(room_request.get("paxes", [])))
        state.store(booking)
        await state.after_booking()
        return json_response({"booking": booking_json(booking)}, state, "book")

    async def bookings(request: Request) -> Response:
        if (failure := await guard(request, "find_booking")) is not None:
            return failure
        reference = request.query_params.get("clientReference")
        found = [b for b in state.bookings.values() if reference is None or b.our_reference == reference]
        return json_response({"bookings": {"total": len(found), "bookings": [booking_json(b) for b in found]}},
                             state, "find_booking")

    async def booking_detail(request: Request) -> Response:
        if (failure := await guard(request, "get_booking")) is not None:
            return failure
        booking = state.bookings.get(request.path_params["ref"])
        if booking is None:
            return _error(404, "booking not found")
        return json_response({"booking": booking_json(booking)}, state, "get_booking")

    async def cancel(request: Request) -> Response:
        if (failure := await guard(request, "cancel")) is not None:
            return failure
        booking = state.bookings.get(request.path_params["ref"])
        if booking is None:
            return _error(404, "booking not found")
        flag = request.query_params.get("cancellationFlag", "CANCELLATION").upper()
        if flag not in ("SIMULATION", "CANCELLATION"):
            return _error(400, "cancellationFlag must be SIMULATION or CANCELLATION")
        if booking.status == "cancelled":
            return json_response({"booking": booking_json(booking)}, state, "cancel")
        fee = cancellation_fee(booking.total, booking.nights(), booking.refundable, booking.check_in,
                               dt.date.today())
        if flag == "CANCELLATION":
            state.set_status(booking, "cancelled")
            booking.cancellation_fee = fee
            payload = booking_json(booking)
        else:
            payload = booking_json(booking) | {"cancellationAmount": str(fee)}
        return json_response({"booking": payload}, state, "cancel")

    async def statements(request: Request) -> Response:
        if (failure := await guard(request, "statement")) is not None:
            return failure
        try:
            start = _date(request.query_params["from"], "from")
            end = _date(request.query_params["to"], "to")
        except (KeyError, ValueError) as error:
            return _error(400, f"from and to are required dates: {error}")
        lines = [{"reference": line["supplier_ref"], "clientReference": line["our_reference"],
                  "checkIn": line["check_in"], "checkOut": line["check_out"], "status": line["status"].upper(),
                  "amount": line["amount"], "currency": line["currency"]} for line in state.statement(start, end)]
        return json_response({"from": start.isoformat(), "to": end.isoformat(), "lines": lines}, state, "statement")

    routes = [
        Route("/hotel-content-api/1.0/hotels", content, methods=["GET"]),
        Route("/hotel-api/1.0/hotels", availability, methods=["POST"]),
        Route("/hotel-api/1.0/checkrates", checkrates, methods=["POST"]),
        Route("/hotel-api/1.0/bookings", book, methods=["POST"]),
        Route("/hotel-api/1.0/bookings", bookings, methods=["GET"]),
        Route("/hotel-api/1.0/bookings/{ref}", booking_detail, methods=["GET"]),
        Route("/hotel-api/1.0/bookings/{ref}", cancel, methods=["DELETE"]),
        Route("/hotel-api/1.0/statements", statements, methods=["GET"]),
        *admin_routes(state),
    ]
    return build_app(routes, state)
