"""Holds apart from the supplier's allotment, against simulator A (which counts its bookings) and the real
inventory sync: a sync never erases a hold, a release never gives back more than the supplier reported, and an
order whose hold a lowered allotment no longer covers is flagged for an operator, then refused as sold out."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import threading
import uuid
from collections import Counter
from decimal import Decimal

import httpx
import pytest
import redis
import sqlalchemy as sa
from fastapi.testclient import TestClient

from core.hotcache import decode_inventory, product_key
from core.inventory.pipeline import refresh_hot_cache, run_inventory_sync
from tests.api_fixtures import auth, guests, new_partner, new_staff, order_body, seed_from_simulator, start_supplier_a
from tests.live_server import start_apis, stop_api

NIGHTS = 2


@pytest.fixture(scope="module")
def sim(engine, settings):
    running = start_supplier_a(engine, settings)
    yield running
    running.stop()


def supplier_allotment(sim, hotel_id: str, room_code: str, start: dt.date, allotment: int | None = None) -> list:
    """Set (or only read) the supplier's own allotment of a room; per night what it has left after bookings."""
    admin = {"X-Admin-Key": sim.state.api_key}
    span = {"hotel_id": hotel_id, "room_code": room_code, "from": start.isoformat(),
            "to": (start + dt.timedelta(days=NIGHTS)).isoformat()}
    if allotment is None:
        response = httpx.get(f"{sim.base_url}/_admin/allotment", params=span, headers=admin, timeout=5)
    else:
        response = httpx.post(f"{sim.base_url}/_admin/allotment", json={**span, "allotment": allotment},
                              headers=admin, timeout=5)
    assert response.status_code == 200, response.text
    return [night["left"] for night in response.json()["nights"]]


def sync(settings, database_url: str, redis_url: str, sim, start: dt.date):
    """The inventory job's two steps for supplier A over the test's nights: the sync, then the hot cache."""
    results = run_inventory_sync(settings, database_url, start=start, days=NIGHTS, only=["A"],
                                 base_urls={"A": sim.base_url}, max_bad_share=1.0)
    assert results["A"].status == "ok", results["A"].errors
    client = redis.Redis.from_url(redis_url)
    try:
        assert "A" in refresh_hot_cache(database_url, client, only=["A"]).updated
    finally:
        client.close()
    return results["A"]


def stored(engine, room_type_id: int, start: dt.date) -> list[tuple[int, int]]:
    """(supplier's allotment, rooms held) per night in PostgreSQL."""
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.text(
            "SELECT allotment, held FROM availability WHERE room_type_id = :rt AND stay_date >= :s"
            " AND stay_date < :e ORDER BY stay_date"),
            {"rt": room_type_id, "s": start, "e": start + dt.timedelta(days=NIGHTS)})]


def hot_cache(redis_url: str, hotel_id: str, room_type_id: int, start: dt.date) -> list[int]:
    """The sellable counts quotes read for this room type and the test's nights."""
    client = redis.Redis.from_url(redis_url)
    try:
        inventory = decode_inventory(client.get(product_key("A", hotel_id)))
    finally:
        client.close()
    index = list(inventory.room_type_ids).index(room_type_id)
    first = (start - dt.date(1970, 1, 1)).days - inventory.first_day
    return [int(n) for n in inventory.counts[index][first:first + NIGHTS]]


