"""Warehouse assets: daily fact loads from PostgreSQL and the dbt_like_sql rollup models.

Every asset here touches chDB, so each runs in the `warehouse` pool (one step at a time when
embedded). Facts and models share one daily partitioning; a model depends on the facts and models
its SQL names, so the lineage in the UI is exactly the SQL's. Each asset links to its report page.

The facts are one multi-asset and the models another (each asset still its own node, selectable
alone): a step opens the chDB session once for all the assets it builds, because opening it costs
a fixed 0.1-0.5 s that grows with the data, and per-asset opens dominated a day's run.
"""


import os
import queue
import threading
import time
from collections.abc import Iterator
from datetime import date

import dagster as dg
from clickhouse_connect.driver.client import Client

from assets.platform import WAREHOUSE_POOL, warehouse_database
from core.settings import get_settings
from pipelines.resources import PostgresResource, WarehouseResource
from warehouse.loaders import FACTS, Fact, load_fact
from warehouse.schema import apply_schema
from warehouse.sql_models import ModelRun, SqlModel, load_models, materialize

DAILY = dg.DailyPartitionsDefinition(start_date="2024-01-01", timezone="UTC")
FACT_GROUP = "warehouse_facts"
MODEL_GROUP = "warehouse_rollups"
FACT_REPORTS = {"orders": "sales", "order_events": "cancellations", "quotes": "conversion",
                "quote_offers": "conversion", "supplier_calls": "suppliers", "inventory": "competitiveness",
                "settlement_lines": "sales"}


def report_url(topic: str) -> str:
    """Where the API serves the report; REPORTS_BASE_URL overrides (e.g. behind a proxy)."""
    base = os.environ.get("REPORTS_BASE_URL")
    if not base:
        settings = get_settings()
        base = f"http://{settings.api_host}:{settings.api_port}"
    return f"{base.rstrip('/')}/reports/{topic}"


def _days(context: dg.AssetExecutionContext) -> tuple[date, date]:
    window = context.partition_time_window
    return window.start.date(), window.end.date()


def _fact_spec(fact: Fact) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=fact.table, group_name=FACT_GROUP, deps=[warehouse_database], kinds={"clickhouse", "postgres"},
        description=fact.description,
        metadata={"table": fact.qualified, "report": dg.MetadataValue.url(report_url(FACT_REPORTS[fact.name]))},
    )


@dg.multi_asset(
    name="warehouse_fact_loads", specs=[_fact_spec(fact) for fact in FACTS.values()], partitions_def=DAILY,
    pool=WAREHOUSE_POOL, can_subset=True, backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=7),
)
def warehouse_fact_loads(context: dg.AssetExecutionContext, postgres: PostgresResource,
                         warehouse: WarehouseResource):
    """Each selected fact: the days of the partition (range) streamed from PostgreSQL, replaced whole."""
    start, end = _days(context)
    with warehouse.client() as client:
        apply_schema(client)
        for fact in FACTS.values():
            key = dg.AssetKey(fact.table)
            if key not in context.selected_asset_keys:
                continue
            try:
                result = load_fact(client, postgres.database_url, fact, start, end)
            except Exception as error:
                raise RuntimeError(f"{fact.table} {start}..{end}: {error}") from error
            context.log.info(f"{fact.table} {start}..{end}: {result.rows} rows in {result.batches} batches")
            yield dg.MaterializeResult(asset_key=key, metadata={
                "rows": result.rows, "batches": result.batches, "days_replaced": result.days_replaced,
                "days_emptied": result.days_emptied,
            })


