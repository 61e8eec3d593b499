"""Supplier B: XML in the OpenTravel (OTA) style, a Chinese wholesaler.

Every request is an OTA message POSTed to `/ota/<MessageName>` whose `POS/Source/RequestorID`
carries `MessagePassword` = the API key. Hotel names and addresses are Chinese, prices are per night
(`Rate EffectiveDate=… Base AmountAfterTax=…`) in CNY. Business errors come back, OTA-style, as
HTTP 200 with `<Errors>`; a reservation is keyed by our `UniqueID Type="14"` (a duplicate is refused).
Cancellation: `CancelType="Initiate"` only quotes the fee, `"Commit"` cancels.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from decimal import Decimal
from xml.sax.saxutils import quoteattr

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from suppliers.rates import FREE_CANCEL_HOURS, cancellation_fee
from suppliers.simcore import SimState, StoredBooking, admin_routes, build_app
from suppliers.world import World

CODE = "B"
DEFAULT_API_KEY = "dev-supplier-b-key"
NS = "http://www.opentravel.org/OTA/2003/05"
MAX_PAGE = 1000


def _xml(root: ET.Element) -> bytes:
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _rs(name: str) -> ET.Element:
    return ET.Element(name, {"xmlns": NS, "Version": "1.0", "TimeStamp": dt.datetime.now(dt.UTC).isoformat()})


def _errors(name: str, code: str, text: str) -> ET.Element:
    root = _rs(name)
    errors = ET.SubElement(root, "Errors")
    ET.SubElement(errors, "Error", {"Type": "3", "Code": code, "ShortText": text})
    return root


def _strip(tree: ET.Element) -> ET.Element:
    """Drop namespaces so lookups stay short."""
    for element in tree.iter():
        if isinstance(element.tag, str) and "}" in element.tag:
            element.tag = element.tag.split("}", 1)[1]
    return tree


def create_app(world: World, api_key: str = DEFAULT_API_KEY):
    state = SimState(CODE, world, api_key)

    def respond(root: ET.Element, operation: str, status: int = 200) -> Response:
        return Response(state.mangle(operation, _xml(root)), status_code=status, media_type="application/xml")

    def http_error(status: int, message: str, headers: dict | None = None) -> Response:
        return Response(_xml(_errors("OTA_ErrorRS", str(status), message)), status_code=status,
                        media_type="application/xml", headers=headers or {})

    async def parse(request: Request, operation: str) -> tuple[ET.Element | None, Response | None]:
        try:
            tree = _strip(ET.fromstring(await request.body()))
        except ET.ParseError as error:
            return None, http_error(400, f"malformed XML: {error}")
        requestor = tree.find("POS/Source/RequestorID")
        if requestor is None or requestor.get("MessagePassword") != api_key:
            return None, http_error(401, "POS/Source/RequestorID MessagePassword is not valid")
        failure = await state.before(operation, http_error)
        return (None, failure) if failure is not None else (tree, None)

    def hotel_element(parent: ET.Element, hotel, missing: bool) -> None:
        attributes = {"HotelCode": hotel.supplier_hotel_id, "HotelName": hotel.name}
        if hotel.star is not None:
            attributes["StarRating"] = f"{hotel.star:g}"
        if missing:
            del attributes["HotelName"]
        content = ET.SubElement(parent, "HotelDescriptiveContent", attributes)
        info = ET.SubElement(ET.SubElement(content, "ContactInfos"), "ContactInfo")
        address = ET.SubElement(ET.SubElement(info, "Addresses"), "Address")
        ET.SubElement(address, "AddressLine").text = hotel.address
        ET.SubElement(address, "CityName").text = hotel.city
        ET.SubElement(address, "CountryName", {"Code": hotel.country})
        if hotel.phone:
            ET.SubElement(ET.SubElement(info, "Phones"), "Phone", {"PhoneNumber": hotel.phone})
        ET.SubElement(content, "Position", {"Latitude": f"{hotel.lat:.6f}", "Longitude": f"{hotel.lon:.6f}"})

    async def descriptive_info(request: Request) -> Response:
        tree, failure = await parse(request, "content")
        if failure is not None:
            return failure
        paging = tree.find("HotelDescriptiveInfos")
        try:
            start = int(paging.get("Start", "0")) if paging is not None else 0
            count = int(paging.get("MaxResponses", "500")) if paging is not None else 500
        except ValueError:
            return respond(_errors("OTA_HotelDescriptiveInfoRS", "321", "Start and MaxResponses must be integers"),
                           "content")
        count = max(1, min(count, MAX_PAGE))
        root = _rs("OTA_HotelDescriptiveInfoRS")
        ET.SubElement(root, "Success")
        contents = ET.SubElement(root, "HotelDescriptiveContents",
                                 {"Start": str(start), "Total": str(len(state.hotels))})
        _, missing = state.record_faults("content")
        for index, hotel in enumerate(state.hotels[start:start + count]):
            hotel_element(contents, hotel, missing and index == 0)
        return respond(root, "content")

    def stay_dates(tree: ET.Element, path: str) -> tuple[dt.date, dt.date]:
        span = tree.find(path)
        if span is None:
            raise ValueError(f"{path} is required")
        return dt.date.fromisoformat(span.get("Start", "")), dt.date.fromisoformat(span.get("End", ""))

    async def avail(request: Request) -> Response:
        tree, failure = await parse(request, "availability")
        if failure is not None:
            return failure
        try:
            check_in, check_out = stay_dates(tree, "AvailRequestSegments/AvailRequestSegment/StayDateRange")
        except ValueError as error:
            return respond(_errors("OTA_HotelAvailRS", "321", f"StayDateRange: {error}"), "availability")
        if check_out <= check_in or (check_out - check_in).days > 31:
            return respond(_errors("OTA_HotelAvailRS", "321", "StayDateRange End must follow Start, at most 31 "
                                   "nights"), "availability")
        codes = [ref.get("HotelCode", "") for ref in tree.iter("HotelRef")]
        try:
            since = state.delta_since(tree.get("ChangedSince"))
        except ValueError as error:
            return respond(_errors("OTA_HotelAvailRS", "321", f"ChangedSince: {error}"), "availability")
        negative, missing = state.record_faults("availability")
        # Built as text, not as an element tree: this is the biggest message B sends (~3x faster).
        delta = f" ChangedSince={quoteattr(tree.get('ChangedSince'))}" if since is not None else ""
        parts = ['<?xml version="1.0" encoding="utf-8"?>\n', f'<OTA_HotelAvailRS xmlns="{NS}" Version="1.0" '
                 f'TimeStamp="{dt.datetime.now(dt.UTC).isoformat()}"{delta}><Success /><RoomStays>']
        rate_tags: list[int] = []  # positions of <RoomRate …> tags, for the record faults
        first_night: int | None = None
        for code in codes:
            hotel = state.hotel_by_id.get(code)
            if hotel is None:
                continue
            offers: dict[tuple, list] = {}
            rooms: dict[str, tuple[str, int]] = {}
            for rate in state.stay_since(hotel, check_in, check_out, since):
                rooms.setdefault(rate.room_code, (rate.room_name, rate.max_occupancy))
                offers.setdefault((rate.room_code, rate.board, rate.rate_plan), []).append(rate)
            if since is not None and not offers:
                continue
            parts.append(f"<RoomStay><BasicPropertyInfo HotelCode={quoteattr(hotel.supplier_hotel_id)} "
                         f"HotelName={quoteattr(hotel.name)} /><RoomTypes>")
            for room_code, (name, occupancy) in rooms.items():
                parts.append(f'<RoomType RoomTypeCode={quoteattr(room_code)} MaxOccupancy="{occupancy}">'
                             f"<RoomDescription Name={quoteattr(name)} /></RoomType>")
            parts.append("</RoomTypes><RoomRates>")
            for (room_code, board, plan), nights in offers.items():
                rate_tags.append(len(parts))
                parts.append(f'<RoomRate RoomTypeCode={quoteattr(room_code)} RatePlanCode="{plan}" '
                             f'MealPlanCode="{board}">')
                non_refundable = "false" if nights[0].refundable else "true"
                parts.append(f'<CancelPenalties><CancelPenalty NonRefundable="{non_refundable}">'
                             f'<Deadline OffsetTimeUnit="Hour" OffsetUnitMultiplier="{FREE_CANCEL_HOURS}" />'
                             '<AmountPercent NmbrOfNights="1" /></CancelPenalty></CancelPenalties><Rates>')
                for night in nights:
                    if first_night is None:
                        first_night = len(parts)
                    parts.append(f'<Rate EffectiveDate="{night.stay_date.isoformat()}" ExpireDate="'
                                 f'{(night.stay_date + dt.timedelta(days=1)).isoformat()}" NumberOfUnits='
                                 f'"{night.allotment}"><Base AmountAfterTax="{night.amount}" CurrencyCode='
                                 f'"{night.currency}" /></Rate>')
                parts.append("</Rates></RoomRate>")
            parts.append("</RoomRates></RoomStay>")
        parts.append("</RoomStays></OTA_HotelAvailRS>")
        if rate_tags:  # the first rate gets the bad price, the last one the gap
            if negative and first_night is not None:
                parts[first_night] = parts[first_night].replace('AmountAfterTax="', 'AmountAfterTax="-', 1)
            if missing:
                parts[rate_tags[-1]] = re.sub(r' MealPlanCode="[^"]*"', "", parts[rate_tags[-1]])
        body = "".join(parts).encode()
        return Response(state.mangle("availability", body), media_type="application/xml")

    def reservation_element(parent: ET.Element, booking: StoredBooking, fee: Decimal | None = None) -> None:
        status = {"confirmed": "Confirmed", "cancelled": "Cancelled", "no_show": "Confirmed"}[booking.status]
        reservation = ET.SubElement(parent, "HotelReservation", {"ResStatus": status})
        ET.SubElement(reservation, "UniqueID", {"Type": "14", "ID": booking.our_reference})
        room_stay = ET.SubElement(ET.SubElement(reservation, "RoomStays"), "RoomStay")
        ET.SubElement(ET.SubElement(room_stay, "RoomRates"), "RoomRate", {
            "RoomTypeCode": booking.room_code, "RatePlanCode": booking.rate_plan, "MealPlanCode": booking.board,
            "NumberOfUnits": str(booking.rooms)})
        ET.SubElement(room_stay, "TimeSpan", {"Start": booking.check_in.isoformat(),
                                              "End": booking.check_out.isoformat()})
        ET.SubElement(room_stay, "BasicPropertyInfo", {"HotelCode": booking.hotel_id})
        info = ET.SubElement(reservation, "ResGlobalInfo")
        ids = ET.SubElement(info, "HotelReservationIDs")
        ET.SubElement(ids, "HotelReservationID", {"ResID_Type": "10", "ResID_Value": booking.supplier_ref})
        ET.SubElement(info, "Total", {"AmountAfterTax": str(booking.total), "CurrencyCode": booking.currency})
        if booking.status == "cancelled" or fee is not None:
            ET.SubElement(info, "CancelPenalty", {"Amount": str(booking.cancellation_fee if fee is None else fee),
                                                  "CurrencyCode": booking.currency})

    async def reserve(request: Request) -> Response:
        tree, failure = await parse(request, "book")
        if failure is not None:
            return failure
        state.booking_attempts += 1
        name = "OTA_HotelResRS"
        reservation = tree.find("HotelReservations/HotelReservation")
        try:
            reference = reservation.find("UniqueID").get("ID", "")
            room_stay = reservation.find("RoomStays/RoomStay")
            room_rate = room_stay.find("RoomRates/RoomRate")
            check_in, check_out = stay_dates(room_stay, "TimeSpan")
            hotel_id = room_stay.find("BasicPropertyInfo").get("HotelCode", "")
            room, plan, board = (room_rate.get("RoomTypeCode", ""), room_rate.get("RatePlanCode", "BAR"),
                                 room_rate.get("MealPlanCode", ""))
            rooms = int(room_rate.get("NumberOfUnits", "1"))
            expected = room_stay.find("Total")
            expected_total = Decimal(expected.get("AmountAfterTax")) if expected is not None else None
        except (AttributeError, ValueError, TypeError) as error:
            return respond(_errors(name, "321", f"invalid reservation: {error}"), "book")
        if not reference:
            return respond(_errors(name, "321", "UniqueID Type=14 ID (your reference) is required"), "book")
        if state.find(reference) is not None:
            return respond(_errors(name, "95", f"duplicate UniqueID {reference}"), "book")
        hotel = state.hotel_by_id.get(hotel_id)
        found = state.stay_total(hotel, room, board, plan, check_in, check_out, rooms) if hotel else None
        if found is None:
            return respond(_errors(name, "402", "invalid hotel, room, meal plan or rate plan"), "book")
        total, currency, allotment = found
        if allotment < rooms:
            return respond(_errors(name, "322", "no availability"), "book")
        if expected_total is not None and total != expected_total:
            return respond(_errors(name, "361", f"price changed: {total} {currency}"), "book")
        guests = [{"name": g.get("Name", "")} for g in tree.iter("ResGuest")]
        booking = StoredBooking(state.new_ref("BRES"), reference, hotel_id, room, board, plan, check_in, check_out,
                                rooms, total, currency, plan == "BAR", guests)
        state.store(booking)
        await state.after_booking()
        root = _rs(name)
        ET.SubElement(root, "Success")
        reservation_element(ET.SubElement(root, "HotelReservations"), booking)
        return respond(root, "book")

    def lookup(tree: ET.Element) -> StoredBooking | None:
        unique = tree.find(".//UniqueID")
        if unique is None:
            return None
        if unique.get("Type") == "14":
            return state.find(unique.get("ID", ""))
        return state.bookings.get(unique.get("ID", ""))

    async def read(request: Request) -> Response:
        tree, failure = await parse(request, "get_booking")
        if failure is not None:
            return failure
        booking = lookup(tree)
        if booking is None:
            return respond(_errors("OTA_ResRetrieveRS", "245", "reservation not found"), "get_booking")
        root = _rs("OTA_ResRetrieveRS")
        ET.SubElement(root, "Success")
        reservation_element(ET.SubElement(root, "ReservationsList"), booking)
        return respond(root, "get_booking")

    async def cancel(request: Request) -> Response:
        tree, failure = await parse(request, "cancel")
        if failure is not None:
            return failure
        booking = lookup(tree)
        if booking is None:
            return respond(_errors("OTA_CancelRS", "245", "reservation not found"), "cancel")
        kind = tree.get("CancelType", "Commit")
        if kind not in ("Initiate", "Commit"):
            return respond(_errors("OTA_CancelRS", "321", "CancelType must be Initiate or Commit"), "cancel")
        fee = booking.cancellation_fee if booking.status == "cancelled" else cancellation_fee(
            booking.total, booking.nights(), booking.refundable, booking.check_in, dt.date.today())
        if kind == "Commit" and booking.status != "cancelled":
            state.set_status(booking, "cancelled")
            booking.cancellation_fee = fee
        root = _rs("OTA_CancelRS")
        root.set("Status", "Cancelled" if booking.status == "cancelled" else "Pending")
        ET.SubElement(root, "Success")
        ET.SubElement(root, "UniqueID", {"Type": "10", "ID": booking.supplier_ref})
        rules = ET.SubElement(ET.SubElement(root, "CancelInfoRS"), "CancelRules")
        ET.SubElement(rules, "CancelRule", {"Amount": str(fee), "CurrencyCode": booking.currency})
        return respond(root, "cancel")

    async def settlement(request: Request) -> Response:
        tree, failure = await parse(request, "statement")
        if failure is not None:
            return failure
        period = tree.find("Period")
        try:
            start = dt.date.fromisoformat(period.get("Start", ""))
            end = dt.date.fromisoformat(period.get("End", ""))
        except (AttributeError, ValueError):
            return respond(_errors("SettlementStatementRS", "321", "Period Start and End are required dates"),
                           "statement")
        root = _rs("SettlementStatementRS")
        ET.SubElement(root, "Success")
        lines = ET.SubElement(root, "Lines", {"Start": start.isoformat(), "End": end.isoformat()})
        for line in state.statement(start, end):
            ET.SubElement(lines, "Line", {"ResID": line["supplier_ref"], "UniqueID": line["our_reference"],
                                          "CheckIn": line["check_in"], "CheckOut": line["check_out"],
                                          "Status": line["status"], "Amount": line["amount"],
                                          "CurrencyCode": line["currency"]})
        return respond(root, "statement")

    routes = [
        Route("/ota/OTA_HotelDescriptiveInfoRQ", descriptive_info, methods=["POST"]),
        Route("/ota/OTA_HotelAvailRQ", avail, methods=["POST"]),
        Route("/ota/OTA_HotelResRQ", reserve, methods=["POST"]),
        Route("/ota/OTA_ReadRQ", read, methods=["POST"]),
        Route("/ota/OTA_CancelRQ", cancel, methods=["POST"]),
        Route("/ota/SettlementStatementRQ", settlement, methods=["POST"]),
        *admin_routes(state),
    ]
    return build_app(routes, state)
