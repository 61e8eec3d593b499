"""Orders against the simulated supplier A over real HTTP: booking, idempotency, overselling,
price changes, unknown outcomes, expiry, cancellation, credit, risk and velocity."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import ROUND_HALF_UP, Decimal

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.schemas import OrderOut
from tests.api_fixtures import (
    ServedApp,
    auth,
    guests,
    new_partner,
    new_staff,
    order_body,
    seed_from_simulator,
    start_supplier_a,
)

_days = itertools.count(30, 3)


@pytest.fixture(scope="module")
def sim(engine, settings):
    running = start_supplier_a(engine, settings)
    yield running
    running.stop()


@pytest.fixture
def faults(sim):
    admin = {"X-Admin-Key": sim.state.api_key}

    def set_faults(**values):
        response = httpx.post(f"{sim.base_url}/_admin/faults", json=values, headers=admin, timeout=5)
        assert response.status_code == 200, response.text

    yield set_faults
    httpx.delete(f"{sim.base_url}/_admin/faults", headers=admin, timeout=5)


def _book_count(sim, our_reference: str) -> int:
    return sum(1 for b in sim.state.bookings.values() if b.our_reference == our_reference)


@pytest.fixture
def world(engine, redis_url, sim):
    """Fresh nights (a new date range per test) for three of the simulator's hotels."""
    start = dt.date.today() + dt.timedelta(days=next(_days))
    offers = seed_from_simulator(engine, redis_url, sim, start=start, nights=2, hotels=3, allotment=20)
    assert offers
    return {"start": start, "offers": offers}


def _quote(client, headers, world, hotel_id: str | None = None, rooms: int = 1) -> dict:
    target = world["offers"][0]
    start = world["start"]
    response = client.post("/v1/quotes", headers=headers, json={
        "hotel_ids": [hotel_id or target["hotel_id"]], "check_in": start.isoformat(),
        "check_out": (start + dt.timedelta(days=2)).isoformat(), "rooms": rooms, "adults": rooms})
    assert response.status_code == 200, response.text
    return response.json()


def _offer_for(quote: dict, world) -> dict:
    target = world["offers"][0]
    matches = [o for o in quote["offers"] if o["room_type"] == target["room_name"] and o["board"] == "RO"
               and o["refundable"]]
    assert matches, quote
    return matches[0]


def _allotment(engine, room_type_id: int, start: dt.date) -> list[int]:
    """Rooms sellable per night: the supplier's allotment less the platform's holds."""
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(sa.text(
            "SELECT greatest(allotment - held, 0) FROM availability WHERE room_type_id = :rt AND stay_date >= :s"
            " AND stay_date < :e ORDER BY stay_date"),
            {"rt": room_type_id, "s": start, "e": start + dt.timedelta(days=2)})]


def test_order_books_once_and_writes_events(api_client, engine, sim, world):
    headers = auth(api_client, new_partner(engine))
    offer = _offer_for(_quote(api_client, headers, world), world)
    before = _allotment(engine, world["offers"][0]["room_type_id"], world["start"])
    response = api_client.post("/v1/orders", headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                               json=order_body(offer["offer_id"], client_reference="PO-1"))
    assert response.status_code == 201, response.text
    order = response.json()
    OrderOut.model_validate(order)
    assert order["status"] == "CONFIRMED"
    assert order["total_price"] == offer["total_price"]
    assert order["client_reference"] == "PO-1"
    assert _book_count(sim, order["our_reference"]) == 1
    assert _allotment(engine, world["offers"][0]["room_type_id"], world["start"]) == [n - 1 for n in before]
    with engine.connect() as conn:
        events = conn.execute(sa.text("SELECT from_status, to_status FROM order_events WHERE order_id = :id"
                                      " AND from_status IS DISTINCT FROM to_status ORDER BY id"),
                              {"id": order["order_id"]}).fetchall()
        outbox = conn.execute(sa.text("SELECT event_type FROM outbox_events WHERE aggregate_id = :id ORDER BY id"),
                              {"id": order["order_id"]}).scalars().all()
        stored = conn.execute(sa.text("SELECT net_amount, sell_amount, price_breakdown FROM orders WHERE id = :id"),
                              {"id": order["order_id"]}).one()
    assert [tuple(e) for e in events] == [(None, "PENDING"), ("PENDING", "CONFIRMED")]
    assert outbox == ["order.pending", "order.confirmed"]
    assert stored.net_amount == world["offers"][0]["net"]
    assert {"net", "platform_markup", "partner_markup", "fx", "sell"} <= set(stored.price_breakdown)
    fetched = api_client.get(f"/v1/orders/{order['order_id']}", headers=headers)
    assert fetched.status_code == 200 and fetched.json()["status"] == "CONFIRMED"
    assert "A-" not in fetched.text and "supplier" not in fetched.text


