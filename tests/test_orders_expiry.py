"""`hotelctl orders expire`: unconfirmed orders past their expiry end, and give back what they held."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from typer.testing import CliRunner

from tests.api_fixtures import auth, new_partner, order_body, seed_city


def test_expire_command_ends_due_review_orders(api_client, engine, redis_url, settings, monkeypatch):
    from cli.main import app

    rooms = seed_city(engine, redis_url, city="Expirytown", hotels=1, rooms_per_hotel=1, allotment=3)
    creds = new_partner(engine, credit_limit="600")  # the order is over half the limit: held for review
    headers = auth(api_client, creds)
    start = dt.date.today() + dt.timedelta(days=20)
    quote = api_client.post("/v1/quotes", headers=headers, json={
        "city": "Expirytown", "check_in": start.isoformat(), "check_out": (start + dt.timedelta(days=1)).isoformat(),
        "adults": 1}).json()
    strict = settings.model_copy(update={"risk_score_threshold": 40})
    api_client.app.state.settings = strict
    response = api_client.post("/v1/orders", headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                               json=order_body(quote["offers"][0]["offer_id"]))
    assert response.status_code == 201 and response.json()["status"] == "REVIEW", response.text
    order_id = response.json()["order_id"]

    def allotment() -> int:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT allotment - held FROM availability WHERE room_type_id = :r"
                                        " AND stay_date = :d"), {"r": rooms[0].room_type_id, "d": start}).scalar_one()

    assert allotment() == 2
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE orders SET expires_at = now() - interval '1 second' WHERE id = :id"),
                     {"id": order_id})
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    monkeypatch.setenv("HOTEL_DATA_DIR", str(settings.hotel_data_dir))
    result = CliRunner().invoke(app, ["orders", "expire"])
    assert result.exit_code == 0, result.output
    assert "orders ended: 1" in result.output
    with engine.connect() as conn:
        status, events = conn.execute(sa.text(
            "SELECT o.status, (SELECT count(*) FROM outbox_events e WHERE e.aggregate_id = o.id::text"
            " AND e.event_type = 'order.expired') FROM orders o WHERE o.id = :id"), {"id": order_id}).one()
    assert (status, events) == ("EXPIRED", 1)
    assert allotment() == 3
    again = CliRunner().invoke(app, ["orders", "expire"])
    assert "orders ended: 0" in again.output