def test_holds_survive_syncs_and_a_lowered_allotment_flags_the_order(engine, settings, migrated, redis_url,
                                                                       database_url, sim):
    from api.app import create_app

    start = dt.date.today() + dt.timedelta(days=60)
    [target] = seed_from_simulator(engine, redis_url, sim, start=start, nights=NIGHTS, hotels=1)
    with engine.connect() as conn:
        hotel_id, room_code = conn.execute(sa.text(
            "SELECT sh.supplier_hotel_id, rt.room_code FROM room_types rt JOIN supplier_hotels sh"
            " ON sh.id = rt.supplier_hotel WHERE rt.id = :rt"), {"rt": target["room_type_id"]}).one()
    room = target["room_type_id"]
    assert supplier_allotment(sim, hotel_id, room_code, start, allotment=3) == [3, 3]
    sync(settings, database_url, redis_url, sim, start)
    assert stored(engine, room, start) == [(3, 0), (3, 0)]
    assert hot_cache(redis_url, hotel_id, room, start) == [3, 3]

    strict = settings.model_copy(update={"risk_score_threshold": 40})
    with TestClient(create_app(strict, migrated)) as client:
        def book(credit_limit_share: Decimal | None) -> dict:
            creds = new_partner(engine)
            headers = auth(client, creds)
            quote = client.post("/v1/quotes", headers=headers, json={
                "hotel_ids": [target["hotel_id"]], "check_in": start.isoformat(),
                "check_out": (start + dt.timedelta(days=NIGHTS)).isoformat(), "adults": 1}).json()
            offer = next(o for o in quote["offers"] if o["room_type"] == target["room_name"]
                         and o["board"] == "RO" and o["refundable"])
            if credit_limit_share is not None:  # the order becomes most of the partner's credit: held for review
                with engine.begin() as conn:
                    conn.execute(sa.text("UPDATE partners SET credit_limit = :l WHERE id = :id"),
                                 {"l": Decimal(offer["total_price"]["amount"]) * credit_limit_share,
                                  "id": creds.partner_id})
            response = client.post("/v1/orders", headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                                   json=order_body(offer["offer_id"]))
            assert response.status_code == 201, response.text
            return {**response.json(), "headers": headers}

        review = book(Decimal("1.5"))
        confirmed = book(None)
        assert (review["status"], confirmed["status"]) == ("REVIEW", "CONFIRMED")
        assert supplier_allotment(sim, hotel_id, room_code, start) == [2, 2]  # the supplier counted its booking
        assert stored(engine, room, start) == [(3, 2), (3, 2)]
        assert hot_cache(redis_url, hotel_id, room, start) == [1, 1]

        # The sync writes the supplier's 2 and keeps the review order's hold; the confirmed booking is in the 2 now.
        result = sync(settings, database_url, redis_url, sim, start)
        assert result.holds_absorbed == NIGHTS
        assert stored(engine, room, start) == [(2, 1), (2, 1)]
        assert hot_cache(redis_url, hotel_id, room, start) == [1, 1]

        # Cancelling the absorbed booking gives nothing back above the supplier's number (until it reports 3).
        cancel = client.post(f"/v1/orders/{confirmed['order_id']}/cancel", headers=confirmed["headers"])
        assert cancel.status_code == 200 and cancel.json()["status"] == "CANCELLED", cancel.text
        assert stored(engine, room, start) == [(2, 1), (2, 1)]
        assert hot_cache(redis_url, hotel_id, room, start) == [1, 1]
        assert supplier_allotment(sim, hotel_id, room_code, start) == [3, 3]

        # The supplier sells its last rooms elsewhere: the review order's hold no longer fits, and says so.
        supplier_allotment(sim, hotel_id, room_code, start, allotment=0)
        result = sync(settings, database_url, redis_url, sim, start)
        assert result.orders_flagged == 1
        assert stored(engine, room, start) == [(0, 1), (0, 1)]
        assert hot_cache(redis_url, hotel_id, room, start) == [0, 0]
        operator = auth(client, new_staff(engine, "operator"))
        flagged = client.get("/v1/orders/flagged", headers=operator)
        assert flagged.status_code == 200, flagged.text
        [item] = [i for i in flagged.json()["items"] if i["order_id"] == review["order_id"]]
        assert item["status"] == "REVIEW"
        assert item["short_nights"] == [{"night": (start + dt.timedelta(days=n)).isoformat(), "allotment": 0,
                                         "held": 1} for n in range(NIGHTS)]
        assert client.get("/v1/orders/flagged", headers=review["headers"]).status_code == 403
        with engine.connect() as conn:
            events = conn.execute(sa.text("SELECT reason, payload FROM order_events WHERE order_id = :id"
                                          " ORDER BY id"), {"id": review["order_id"]}).all()
        assert [e.reason for e in events] == ["risk_review", "hold_exceeds_allotment"]
        assert events[1].payload["supplier_allotment"] == 0

        # A second sync flags nothing again; approving the order finds the supplier sold out, and frees the hold.
        assert sync(settings, database_url, redis_url, sim, start).orders_flagged == 0
        approved = client.post(f"/v1/orders/{review['order_id']}/review", headers=operator,
                               json={"decision": "approve"})
        assert approved.status_code == 409 and approved.json()["error"]["code"] == "sold_out", approved.text
        assert stored(engine, room, start) == [(0, 0), (0, 0)]
        assert sim.state.sold.get((hotel_id, room_code, start), 0) == 0


LAST_ROOMS, ORDERS, PARTNERS = 3, 50, 10


