"""Quote retention: quote days older than QUOTE_RETENTION_DAYS are dropped whole (partitions), after their
conversion facts reached the warehouse; an order booked from such a quote keeps working: its GET, its price
steps and its settlement."""

from __future__ import annotations

import datetime as dt
import uuid

import dagster as dg
import psycopg
import pytest
import sqlalchemy as sa

from assets.retention import quote_retention
from assets.warehouse import warehouse_fact_loads
from core.db import plain_url
from core.quote_retention import apply_retention, day_partitions
from core.settlement.cycles import cycle_containing
from core.settlement.store import run_cycle, statement_for_cycle
from pipelines.resources import PostgresResource, WarehouseResource
from tests.api_fixtures import auth, new_partner, order_body, seed_from_simulator, start_supplier_a
from warehouse.client import DATABASE, warehouse_client


def _age(engine, quote_id: str, days: int) -> dt.date:
    """Move a stored quote and its offer set `days` back (into that day's partition, made as the writer would)."""
    with engine.begin() as conn:
        day = conn.execute(sa.text(
            "UPDATE quotes SET created_at = created_at - make_interval(days => :d) WHERE id = :q"
            " RETURNING (created_at AT TIME ZONE 'UTC')::date"), {"d": days, "q": quote_id}).scalar_one()
        conn.execute(sa.text("UPDATE quote_offer_sets SET created_at = created_at - make_interval(days => :d)"
                             " WHERE id = (SELECT offer_set FROM quotes WHERE id = :q)"), {"d": days, "q": quote_id})
        for table in ("quotes", "quote_offer_sets"):
            conn.execute(sa.text("SELECT ensure_day_partition(CAST(:t AS regclass), :day)"), {"t": table, "day": day})
    return day


def _conversion_facts(clickhouse_url: str, quote_id: str) -> tuple[list, list]:
    with warehouse_client(clickhouse_url) as client:
        shown = client.query(f"SELECT ordered, offers_shown FROM {DATABASE}.fact_quotes WHERE quote_id = %(q)s",
                             parameters={"q": quote_id}).result_rows
        chosen = client.query(f"SELECT offer_id FROM {DATABASE}.fact_quote_offers WHERE chosen = 1"
                              " AND quote_id = %(q)s", parameters={"q": quote_id}).result_rows
    return shown, chosen


@pytest.fixture
def sim(engine, settings):
    running = start_supplier_a(engine, settings)
    yield running
    running.stop()


