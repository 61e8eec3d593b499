"""Adapter for supplier B: OTA-style XML, Chinese content, per-night prices in CNY."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
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

NS = "http://www.opentravel.org/OTA/2003/05"
PAGE = 1000
HOTELS_PER_REQUEST = 25  # small requests keep each call far inside QUERY_TIMEOUT_MS
TRANSIENT_CODES = {"450", "448"}  # OTA: unable to process / system error


def _message(name: str, api_key: str, **attributes: str) -> ET.Element:
    root = ET.Element(name, {"xmlns": NS, "Version": "1.0", **attributes})
    pos = ET.SubElement(ET.SubElement(root, "POS"), "Source")
    ET.SubElement(pos, "RequestorID", {"ID": "hotel-platform", "MessagePassword": api_key})
    return root


def _body(root: ET.Element) -> bytes:
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _parse(response: httpx.Response, operation: str) -> ET.Element:
    try:
        tree = ET.fromstring(response.content)
    except ET.ParseError as error:
        raise Malformed("B", operation, f"not XML ({error})", response.status_code) from None
    for element in tree.iter():
        if isinstance(element.tag, str) and "}" in element.tag:
            element.tag = element.tag.split("}", 1)[1]
    if tree.find("Success") is None:
        error = tree.find("Errors/Error")
        if error is None:
            raise Malformed("B", operation, "neither Success nor Errors", response.status_code)
        code = error.get("Code", "")
        raise SupplierError("B", operation, f"OTA error {code}: {error.get('ShortText', '')}",
                            transient=code in TRANSIENT_CODES, status=response.status_code)
    return tree


def _ota_error_code(error: SupplierError) -> str:
    return error.reason.split(":", 1)[0].removeprefix("OTA error ")


class SupplierBAdapter(BaseAdapter):
    code = "B"

    def __init__(self, http: SupplierHttp, api_key: str) -> None:
        super().__init__(http)
        self.api_key = api_key
        http._headers = lambda: {"Content-Type": "application/xml; charset=utf-8"}

    async def _call(self, operation: str, message: str, root: ET.Element, *, idempotent: bool = True,
                    parse=None) -> ET.Element:
        return await self.http.request(operation, "POST", f"/ota/{message}",
                                       parse or (lambda response: _parse(response, operation)),
                                       idempotent=idempotent, content=_body(root))

    async def content(self) -> AsyncIterator[SupplierHotel | InvalidRecord]:
        start = 0
        while True:
            root = _message("OTA_HotelDescriptiveInfoRQ", self.api_key)
            ET.SubElement(root, "HotelDescriptiveInfos", {"Start": str(start), "MaxResponses": str(PAGE)})
            tree = await self._call("content", "OTA_HotelDescriptiveInfoRQ", root)
            contents = tree.find("HotelDescriptiveContents")
            items = contents.findall("HotelDescriptiveContent")
            for item in items:
                yield self._hotel(item)
            start += len(items)
            if not items or start >= int(contents.get("Total", "0")):
                return

    def _hotel(self, item: ET.Element) -> SupplierHotel | InvalidRecord:
        raw = {"attributes": dict(item.attrib), "xml": ET.tostring(item, encoding="unicode")}
        try:
            address = item.find("ContactInfos/ContactInfo/Addresses/Address")
            phone = item.find("ContactInfos/ContactInfo/Phones/Phone")
            position = item.find("Position")
            star = item.get("StarRating")
            return SupplierHotel(
                supplier_code=self.code, supplier_hotel_id=item.attrib["HotelCode"], name=item.attrib["HotelName"],
                address=address.findtext("AddressLine") if address is not None else None,
                city=address.findtext("CityName") if address is not None else None,
                country=address.find("CountryName").get("Code") if address is not None else None,
                lat=float(position.get("Latitude")) if position is not None else None,
                lon=float(position.get("Longitude")) if position is not None else None,
                star=float(star) if star else None, phone=phone.get("PhoneNumber") if phone is not None else None,
                raw=raw,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            return InvalidRecord(self.code, "content", raw, f"missing field {error}"
                                 if isinstance(error, KeyError) else f"invalid value: {error}")

    async def availability(self, hotel_ids: list[str], check_in: dt.date, check_out: dt.date,
                           changed_since: dt.datetime | None = None) -> AsyncIterator[NightlyRate | InvalidRecord]:
        for offset in range(0, len(hotel_ids), HOTELS_PER_REQUEST):
            root = _message("OTA_HotelAvailRQ", self.api_key)
            if changed_since is not None:
                root.set("ChangedSince", changed_since.isoformat())
            segment = ET.SubElement(ET.SubElement(root, "AvailRequestSegments"), "AvailRequestSegment")
            ET.SubElement(segment, "StayDateRange", {"Start": check_in.isoformat(), "End": check_out.isoformat()})
            criterion = ET.SubElement(ET.SubElement(segment, "HotelSearchCriteria"), "Criterion")
            for hotel_id in hotel_ids[offset:offset + HOTELS_PER_REQUEST]:
                ET.SubElement(criterion, "HotelRef", {"HotelCode": hotel_id})
            tree = await self._call("availability", "OTA_HotelAvailRQ", root)
            if changed_since is not None and tree.get("ChangedSince") is not None:
                self.delta_answers += 1
            for stay in tree.iterfind("RoomStays/RoomStay"):
                for item in self._rates(stay):
                    yield item

    def _rates(self, stay: ET.Element):
        hotel_id = stay.find("BasicPropertyInfo").get("HotelCode", "")
        rooms = {room.get("RoomTypeCode"): room for room in stay.iterfind("RoomTypes/RoomType")}
        for room_rate in stay.iterfind("RoomRates/RoomRate"):
            try:
                room = rooms[room_rate.attrib["RoomTypeCode"]]
                board = room_rate.attrib["MealPlanCode"]
                plan = room_rate.attrib["RatePlanCode"]
                penalty = room_rate.find("CancelPenalties/CancelPenalty")
                refundable = penalty is None or penalty.get("NonRefundable") != "true"
                hours = int(penalty.find("Deadline").get("OffsetUnitMultiplier", "0")) if penalty is not None else 0
                for night in room_rate.iterfind("Rates/Rate"):
                    base = night.find("Base")
                    net = Money.of(base.attrib["AmountAfterTax"], base.attrib["CurrencyCode"])
                    # B's penalty is "one night" (or all, non-refundable): the amount follows from the night.
                    rule = CancellationRule(hours if refundable else 8760, net)
                    yield NightlyRate(
                        supplier_code=self.code, supplier_hotel_id=hotel_id, room_code=room.get("RoomTypeCode"),
                        room_name=room.find("RoomDescription").get("Name", ""), board=board, rate_plan=plan,
                        stay_date=dt.date.fromisoformat(night.attrib["EffectiveDate"]), net=net,
                        allotment=int(night.attrib["NumberOfUnits"]), refundable=refundable, rate_key=None,
                        max_occupancy=int(room.get("MaxOccupancy", "2")), cancellation=(rule,),
                    )
            except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as error:
                record = {"hotel": hotel_id, "xml": ET.tostring(room_rate, encoding="unicode")[:2000]}
                reason = f"missing field {error}" if isinstance(error, KeyError) else f"invalid value: {error}"
                yield InvalidRecord(self.code, "inventory", record, reason)

    async def recheck(self, rate: NightlyRate | None, request: BookingRequest) -> RecheckResult:
        """B has no re-check message: ask availability again for exactly this stay and compare."""
        total = Decimal(0)
        currency = request.expected_total.currency
        nights = 0
        async for item in self.availability([request.supplier_hotel_id], request.check_in, request.check_out):
            if (isinstance(item, NightlyRate) and item.room_code == request.room_code and item.board == request.board
                    and item.rate_plan == request.rate_plan):
                if item.allotment < request.rooms:
                    return RecheckResult(RecheckStatus.SOLD_OUT, None)
                total += item.net.amount
                currency = item.net.currency
                nights += 1
        if nights != (request.check_out - request.check_in).days:
            return RecheckResult(RecheckStatus.SOLD_OUT, None)
        current = Money(total * request.rooms, currency)
        status = RecheckStatus.AVAILABLE if current == request.expected_total else RecheckStatus.PRICE_CHANGED
        return RecheckResult(status, current)

    def _booking(self, reservation: ET.Element) -> Booking:
        info = reservation.find("ResGlobalInfo")
        total = info.find("Total")
        span = reservation.find("RoomStays/RoomStay/TimeSpan")
        status = {"Confirmed": BookingStatus.CONFIRMED, "Cancelled": BookingStatus.CANCELLED,
                  "Pending": BookingStatus.PENDING}.get(reservation.get("ResStatus", ""), BookingStatus.FAILED)
        return Booking(
            supplier_code=self.code,
            supplier_ref=info.find("HotelReservationIDs/HotelReservationID").attrib["ResID_Value"],
            our_reference=reservation.find("UniqueID").attrib["ID"], status=status,
            total=Money.of(total.attrib["AmountAfterTax"], total.attrib["CurrencyCode"]),
            check_in=dt.date.fromisoformat(span.attrib["Start"]), check_out=dt.date.fromisoformat(span.attrib["End"]),
            raw={"xml": ET.tostring(reservation, encoding="unicode")},
        )

    async def _book_once(self, request: BookingRequest) -> Booking:
        root = _message("OTA_HotelResRQ", self.api_key)
        reservation = ET.SubElement(ET.SubElement(root, "HotelReservations"), "HotelReservation")
        ET.SubElement(reservation, "UniqueID", {"Type": "14", "ID": request.our_reference})
        room_stay = ET.SubElement(ET.SubElement(reservation, "RoomStays"), "RoomStay")
        ET.SubElement(ET.SubElement(room_stay, "RoomRates"), "RoomRate", {
            "RoomTypeCode": request.room_code, "RatePlanCode": request.rate_plan, "MealPlanCode": request.board,
            "NumberOfUnits": str(request.rooms)})
        ET.SubElement(room_stay, "TimeSpan", {"Start": request.check_in.isoformat(),
                                              "End": request.check_out.isoformat()})
        ET.SubElement(room_stay, "Total", {"AmountAfterTax": str(request.expected_total.amount),
                                           "CurrencyCode": request.expected_total.currency})
        ET.SubElement(room_stay, "BasicPropertyInfo", {"HotelCode": request.supplier_hotel_id})
        guests = ET.SubElement(reservation, "ResGuests")
        for guest in request.guests:
            name = " ".join(str(guest.get(k, "")) for k in ("first_name", "last_name")).strip() or guest.get("name", "")
            ET.SubElement(guests, "ResGuest", {"Name": str(name)})
        try:
            tree = await self._call("book", "OTA_HotelResRQ", root, idempotent=False)
        except SupplierError as error:
            if not error.transient and _ota_error_code(error) == "95":  # duplicate UniqueID: it is there
                found = await self.find_booking(request.our_reference)
                if found is not None:
                    return found
            raise
        return self._booking(tree.find("HotelReservations/HotelReservation"))

    async def _read(self, operation: str, id_type: str, value: str) -> Booking | None:
        root = _message("OTA_ReadRQ", self.api_key)
        ET.SubElement(ET.SubElement(ET.SubElement(root, "ReadRequests"), "ReadRequest"), "UniqueID",
                      {"Type": id_type, "ID": value})

        def parse(response: httpx.Response) -> Booking | None:
            try:
                tree = _parse(response, operation)
            except SupplierError as error:
                if not error.transient and _ota_error_code(error) == "245":
                    return None
                raise
            return self._booking(tree.find("ReservationsList/HotelReservation"))

        return await self._call(operation, "OTA_ReadRQ", root, parse=parse)

    async def find_booking(self, our_reference: str) -> Booking | None:
        return await self._read("find_booking", "14", our_reference)

    async def get_booking(self, supplier_ref: str) -> Booking:
        booking = await self._read("get_booking", "10", supplier_ref)
        if booking is None:
            raise SupplierError(self.code, "get_booking", f"booking {supplier_ref} not found", transient=False,
                                status=404)
        return booking

    async def cancel(self, supplier_ref: str, simulate: bool = False) -> CancellationResult:
        root = _message("OTA_CancelRQ", self.api_key, CancelType="Initiate" if simulate else "Commit")
        ET.SubElement(root, "UniqueID", {"Type": "10", "ID": supplier_ref})
        tree = await self._call("cancel", "OTA_CancelRQ", root, idempotent=simulate)
        rule = tree.find("CancelInfoRS/CancelRules/CancelRule")
        return CancellationResult(supplier_ref, Money.of(rule.attrib["Amount"], rule.attrib["CurrencyCode"]),
                                  cancelled=tree.get("Status") == "Cancelled" and not simulate)

    async def statement(self, period_start: dt.date, period_end: dt.date) -> AsyncIterator[StatementLine]:
        root = _message("SettlementStatementRQ", self.api_key)
        ET.SubElement(root, "Period", {"Start": period_start.isoformat(), "End": period_end.isoformat()})
        tree = await self._call("statement", "SettlementStatementRQ", root)
        for line in tree.iterfind("Lines/Line"):
            yield StatementLine(line.attrib["ResID"], dt.date.fromisoformat(line.attrib["CheckIn"]),
                                dt.date.fromisoformat(line.attrib["CheckOut"]), line.attrib["Status"],
                                Money.of(line.attrib["Amount"], line.attrib["CurrencyCode"]))