def test_fifty_concurrent_orders_for_the_last_rooms_through_two_api_processes_during_a_sync(
        engine, settings, migrated, redis_url, database_url, sim, tmp_path):
    """Exactly the last rooms are sold, the others answered 409 sold_out; PostgreSQL, the hot cache and the
    supplier agree afterwards, while the inventory sync rewrote those nights again and again."""
    start = dt.date.today() + dt.timedelta(days=90)
    [target] = seed_from_simulator(engine, redis_url, sim, start=start, nights=NIGHTS, hotels=1)
    room = target["room_type_id"]
    with engine.connect() as conn:
        hotel_id, room_code = conn.execute(sa.text(
            "SELECT sh.supplier_hotel_id, rt.room_code FROM room_types rt JOIN supplier_hotels sh"
            " ON sh.id = rt.supplier_hotel WHERE rt.id = :rt"), {"rt": room}).one()
    supplier_allotment(sim, hotel_id, room_code, start, allotment=LAST_ROOMS)
    sync(settings, database_url, redis_url, sim, start)
    assert stored(engine, room, start) == [(LAST_ROOMS, 0)] * NIGHTS

    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "API_WORKERS": "1",
           "LOG_LEVEL": "warning", "RISK_SCORE_THRESHOLD": "100", "RATE_LIMIT_MAX": "100000",
           "JWT_SECRET": settings.jwt_secret.get_secret_value(),
           "ENCRYPTION_SECRET": settings.encryption_secret.get_secret_value()}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    started = start_apis(*({**env, "HOTEL_DATA_DIR": str(tmp_path / f"api{index}")} for index in range(2)))
    try:
        bases = [base for _, base in started]
        partners = [new_partner(engine) for _ in range(PARTNERS)]
        syncs, storm_over = [], threading.Event()

        def keep_syncing() -> None:
            while not storm_over.is_set():
                syncs.append(sync(settings, database_url, redis_url, sim, start))

        async def storm() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=60) as client:
                offers = []
                for number, creds in enumerate(partners):
                    base = bases[number % 2]
                    token = (await client.post(f"{base}/v1/auth/token", json={
                        "client_id": creds.client_id, "client_secret": creds.client_secret})).json()["access_token"]
                    headers = {"Authorization": f"Bearer {token}"}
                    quote = (await client.post(f"{base}/v1/quotes", headers=headers, json={
                        "hotel_ids": [target["hotel_id"]], "check_in": start.isoformat(),
                        "check_out": (start + dt.timedelta(days=NIGHTS)).isoformat(), "adults": 1})).json()
                    offer = next(o for o in quote["offers"] if o["room_type"] == target["room_name"]
                                 and o["board"] == "RO" and o["refundable"])
                    offers.append((headers, offer["offer_id"]))
                worker = threading.Thread(target=keep_syncing)
                worker.start()
                try:
                    return await asyncio.gather(*(
                        client.post(f"{bases[n % 2]}/v1/orders",
                                    headers={**offers[n % PARTNERS][0], "Idempotency-Key": str(uuid.uuid4())},
                                    json=order_body(offers[n % PARTNERS][1], guests=guests(f"Guest{n}", "Storm")))
                        for n in range(ORDERS)))
                finally:
                    storm_over.set()
                    worker.join(timeout=60)

        responses = asyncio.run(storm())
    finally:
        for process, _ in started:
            stop_api(process)

    outcomes = Counter((r.status_code, r.json().get("status") or r.json()["error"]["code"]) for r in responses)
    assert outcomes == {(201, "CONFIRMED"): LAST_ROOMS, (409, "sold_out"): ORDERS - LAST_ROOMS}, outcomes
    assert syncs, "no sync ran during the orders"
    sold = {r.json()["our_reference"] for r in responses if r.status_code == 201}
    booked = [b for b in sim.state.bookings.values() if (b.hotel_id, b.room_code, b.check_in) == (hotel_id, room_code,
                                                                                                   start)]
    assert {b.our_reference for b in booked} == sold  # each sold room booked once at the supplier, nothing else
    assert supplier_allotment(sim, hotel_id, room_code, start) == [0] * NIGHTS
    with engine.connect() as conn:
        sellable = conn.execute(sa.text(
            "SELECT greatest(allotment - held, 0) FROM availability WHERE room_type_id = :rt AND stay_date >= :s"
            " AND stay_date < :e ORDER BY stay_date"),
            {"rt": room, "s": start, "e": start + dt.timedelta(days=NIGHTS)}).scalars().all()
        confirmed = conn.execute(sa.text("SELECT count(*) FROM orders WHERE room_type_id = :rt AND check_in = :s"
                                         " AND status = 'CONFIRMED'"), {"rt": room, "s": start}).scalar_one()
    assert sellable == [0] * NIGHTS and confirmed == LAST_ROOMS
    assert hot_cache(redis_url, hotel_id, room, start) == [0] * NIGHTS
    # The next sync takes the supplier's 0 and absorbs every booking: nothing is held twice any more.
    sync(settings, database_url, redis_url, sim, start)
    assert stored(engine, room, start) == [(0, 0)] * NIGHTS
    assert hot_cache(redis_url, hotel_id, room, start) == [0] * NIGHTS