def test_idempotent_retry_books_once(api_client, engine, sim, world):
    headers = auth(api_client, new_partner(engine))
    offer = _offer_for(_quote(api_client, headers, world), world)
    key = {"Idempotency-Key": f"retry-{uuid.uuid4()}"}
    attempts_before = sim.state.booking_attempts
    first = api_client.post("/v1/orders", headers={**headers, **key}, json=order_body(offer["offer_id"]))
    second = api_client.post("/v1/orders", headers={**headers, **key}, json=order_body(offer["offer_id"]))
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers.get("idempotent-replayed") == "true"
    assert sim.state.booking_attempts - attempts_before == 1
    assert _book_count(sim, first.json()["our_reference"]) == 1
    other_body = api_client.post("/v1/orders", headers={**headers, **key},
                                 json=order_body(offer["offer_id"], client_reference="different"))
    assert other_body.status_code == 422
    assert other_body.json()["error"]["code"] == "idempotency_key_reused"
    # Keys are scoped to the partner: another partner's same key is a different request.
    other_partner = auth(api_client, new_partner(engine))
    foreign = api_client.post("/v1/orders", headers={**other_partner, **key}, json=order_body(offer["offer_id"]))
    assert foreign.status_code == 404  # and it cannot see the first partner's offer either
    with engine.connect() as conn:
        kept = conn.execute(sa.text("SELECT expires_at - created_at FROM idempotency_keys WHERE key = :k"),
                            {"k": key["Idempotency-Key"]}).scalars().all()
    assert kept and all(k >= dt.timedelta(hours=24) for k in kept)


def test_concurrent_duplicate_is_409(engine, settings, migrated, sim, world, faults):
    faults(latency_ms=600, operations=["book"])
    with ServedApp(settings, migrated) as served, httpx.Client(base_url=served.base_url, timeout=30) as client:
        headers = auth(client, new_partner(engine))
        offer = _offer_for(_quote(client, headers, world), world)
        key = {"Idempotency-Key": f"dup-{uuid.uuid4()}"}
        with ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(client.post, "/v1/orders", headers={**headers, **key},
                                   json=order_body(offer["offer_id"])) for _ in range(2)]
            statuses = sorted(f.result().status_code for f in futures)
    assert statuses == [201, 409]


