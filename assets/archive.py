"""The raw-feed archive and the warehouse's Parquet export (group `archive`), which `hotelctl sql` reads.

- `raw_feed_archive`: every supplier answer the syncs received and the rows parsed from them (written by the syncs
  themselves, core/archive); materialising it applies ARCHIVE_RETENTION_DAYS and reports what is kept.
- `warehouse_parquet`: every warehouse table exported as Parquet beside the archive, for DuckDB. It runs in the
  warehouse pool (embedded, one process at a time may open chDB).
"""

import dagster as dg

from assets.platform import WAREHOUSE_POOL
from assets.warehouse import MODELS
from pipelines.resources import FeedArchiveResource, WarehouseResource
from warehouse.loaders import FACTS

GROUP = "archive"


def warehouse_export_folder(archive: FeedArchiveResource):
    """The export's folder: `warehouse/` in the archive's folder (a local archive only: DuckDB reads it)."""
    root = archive.reader().local_root
    if root is None:
        raise RuntimeError("the warehouse's Parquet export needs a local archive folder (ARCHIVE_DIR)")
    return root / "warehouse"


@dg.asset(group_name=GROUP, kinds={"parquet"},
          description="Supplier answers (raw payloads) and the rows parsed from them, as Parquet by supplier and day "
                      "with the sync run's id; materialising applies ARCHIVE_RETENTION_DAYS.")
def raw_feed_archive(context: dg.AssetExecutionContext, archive: FeedArchiveResource) -> dg.MaterializeResult:
    pruned = archive.reader().prune(archive.retention_days)
    context.log.info(f"raw-feed archive at {archive.location()}: {pruned.metadata()}")
    return dg.MaterializeResult(metadata={
        **{name: dg.MetadataValue.int(value) for name, value in pruned.metadata().items()},
        "retention_days": dg.MetadataValue.int(archive.retention_days), "location": archive.location()})


@dg.asset(group_name=GROUP, kinds={"parquet", "duckdb"}, pool=WAREHOUSE_POOL,
          deps=[*(dg.AssetKey(fact.table) for fact in FACTS.values()), *(dg.AssetKey(name) for name in MODELS)],
          description="Every warehouse table as Parquet (one file each) beside the raw-feed archive, so DuckDB "
                      "(`hotelctl sql`) reads the warehouse without opening ClickHouse.")
def warehouse_parquet(context: dg.AssetExecutionContext, archive: FeedArchiveResource,
                      warehouse: WarehouseResource) -> dg.MaterializeResult:
    from warehouse.export import export_parquet

    with warehouse.client() as client:
        export = export_parquet(client, warehouse_export_folder(archive))
    metadata = export.metadata()
    return dg.MaterializeResult(metadata={
        "tables": dg.MetadataValue.int(metadata["tables"]), "rows": dg.MetadataValue.int(metadata["rows"]),
        "bytes": dg.MetadataValue.int(metadata["bytes"]), "folder": metadata["folder"],
        "rows_by_table": dg.MetadataValue.json(metadata["rows_by_table"])})


archive_job = dg.define_asset_job(
    "archive_job", selection=dg.AssetSelection.assets(raw_feed_archive, warehouse_parquet),
    description="Apply the raw-feed archive's retention and export the warehouse as Parquet.")
archive_schedule = dg.ScheduleDefinition(
    name="archive_schedule", job=archive_job, cron_schedule="15 3 * * *", execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily at 03:15 UTC, after the warehouse's daily run.")

JOBS = [archive_job]
SCHEDULES = [archive_schedule]
SENSORS: list = []
