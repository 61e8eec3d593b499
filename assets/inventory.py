"""Supplier content, inventory and the hot cache (group `inventory`), with their data contracts.

- `supplier_hotels`: every supplier's hotel content, upserted into `supplier_hotels`.
- `supplier_inventory`: rates and availability for the next N days into `room_types`/`rates`/
  `availability` (PostgreSQL is the source of truth); bad rows quarantined in `supplier_quarantine`.
- `inventory_hot_cache`: the Redis keys quotes read, for mapped hotels, only from suppliers whose
  feed passed its contract (the others keep serving their previous good data).

The great-expectations contracts run inside the sync (bad rows must be quarantined before the write);
the asset checks report each supplier's verdict. Schedules: inventory every SYNC_INTERVAL_MS (rounded
to whole minutes, cron), content daily.
"""

import dagster as dg
from pydantic import Field

from core.settings import get_settings
from core.suppliers.config import supplier_settings
from pipelines.resources import FeedArchiveResource, PostgresResource, RedisResource

GROUP = "inventory"
SUPPLIER_CODES = ("A", "B", "C")
_config = supplier_settings()


FROM_ARCHIVE = Field("", description="A day (YYYY-MM-DD): replay that day's archived supplier answers instead of "
                                   "calling the suppliers (hotelctl backfill supplier_inventory --from-archive).")


class ContentSyncConfig(dg.Config):
    suppliers: list[str] = Field([], description="Supplier codes; empty = every enabled one.")
    from_archive: str = FROM_ARCHIVE


class InventorySyncConfig(dg.Config):
    days: int = Field(_config.inventory_days, ge=1, le=365, description="Days ahead to sync (from today).")
    batch_hotels: int = Field(_config.inventory_batch_hotels, ge=1, description="Hotels per write transaction.")
    parallel_batches: int = Field(3, ge=1, description="Batches fetched at once per supplier.")
    max_bad_share: float = Field(_config.feed_max_bad_share, ge=0, le=1,
                                 description="Share of bad rows above which a feed fails its contract.")
    suppliers: list[str] = Field([], description="Supplier codes; empty = every enabled one.")
    processes: bool = Field(False, description="Sync each supplier in its own process (large syncs).")
    delta: bool = Field(True, description="Ask suppliers with a delta feed only for what changed since the last "
                                          "good run; false fetches everything.")
    from_archive: str = FROM_ARCHIVE


def _number(value: int | float) -> dg.MetadataValue:
    return dg.MetadataValue.int(value) if isinstance(value, int) else dg.MetadataValue.float(value)


def _sync_metadata(results: dict) -> dict:
    """Totals and per-supplier figures as numbers (the asset catalog plots them over runs), details as JSON."""
    per_supplier = {code: result.metadata() for code, result in results.items()}
    plottable = {name: _number(value) for code in sorted(results) for name, value in results[code].plottable().items()}
    return {
        "rows_fetched": dg.MetadataValue.int(sum(r.rows_fetched for r in results.values())),
        "rows_upserted": dg.MetadataValue.int(sum(r.rows_upserted for r in results.values())),
        "rows_written": dg.MetadataValue.int(sum(r.rows_upserted for r in results.values())),
        "rows_skipped": dg.MetadataValue.int(sum(r.rows_skipped for r in results.values())),
        "rows_quarantined": dg.MetadataValue.int(sum(r.rows_quarantined for r in results.values())),
        "latency_ms_max": dg.MetadataValue.float(max((round(float(r.latency_ms), 1) for r in results.values()),
                                                     default=0.0)),
        **plottable,
        "errors": sum(len(r.errors) for r in results.values()),
        "suppliers_ok": sorted(code for code, r in results.items() if r.status == "ok"),
        "suppliers_failed": {code: r.status for code, r in results.items() if r.status != "ok"},
        "latency_ms_per_supplier": dg.MetadataValue.json({c: round(r.latency_ms, 1) for c, r in results.items()}),
        "archive_responses": dg.MetadataValue.int(sum(r.archived.get("archive_responses", 0)
                                                      for r in results.values())),
        "archive_bytes": dg.MetadataValue.int(sum(r.archived.get("archive_bytes", 0) for r in results.values())),
        "per_supplier": dg.MetadataValue.json(per_supplier),
    }


