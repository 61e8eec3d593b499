"""The asset catalog's numbers: each day a range run built carries that day's rows and money totals as numeric
metadata (so Dagster plots them over the partitions), equal to what the warehouse and PostgreSQL hold."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

import dagster as dg
import psycopg
from warehouse_fixtures import DAYS

from core.db import plain_url
from warehouse.client import warehouse_client

pytest_plugins = ["warehouse_fixtures"]


def _latest(instance: dg.DagsterInstance, asset: str, day: str) -> dict:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[day]), limit=1).records
    assert records, f"{asset} {day}: no materialization"
    return records[0].asset_materialization.metadata


def _postgres_sales(database_url: str, start: date, end: date) -> dict[tuple[str, str], float]:
    with psycopg.connect(plain_url(database_url)) as conn:
        rows = conn.execute(
            "SELECT ((created_at) AT TIME ZONE 'UTC')::date, sell_currency, sum(sell_amount), "
            "sum(round(sell_amount - net_amount * fx_rate, 4)) FROM orders WHERE status = 'CONFIRMED' "
            "AND created_at >= %(start)s::date AT TIME ZONE 'UTC' AND created_at < %(end)s::date AT TIME ZONE 'UTC' "
            "GROUP BY 1, 2", {"start": start, "end": end}).fetchall()
    figures = {}
    for day, currency, gmv, margin in rows:
        figures[(day.isoformat(), f"gmv_{currency}")] = float(gmv)
        figures[(day.isoformat(), f"margin_{currency}")] = float(margin)
    return figures


def test_each_day_of_a_range_run_records_its_rows_and_money_as_numbers(migrated, seeded_month, built_warehouse):
    instance, keys = built_warehouse["instance"], built_warehouse["keys"]
    assert len(keys) == DAYS
    with warehouse_client(migrated.clickhouse_url) as client:
        sales_rows = dict(client.query("SELECT toString(day), count() FROM hotel_analytics.daily_sales "
                                       "GROUP BY day").result_rows)
        order_rows = dict(client.query("SELECT toString(day), count() FROM hotel_analytics.fact_orders "
                                       "GROUP BY day").result_rows)
    truth = _postgres_sales(migrated.database_url, seeded_month.start, seeded_month.end)
    currencies = {name.split("_", 1)[1] for _, name in truth}
    assert currencies and len(set(sales_rows.values())) > 1  # days differ, so a copied range total would show

    plotted = defaultdict(dict)
    for day in keys:
        sales = _latest(instance, "daily_sales", day)
        assert isinstance(sales["rows"], dg.IntMetadataValue) and sales["rows"].value == sales_rows.get(day, 0), day
        for currency in currencies:
            for figure in ("gmv", "margin"):
                value = sales[f"{figure}_{currency}"]
                assert isinstance(value, dg.FloatMetadataValue), (day, figure, currency)
                assert abs(value.value - truth.get((day, f"{figure}_{currency}"), 0.0)) < 0.01, (day, figure, currency)
                plotted[f"{figure}_{currency}"][day] = value.value
        facts = _latest(instance, "fact_orders", day)
        assert isinstance(facts["rows"], dg.IntMetadataValue) and facts["rows"].value == order_rows.get(day, 0), day
        receivables = _latest(instance, "daily_receivables", day)
        assert isinstance(receivables["rows"], dg.IntMetadataValue)
    assert all(len(set(series.values())) > 1 for series in plotted.values()), "every day got the same total"
    assert seeded_month.start + timedelta(days=DAYS) == seeded_month.end
