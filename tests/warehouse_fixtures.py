"""A month of operational history in PostgreSQL for the warehouse tests (`warehouse.sample_history`), and the
warehouse built from it. The month is January 2026, far from `now()`.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import psycopg
import pytest

from core.db import plain_url
from warehouse.sample_history import CITIES, Seeded, seed_history

__all__ = ["CITIES", "DAYS", "START", "Seeded", "postgres_truth", "seed_month", "warehouse_totals"]

START = date(2026, 1, 1)
DAYS = 30


def seed_month(database_url: str, seed: int = 7) -> Seeded:
    return seed_history(database_url, START, DAYS, seed)


def postgres_truth(database_url: str, start: date, end: date) -> dict:
    """The figures straight from PostgreSQL (independent of the loaders), for the seeded month."""
    bounds = {"start": start, "end": end}
    window = "created_at >= %(start)s::date AT TIME ZONE 'UTC' AND created_at < %(end)s::date AT TIME ZONE 'UTC'"
    with psycopg.connect(plain_url(database_url)) as conn:
        orders = conn.execute(
            f"SELECT count(*), count(*) FILTER (WHERE status = 'CONFIRMED'),"
            f" coalesce(sum(sell_amount) FILTER (WHERE status = 'CONFIRMED'), 0),"
            f" coalesce(sum(rooms * (check_out - check_in)) FILTER (WHERE status = 'CONFIRMED'), 0),"
            f" count(*) FILTER (WHERE status = 'CANCELLED')"
            f" FROM orders WHERE {window}", bounds).fetchone()
        quotes = conn.execute(f"SELECT count(*), count(*) FILTER (WHERE EXISTS"
                              f" (SELECT 1 FROM orders o WHERE o.quote_id = quotes.id)) FROM quotes WHERE {window}",
                              bounds).fetchone()
        calls = conn.execute("SELECT count(*) FROM supplier_calls WHERE started_at >= %(start)s::date AT TIME ZONE"
                             " 'UTC' AND started_at < %(end)s::date AT TIME ZONE 'UTC'", bounds).fetchone()
        events = conn.execute(f"SELECT count(*) FROM order_events WHERE {window}", bounds).fetchone()
    return {"orders": orders[0], "bookings": orders[1], "gmv": Decimal(orders[2]), "room_nights": int(orders[3]),
            "cancelled": orders[4], "quotes": quotes[0], "quotes_ordered": quotes[1], "calls": calls[0],
            "events": events[0]}


def warehouse_totals(client) -> dict:
    """The same figures read from the warehouse's fact tables and rollups."""
    def one(sql: str):
        return client.query(sql).result_rows[0]

    sales = one("SELECT sum(orders), sum(bookings), sum(gmv), sum(room_nights), sum(cancelled)"
                " FROM hotel_analytics.daily_sales")
    facts = {name: one(f"SELECT count() FROM hotel_analytics.fact_{name}")[0]
             for name in ("orders", "order_events", "quotes", "quote_offers", "supplier_calls", "inventory",
                          "settlement_lines")}
    conversion = one("SELECT sum(quotes), sum(quotes_ordered) FROM hotel_analytics.quote_conversion")
    return {
        "orders": sales[0], "bookings": sales[1], "gmv": sales[2], "room_nights": sales[3], "cancelled": sales[4],
        "quotes": conversion[0], "quotes_ordered": conversion[1],
        "calls": one("SELECT sum(calls) FROM hotel_analytics.supplier_performance")[0],
        "cancel_rollup": one("SELECT sum(orders), sum(cancelled) FROM hotel_analytics.cancellation_rate"),
        "competition": one("SELECT count(), sum(lead_amount), sum(suppliers)"
                           " FROM hotel_analytics.price_competitiveness"),
        "wins": one("SELECT sum(wins) FROM hotel_analytics.supplier_price_wins")[0],
        "facts": facts,
        "fact_sums": one("SELECT sum(sell_amount), sum(net_amount) FROM hotel_analytics.fact_orders"),
    }


@pytest.fixture(scope="session")
def seeded_month(migrated) -> Seeded:
    return seed_month(migrated.database_url)


@pytest.fixture(scope="session")
def built_warehouse(migrated, seeded_month: Seeded):
    """The seeded month backfilled day by day through Dagster (every fact and rollup)."""
    import dagster as dg

    from cli.backfill import run_backfill, select_assets
    from pipelines.definitions import defs
    from pipelines.resources import PostgresResource, RedisResource, WarehouseResource

    resources = {"postgres": PostgresResource(database_url=migrated.database_url),
                 "redis": RedisResource(redis_url=migrated.redis_url),
                 "warehouse": WarehouseResource(clickhouse_url=migrated.clickhouse_url)}
    assets = select_assets(defs, ["warehouse_facts", "warehouse_rollups"])
    keys = [(seeded_month.start + timedelta(days=n)).isoformat() for n in range(DAYS)]
    instance = dg.DagsterInstance.ephemeral()
    outcomes = run_backfill(assets, keys, instance, resources, days_per_run=10)
    return {"assets": assets, "keys": keys, "instance": instance, "resources": resources, "outcomes": outcomes}
