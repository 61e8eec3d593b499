"""Platform assets every pipeline sits on: the warehouse database exists."""

import dagster as dg

from pipelines.resources import WarehouseResource
from warehouse.client import DATABASE

WAREHOUSE_POOL = "warehouse"


@dg.asset(group_name="platform", pool=WAREHOUSE_POOL, kinds={"clickhouse"})
def warehouse_database(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """The ClickHouse database the BI rollups write into."""
    with warehouse.client() as client:
        client.command(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
        version = client.query("SELECT version()").result_rows[0][0]
    return dg.MaterializeResult(metadata={"database": DATABASE, "engine_version": str(version)})