def _replayed(context: dg.AssetExecutionContext, postgres: PostgresResource, archive: FeedArchiveResource,
              feed: str, day: str, only: list[str], max_bad_share: float = 0.05) -> dict:
    """The archived syncs of `day` replayed (no supplier called); their results by supplier."""
    import datetime as dt

    from core.archive.replay import replay_day

    replay = replay_day(get_settings(), postgres.database_url, archive.reader(), dt.date.fromisoformat(day), feed,
                        run_id=context.run_id, only=only or None, max_bad_share=max_bad_share)
    if not replay.runs:
        context.log.warning(f"no archived {feed} answers on {day} in {archive.location()}")
    for run in replay.runs:
        context.log.info(f"replayed {feed} of supplier {run.supplier} (archived run {run.archived_run_id}): "
                         f"{run.metadata()}")
    return replay.results


@dg.asset(group_name=GROUP, kinds={"postgres"},
          description="Hotel content of every enabled supplier, upserted into supplier_hotels (changed rows only).")
def supplier_hotels(context: dg.AssetExecutionContext, config: ContentSyncConfig,
                    postgres: PostgresResource, archive: FeedArchiveResource) -> dg.MaterializeResult:
    from core.inventory.pipeline import run_content_sync

    if config.from_archive:
        results = _replayed(context, postgres, archive, "content", config.from_archive, config.suppliers)
    else:
        results = run_content_sync(get_settings(), postgres.database_url, run_id=context.run_id,
                                   only=config.suppliers or None, archive=archive.archive())
    if not results:
        context.log.warning("no supplier is registered: nothing to sync (start the simulators or register one)")
    for code, result in results.items():
        context.log.info(f"supplier {code}: {result.metadata()}")
    return dg.MaterializeResult(metadata=_sync_metadata(results))


@dg.asset(group_name=GROUP, deps=[supplier_hotels], kinds={"postgres"},
          description="Rates and availability for the next N days of every supplier hotel (COPY + upsert, one "
                      "transaction per supplier batch); bad rows quarantined with their reason.")
def supplier_inventory(context: dg.AssetExecutionContext, config: InventorySyncConfig,
                       postgres: PostgresResource, archive: FeedArchiveResource) -> dg.MaterializeResult:
    from core.inventory.pipeline import run_inventory_sync

    if config.from_archive:
        results = _replayed(context, postgres, archive, "inventory", config.from_archive, config.suppliers,
                            config.max_bad_share)
    else:
        results = run_inventory_sync(get_settings(), postgres.database_url, run_id=context.run_id, days=config.days,
                                     batch_hotels=config.batch_hotels, parallel_batches=config.parallel_batches,
                                     max_bad_share=config.max_bad_share, only=config.suppliers or None,
                                     processes=config.processes, delta=config.delta, archive=archive.archive())
    for code, result in results.items():
        log = context.log.info if result.status == "ok" else context.log.warning
        log(f"supplier {code}: {result.status}, {result.rows_fetched} fetched, {result.rows_upserted} upserted, "
            f"{result.rows_quarantined} quarantined, {len(result.errors)} errors")
    metadata = _sync_metadata(results) | {"days": config.days, "from_archive": config.from_archive or "no"}
    if not config.from_archive:  # a replay called no supplier: the sync's metrics stay the live syncs'
        from core.run_metrics import push_run_metrics, record_inventory_sync

        record_inventory_sync(get_settings(), results)
        metadata["metrics_pushed"] = push_run_metrics(get_settings(), "inventory_sync")
    return dg.MaterializeResult(metadata=metadata)


def _contract_checks(asset_key: str, feed: str) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(f"{feed}_contract_{code}", asset=asset_key,
                              description=f"Supplier {code}'s {feed} feed meets its data contract.")
            for code in SUPPLIER_CODES]


