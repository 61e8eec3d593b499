"""Each supplier protocol end to end over real HTTP: content, availability, re-check, booking,
lookup, cancellation (quote and commit), statement, and the API key check."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import httpx
import pytest

from core.suppliers.models import (
    BookingRequest,
    BookingStatus,
    NightlyRate,
    RecheckStatus,
    SupplierError,
    SupplierHotel,
)
from core.suppliers.registry import adapter_for
from suppliers.rates import supplier_currency
from suppliers.world import generate_world
from tests.supplier_fixtures import adapter, set_faults

pytest_plugins = ["tests.supplier_fixtures"]
pytestmark = pytest.mark.usefixtures("clean_faults")

CODES = ("A", "B", "C")


def _stay(days_ahead: int = 20, nights: int = 2) -> tuple[dt.date, dt.date]:
    check_in = dt.date.today() + dt.timedelta(days=days_ahead)
    return check_in, check_in + dt.timedelta(days=nights)


async def _bookable(client, hotel_ids: list[str], check_in: dt.date, check_out: dt.date, rooms: int = 1):
    """A room/board/plan available on every night of the stay, and its total."""
    offers: dict[tuple, list[NightlyRate]] = {}
    async for item in client.availability(hotel_ids, check_in, check_out):
        assert isinstance(item, NightlyRate)
        offers.setdefault((item.supplier_hotel_id, item.room_code, item.board, item.rate_plan), []).append(item)
    nights = (check_out - check_in).days
    for (hotel_id, room, board, plan), rates in sorted(offers.items()):
        if len(rates) == nights and all(rate.allotment >= rooms for rate in rates) and plan == "BAR":
            total = sum((rate.net for rate in rates[1:]), rates[0].net) * rooms
            return hotel_id, room, board, plan, total
    raise AssertionError("no bookable offer in the test world")


@pytest.mark.parametrize("code", CODES)
async def test_content_is_the_suppliers_view_of_the_world(code, simulators, world, fast_settings):
    client = adapter(code, simulators, fast_settings)
    hotels = [hotel async for hotel in client.content()]
    assert all(isinstance(hotel, SupplierHotel) for hotel in hotels)
    expected = {hotel.supplier_hotel_id: hotel for hotel in world.supplier_hotels[code]}
    assert {hotel.supplier_hotel_id for hotel in hotels} == set(expected)
    for hotel in hotels:
        truth = expected[hotel.supplier_hotel_id]
        assert (hotel.name, hotel.city, hotel.country, hotel.star) == (truth.name, truth.city, truth.country,
                                                                       truth.star)
        assert hotel.lat == pytest.approx(truth.lat) and hotel.lon == pytest.approx(truth.lon)
    if code == "B":  # a Chinese wholesaler: Chinese names for Chinese hotels
        chinese = [h for h in hotels if h.country == "CN"]
        assert chinese and all(any("\u4e00" <= ch <= "\u9fff" for ch in h.name) for h in chinese)


@pytest.mark.parametrize("code", CODES)
async def test_availability_is_per_night_in_the_suppliers_currency(code, simulators, world, fast_settings):
    client = adapter(code, simulators, fast_settings)
    hotels = world.supplier_hotels[code][:3]
    check_in, check_out = _stay(nights=5)
    rates = [item async for item in client.availability([h.supplier_hotel_id for h in hotels], check_in, check_out)]
    assert rates and all(isinstance(rate, NightlyRate) for rate in rates)
    assert {rate.stay_date for rate in rates} == {check_in + dt.timedelta(days=d) for d in range(5)}
    by_hotel = {h.supplier_hotel_id: h for h in hotels}
    for rate in rates:
        assert isinstance(rate.net.amount, Decimal) and rate.net.amount > 0
        assert rate.net.currency == supplier_currency(code, by_hotel[rate.supplier_hotel_id].country)
        assert rate.allotment >= 0 and rate.board in ("RO", "BB")
    # prices vary by date and by room type
    assert len({rate.net.amount for rate in rates}) > len(rates) // 3
    assert len({rate.room_code for rate in rates}) >= 2


def test_world_is_deterministic_and_rates_vary():
    first, second = generate_world(5, 60), generate_world(5, 60)
    assert first.master_hotels == second.master_hotels
    assert first.supplier_hotels == second.supplier_hotels
    assert first.truth() == second.truth()
    assert generate_world(6, 60).master_hotels != first.master_hotels
    truth = first.truth()
    assert any(value is None for value in truth.values())  # supplier-only hotels exist
    assert {h.country for h in first.master_hotels} >= {"CN"}


@pytest.mark.parametrize("code", CODES)
async def test_recheck_book_find_cancel_and_statement(code, simulators, world, fast_settings):
    client = adapter(code, simulators, fast_settings)
    check_in, check_out = _stay(days_ahead=30)
    hotel_ids = [h.supplier_hotel_id for h in world.supplier_hotels[code][:5]]
    hotel_id, room, board, plan, total = await _bookable(client, hotel_ids, check_in, check_out)
    request = BookingRequest(f"T-{code}-0001", hotel_id, room, board, plan, check_in, check_out, 1,
                             ({"first_name": "Wei", "last_name": "Li"},), total)

    recheck = await client.recheck(None, request)
    assert recheck.status is RecheckStatus.AVAILABLE and recheck.total == total

    booking = await client.book(request)
    assert booking.status is BookingStatus.CONFIRMED and booking.total == total
    assert booking.our_reference == request.our_reference and booking.supplier_ref

    assert (await client.find_booking(request.our_reference)).supplier_ref == booking.supplier_ref
    assert await client.find_booking("never-booked-reference") is None
    assert (await client.get_booking(booking.supplier_ref)).total == total

    quote = await client.cancel(booking.supplier_ref, simulate=True)
    assert quote.cancelled is False and quote.fee.currency == total.currency
    assert (await client.get_booking(booking.supplier_ref)).status is BookingStatus.CONFIRMED
    cancelled = await client.cancel(booking.supplier_ref)
    assert cancelled.cancelled and cancelled.fee == quote.fee
    assert (await client.get_booking(booking.supplier_ref)).status is BookingStatus.CANCELLED

    lines = [line async for line in client.statement(check_out, check_out + dt.timedelta(days=1))]
    ours = [line for line in lines if line.supplier_ref == booking.supplier_ref]
    assert len(ours) == 1 and ours[0].status == "cancelled" and ours[0].amount == quote.fee


@pytest.mark.parametrize("code", CODES)
async def test_price_change_is_reported_not_booked(code, simulators, world, fast_settings):
    client = adapter(code, simulators, fast_settings)
    check_in, check_out = _stay(days_ahead=40)
    hotel_ids = [h.supplier_hotel_id for h in world.supplier_hotels[code][:5]]
    hotel_id, room, board, plan, total = await _bookable(client, hotel_ids, check_in, check_out)
    request = BookingRequest(f"T-{code}-price", hotel_id, room, board, plan, check_in, check_out, 1, (), total)
    set_faults(simulators[code], price_change_pct=10)
    recheck = await client.recheck(None, request)
    assert recheck.status is RecheckStatus.PRICE_CHANGED
    assert recheck.total.amount == pytest.approx(total.amount * Decimal("1.1"), abs=Decimal("0.05"))
    if code != "B":  # B re-checks through availability, whose listed prices the fault leaves alone
        with pytest.raises(SupplierError) as raised:
            await client.book(BookingRequest(f"T-{code}-price2", hotel_id, room, board, plan, check_in, check_out, 1,
                                             (), total))
        assert not raised.value.transient
    assert await client.find_booking(f"T-{code}-price2") is None


@pytest.mark.parametrize("code", CODES)
async def test_wrong_api_key_is_refused(code, simulators, fast_settings):
    from core.suppliers.registry import build_adapter

    client = build_adapter(code, simulators[code].base_url, fast_settings, api_key="wrong-key", secret="wrong")
    with pytest.raises(SupplierError) as raised:
        [hotel async for hotel in client.content()]
    assert raised.value.status == 401 and not raised.value.transient


async def test_supplier_a_checks_the_signature(simulators):
    url = f"{simulators['A'].base_url}/hotel-content-api/1.0/hotels"
    response = httpx.get(url, headers={"Api-key": "dev-supplier-a-key", "X-Signature": "0" * 64,
                                       "X-Timestamp": str(int(dt.datetime.now().timestamp()))})
    assert response.status_code == 401


async def test_adapter_for_reads_the_suppliers_table(engine, simulators, settings):
    from core.suppliers.registry import register_supplier

    register_supplier(engine, "C", simulators["C"].base_url, "dev-supplier-c-key",
                      settings.encryption_secret.get_secret_value())
    with engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT base_url, api_key_encrypted FROM suppliers WHERE code = 'C'").first()
    assert stored.base_url == simulators["C"].base_url
    assert b"dev-supplier-c-key" not in bytes(stored.api_key_encrypted)  # encrypted at rest
    client = adapter_for("C", settings)
    assert len([hotel async for hotel in client.content()]) == len(simulators["C"].state.hotels)
