"""Adapter for supplier A: signed JSON REST (bed-bank style), rate keys, per-night daily rates."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import AsyncIterator

import httpx

from core.money import Money
from core.suppliers.base import BaseAdapter
from core.suppliers.http import Malformed, SupplierHttp
from core.suppliers.models import (
    Booking,
    BookingRequest,
    BookingStatus,
    CancellationResult,
    CancellationRule,
    InvalidRecord,
    NightlyRate,
    RecheckResult,
    RecheckStatus,
    StatementLine,
    SupplierError,
    SupplierHotel,
)

PAGE = 1000
HOTELS_PER_REQUEST = 25  # small requests keep each call far inside QUERY_TIMEOUT_MS


def signed_headers(api_key: str, secret: str) -> dict[str, str]:
    stamp = int(time.time())
    digest = hashlib.sha256(f"{api_key}{secret}{stamp}".encode()).hexdigest()
    return {"Api-key": api_key, "X-Signature": digest, "X-Timestamp": str(stamp), "Accept": "application/json"}


def _json(response: httpx.Response) -> dict:
    try:
        return json.loads(response.content)
    except ValueError as error:
        raise Malformed("A", "parse", f"not JSON ({error})", response.status_code) from None


def _star(category: str | None) -> float | None:
    if not category:
        return None
    try:
        return float(category.removesuffix("EST"))
    except ValueError:
        return None


def _status(value: str) -> BookingStatus:
    return {"CONFIRMED": BookingStatus.CONFIRMED, "CANCELLED": BookingStatus.CANCELLED,
            "PENDING": BookingStatus.PENDING}.get(value, BookingStatus.FAILED)


class SupplierAAdapter(BaseAdapter):
    code = "A"

    def __init__(self, http: SupplierHttp, api_key: str, secret: str) -> None:
        super().__init__(http)
        http._headers = lambda: signed_headers(api_key, secret)

    async def content(self) -> AsyncIterator[SupplierHotel | InvalidRecord]:
        start = 1
        while True:
            page = await self.http.request("content", "GET", "/hotel-content-api/1.0/hotels", _json,
                                           params={"from": start, "to": start + PAGE - 1})
            for item in page["hotels"]:
                yield self._hotel(item)
            if not page["hotels"] or page["to"] >= page["total"]:
                return
            start = page["to"] + 1

    def _hotel(self, item: dict) -> SupplierHotel | InvalidRecord:
        try:
            coordinates = item.get("coordinates") or {}
            phones = item.get("phones") or []
            return SupplierHotel(
                supplier_code=self.code, supplier_hotel_id=str(item["code"]), name=item["name"]["content"],
                address=(item.get("address") or {}).get("content"), city=(item.get("city") or {}).get("content"),
                country=item.get("countryCode"), lat=coordinates.get("latitude"), lon=coordinates.get("longitude"),
                star=_star(item.get("categoryCode")), phone=phones[0]["phoneNumber"] if phones else None, raw=item,
            )
        except (KeyError, TypeError) as error:
            return InvalidRecord(self.code, "content", item, f"missing field {error}")

    async def availability(self, hotel_ids: list[str], check_in: dt.date, check_out: dt.date,
                           changed_since: dt.datetime | None = None) -> AsyncIterator[NightlyRate | InvalidRecord]:
        for offset in range(0, len(hotel_ids), HOTELS_PER_REQUEST):
            chunk = hotel_ids[offset:offset + HOTELS_PER_REQUEST]
            body = {"stay": {"checkIn": check_in.isoformat(), "checkOut": check_out.isoformat()},
                    "occupancies": [{"rooms": 1, "adults": 2, "children": 0}], "hotels": {"hotel": chunk}}
            if changed_since is not None:
                body["changedSince"] = changed_since.isoformat()
            payload = await self.http.request("availability", "POST", "/hotel-api/1.0/hotels", _json, json=body)
            if changed_since is not None and "changedSince" in payload["hotels"]:
                self.delta_answers += 1
            for hotel in payload["hotels"]["hotels"]:
                for item in self._rates(hotel):
                    yield item

    def _rates(self, hotel: dict):
        hotel_id = str(hotel.get("code"))
        for room in hotel.get("rooms", []):
            for rate in room.get("rates", []):
                try:
                    currency = rate["currency"]
                    rules = tuple(CancellationRule(int(p["hoursBefore"]), Money.of(p["amount"], currency))
                                  for p in rate.get("cancellationPolicies", []))
                    for night in rate["dailyRates"]:
                        yield NightlyRate(
                            supplier_code=self.code, supplier_hotel_id=hotel_id, room_code=room["code"],
                            room_name=room["name"], board=rate["boardCode"], rate_plan=rate["ratePlan"],
                            stay_date=dt.date.fromisoformat(night["date"]), net=Money.of(night["dailyNet"], currency),
                            allotment=int(night["allotment"]), refundable=rate["rateClass"] == "NOR",
                            rate_key=rate["rateKey"], max_occupancy=int(room.get("maxOccupancy", 2)),
                            cancellation=rules,
                        )
                except (KeyError, TypeError, ValueError, ArithmeticError) as error:
                    yield InvalidRecord(self.code, "inventory", {"hotel": hotel_id, "room": room.get("code"),
                                                                 "rate": rate}, _reason(error))

    async def recheck(self, rate: NightlyRate | None, request: BookingRequest) -> RecheckResult:
        offer = await self._stay_offer(request)
        if offer is None:
            return RecheckResult(RecheckStatus.SOLD_OUT, None)

        def parse(response: httpx.Response) -> RecheckResult:
            if response.status_code == 409:
                return RecheckResult(RecheckStatus.SOLD_OUT, None)
            hotel = _json(response)["hotel"]
            fresh = hotel["rooms"][0]["rates"][0]
            total = Money.of(fresh["net"], hotel["currency"]) * request.rooms
            status = RecheckStatus.AVAILABLE if total == request.expected_total else RecheckStatus.PRICE_CHANGED
            return RecheckResult(status, total, fresh["rateKey"])

        return await self.http.request("recheck", "POST", "/hotel-api/1.0/checkrates", parse,
                                       accept=(200, 409), json={"rooms": [{"rateKey": offer[0]}]})

    def _booking(self, item: dict) -> Booking:
        hotel = item["hotel"]
        return Booking(
            supplier_code=self.code, supplier_ref=item["reference"], our_reference=item["clientReference"],
            status=_status(item["status"]), total=Money.of(item["totalNet"], item["currency"]),
            check_in=dt.date.fromisoformat(hotel["checkIn"]), check_out=dt.date.fromisoformat(hotel["checkOut"]),
            raw=item,
        )

    async def _book_once(self, request: BookingRequest) -> Booking:
        offer = await self._stay_offer(request)
        if offer is None:
            raise SupplierError(self.code, "book", "sold out or not offered any more", transient=False, status=409)
        key, total = offer
        if total != request.expected_total:
            raise SupplierError(self.code, "book", f"price changed: now {total.amount} {total.currency}",
                                transient=False, status=409)
        holder = request.contact or (request.guests[0] if request.guests else {})
        body = {"clientReference": request.our_reference, "tolerance": 0,
                "holder": {"name": holder.get("first_name", holder.get("name", "")),
                           "surname": holder.get("last_name", "")},
                "rooms": [{"rateKey": key, "rooms": request.rooms, "paxes": list(request.guests)}]}

        def parse(response: httpx.Response) -> Booking | None:
            if response.status_code == 409:
                message = _json(response)["error"]["message"]
                if "already booked" in message:
                    return None  # our reference exists there: fetch it below
                raise SupplierError(self.code, "book", message, transient=False, status=409)
            return self._booking(_json(response)["booking"])

        booking = await self.http.request("book", "POST", "/hotel-api/1.0/bookings", parse, idempotent=False,
                                          accept=(200, 201, 409), json=body)
        if booking is None:
            booking = await self.find_booking(request.our_reference)
            if booking is None:
                raise SupplierError(self.code, "book", "duplicate reference but no booking found", transient=False)
        return booking

    async def find_booking(self, our_reference: str) -> Booking | None:
        def parse(response: httpx.Response) -> Booking | None:
            found = _json(response)["bookings"]["bookings"]
            return self._booking(found[0]) if found else None

        return await self.http.request("find_booking", "GET", "/hotel-api/1.0/bookings", parse,
                                       params={"clientReference": our_reference})

    async def get_booking(self, supplier_ref: str) -> Booking:
        return await self.http.request("get_booking", "GET", f"/hotel-api/1.0/bookings/{supplier_ref}",
                                       lambda response: self._booking(_json(response)["booking"]))

    async def cancel(self, supplier_ref: str, simulate: bool = False) -> CancellationResult:
        def parse(response: httpx.Response) -> CancellationResult:
            item = _json(response)["booking"]
            return CancellationResult(item["reference"], Money.of(item["cancellationAmount"], item["currency"]),
                                      cancelled=item["status"] == "CANCELLED" and not simulate)

        return await self.http.request("cancel", "DELETE", f"/hotel-api/1.0/bookings/{supplier_ref}", parse,
                                       idempotent=simulate,
                                       params={"cancellationFlag": "SIMULATION" if simulate else "CANCELLATION"})

    async def statement(self, period_start: dt.date, period_end: dt.date) -> AsyncIterator[StatementLine]:
        payload = await self.http.request("statement", "GET", "/hotel-api/1.0/statements", _json,
                                          params={"from": period_start.isoformat(), "to": period_end.isoformat()})
        for line in payload["lines"]:
            yield StatementLine(line["reference"], dt.date.fromisoformat(line["checkIn"]),
                                dt.date.fromisoformat(line["checkOut"]), line["status"].lower(),
                                Money.of(line["amount"], line["currency"]))


def _reason(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"missing field {error}"
    return f"invalid value: {type(error).__name__}: {error}"