def _contract_results(postgres: PostgresResource, feed: str, run_id: str):
    from core.inventory import store

    with store.connect(postgres.database_url) as conn:
        latest = store.latest_runs(conn, feed)
    for code in SUPPLIER_CODES:
        run = latest.get(code)
        name = f"{feed}_contract_{code}"
        if run is None or run.run_id != run_id:
            yield dg.AssetCheckResult(check_name=name, passed=True, severity=dg.AssetCheckSeverity.WARN,
                                      metadata={"synced": False, "note": "supplier not synced in this run"})
            continue
        yield dg.AssetCheckResult(
            check_name=name, passed=run.status == "ok", severity=dg.AssetCheckSeverity.ERROR,
            metadata={"status": run.status, "contract": dg.MetadataValue.json(run.contract),
                      "errors": dg.MetadataValue.json(run.errors[:10])},
        )


@dg.multi_asset_check(specs=_contract_checks("supplier_inventory", "inventory"),
                      description="great-expectations contract per supplier feed: prices positive, currency known, "
                                  "dates in the window, allotment non-negative, required fields, row count within "
                                  "bounds of the last good run, bad-row share under the limit.")
def inventory_feed_contracts(context: dg.AssetCheckExecutionContext, postgres: PostgresResource):
    yield from _contract_results(postgres, "inventory", context.op_execution_context.run_id)


@dg.multi_asset_check(specs=_contract_checks("supplier_hotels", "content"),
                      description="Content feed per supplier: fetched completely; bad records quarantined.")
def content_feed_contracts(context: dg.AssetCheckExecutionContext, postgres: PostgresResource):
    yield from _contract_results(postgres, "content", context.op_execution_context.run_id)


# Mapped hotels come from `hotel_mappings` (assets/matching.py).
@dg.asset(group_name=GROUP, deps=[supplier_inventory, dg.AssetKey("hotel_mappings")], kinds={"redis"},
          description="The Redis hot cache quotes read (core/hotcache.py layout) for mapped hotels; a supplier whose "
                      "latest feed failed its contract is not written, so its previous good data keeps serving.")
def inventory_hot_cache(context: dg.AssetExecutionContext, postgres: PostgresResource,
                        redis: RedisResource) -> dg.MaterializeResult:
    from core.inventory.pipeline import refresh_hot_cache

    refresh = refresh_hot_cache(postgres.database_url, redis.client())
    for code, reason in refresh.blocked.items():
        context.log.warning(f"hot cache not updated for supplier {code}: {reason}")
    metadata = refresh.metadata()
    return dg.MaterializeResult(metadata={
        "suppliers_updated": metadata["suppliers_updated"],
        "suppliers_blocked": dg.MetadataValue.json(metadata["suppliers_blocked"]),
        "products": metadata["products"], "nights_written": metadata["nights_written"],
        "rates_cached": metadata["rates_cached"], "per_supplier": dg.MetadataValue.json(metadata["per_supplier"]),
    })


inventory_sync_job = dg.define_asset_job(
    "inventory_sync_job",
    selection=dg.AssetSelection.assets(supplier_inventory, inventory_hot_cache, dg.AssetKey("room_mappings")),
    description="Rates and availability of every supplier, then the hot cache and the room mappings of new rooms.")
supplier_content_job = dg.define_asset_job(
    "supplier_content_job", selection=dg.AssetSelection.assets(supplier_hotels),
    description="Hotel content of every supplier.")


def interval_cron(interval_ms: int) -> str:
    """SYNC_INTERVAL_MS as a cron expression (whole minutes; at least one)."""
    minutes = max(1, round(interval_ms / 60_000))
    if minutes < 60:
        return f"*/{minutes} * * * *"
    hours = max(1, round(minutes / 60))
    return f"0 */{hours} * * *" if hours < 24 else "0 0 * * *"


inventory_sync_schedule = dg.ScheduleDefinition(
    name="inventory_sync_schedule", job=inventory_sync_job,
    cron_schedule=interval_cron(get_settings().sync_interval_ms),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Inventory sync every SYNC_INTERVAL_MS (default 5 minutes).")
supplier_content_schedule = dg.ScheduleDefinition(
    name="supplier_content_schedule", job=supplier_content_job, cron_schedule="0 3 * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING, description="Supplier content daily at 03:00.")

JOBS = [inventory_sync_job, supplier_content_job]
SCHEDULES = [inventory_sync_schedule, supplier_content_schedule]
SENSORS: list = []