def test_last_room_is_sold_once(engine, settings, migrated, redis_url, sim):
    start = dt.date.today() + dt.timedelta(days=next(_days))
    world = {"start": start, "offers": seed_from_simulator(engine, redis_url, sim, start=start, nights=2,
                                                           hotels=1, allotment=1)}
    with ServedApp(settings, migrated) as served, httpx.Client(base_url=served.base_url, timeout=30) as client:
        partners = [auth(client, new_partner(engine)) for _ in range(6)]
        offers = [_offer_for(_quote(client, headers, world), world)["offer_id"] for headers in partners]

        def order(index: int) -> httpx.Response:
            return client.post("/v1/orders", headers={**partners[index], "Idempotency-Key": str(uuid.uuid4())},
                               json=order_body(offers[index], guests=guests(last=f"Guest{index}")))

        with ThreadPoolExecutor(6) as pool:
            responses = list(pool.map(order, range(6)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409, 409, 409, 409, 409], [r.text for r in responses]
    winner = next(r for r in responses if r.status_code == 201).json()
    assert winner["status"] == "CONFIRMED"
    assert all(r.json()["error"]["code"] == "sold_out" for r in responses if r.status_code == 409)
    assert _allotment(engine, world["offers"][0]["room_type_id"], start) == [0, 0]


def test_price_change_fails_with_new_price(api_client, engine, sim, world, faults):
    headers = auth(api_client, new_partner(engine))
    offer = _offer_for(_quote(api_client, headers, world), world)
    before = _allotment(engine, world["offers"][0]["room_type_id"], world["start"])
    faults(price_change_pct=10)
    response = api_client.post("/v1/orders", headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                               json=order_body(offer["offer_id"]))
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "price_changed"
    old, new = Decimal(offer["total_price"]["amount"]), Decimal(error["new_price"]["amount"])
    assert new > old and abs(new - old * Decimal("1.1")) <= Decimal("0.05")
    order = api_client.get(f"/v1/orders/{error['order_id']}", headers=headers).json()
    assert order["status"] == "FAILED"
    assert _allotment(engine, world["offers"][0]["room_type_id"], world["start"]) == before  # released


def test_booking_timeout_resolved_by_reference_not_rebooked(engine, settings, migrated, sim, world, faults):
    fast = settings.model_copy(update={"query_timeout_ms": 1500})
    faults(book_then_timeout=True, hang_ms=4000, operations=["book"], times=1)
    from api.app import create_app

    with TestClient(create_app(fast, migrated)) as client:
        headers = auth(client, new_partner(engine))
        offer = _offer_for(_quote(client, headers, world), world)
        attempts = sim.state.booking_attempts
        response = client.post("/v1/orders", headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                               json=order_body(offer["offer_id"]))
        assert response.status_code == 201, response.text
        order = response.json()
        assert order["status"] == "CONFIRMED"  # found by our reference after the timeout
        assert sim.state.booking_attempts - attempts == 1
        assert _book_count(sim, order["our_reference"]) == 1


def test_unknown_outcome_stays_pending_then_expires_and_releases(api_client, engine, sim, world, faults):
    headers = auth(api_client, new_partner(engine))
    offer = _offer_for(_quote(api_client, headers, world), world)
    before = _allotment(engine, world["offers"][0]["room_type_id"], world["start"])
    faults(error_5xx=1.0, operations=["book"])
    response = api_client.post("/v1/orders", headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                               json=order_body(offer["offer_id"]))
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "PENDING"
    assert _allotment(engine, world["offers"][0]["room_type_id"], world["start"]) == [n - 1 for n in before]
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE orders SET expires_at = now() - interval '1 minute' WHERE id = :id"),
                     {"id": order["order_id"]})
    expired = api_client.get(f"/v1/orders/{order['order_id']}", headers=headers).json()
    assert expired["status"] == "EXPIRED"
    assert _book_count(sim, order["our_reference"]) == 0
    assert _allotment(engine, world["offers"][0]["room_type_id"], world["start"]) == before


