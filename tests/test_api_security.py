"""OWASP API Security Top 10, where it applies to the partner API.

API1 object-level authorization (BOLA), API2 authentication (see test_api_auth.py), API3 object
property level (no supplier/net data out, no mass assignment in), API4 resource consumption
(body size, rate limits, page sizes), API5 function-level authorization, API8 misconfiguration
(no stack traces).
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.api_fixtures import auth, new_partner, new_staff, order_body, seed_from_simulator, start_supplier_a, token


@pytest.fixture(scope="module")
def sim(engine, settings):
    running = start_supplier_a(engine, settings, seed=11, hotels=6)
    yield running
    running.stop()


@pytest.fixture
def booked(api_client, engine, redis_url, sim):
    """Partner A with a quote and a confirmed order; partner B with its own token."""
    start = dt.date.today() + dt.timedelta(days=90)
    offers = seed_from_simulator(engine, redis_url, sim, start=start, nights=1, hotels=1, allotment=20)
    a, b = auth(api_client, new_partner(engine)), auth(api_client, new_partner(engine))
    quote = api_client.post("/v1/quotes", headers=a, json={
        "hotel_ids": [offers[0]["hotel_id"]], "check_in": start.isoformat(),
        "check_out": (start + dt.timedelta(days=1)).isoformat(), "adults": 1}).json()
    # The room the simulator has for that night (it sells out ~7 % of room-nights, whatever our cache says).
    offer = next(o for o in quote["offers"] if o["room_type"] == offers[0]["room_name"] and o["board"] == "RO"
                 and o["refundable"])
    order = api_client.post("/v1/orders", headers={**a, "Idempotency-Key": str(uuid.uuid4())},
                            json=order_body(offer["offer_id"]))
    assert order.status_code == 201, order.text
    return {"a": a, "b": b, "quote": quote, "offer": offer, "order": order.json()}


def test_bola_other_partner_sees_404_everywhere(api_client, booked):
    a, b, order, quote = booked["a"], booked["b"], booked["order"], booked["quote"]
    order_id = order["order_id"]
    assert api_client.get(f"/v1/orders/{order_id}", headers=b).status_code == 404
    assert api_client.post(f"/v1/orders/{order_id}/cancel", headers=b).status_code == 404
    assert api_client.get(f"/v1/quotes/{quote['quote_id']}", headers=b).status_code == 404
    assert order_id not in api_client.get("/v1/orders", headers=b).text
    stolen = api_client.post("/v1/orders", headers={**b, "Idempotency-Key": str(uuid.uuid4())},
                             json=order_body(booked["offer"]["offer_id"]))
    assert stolen.status_code == 404
    # The owner still sees it, unchanged: B's attempts did nothing.
    mine = api_client.get(f"/v1/orders/{order_id}", headers=a)
    assert mine.status_code == 200 and mine.json()["status"] == "CONFIRMED"
    # A random id and another partner's id answer identically.
    missing = api_client.get(f"/v1/orders/{uuid.uuid4()}", headers=b)
    foreign = api_client.get(f"/v1/orders/{order_id}", headers=b)
    assert missing.json()["error"]["code"] == foreign.json()["error"]["code"] == "not_found"


def test_bopla_no_supplier_or_net_data_leaves(api_client, booked, engine):
    import sqlalchemy as sa

    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT supplier_code, supplier_ref, net_amount, platform_markup"
                                   " FROM orders WHERE id = :id"), {"id": booked["order"]["order_id"]}).one()
    a = booked["a"]
    texts = [
        api_client.get(f"/v1/orders/{booked['order']['order_id']}", headers=a).text,
        api_client.get("/v1/orders", headers=a).text,
        api_client.get(f"/v1/quotes/{booked['quote']['quote_id']}", headers=a).text,
    ]
    for text in texts:
        for forbidden in ("supplier", "net_amount", "markup", "risk", row.supplier_ref, "Supplier A"):
            assert forbidden not in text, forbidden


def test_mass_assignment_refused(api_client, booked):
    """Fields a partner must not set (status, price, partner) are unknown fields: 422 naming them."""
    body = {**order_body(booked["offer"]["offer_id"]), "status": "CONFIRMED", "sell_amount": "0.01",
            "partner_id": str(uuid.uuid4())}
    response = api_client.post("/v1/orders", headers={**booked["a"], "Idempotency-Key": str(uuid.uuid4())},
                               json=body)
    assert response.status_code == 422
    named = {f["field"] for f in response.json()["error"]["fields"]}
    assert {"status", "sell_amount", "partner_id"} <= named


def test_function_level_authorization(api_client, engine, booked):
    for role in ("operator", "finance"):
        staff = {"Authorization": f"Bearer {token(api_client, new_staff(engine, role))}"}
        assert api_client.get("/v1/orders", headers=staff).status_code == 403
        assert api_client.get(f"/v1/orders/{booked['order']['order_id']}", headers=staff).status_code == 403
        response = api_client.post("/v1/orders", headers={**staff, "Idempotency-Key": "x"},
                                   json=order_body(booked["offer"]["offer_id"]))
        assert response.status_code == 403


def test_oversized_bodies_are_413(api_client, engine):
    headers = auth(api_client, new_partner(engine))
    huge = {"city": "x" * 100, "check_in": "2030-01-01", "check_out": "2030-01-02", "adults": 1,
            "hotel_ids": ["h" * 60] * 2000}
    assert api_client.post("/v1/quotes", headers=headers, json=huge).status_code == 413

    def chunks():
        yield b'{"city": "'
        for _ in range(200):
            yield b"y" * 1024
        yield b'"}'

    streamed = api_client.post("/v1/quotes", headers={**headers, "Content-Type": "application/json"},
                               content=chunks())
    assert streamed.status_code == 413
    assert api_client.post("/v1/auth/token", json={"client_id": "a" * 100_000, "client_secret": "b"}).status_code == 413


def test_missing_idempotency_key_named(api_client, booked):
    response = api_client.post("/v1/orders", headers=booked["a"], json=order_body(booked["offer"]["offer_id"]))
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["error"]["message"]


def test_rate_limit_per_partner_429(engine, settings, migrated):
    limited = settings.model_copy(update={"rate_limit_max": 3, "rate_limit_window_ms": 60_000})
    with TestClient(create_app(limited, migrated)) as client:
        partner = new_partner(engine)
        headers = auth(client, partner)
        other = auth(client, new_partner(engine))
        day = dt.date.today() + dt.timedelta(days=30)
        body = {"city": "Nowhere", "check_in": day.isoformat(), "check_out": (day + dt.timedelta(days=1)).isoformat(),
                "adults": 1}
        statuses = [client.post("/v1/quotes", headers=headers, json=body).status_code for _ in range(3)]
        refused = client.post("/v1/quotes", headers=headers, json=body)
        assert statuses == [200, 200, 200]
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.json()["error"]["code"] == "rate_limited"
        # Per partner: another partner is not affected.
        assert client.post("/v1/quotes", headers=other, json=body).status_code == 200


def test_page_size_is_bounded(api_client, engine):
    headers = auth(api_client, new_partner(engine))
    assert api_client.get("/v1/orders", headers=headers, params={"limit": 100000}).status_code == 422


def test_500_shows_no_stack_trace(settings, migrated):
    app = create_app(settings, migrated)

    @app.get("/v1/boom")
    async def boom():
        raise RuntimeError("secret-internal-detail at /srv/app.py line 42")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/v1/boom")
    assert response.status_code == 500
    text = response.text
    assert "Traceback" not in text and "secret-internal-detail" not in text and ".py" not in text
    assert response.json()["error"]["code"] == "internal_error"
