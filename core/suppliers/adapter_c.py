"""Adapter for supplier C: its own JSON, USD numbers (read as Decimal), cursors, price-check tokens."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from decimal import Decimal

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
BOARDS = {"room_only": "RO", "breakfast": "BB", "half_board": "HB", "full_board": "FB", "all_inclusive": "AI"}
USD = "USD"
CENT = Decimal("0.01")


def _json(response: httpx.Response) -> dict:
    try:
        # JSON numbers become Decimal, never float: these are prices.
        return json.loads(response.content, parse_float=Decimal)
    except ValueError as error:
        raise Malformed("C", "parse", f"not JSON ({error})", response.status_code) from None


def _usd(value) -> Money:
    if isinstance(value, float):  # pragma: no cover - _json never produces floats
        raise TypeError("float price")
    return Money(Decimal(value).quantize(CENT), USD)


class SupplierCAdapter(BaseAdapter):
    code = "C"

    def __init__(self, http: SupplierHttp, api_key: str) -> None:
        super().__init__(http)
        http._headers = lambda: {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}

    async def content(self) -> AsyncIterator[SupplierHotel | InvalidRecord]:
        cursor: str | None = None
        while True:
            params = {"limit": PAGE} | ({"cursor": cursor} if cursor else {})
            page = await self.http.request("content", "GET", "/v3/properties", _json, params=params)
            for item in page["data"]:
                yield self._hotel(item)
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def _hotel(self, item: dict) -> SupplierHotel | InvalidRecord:
        try:
            address, geo = item.get("addr") or {}, item.get("geo") or {}
            stars = item.get("stars")
            return SupplierHotel(
                supplier_code=self.code, supplier_hotel_id=str(item["property_id"]), name=item["property_name"],
                address=address.get("line"), city=address.get("city"), country=address.get("country_code"),
                lat=float(geo["lat"]) if geo.get("lat") is not None else None,
                lon=float(geo["lng"]) if geo.get("lng") is not None else None,
                star=float(stars) if stars is not None else None, phone=item.get("tel"),
                raw=json.loads(json.dumps(item, default=str)),
            )
        except (KeyError, TypeError, ValueError) as error:
            return InvalidRecord(self.code, "content", json.loads(json.dumps(item, default=str)),
                                 f"missing field {error}" if isinstance(error, KeyError) else f"invalid value: {error}")

    async def availability(self, hotel_ids: list[str], check_in: dt.date, check_out: dt.date,
                           changed_since: dt.datetime | None = None) -> AsyncIterator[NightlyRate | InvalidRecord]:
        for offset in range(0, len(hotel_ids), HOTELS_PER_REQUEST):
            body = {"property_ids": hotel_ids[offset:offset + HOTELS_PER_REQUEST], "from": check_in.isoformat(),
                    "to": check_out.isoformat(), "occupancy": {"adults": 2}}
            if changed_since is not None:
                body["changed_since"] = changed_since.isoformat()
            payload = await self.http.request("availability", "POST", "/v3/rates/search", _json, json=body)
            if changed_since is not None and "changed_since" in payload:
                self.delta_answers += 1
            for result in payload["results"]:
                for item in self._rates(result):
                    yield item

    def _rates(self, result: dict):
        hotel_id = str(result.get("property_id"))
        for offer in result.get("offers", []):
            try:
                refundable = bool(offer["refundable"])
                whole_stay = None if refundable else _usd(offer["total_usd"])
                hours = [int(p["from_hours_before"]) for p in offer.get("penalties", [])]
                for night in offer["nights"]:
                    net = _usd(night["price_usd"])
                    rules = tuple(CancellationRule(hour, whole_stay or net) for hour in hours)
                    yield NightlyRate(
                        supplier_code=self.code, supplier_hotel_id=hotel_id, room_code=offer["room_id"],
                        room_name=offer["room_label"], board=BOARDS[offer["meal_plan"]],
                        rate_plan=str(offer["plan"]).upper(), stay_date=dt.date.fromisoformat(night["date"]), net=net,
                        allotment=int(night["left"]), refundable=refundable, rate_key=offer["token"],
                        max_occupancy=int(offer.get("sleeps", 2)), cancellation=rules,
                    )
            except (KeyError, TypeError, ValueError, ArithmeticError) as error:
                record = json.loads(json.dumps({"property_id": hotel_id, "offer": offer}, default=str))
                reason = f"missing field {error}" if isinstance(error, KeyError) else f"invalid value: {error}"
                yield InvalidRecord(self.code, "inventory", record, reason)

    async def recheck(self, rate: NightlyRate | None, request: BookingRequest) -> RecheckResult:
        offer = await self._stay_offer(request)
        if offer is None:
            return RecheckResult(RecheckStatus.SOLD_OUT, None)
        token = offer[0]

        def parse(response: httpx.Response) -> RecheckResult:
            payload = _json(response)
            status = RecheckStatus(payload["status"])
            if status is RecheckStatus.SOLD_OUT:
                return RecheckResult(status, None)
            total = _usd(payload["total_usd"]) * request.rooms
            if status is RecheckStatus.AVAILABLE and total != request.expected_total:
                status = RecheckStatus.PRICE_CHANGED
            return RecheckResult(status, total, payload["token"])

        return await self.http.request("recheck", "POST", "/v3/price-check", parse, json={"token": token})

    def _booking(self, item: dict) -> Booking:
        state = {"booked": BookingStatus.CONFIRMED, "cancelled": BookingStatus.CANCELLED,
                 "pending": BookingStatus.PENDING}.get(item["state"], BookingStatus.FAILED)
        return Booking(self.code, item["confirmation_id"], item["reference"], state, _usd(item["total_usd"]),
                       dt.date.fromisoformat(item["check_in"]), dt.date.fromisoformat(item["check_out"]),
                       raw=json.loads(json.dumps(item, default=str)))

    async def _book_once(self, request: BookingRequest) -> Booking:
        offer = await self._stay_offer(request)
        if offer is None:
            raise SupplierError(self.code, "book", "sold out or not offered any more", transient=False, status=409)
        token, total = offer
        if total != request.expected_total:
            raise SupplierError(self.code, "book", f"price changed: now {total.amount} {total.currency}",
                                transient=False, status=409)
        body = {"token": token, "rooms": request.rooms, "guests": list(request.guests),
                "expected_total_usd": str(total.amount), "contact": request.contact}
        return await self.http.request(
            "book", "PUT", f"/v3/reservations/{request.our_reference}",
            lambda response: self._booking(_json(response)["reservation"]), idempotent=False, json=body)

    async def find_booking(self, our_reference: str) -> Booking | None:
        def parse(response: httpx.Response) -> Booking | None:
            if response.status_code == 404:
                return None
            return self._booking(_json(response)["reservation"])

        return await self.http.request("find_booking", "GET", f"/v3/reservations/{our_reference}", parse,
                                       accept=(200, 404))

    async def get_booking(self, supplier_ref: str) -> Booking:
        return await self.http.request("get_booking", "GET", f"/v3/confirmations/{supplier_ref}",
                                       lambda response: self._booking(_json(response)["reservation"]))

    async def cancel(self, supplier_ref: str, simulate: bool = False) -> CancellationResult:
        def parse(response: httpx.Response) -> CancellationResult:
            payload = _json(response)
            return CancellationResult(supplier_ref, _usd(payload["penalty_usd"]),
                                      cancelled=payload["reservation"]["state"] == "cancelled" and not simulate)

        return await self.http.request("cancel", "POST", f"/v3/confirmations/{supplier_ref}/cancel", parse,
                                       idempotent=simulate, params={"dry_run": "true" if simulate else "false"})

    async def statement(self, period_start: dt.date, period_end: dt.date) -> AsyncIterator[StatementLine]:
        cursor: str | None = None
        while True:
            params = {"from": period_start.isoformat(), "to": period_end.isoformat(), "limit": PAGE}
            if cursor:
                params["cursor"] = cursor
            page = await self.http.request("statement", "GET", "/v3/statements", _json, params=params)
            for line in page["lines"]:
                yield StatementLine(line["confirmation_id"], dt.date.fromisoformat(line["check_in"]),
                                    dt.date.fromisoformat(line["check_out"]), line["kind"], _usd(line["amount_usd"]))
            cursor = page.get("next_cursor")
            if not cursor:
                return
