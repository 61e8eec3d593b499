"""Operators work orders across partners through /v1/admin/orders, against the real app (lifespan, PostgreSQL,
Redis) and the simulated supplier A over HTTP: find a REVIEW order by the partner's reference, the review queue
oldest first, approve (booked at the supplier), reject, cancel with a reason (a confirmed one at the supplier
first), the order's events as a timeline, and an audit entry naming the operator for each decision."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from core import audit
from tests.api_fixtures import auth, guests, new_partner, new_staff, order_body, seed_from_simulator


@pytest.fixture
def sim(supplier_a):
    return supplier_a


@pytest.fixture
def client(settings, migrated):
    from api.app import create_app

    # A fifth of the credit limit is enough to hold an order for review.
    with TestClient(create_app(settings.model_copy(update={"risk_score_threshold": 20}), migrated)) as client:
        yield client


def _review_orders(client, engine, redis_url, sim, headers, partner_id, references) -> list[dict]:
    start = dt.date.today() + dt.timedelta(days=45)
    target = seed_from_simulator(engine, redis_url, sim, start=start, nights=2, hotels=1, allotment=20)[0]
    quote = client.post("/v1/quotes", headers=headers, json={
        "hotel_ids": [target["hotel_id"]], "check_in": start.isoformat(),
        "check_out": (start + dt.timedelta(days=2)).isoformat(), "adults": 1})
    assert quote.status_code == 200, quote.text
    offer = next(o for o in quote.json()["offers"] if o["refundable"] and o["room_type"] == target["room_name"]
                 and o["board"] == "RO")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE partners SET credit_limit = :l WHERE id = :id"),
                     {"l": Decimal(offer["total_price"]["amount"]) * 4, "id": partner_id})
    orders = []
    for index, reference in enumerate(references):
        response = client.post("/v1/orders", headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                               json=order_body(offer["offer_id"], guests=guests(last=f"Guest{index}"),
                                               client_reference=reference))
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "REVIEW"
        orders.append(response.json())
    return orders


def test_find_review_decide_cancel_with_audit(client, engine, redis_url, sim):
    partner = new_partner(engine)
    headers = auth(client, partner)
    tag = uuid.uuid4().hex[:6]
    refs = [f"PO-{tag}-1", f"PO-{tag}-2", f"PO-{tag}-3"]
    first, second, third = _review_orders(client, engine, redis_url, sim, headers, partner.partner_id, refs)
    staff = new_staff(engine, "operator")
    operator = auth(client, staff)

    found = client.get("/v1/admin/orders", headers=operator, params={"client_reference": refs[1]})
    assert found.status_code == 200, found.text
    [hit] = found.json()["items"]
    assert hit["order_id"] == second["order_id"] and hit["status"] == "REVIEW"
    assert hit["partner_id"] == str(partner.partner_id) and hit["supplier_code"] == "A"
    assert hit["risk_score"] >= 20 and hit["net_price"]["currency"]

    queue = client.get("/v1/admin/orders/review-queue", headers=operator,
                       params={"partner_id": str(partner.partner_id)}).json()
    assert [o["order_id"] for o in queue["items"]] == [o["order_id"] for o in (first, second, third)]
    page = client.get("/v1/admin/orders", headers=operator,
                      params={"partner_id": str(partner.partner_id), "limit": 2}).json()
    rest = client.get("/v1/admin/orders", headers=operator,
                      params={"partner_id": str(partner.partner_id), "limit": 2, "cursor": page["next_cursor"]}).json()
    assert [o["order_id"] for o in page["items"] + rest["items"]] == [o["order_id"] for o in (third, second, first)]
    assert rest["next_cursor"] is None
    today = dt.date.today().isoformat()
    assert len(client.get("/v1/admin/orders", headers=operator, params={
        "partner_id": str(partner.partner_id), "status": "REVIEW", "created_from": today, "created_to": today,
        "supplier_code": "A"}).json()["items"]) == 3

    attempts = sim.state.booking_attempts
    approved = client.post(f"/v1/admin/orders/{first['order_id']}/approve", headers=operator,
                           json={"note": "called the agency, genuine"})
    assert approved.status_code == 201, approved.text
    assert approved.json()["status"] == "CONFIRMED"
    assert sim.state.booking_attempts == attempts + 1
    rejected = client.post(f"/v1/admin/orders/{second['order_id']}/reject", headers=operator,
                           json={"note": "guest name on a watch list"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "FAILED"
    again = client.post(f"/v1/admin/orders/{second['order_id']}/approve", headers=operator, json={})
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_in_review"

    cancelled = client.post(f"/v1/admin/orders/{first['order_id']}/cancel", headers=operator,
                            json={"reason": "hotel closed for renovation"})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "CANCELLED"
    supplier_ref = client.get(f"/v1/admin/orders/{first['order_id']}", headers=operator).json()["supplier_ref"]
    assert sim.state.bookings[supplier_ref].status == "cancelled"  # cancelled at the supplier, not only here
    held = client.post(f"/v1/admin/orders/{third['order_id']}/cancel", headers=operator,
                       json={"reason": "duplicate of another booking"})
    assert held.status_code == 200 and held.json()["status"] == "CANCELLED"

    timeline = client.get(f"/v1/admin/orders/{first['order_id']}", headers=operator).json()
    steps = [(e["from_status"], e["to_status"], e["reason"], e["actor"]) for e in timeline["events"]]
    assert steps[0][:3] == (None, "REVIEW", "risk_review")
    assert (("REVIEW", "PENDING", "review_approved", staff.username) in steps
            and ("CONFIRMED", "CANCELLED", "cancelled_by_operator", staff.username) in steps)
    assert timeline["events"][-1]["payload"]["note"] == "hotel closed for renovation"
    assert [e["id"] for e in timeline["events"]] == sorted(e["id"] for e in timeline["events"])

    for order, actions in ((first, ["order.cancel", "order.approve"]), (second, ["order.reject"]),
                           (third, ["order.cancel"])):
        entries = audit.search(engine, target=f"order:{order['order_id']}")
        assert [e["action"] for e in entries] == actions
        assert {(e["actor"], e["actor_role"], e["source"]) for e in entries} == {(staff.username, "operator", "api")}
    [approval] = audit.search(engine, target=f"order:{first['order_id']}", action="order.approve")
    assert approval["note"] == "called the agency, genuine" and approval["after"] == {"status": "PENDING"}
    [cancel] = audit.search(engine, target=f"order:{first['order_id']}", action="order.cancel")
    assert cancel["before"] == {"status": "CONFIRMED"} and cancel["note"] == "hotel closed for renovation"


def test_admin_orders_validation_and_roles(client, engine):
    partner = new_partner(engine)
    operator = auth(client, new_staff(engine, "operator"))
    bad = client.get("/v1/admin/orders", headers=operator, params={"created_from": "2026-12-10",
                                                                   "created_to": "2026-12-01"})
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "created_to"
    for params, field in (({"cursor": "not-a-cursor"}, "cursor"), ({"status": "LOST"}, "query.status"),
                          ({"check_in_from": "tomorrow"}, "query.check_in_from"), ({"limit": 0}, "query.limit")):
        response = client.get("/v1/admin/orders", headers=operator, params=params)
        assert response.status_code == 422, params
        assert response.json()["error"]["fields"][0]["field"] == field, response.text
    missing_reason = client.post(f"/v1/admin/orders/{uuid.uuid4()}/cancel", headers=operator, json={})
    assert missing_reason.status_code == 422 and missing_reason.json()["error"]["fields"][0]["field"] == "reason"
    assert client.get(f"/v1/admin/orders/{uuid.uuid4()}", headers=operator).status_code == 404
    assert client.post(f"/v1/admin/orders/{uuid.uuid4()}/approve", headers=operator, json={}).status_code == 404
    partner_headers = auth(client, partner)
    assert client.get("/v1/admin/orders", headers=partner_headers).status_code == 403
    assert client.get("/v1/admin/orders/review-queue", headers=partner_headers).status_code == 403