def test_an_order_its_get_and_its_settlement_outlive_its_dropped_quote(api_client, engine, settings, migrated,
                                                                      redis_url, sim):
    start = dt.date.today() + dt.timedelta(days=520)
    target = seed_from_simulator(engine, redis_url, sim, start=start, nights=2, hotels=1, allotment=20)[0]
    headers = auth(api_client, new_partner(engine))
    quote = api_client.post("/v1/quotes", headers=headers, json={
        "hotel_ids": [target["hotel_id"]], "check_in": start.isoformat(),
        "check_out": (start + dt.timedelta(days=2)).isoformat(), "rooms": 1, "adults": 1}).json()
    offer = next(o for o in quote["offers"] if o["room_type"] == target["room_name"] and o["refundable"])
    placed = api_client.post("/v1/orders", headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                             json=order_body(offer["offer_id"]))
    assert placed.status_code == 201 and placed.json()["status"] == "CONFIRMED", placed.text
    order = placed.json()
    day = _age(engine, quote["quote_id"], days=settings.quote_retention_days + 3)
    with psycopg.connect(plain_url(migrated.database_url)) as conn:
        assert day in day_partitions(conn, "quotes")  # the aged quote sits in its day's partition
    resources = {"postgres": PostgresResource(database_url=migrated.database_url),
                 "warehouse": WarehouseResource(clickhouse_url=migrated.clickhouse_url)}
    run = dg.materialize([quote_retention], resources=resources)
    assert run.success
    [materialized] = run.asset_materializations_for_node("quote_retention")
    dropped = materialized.metadata["dropped_days"].value
    shown, chosen = _conversion_facts(migrated.clickhouse_url, quote["quote_id"])
    # Reloading that day's facts later (a backfill) keeps what the warehouse has: PostgreSQL no longer holds it.
    reload = dg.materialize([warehouse_fact_loads], partition_key=day.isoformat(), resources=resources,
                            selection=[dg.AssetKey("fact_quotes"), dg.AssetKey("fact_quote_offers")])
    assert reload.success
    assert _conversion_facts(migrated.clickhouse_url, quote["quote_id"]) == (shown, chosen)

    # The quote's day went to the warehouse's conversion facts, then was dropped whole.
    assert day.isoformat() in dropped and materialized.metadata["cutoff"].value > day.isoformat()
    assert shown == [(1, len(quote["offers"]))] and chosen == [(offer["offer_id"],)]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM quotes WHERE id = :q"),
                            {"q": quote["quote_id"]}).scalar_one() == 0
        assert conn.execute(sa.text("SELECT to_regclass(:p)"), {"p": f"quotes_p{day:%Y%m%d}"}).scalar_one() is None
        breakdown = conn.execute(sa.text("SELECT price_breakdown FROM orders WHERE id = :o"),
                                 {"o": order["order_id"]}).scalar_one()
    assert api_client.get(f"/v1/quotes/{quote['quote_id']}", headers=headers).status_code == 404
    # The order holds every price step of its offer itself.
    assert {"net", "platform_markup", "partner_markup", "fx", "sell_exact", "sell"} <= set(breakdown)
    assert len(breakdown["product"]["nightly_net"]) == 2
    fetched = api_client.get(f"/v1/orders/{order['order_id']}", headers=headers)
    assert fetched.status_code == 200 and fetched.json() == order
    # Settlement reconciles the order against the supplier's statement as before.
    cycle = cycle_containing(start + dt.timedelta(days=2))
    frame, source = statement_for_cycle(engine, settings, "A", cycle)
    outcome = run_cycle(engine, "A", cycle, frame, source)
    assert outcome.counts["orders"] == 1 and outcome.counts["matched"] == 1 and outcome.counts["discrepancies"] == 0


def test_retention_keeps_recent_days_makes_the_days_ahead_and_drops_nothing_when_the_warehouse_load_fails(
        engine, migrated, settings):
    today = dt.datetime.now(dt.UTC).date()
    with engine.begin() as conn:
        partner = conn.execute(sa.text("INSERT INTO partners (name, credit_currency) VALUES (:n, 'EUR')"
                                       " RETURNING id"), {"n": f"Retention {uuid.uuid4()}"}).scalar_one()
        for age in (2, 30):  # written with an old date: they land in the default partition
            conn.execute(sa.text(
                "INSERT INTO quotes (id, partner_id, request, currency, expires_at, created_at) VALUES"
                " (gen_random_uuid(), :p, '{}', 'EUR', now(), now() - make_interval(days => :a))"),
                {"p": partner, "a": age})

    def failing_load(day: dt.date) -> None:
        raise RuntimeError("warehouse unavailable")

    with pytest.raises(RuntimeError):
        apply_retention(migrated.database_url, 7, before_drop=failing_load)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM quotes WHERE partner_id = :p"),
                            {"p": partner}).scalar_one() == 2  # nothing dropped without its facts loaded

    result = apply_retention(migrated.database_url, 7, before_drop=lambda day: None)
    assert today - dt.timedelta(days=30) in result.dropped_days
    with engine.connect() as conn:
        ages = conn.execute(sa.text("SELECT (now()::date - created_at::date) FROM quotes WHERE partner_id = :p"),
                            {"p": partner}).scalars().all()
    assert ages == [2]
    with psycopg.connect(plain_url(migrated.database_url)) as conn:
        days = set(day_partitions(conn, "quotes"))
    assert {today + dt.timedelta(days=ahead) for ahead in range(4)} <= days
    assert min(days) >= result.cutoff