def test_cancel_releases_and_is_repeatable(api_client, engine, sim, world):
    creds = new_partner(engine, credit_limit="100000")
    headers = auth(api_client, creds)
    offer = _offer_for(_quote(api_client, headers, world), world)
    before = _allotment(engine, world["offers"][0]["room_type_id"], world["start"])
    order = api_client.post("/v1/orders", headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                            json=order_body(offer["offer_id"])).json()
    cancelled = api_client.post(f"/v1/orders/{order['order_id']}/cancel", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert body["status"] == "CANCELLED"
    # Check-in is weeks away: inside the free-cancellation window of the policy.
    assert body["cancellation_fee"] == {"amount": "0.00", "currency": offer["total_price"]["currency"]}
    assert sim.state.find(order["our_reference"]).status == "cancelled"
    assert _allotment(engine, world["offers"][0]["room_type_id"], world["start"]) == before
    again = api_client.post(f"/v1/orders/{order['order_id']}/cancel", headers=headers)
    assert again.status_code == 200 and again.json()["status"] == "CANCELLED"


def test_credit_limit_and_release_on_cancel(api_client, engine, sim, world):
    price = None
    creds = new_partner(engine, credit_limit="1")
    headers = auth(api_client, creds)
    offer = _offer_for(_quote(api_client, headers, world), world)
    price = Decimal(offer["total_price"]["amount"])
    refused = api_client.post("/v1/orders", headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                              json=order_body(offer["offer_id"]))
    assert refused.status_code == 402 and refused.json()["error"]["code"] == "credit_limit_exceeded"
    # Room for exactly one order (the risk score stays under the threshold at 20 % of the limit or less).
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE partners SET credit_limit = :l WHERE id = :id"),
                     {"l": price * 5 + Decimal("0.01"), "id": creds.partner_id})
    ids = []
    for index in range(5):
        offer = _offer_for(_quote(api_client, headers, world), world)
        response = api_client.post("/v1/orders", headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                                   json=order_body(offer["offer_id"], guests=guests(last=f"C{index}")))
        assert response.status_code == 201, response.text
        ids.append(response.json()["order_id"])
    offer = _offer_for(_quote(api_client, headers, world), world)
    over = api_client.post("/v1/orders", headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                           json=order_body(offer["offer_id"], guests=guests(last="Over")))
    assert over.status_code == 402

    # The partner and the operator see the credit the orders hold, and what is left of the limit.
    operator = auth(api_client, new_staff(engine, "operator"))
    limit = price * 5 + Decimal("0.01")

    def credit_shown() -> tuple[Decimal, Decimal]:
        own = api_client.get("/v1/credit", headers=headers)
        assert own.status_code == 200, own.text
        shown = api_client.get(f"/v1/admin/partners/{creds.partner_id}", headers=operator).json()
        assert {key: shown[key] for key in own.json()} == own.json()
        assert shown["credit_used"]["currency"] == shown["credit_available"]["currency"] == "CNY"
        return Decimal(shown["credit_used"]["amount"]), Decimal(shown["credit_available"]["amount"])

    with engine.connect() as conn:
        held = {str(i): Decimal(a) for i, a in conn.execute(sa.text(
            "SELECT id, price_breakdown->'credit'->>'amount' FROM orders WHERE partner_id = :p"),
            {"p": creds.partner_id})}
    assert sorted(held) == sorted(ids)
    cents = {"exp": Decimal("0.01"), "rounding": ROUND_HALF_UP}
    assert credit_shown() == (sum(held.values()).quantize(**cents), (limit - sum(held.values())).quantize(**cents))
    # What the orders hold is in CNY: the credit currency stays until none holds any.
    moved = api_client.patch(f"/v1/admin/partners/{creds.partner_id}", headers=operator, json={"currency": "USD"})
    assert moved.status_code == 409 and moved.json()["error"]["fields"][0]["field"] == "currency", moved.text
    assert "5 order(s) hold credit in CNY" in moved.json()["error"]["message"]
    idle = new_partner(engine)
    moved = api_client.patch(f"/v1/admin/partners/{idle.partner_id}", headers=operator, json={"currency": "USD"})
    assert moved.status_code == 200 and moved.json()["credit_available"]["currency"] == "USD", moved.text
    assert api_client.post(f"/v1/orders/{ids[0]}/cancel", headers=headers).status_code == 200
    assert credit_shown()[0] == (sum(held.values()) - held[ids[0]]).quantize(**cents)
    retry = api_client.post("/v1/orders", headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                            json=order_body(offer["offer_id"], guests=guests(last="Over")))
    assert retry.status_code == 201, retry.text


@pytest.mark.parametrize("auto_reject", [False, True])
def test_risky_order_review_or_reject(engine, settings, migrated, sim, world, auto_reject):
    from api.app import create_app

    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE feature_flags SET enabled = :on, rollout_pct = 100"
                             " WHERE name = 'risk.auto.reject'"), {"on": auto_reject})
    strict = settings.model_copy(update={"risk_score_threshold": 40})
    try:
        with TestClient(create_app(strict, migrated)) as client:
            creds = new_partner(engine)
            headers = auth(client, creds)
            offer = _offer_for(_quote(client, headers, world), world)
            with engine.begin() as conn:  # this order becomes more than half the partner's credit
                conn.execute(sa.text("UPDATE partners SET credit_limit = :l WHERE id = :id"),
                             {"l": Decimal(offer["total_price"]["amount"]) * Decimal("1.5"), "id": creds.partner_id})
            attempts = sim.state.booking_attempts
            response = client.post("/v1/orders", headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                                   json=order_body(offer["offer_id"]))
            if auto_reject:
                assert response.status_code == 422, response.text
                assert response.json()["error"]["code"] == "risk_rejected"
                order_id = response.json()["error"]["order_id"]
            else:
                assert response.status_code == 201, response.text
                assert response.json()["status"] == "REVIEW"
                order_id = response.json()["order_id"]
            assert sim.state.booking_attempts == attempts  # nothing booked either way
            # Only an operator decides; the partner cannot approve its own order.
            decision = {"decision": "approve"}
            assert client.post(f"/v1/orders/{order_id}/review", headers=headers, json=decision).status_code == 403
            operator = auth(client, new_staff(engine, "operator"))
            approved = client.post(f"/v1/orders/{order_id}/review", headers=operator, json=decision)
            if auto_reject:
                assert approved.status_code == 409  # a rejected order is final
            else:
                assert approved.status_code == 201, approved.text
                assert approved.json()["status"] == "CONFIRMED"
                assert sim.state.booking_attempts == attempts + 1
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE feature_flags SET enabled = false WHERE name = 'risk.auto.reject'"))
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT status, risk_score, risk_reasons FROM orders WHERE id = :id"),
                           {"id": order_id}).one()
    assert row.status == ("FAILED" if auto_reject else "CONFIRMED")
    assert row.risk_score >= 40
    assert "amount_high" in {r["code"] for r in row.risk_reasons}


