"""Backfills: 30 days through Dagster, a rerun of 3 of them, and a clean run give identical totals."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from warehouse_fixtures import DAYS, postgres_truth, warehouse_totals

from cli.backfill import run_backfill, select_assets
from pipelines.definitions import defs
from pipelines.resources import PostgresResource, WarehouseResource
from warehouse.client import warehouse_client
from warehouse.loaders import FACTS, load_fact
from warehouse.sql_models import load_models, materialize_all

pytest_plugins = ["warehouse_fixtures"]
REPO = Path(__file__).resolve().parents[1]


def test_backfill_then_rerun_of_three_days_equals_a_clean_run(migrated, seeded_month, built_warehouse):
    outcomes = built_warehouse["outcomes"]
    assert [o.partition for o in outcomes] == built_warehouse["keys"] and len(outcomes) == DAYS
    assert all(o.success for o in outcomes), [o.error for o in outcomes if not o.success]
    assert not [o for o in outcomes if o.failed_checks], [o.failed_checks for o in outcomes]
    runs = built_warehouse["instance"].get_runs()
    assert len(runs) == 3  # ten days per run, each in the instance's run history

    with warehouse_client(migrated.clickhouse_url) as client:
        after_backfill = warehouse_totals(client)
    truth = postgres_truth(migrated.database_url, seeded_month.start, seeded_month.end)
    for figure in ("orders", "bookings", "gmv", "room_nights", "cancelled", "quotes", "quotes_ordered", "calls"):
        assert after_backfill[figure] == truth[figure], figure
    assert after_backfill["facts"]["order_events"] == truth["events"]
    assert truth["orders"] > 50 and truth["gmv"] > 0

    rerun = run_backfill(built_warehouse["assets"], built_warehouse["keys"][3:6], built_warehouse["instance"],
                         built_warehouse["resources"])  # a run per day this time
    assert [o.partition for o in rerun] == built_warehouse["keys"][3:6] and all(o.success for o in rerun)
    assert len({o.run_id for o in rerun}) == 3
    with warehouse_client(migrated.clickhouse_url) as client:
        after_rerun = warehouse_totals(client)
    assert after_rerun == after_backfill

    # A single clean run: empty every table, then build the whole month in one go.
    with warehouse_client(migrated.clickhouse_url) as client:
        models = load_models()
        for table in [fact.qualified for fact in FACTS.values()] + [model.table for model in models.values()]:
            client.command(f"TRUNCATE TABLE {table}")
        for fact in FACTS.values():
            load_fact(client, migrated.database_url, fact, seeded_month.start, seeded_month.end)
        materialize_all(client, models.values(), seeded_month.start, seeded_month.end)
        clean = warehouse_totals(client)
    assert clean == after_backfill


def test_a_failing_day_is_reported_not_skipped(migrated):
    assets = select_assets(defs, ["fact_orders"])
    broken = {"postgres": PostgresResource(database_url="postgresql://postgres@127.0.0.1:1/nowhere"),
              "warehouse": WarehouseResource(clickhouse_url=migrated.clickhouse_url)}
    outcomes = run_backfill(assets, ["2026-02-01", "2026-02-02"], dg.DagsterInstance.ephemeral(), broken)
    assert [o.partition for o in outcomes] == ["2026-02-01", "2026-02-02"]
    assert not any(o.success for o in outcomes)
    assert all("fact_orders" in o.error and "connection" in o.error.lower() for o in outcomes), outcomes


@pytest.fixture
def dagster_database(new_database):
    """A database of its own for the CLI's Dagster instance (its storage keeps its own migrations)."""
    if not os.environ.get("DATABASE_URL"):
        pytest.skip("the CLI backfill test runs against a server PostgreSQL")
    return new_database("hotel_dagster")


def test_hotelctl_backfill_reports_each_day_and_records_runs(migrated, seeded_month, dagster_database, tmp_path):
    os.chmod(tmp_path, 0o755)
    chdb_url = f"chdb://{tmp_path / 'clickhouse'}"
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "HOTEL_ENGINE_MODES")}
    env.update(DATABASE_URL=migrated.database_url, REDIS_URL=migrated.redis_url, CLICKHOUSE_URL=chdb_url,
               HOTEL_DATA_DIR=str(tmp_path), DAGSTER_DATABASE_URL=dagster_database)

    def hotelctl(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=300)

    result = hotelctl("backfill", "fact_orders", "daily_sales", "--from", "2026-01-02", "--to", "2026-01-03")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2026-01-02: ok" in result.stderr and "2026-01-03: ok" in result.stderr
    # Progress and per-day lines only: Dagster's DEBUG events and per-run beta warnings stay off the terminal.
    assert '"level": "DEBUG"' not in result.stdout + result.stderr and "BetaWarning" not in result.stderr
    with psycopg.connect(dagster_database) as conn:
        runs = conn.execute("SELECT count(*) FROM runs WHERE status = 'SUCCESS'").fetchone()[0]
    assert runs == 2  # one run per day, in the instance the UI reads
    with warehouse_client(chdb_url) as client:
        rows = client.query("SELECT day, sum(orders) FROM hotel_analytics.daily_sales GROUP BY day ORDER BY day")
        loaded = {row[0]: row[1] for row in rows.result_rows}
    day2, day3, day4 = (seeded_month.start + timedelta(days=n) for n in (1, 2, 3))
    assert loaded == {day2: postgres_truth(migrated.database_url, day2, day3)["orders"],
                      day3: postgres_truth(migrated.database_url, day3, day4)["orders"]}

    bad = hotelctl("backfill", "fact_orders", "--from", "2023-12-30", "--to", "2024-01-02")
    assert bad.returncode == 2 and "--from/--to" in bad.stderr
    unknown = hotelctl("backfill", "no_such_asset", "--from", "2026-01-02", "--to", "2026-01-02")
    assert unknown.returncode == 2 and "no_such_asset" in unknown.stderr