# Totals a model must share with its inputs over the days built: (what, model SQL, input SQL).
RECONCILIATIONS: dict[str, list[tuple[str, str, str]]] = {
    "daily_sales": [
        ("orders, bookings, room-nights, GMV and margin per currency",
         "SELECT currency, sum(orders), sum(bookings), sum(room_nights), sum(gmv), sum(margin) "
         "FROM {{ ref('daily_sales') }} WHERE {{ partition_filter('day') }} GROUP BY currency ORDER BY currency",
         "SELECT sell_currency, count(), countIf(status = 'CONFIRMED'), sumIf(room_nights, status = 'CONFIRMED'), "
         "sumIf(sell_amount, status = 'CONFIRMED'), sumIf(margin_amount, status = 'CONFIRMED') "
         "FROM {{ source('facts', 'orders') }} WHERE {{ partition_filter('day') }} "
         "GROUP BY sell_currency ORDER BY sell_currency"),
    ],
    "cancellation_rate": [
        ("orders and cancellations",
         "SELECT sum(orders), sum(cancelled) FROM {{ ref('cancellation_rate') }} WHERE {{ partition_filter('day') }}",
         "SELECT count(), countIf(status = 'CANCELLED') FROM {{ source('facts', 'orders') }} "
         "WHERE {{ partition_filter('day') }}"),
    ],
    "quote_conversion": [
        ("quotes, offers shown and quotes ordered",
         "SELECT sum(quotes), sum(offers_shown), sum(quotes_ordered) FROM {{ ref('quote_conversion') }} "
         "WHERE {{ partition_filter('day') }}",
         "SELECT count(), sum(offers_shown), sum(ordered) FROM {{ source('facts', 'quotes') }} "
         "WHERE {{ partition_filter('day') }}"),
    ],
    "supplier_performance": [
        ("supplier calls and orders",
         "SELECT sum(calls), sum(orders) FROM {{ ref('supplier_performance') }} WHERE {{ partition_filter('day') }}",
         "SELECT (SELECT count() FROM {{ source('facts', 'supplier_calls') }} WHERE {{ partition_filter('day') }}), "
         "(SELECT count() FROM {{ source('facts', 'orders') }} WHERE {{ partition_filter('day') }})"),
    ],
    "price_competitiveness": [
        ("mapped hotel-room-nights",
         "SELECT count() FROM {{ ref('price_competitiveness') }} WHERE {{ partition_filter('day') }}",
         "SELECT uniqExact(day, master_hotel_id, lower(if(room_class != '', room_class, room_name)), board, currency) "
         "FROM {{ source('facts', 'inventory') }} WHERE {{ partition_filter('day') }} AND master_hotel_id != ''"),
    ],
    "supplier_price_wins": [
        ("contested hotel-room-nights",
         "SELECT sum(wins) FROM {{ ref('supplier_price_wins') }} WHERE {{ partition_filter('day') }}",
         "SELECT count() FROM {{ ref('price_competitiveness') }} "
         "WHERE {{ partition_filter('day') }} AND suppliers >= 2"),
    ],
}


def _snippet(model: SqlModel, sql: str) -> SqlModel:
    return SqlModel(model.name, model.path, sql, {})


def _check_results(client: Client, model: SqlModel, start: date | None,
                   end: date | None) -> list[dg.AssetCheckResult]:
    results = []
    for what, model_sql, input_sql in RECONCILIATIONS.get(model.name, []):
        mine = client.query(_snippet(model, model_sql).render(start, end)).result_rows
        theirs = client.query(_snippet(model, input_sql).render(start, end)).result_rows
        mine = [tuple(0 if value is None else value for value in row) for row in mine]
        theirs = [tuple(0 if value is None else value for value in row) for row in theirs]
        results.append(dg.AssetCheckResult(
            asset_key=model.name, check_name="reconciles_with_inputs", passed=mine == theirs,
            metadata={"compared": what, "model": str(mine[:20]), "inputs": str(theirs[:20])},
        ))
    if model.not_negative:
        counts = ", ".join(f"countIf({column} < 0)" for column in model.not_negative)
        partition = model.partition_by or "day"
        sql = f"SELECT {counts} FROM {{{{ ref('{model.name}') }}}} WHERE {{{{ partition_filter('{partition}') }}}}"
        negatives = client.query(_snippet(model, sql).render(start, end)).result_rows[0]
        for column, negative in zip(model.not_negative, negatives, strict=True):
            results.append(dg.AssetCheckResult(asset_key=model.name, check_name=f"{column}_not_negative",
                                               passed=int(negative) == 0, metadata={"negative_rows": int(negative)}))
    return results


_DONE = object()


