"""Quote retention: every day, quote days older than QUOTE_RETENTION_DAYS leave PostgreSQL whole.

The asset is thin over `core.quote_retention.apply_retention`: each expiring day's conversion facts
(`fact_quotes`, `fact_quote_offers`) are loaded into the warehouse first, so the reports keep them, then the
day's partitions are dropped. It depends on those fact assets in the UI's lineage and runs in the warehouse
pool (it writes to chDB). Metadata: the cutoff, the days dropped, rows dropped, days kept.
"""

import datetime as dt

import dagster as dg

from assets.platform import WAREHOUSE_POOL
from assets.warehouse import RETAINED_FACTS
from core.quote_retention import apply_retention
from core.settings import get_settings
from pipelines.resources import PostgresResource, WarehouseResource
from warehouse.loaders import FACTS, load_fact
from warehouse.schema import apply_schema

GROUP = "retention"


@dg.asset(
    group_name=GROUP, pool=WAREHOUSE_POOL, kinds={"postgres", "clickhouse"},
    deps=[dg.AssetKey(FACTS[name].table) for name in RETAINED_FACTS],
    description="Stored quotes and offer sets kept QUOTE_RETENTION_DAYS (default 7) days: older days are loaded "
                "into the warehouse's conversion facts, then their partitions dropped.",
)
def quote_retention(context: dg.AssetExecutionContext, postgres: PostgresResource,
                    warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.client() as client:
        apply_schema(client)

        def load_conversion_facts(day: dt.date) -> None:
            for name in RETAINED_FACTS:
                loaded = load_fact(client, postgres.database_url, FACTS[name], day, day + dt.timedelta(days=1))
                context.log.info(f"{FACTS[name].table} {day}: {loaded.rows} rows loaded before the day is dropped")

        result = apply_retention(postgres.database_url, get_settings().quote_retention_days,
                                 before_drop=load_conversion_facts)
    return dg.MaterializeResult(metadata={
        **result.metadata(), "dropped_days": dg.MetadataValue.json(result.metadata()["dropped_days"])})


quote_retention_job = dg.define_asset_job(
    "quote_retention_job", selection=dg.AssetSelection.assets(quote_retention),
    description="Drop stored quotes older than QUOTE_RETENTION_DAYS (their conversion facts loaded first).")
quote_retention_schedule = dg.ScheduleDefinition(
    name="quote_retention_schedule", job=quote_retention_job, cron_schedule="30 2 * * *",
    execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Quote retention daily at 02:30 UTC.")

JOBS = [quote_retention_job]
SCHEDULES = [quote_retention_schedule]
SENSORS: list = []