def test_velocity_limit(engine, settings, migrated, sim, world):
    from api.app import create_app

    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO platform_config (key, value, env) VALUES ('orders.velocity', :v, :e)"
                             " ON CONFLICT (key, env) DO UPDATE SET value = EXCLUDED.value"),
                     {"v": json.dumps({"per_minute": 2, "per_hour": 100}), "e": settings.hotel_env})
    try:
        with TestClient(create_app(settings, migrated)) as client:
            headers = auth(client, new_partner(engine))
            statuses = []
            for index in range(3):
                offer = _offer_for(_quote(client, headers, world), world)
                statuses.append(client.post("/v1/orders", headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                                            json=order_body(offer["offer_id"], guests=guests(last=f"V{index}"))))
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM platform_config WHERE key = 'orders.velocity'"))
    assert [r.status_code for r in statuses] == [201, 201, 429]
    assert statuses[2].json()["error"]["code"] == "velocity_limit"
    assert "Retry-After" in statuses[2].headers


def test_order_list_paging_and_filters(api_client, engine, sim, world):
    headers = auth(api_client, new_partner(engine))
    made = []
    for index in range(3):
        offer = _offer_for(_quote(api_client, headers, world), world)
        made.append(api_client.post("/v1/orders", headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                                    json=order_body(offer["offer_id"], guests=guests(last=f"L{index}"))).json())
    api_client.post(f"/v1/orders/{made[0]['order_id']}/cancel", headers=headers)
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api_client.get("/v1/orders", headers=headers, params=params).json()
        seen += [o["order_id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [o["order_id"] for o in reversed(made)]
    cancelled = api_client.get("/v1/orders", headers=headers, params={"status": "CANCELLED"}).json()
    assert [o["order_id"] for o in cancelled["items"]] == [made[0]["order_id"]]
    today = dt.date.today().isoformat()
    assert len(api_client.get("/v1/orders", headers=headers, params={"from": today, "to": today}).json()["items"]) == 3
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    assert api_client.get("/v1/orders", headers=headers, params={"from": tomorrow}).json()["items"] == []
    assert api_client.get("/v1/orders", headers=headers, params={"cursor": "garbage"}).status_code == 422


def test_retry_after_a_lost_request_answers_its_order(api_client, engine, sim, world):
    """The first request created (and booked) the order, then died before answering: the retry with the
    same key returns that order; nothing is created or booked again."""
    headers = auth(api_client, new_partner(engine))
    offer = _offer_for(_quote(api_client, headers, world), world)
    key = {"Idempotency-Key": f"lost-{uuid.uuid4()}"}
    first = api_client.post("/v1/orders", headers={**headers, **key}, json=order_body(offer["offer_id"])).json()
    with engine.begin() as conn:  # as the key looks when the process died mid-request
        conn.execute(sa.text(
            "UPDATE idempotency_keys SET state = 'in_progress', response_status = NULL,"
            " response_body = jsonb_build_object('order_id', CAST(:o AS text)),"
            " created_at = now() - interval '1 minute' WHERE key = :k"), {"o": first["order_id"],
                                                                           "k": key["Idempotency-Key"]})
    attempts = sim.state.booking_attempts
    with engine.connect() as conn:
        orders_before = conn.execute(sa.text("SELECT count(*) FROM orders")).scalar_one()
    retry = api_client.post("/v1/orders", headers={**headers, **key}, json=order_body(offer["offer_id"]))
    assert retry.status_code == 201, retry.text
    assert retry.json()["order_id"] == first["order_id"] and retry.json()["status"] == "CONFIRMED"
    assert sim.state.booking_attempts == attempts
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM orders")).scalar_one() == orders_before


def test_key_links_to_its_order_in_the_same_transaction(api_client, engine, sim, world):
    headers = auth(api_client, new_partner(engine))
    offer = _offer_for(_quote(api_client, headers, world), world)
    key = f"link-{uuid.uuid4()}"
    order = api_client.post("/v1/orders", headers={**headers, "Idempotency-Key": key},
                            json=order_body(offer["offer_id"])).json()
    with engine.connect() as conn:
        state, body = conn.execute(sa.text("SELECT state, response_body FROM idempotency_keys WHERE key = :k"),
                                   {"k": key}).one()
    assert state == "completed" and body["order_id"] == order["order_id"]


def test_guest_full_names_and_contact_by_email_only(api_client, engine, sim, world):
    headers = auth(api_client, new_partner(engine))
    offer = _offer_for(_quote(api_client, headers, world), world)
    body = {"offer_id": offer["offer_id"], "guests": [{"name": "Grace Brewster Hopper", "type": "adult"}],
            "contact": {"email": "grace@example.com"}}
    response = api_client.post("/v1/orders", headers={**headers, "Idempotency-Key": str(uuid.uuid4())}, json=body)
    assert response.status_code == 201, response.text
    guest = response.json()["guests"][0]
    assert (guest["first_name"], guest["last_name"]) == ("Grace Brewster", "Hopper")
    nameless = {**body, "guests": [{"type": "adult"}]}
    refused = api_client.post("/v1/orders", headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                              json=nameless)
    assert refused.status_code == 422 and "first_name" in refused.json()["error"]["message"]
    unreachable = {**body, "contact": {"name": "Grace"}}
    refused = api_client.post("/v1/orders", headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                              json=unreachable)
    assert refused.status_code == 422 and "email" in refused.json()["error"]["message"]


def _offered_rooms(client, headers, hotel_id: str, start: dt.date) -> set[str]:
    quote = client.post("/v1/quotes", headers=headers, json={
        "hotel_ids": [hotel_id], "check_in": start.isoformat(),
        "check_out": (start + dt.timedelta(days=2)).isoformat(), "rooms": 1, "adults": 1})
    assert quote.status_code == 200, quote.text
    return {offer["room_type"] for offer in quote.json()["offers"]}


def _within_a_second(probe, expected) -> object:
    deadline = time.monotonic() + 1.0
    while (seen := probe()) != expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return seen


def test_the_last_room_sold_leaves_the_quotes_and_comes_back_when_cancelled(api_client, engine, redis_url, sim):
    """Quotes answer from the hot cache, not PostgreSQL: a hold reaches it within a second, and so does the
    release of a cancellation (no sync in between)."""
    start = dt.date.today() + dt.timedelta(days=next(_days))
    [target] = seed_from_simulator(engine, redis_url, sim, start=start, nights=2, hotels=1, allotment=1)
    headers = auth(api_client, new_partner(engine))
    rooms_before = _offered_rooms(api_client, headers, target["hotel_id"], start)
    assert target["room_name"] in rooms_before
    offer = _offer_for(_quote(api_client, headers, {"start": start, "offers": [target]}), {"offers": [target]})
    order = api_client.post("/v1/orders", headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                            json=order_body(offer["offer_id"]))
    assert order.status_code == 201 and order.json()["status"] == "CONFIRMED", order.text

    sold_out = rooms_before - {target["room_name"]}
    assert _within_a_second(lambda: _offered_rooms(api_client, headers, target["hotel_id"], start),
                            sold_out) == sold_out
    again = api_client.post("/v1/quotes", headers=headers, json={
        "hotel_ids": [target["hotel_id"]], "check_in": start.isoformat(),
        "check_out": (start + dt.timedelta(days=2)).isoformat(), "rooms": 1, "adults": 1}).json()
    assert all(o["room_type"] != target["room_name"] for o in again["offers"])

    cancelled = api_client.post(f"/v1/orders/{order.json()['order_id']}/cancel", headers=headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELLED", cancelled.text
    assert _within_a_second(lambda: _offered_rooms(api_client, headers, target["hotel_id"], start),
                            rooms_before) == rooms_before