def _built_ahead(client: Client, models: list[SqlModel], start: date | None,
                 end: date | None) -> Iterator[tuple[SqlModel, ModelRun, float, list[dg.AssetCheckResult], float]]:
    """Build and check `models` in order on a worker thread, handing each over as soon as it is done.

    Dagster records a materialization per day of a range run (a few ms each, pure Python); the engine
    releases the GIL while it runs SQL, so the next model builds while Dagster records the last one.
    The models are still built one at a time, upstream first, in the one session.
    """
    handed: queue.Queue = queue.Queue(maxsize=len(models) + 1)
    stop = threading.Event()

    def work() -> None:
        try:
            for model in models:
                if stop.is_set():
                    return
                began = time.perf_counter()
                run = materialize(client, model, start, end)
                built = time.perf_counter()
                checks = _check_results(client, model, start, end)
                handed.put((model, run, built - began, checks, time.perf_counter() - built))
            handed.put(_DONE)
        except BaseException as error:  # handed to the step, which raises it
            handed.put(error)

    worker = threading.Thread(target=work, name="warehouse-models", daemon=True)
    worker.start()
    try:
        while (item := handed.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()  # the session closes after the worker's last statement, never under it


def _model_spec(model: SqlModel) -> dg.AssetSpec:
    metadata = {"table": model.table, "sql_file": f"dbt_like_sql/{model.path.name}",
                "sql": dg.MetadataValue.md(f"```sql\n{model.template.strip()}\n```")}
    if model.config.get("report"):
        metadata["report"] = dg.MetadataValue.url(report_url(model.config["report"]))
    deps = [dg.AssetKey(FACTS[name].table) for _, name in model.sources] + [dg.AssetKey(ref) for ref in model.refs]
    return dg.AssetSpec(key=model.name, group_name=MODEL_GROUP, deps=deps, kinds={"clickhouse", "sql"},
                        description=model.description, metadata=metadata)


def _model_checks(model: SqlModel) -> list[dg.AssetCheckSpec]:
    checks = []
    if model.name in RECONCILIATIONS:
        checks.append(dg.AssetCheckSpec("reconciles_with_inputs", asset=model.name,
                                        description="Totals over the days built equal the inputs' totals."))
    return checks + [dg.AssetCheckSpec(f"{column}_not_negative", asset=model.name,
                                       description=f"No row has a negative {column}.")
                     for column in model.not_negative]


def models_asset(name: str, models: dict[str, SqlModel], partitioned: bool) -> dg.AssetsDefinition:
    """One multi-asset over `models` (upstream first): an asset per model, built in one chDB session."""

    @dg.multi_asset(
        name=name, specs=[_model_spec(model) for model in models.values()],
        check_specs=[check for model in models.values() for check in _model_checks(model)],
        partitions_def=DAILY if partitioned else None, pool=WAREHOUSE_POOL, can_subset=True,
        backfill_policy=dg.BackfillPolicy.single_run() if partitioned else None,
    )
    def _build(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        start, end = _days(context) if partitioned else (None, None)
        selected = [model for model in models.values() if dg.AssetKey(model.name) in context.selected_asset_keys]
        wanted_checks = context.selected_asset_check_keys
        with warehouse.client() as client:
            apply_schema(client)
            for model, run, build_s, checks, check_s in _built_ahead(client, selected, start, end):
                key = dg.AssetKey(model.name)
                yield dg.MaterializeResult(
                    asset_key=key,
                    check_results=[check for check in checks
                                   if dg.AssetCheckKey(key, check.check_name) in wanted_checks],
                    metadata={"rows": run.rows, "days": f"{start}..{end}", "build_seconds": round(build_s, 3),
                              "check_seconds": round(check_s, 3)})

    return _build


MODELS = load_models()
_DAILY_MODELS = {name: model for name, model in MODELS.items() if model.partition_by}
_WHOLE_MODELS = {name: model for name, model in MODELS.items() if not model.partition_by}
MODEL_ASSETS = ([models_asset("dbt_like_sql_daily", _DAILY_MODELS, True)] if _DAILY_MODELS else []) + \
    ([models_asset("dbt_like_sql_whole", _WHOLE_MODELS, False)] if _WHOLE_MODELS else [])
WAREHOUSE_ASSETS = [warehouse_fact_loads, *MODEL_ASSETS]

warehouse_daily_job = dg.define_asset_job(
    "warehouse_daily_job",
    selection=dg.AssetSelection.groups(FACT_GROUP, MODEL_GROUP),
    partitions_def=DAILY,
    description="Load a day of facts from PostgreSQL and rebuild that day of every rollup.",
)

JOBS = [warehouse_daily_job]
SCHEDULES = [dg.build_schedule_from_partitioned_job(warehouse_daily_job, hour_of_day=1, minute_of_hour=30,
                                                    default_status=dg.DefaultScheduleStatus.RUNNING)]
