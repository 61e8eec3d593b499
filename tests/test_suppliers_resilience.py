"""Resilience over real HTTP: every injected fault, retries only where safe, Retry-After, the time
budget, the circuit breaker opening and closing, no double booking, and call recording."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import httpx
import pytest
from prometheus_client import REGISTRY

from core.suppliers.breaker import CLOSED, OPEN, CircuitBreaker
from core.suppliers.calls import recorder_for
from core.suppliers.http import Malformed
from core.suppliers.models import (
    BookingRequest,
    BookingStatus,
    CircuitOpen,
    InvalidRecord,
    NightlyRate,
    SupplierError,
    SupplierTimeout,
)
from tests.supplier_fixtures import adapter, set_faults, stats

pytest_plugins = ["tests.supplier_fixtures"]
pytestmark = pytest.mark.usefixtures("clean_faults")

CODES = ("A", "B", "C")


async def _content(client) -> list:
    return [item async for item in client.content()]


def _calls(simulator, operation: str) -> int:
    return stats(simulator)["calls"].get(operation, 0)


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("fault", ["error_5xx", "malformed", "truncated", "rate_limit"])
async def test_a_transient_fault_is_retried_and_the_call_succeeds(code, fault, simulators, fast_settings):
    simulator = simulators[code]
    clean = await _content(adapter(code, simulators, fast_settings))
    before = _calls(simulator, "content")
    set_faults(simulator, **{fault: 1.0}, times=1, retry_after_s=0.05, operations=["content"])
    again = await _content(adapter(code, simulators, fast_settings))
    assert [h.supplier_hotel_id for h in again] == [h.supplier_hotel_id for h in clean]
    assert _calls(simulator, "content") - before == 2  # one failed attempt, one retry (one page each)


@pytest.mark.parametrize("code", CODES)
async def test_a_persistent_malformed_payload_fails_after_the_retry_budget(code, simulators, fast_settings):
    simulator = simulators[code]
    before = _calls(simulator, "content")
    set_faults(simulator, truncated=1.0, operations=["content"])
    with pytest.raises(Malformed) as raised:
        await _content(adapter(code, simulators, fast_settings))
    assert raised.value.transient
    assert _calls(simulator, "content") - before == fast_settings.retry_max_attempts


async def test_retry_after_is_honoured(simulators, fast_settings):
    simulator = simulators["C"]
    set_faults(simulator, rate_limit=1.0, times=1, retry_after_s=0.4, operations=["content"])
    started = time.monotonic()
    hotels = await _content(adapter("C", simulators, fast_settings))
    assert hotels and time.monotonic() - started >= 0.4  # waited as told, not the 20 ms backoff


async def test_supplier_c_enforces_its_rate_limit_with_retry_after(simulators):
    simulator = simulators["C"]
    httpx.post(f"{simulator.base_url}/_admin/rate-limit", json={"per_second": 2},
               headers={"X-Admin-Key": "dev-supplier-c-key"}).raise_for_status()
    statuses = []
    async with httpx.AsyncClient(base_url=simulator.base_url,
                                 headers={"Authorization": "Bearer dev-supplier-c-key"}) as client:
        for _ in range(5):
            response = await client.get("/v3/properties", params={"limit": 1})
            statuses.append((response.status_code, response.headers.get("retry-after")))
    assert statuses[0][0] == 200 and (429, "1") in statuses


@pytest.mark.parametrize("code", CODES)
async def test_a_hanging_supplier_times_out_within_the_budget(code, simulators, fast_settings):
    set_faults(simulators[code], timeout=1.0, hang_ms=5000, operations=["content"])
    started = time.monotonic()
    with pytest.raises(SupplierTimeout):
        await _content(adapter(code, simulators, fast_settings))
    # the whole call, retries included, stays inside QUERY_TIMEOUT_MS (plus scheduling slack)
    assert time.monotonic() - started < fast_settings.query_timeout_ms / 1000 + 1.0


@pytest.mark.parametrize("code", CODES)
async def test_latency_within_budget_only_slows_the_call(code, simulators, fast_settings):
    set_faults(simulators[code], latency_ms=150, operations=["content"])
    started = time.monotonic()
    hotels = await _content(adapter(code, simulators, fast_settings))
    assert hotels and time.monotonic() - started >= 0.15


@pytest.mark.parametrize("code", CODES)
async def test_bad_records_are_returned_for_quarantine_not_raised(code, simulators, world, fast_settings):
    set_faults(simulators[code], missing_field=True, operations=["availability", "content"])
    client = adapter(code, simulators, fast_settings)
    content = await _content(client)
    assert sum(isinstance(item, InvalidRecord) for item in content) == 1
    check_in = dt.date.today() + dt.timedelta(days=3)
    ids = [h.supplier_hotel_id for h in world.supplier_hotels[code][:2]]
    items = [item async for item in client.availability(ids, check_in, check_in + dt.timedelta(days=2))]
    invalid = [item for item in items if isinstance(item, InvalidRecord)]
    assert invalid and all(item.feed == "inventory" and "missing field" in item.reason for item in invalid)
    assert any(isinstance(item, NightlyRate) for item in items)

    set_faults(simulators[code], negative_price=True, operations=["availability"])
    items = [item async for item in client.availability(ids, check_in, check_in + dt.timedelta(days=2))]
    negative = [item for item in items if isinstance(item, NightlyRate) and item.net.amount <= 0]
    assert len(negative) == 1  # passed on as data: the feed contract quarantines it


async def test_circuit_breaker_opens_then_closes_after_the_reset_time(simulators, fast_settings):
    simulator = simulators["A"]
    breaker = CircuitBreaker("A", failure_threshold=2, reset_timeout_s=0.3)
    client = adapter("A", simulators, fast_settings, breaker=breaker)
    set_faults(simulator, error_5xx=1.0, operations=["content"])
    with pytest.raises(CircuitOpen):  # two 503s open it; the third attempt is refused locally
        await _content(client)
    assert breaker.state == OPEN
    calls = _calls(simulator, "content")
    assert calls >= 2
    with pytest.raises(CircuitOpen):
        await _content(client)
    assert _calls(simulator, "content") == calls  # open: nothing went out

    set_faults(simulator)  # the supplier recovers
    await asyncio.sleep(0.35)
    assert breaker.state == "half_open"
    assert await _content(client)
    assert breaker.state == CLOSED


async def test_a_failed_trial_call_reopens_the_breaker(simulators, fast_settings):
    breaker = CircuitBreaker("B", failure_threshold=1, reset_timeout_s=0.2)
    client = adapter("B", simulators, fast_settings, breaker=breaker)
    set_faults(simulators["B"], error_5xx=1.0, operations=["content"])
    with pytest.raises(SupplierError):
        await _content(client)
    await asyncio.sleep(0.25)
    with pytest.raises(SupplierError):
        await _content(client)  # the half-open trial fails
    assert breaker.state == OPEN


async def _offer(client, world, code, days_ahead: int):
    check_in = dt.date.today() + dt.timedelta(days=days_ahead)
    check_out = check_in + dt.timedelta(days=1)
    ids = [h.supplier_hotel_id for h in world.supplier_hotels[code][:5]]
    async for item in client.availability(ids, check_in, check_out):
        if isinstance(item, NightlyRate) and item.allotment > 0 and item.rate_plan == "BAR":
            return BookingRequest(f"R-{code}-{days_ahead}-{time.monotonic_ns()}", item.supplier_hotel_id,
                                  item.room_code, item.board, item.rate_plan, check_in, check_out, 1,
                                  ({"first_name": "Mei", "last_name": "Chen"},), item.net)
    raise AssertionError("no offer")


@pytest.mark.parametrize("code", CODES)
async def test_book_then_timeout_finds_the_booking_instead_of_booking_twice(code, simulators, world, fast_settings):
    simulator = simulators[code]
    client = adapter(code, simulators, fast_settings)
    request = await _offer(client, world, code, 50)
    before = stats(simulator)
    set_faults(simulator, book_then_timeout=True, hang_ms=4000, times=1)
    booking = await client.book(request)
    after = stats(simulator)
    assert booking.status is BookingStatus.CONFIRMED and booking.our_reference == request.our_reference
    assert after["bookings"] - before["bookings"] == 1
    assert after["booking_attempts"] - before["booking_attempts"] == 1  # never sent twice
    assert after["calls"]["find_booking" if code != "B" else "get_booking"] > before["calls"].get(
        "find_booking" if code != "B" else "get_booking", 0)


@pytest.mark.parametrize("code", CODES)
async def test_a_booking_refused_with_5xx_is_looked_up_and_not_retried(code, simulators, world, fast_settings):
    simulator = simulators[code]
    client = adapter(code, simulators, fast_settings)
    request = await _offer(client, world, code, 51)
    before = stats(simulator)
    set_faults(simulator, error_5xx=1.0, operations=["book"])
    with pytest.raises(SupplierError) as raised:
        await client.book(request)
    after = stats(simulator)
    assert raised.value.status == 503
    assert after["calls"]["book"] - before["calls"].get("book", 0) == 1  # no blind retry
    assert after["bookings"] == before["bookings"]
    assert await client.find_booking(request.our_reference) is None


async def test_calls_are_recorded_counted_and_logged(simulators, fast_settings, engine, database_url):
    label = {"supplier": "B", "operation": "content", "outcome": "http_error"}
    counted = REGISTRY.get_sample_value("supplier_calls_total", label) or 0
    set_faults(simulators["B"], error_5xx=1.0, times=1, operations=["content"])
    client = adapter("B", simulators, fast_settings, database_url=database_url)
    await _content(client)
    assert REGISTRY.get_sample_value("supplier_calls_total", label) == counted + 1
    recorder_for(database_url).flush()
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT outcome, http_status, latency_ms FROM supplier_calls WHERE supplier_code = 'B' "
            "AND operation = 'content' ORDER BY id").fetchall()
    assert [(row.outcome, row.http_status) for row in rows[-2:]] == [("http_error", 503), ("ok", 200)]
    assert all(row.latency_ms >= 0 for row in rows)
