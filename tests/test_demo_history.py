"""The demo history `hotelctl up` seeds, through the same paths on a smaller scale: nine weeks of quotes and orders
of three partners (one a sub-agent) through the partner API against simulated supplier A, statements through
finance's upload, the partners' invoices and payments through finance's billing API, then the warehouse backfill;
what analysts and finance then see."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa

from core.billing import ageing, invoices
from core.demo import history, plan
from core.settlement import review
from tests.api_fixtures import ServedApp, seed_from_simulator, start_supplier_a
from warehouse.client import warehouse_client
from warehouse.reports import Filters, build_report

DAYS = 63


def test_the_same_seed_draws_the_same_history_and_another_seed_another():
    first = plan.draw(10, history.HABITS, ["Shanghai", "Tokyo"], seed=5)
    assert first == plan.draw(10, history.HABITS, ["Shanghai", "Tokyo"], seed=5)
    assert first != plan.draw(10, history.HABITS, ["Shanghai", "Tokyo"], seed=6)
    assert [day.days_ago for day in first] == list(range(9, -1, -1))
    assert all({s.partner for s in day.searches} == set(history.HABITS) for day in first)


def test_seeded_history_fills_every_report_and_finance_has_cycles(engine, settings, migrated, redis_url):
    import dagster as dg

    from assets.settlement import settlement_reconciliation
    from cli.backfill import run_backfill, select_assets
    from pipelines.definitions import defs
    from pipelines.resources import PostgresResource, RedisResource, WarehouseResource

    today = dt.datetime.now(dt.UTC).date()
    instance = dg.DagsterInstance.ephemeral()
    reconciled: list[str] = []

    def reconcile(starts: list[dt.date]) -> None:  # as `hotelctl up` has `hotelctl settle run` do it
        for start in starts:
            result = dg.materialize([settlement_reconciliation], partition_key=start.isoformat(), instance=instance,
                                    resources={"postgres": PostgresResource(database_url=migrated.database_url)})
            assert result.success
            reconciled.append(start.isoformat())

    sim = start_supplier_a(engine, settings, hotels=8)
    try:
        seed_from_simulator(engine, redis_url, sim, start=today, nights=30, hotels=6, allotment=60)
        with ServedApp(settings, migrated) as api:
            summary = history.seed(api.base_url, migrated.database_url, settings, days=DAYS, scale=0.3,
                                   reconcile=reconcile)
    finally:
        sim.stop()
    assert summary.first_day == today - dt.timedelta(days=DAYS - 1)
    assert summary.orders.get("CONFIRMED", 0) >= 30 and summary.orders.get("CANCELLED", 0) >= 3, summary.orders

    with engine.connect() as conn:
        partners = conn.execute(sa.text(
            "SELECT p.name, p.parent_id IS NOT NULL AS sub, count(o.id) AS orders,"
            " count(DISTINCT (o.created_at AT TIME ZONE 'UTC')::date) AS days, min(o.created_at) AS first"
            " FROM partners p JOIN orders o ON o.partner_id = p.id GROUP BY p.name, p.parent_id")).fetchall()
        stays_moved = conn.execute(sa.text(  # a booking of the past holds no night ahead
            "SELECT count(*) FROM inventory_holds h JOIN orders o ON o.id = h.order_id"
            " WHERE o.created_at < now() - interval '1 day'")).scalar_one()
    assert len(partners) >= 3 and any(row.sub for row in partners), partners
    assert all(row.days >= 10 for row in partners), partners
    assert min(row.first for row in partners).date() <= today - dt.timedelta(days=55)
    assert stays_moved == 0
    with engine.connect() as conn:  # the past nights have the suppliers' rates of the same weekday ahead
        past = ("FROM rates p WHERE p.stay_date >= :first AND p.stay_date < :today"
                " AND p.updated_at = p.stay_date - interval '1 day'")
        copied = conn.execute(sa.text(
            "SELECT count(*), count(DISTINCT p.stay_date), count(*) FILTER (WHERE EXISTS (SELECT 1 FROM rates s"
            " WHERE s.room_type_id = p.room_type_id AND s.board = p.board AND s.rate_plan = p.rate_plan"
            " AND s.stay_date >= :today AND (s.stay_date - p.stay_date) % 7 = 0 AND s.net_amount = p.net_amount)) "
            + past), {"first": summary.first_day, "today": today}).one()
        weekly_prices = conn.execute(sa.text(  # past weeks do not repeat one week ahead
            "SELECT max(prices) FROM (SELECT count(DISTINCT p.net_amount) AS prices " + past
            + " GROUP BY p.room_type_id, p.board, p.rate_plan, extract(dow FROM p.stay_date)) AS w"),
            {"first": summary.first_day, "today": today}).scalar_one()
    assert copied[0] == copied[2] == summary.past_rates > 0 and copied[1] == DAYS - 1, copied
    assert weekly_prices >= 3, weekly_prices

    cycles = review.list_cycles(engine)
    assert len(cycles) >= 8
    # every cycle with a statement was reconciled in Dagster too (a partition each), before the approval
    assert {cycle["period_start"] for cycle in cycles} == set(reconciled)
    assert instance.get_materialized_partitions(dg.AssetKey("settlement_reconciliation")) == set(reconciled)
    assert all(cycle["revision"] == 1 for cycle in review.list_cycles(engine, include_superseded=True))
    assert sum(1 for cycle in cycles if cycle["counts"]["discrepancies"]) >= 4
    assert [cycle["status"] for cycle in cycles].count("approved") == 1
    classes = {name for cycle in cycles for name, count in cycle["counts"].items()
               if count and name in ("amount_mismatch", "missing_in_statement", "missing_in_platform",
                                     "status_mismatch")}
    # price differences, lines left out, lines the platform never booked (no-shows are drawn, not forced)
    assert classes >= {"amount_mismatch", "missing_in_statement", "missing_in_platform"}
    outstanding = _assert_partners_billed(engine, summary, cycles, today)

    resources = {"postgres": PostgresResource(database_url=migrated.database_url),
                 "redis": RedisResource(redis_url=migrated.redis_url),
                 "warehouse": WarehouseResource(clickhouse_url=migrated.clickhouse_url)}
    # up to yesterday, as `hotelctl up` backfills: today's partition is not over yet
    keys = [(summary.first_day + dt.timedelta(days=n)).isoformat() for n in range(DAYS - 1)]
    outcomes = run_backfill(select_assets(defs, ["warehouse_facts", "warehouse_rollups"]), keys,
                            dg.DagsterInstance.ephemeral(), resources, days_per_run=31)
    assert all(outcome.success for outcome in outcomes), [o.error for o in outcomes if not o.success]
    yesterday = today - dt.timedelta(days=1)
    filters = Filters(yesterday - dt.timedelta(days=59), yesterday)
    with warehouse_client(migrated.clickhouse_url) as client:
        sales = build_report(client, "sales", filters)
        conversion = build_report(client, "conversion", filters)
        receivables = build_report(client, "receivables", filters)
    daily_sales = [row for section in sales.sections if section.table_id.startswith("sales-daily")
                   for row in section.rows]
    with engine.connect() as conn:
        order_days = {row[0].isoformat() for row in conn.execute(sa.text(
            "SELECT DISTINCT (created_at AT TIME ZONE 'UTC')::date FROM orders WHERE created_at >= :start"
            " AND created_at < :end"), {"start": filters.start, "end": today})}
    assert {row[0] for row in daily_sales} == order_days and len(order_days) >= 30
    inventory_days = _warehouse_days(migrated.clickhouse_url, "fact_inventory", filters)
    assert len(inventory_days) == 60, inventory_days  # supplier prices beside the bookings of every day
    quotes_daily = next(s for s in conversion.sections if s.table_id == "conversion-daily").rows
    assert len(quotes_daily) == 60 and all(row[1] > 0 for row in quotes_daily)
    assert {name for _id, name in sales.partners} >= {"Demo Travel A", "Demo Travel B", "Demo Travel A Corporate"}
    # finance's receivables: each billed partner with what it was invoiced and paid, and the balance it still owes
    balances = {row[0]: row for section in receivables.sections if section.table_id == "receivables"
                for row in section.rows}
    assert set(balances) == set(outstanding), balances
    assert all(row[2] > 0 and row[4] > 0 and row[5] > 0 for row in balances.values()), balances  # paid, still owing
    assert {name: row[5] for name, row in balances.items()} == outstanding


def _warehouse_days(clickhouse_url: str, table: str, filters: Filters) -> list[dt.date]:
    with warehouse_client(clickhouse_url) as client:
        return [row[0] for row in client.query(
            f"SELECT DISTINCT day FROM hotel_analytics.{table} WHERE day >= %(start)s AND day <= %(end)s ORDER BY day",
            parameters={"start": filters.start, "end": filters.end}).result_rows]


def _assert_partners_billed(engine, summary: history.Summary, cycles: list[dict], today: dt.date) -> dict:
    """Invoices of the closed cycles for the demo's billed partners, issued after each cycle's end and paid in
    full, in part or not at all; each partner's outstanding total by name."""
    yesterday = today - dt.timedelta(days=1)
    documents = invoices.list_documents(engine, kind="invoice")
    assert len(documents) == summary.invoices >= 10
    assert "invoices issued" in summary.line() and summary.statements >= summary.invoices
    by_partner = {name: [d for d in documents if d["partner_name"] == name]
                  for name in ("Demo Travel A", "Demo Travel B")}
    assert {d["partner_name"] for d in documents} == set(by_partner)  # the sub-agent is billed through its parent
    assert {d["currency"] for d in by_partner["Demo Travel B"]} == {"USD"}  # the currency it books in
    assert all(d["period_end"] <= d["issued_on"] <= yesterday.isoformat() for d in documents)
    invoiced_cycles = {d["period_start"] for d in documents}
    assert invoiced_cycles >= {c["period_start"] for c in cycles if c["period_end"] <= yesterday.isoformat()}
    assert {d["status"] for d in documents} >= {"paid", "partially_paid", "open"}
    assert summary.payments >= 3
    report = ageing.ageing(engine, today)
    overdue = sum(Decimal(row[bucket]) for row in report["partners"] for bucket in ageing.BUCKETS[1:])
    assert overdue > 0, report
    return {name: sum(Decimal(d["balance"]["outstanding"]) for d in rows) for name, rows in by_partner.items()}
