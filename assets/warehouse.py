"""Warehouse assets: daily fact loads from PostgreSQL and the dbt_like_sql rollup models.

Every asset here touches chDB, so each runs in the `warehouse` pool (one step at a time when
embedded). Rollup steps also run one at a time on a ClickHouse server (the warehouse's `rollups` lock):
a rollup stored by month is swapped in a month at a time, so two runs over days of one month must not overlap.
Facts and models share one daily partitioning; a model depends on the facts and models
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
from dataclasses import dataclass
from datetime import date

import dagster as dg
from clickhouse_connect.driver.client import Client

from assets.platform import WAREHOUSE_POOL, warehouse_database
from core.quote_retention import first_day_held
from core.settings import get_settings
from pipelines.resources import PostgresResource, WarehouseResource
from warehouse.loaders import FACTS, Fact, daily_figures, load_fact
from warehouse.schema import apply_schema
from warehouse.sql_models import (
    MODELS_DIR,
    ModelRun,
    SqlModel,
    cheapest_first,
    load_models,
    materialize,
    table_rows,
)

DAILY = dg.DailyPartitionsDefinition(start_date="2024-01-01", timezone="UTC")
FACT_GROUP = "warehouse_facts"
MODEL_GROUP = "warehouse_rollups"
# A backfill (from the UI or `hotelctl backfill`) builds this many days per run: a run costs ~1 s of its own
# whatever its days (process, instance, chDB session), and facts load and models build a range in one pass. Each
# day's partition is still recorded materialised (or failed) on its own; memory stays one chunk's, in the run's
# process. Facts and models share it, so a backfill of both plans the same chunks.
DAYS_PER_RUN = 31
BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=DAYS_PER_RUN)
ROLLUP_LOCK = "rollups"  # taken by every rollup step (WarehouseResource.exclusive)
RETAINED_FACTS = ("quotes", "quote_offers")  # from the quote tables QUOTE_RETENTION_DAYS keeps
FACT_REPORTS = {"orders": "sales", "order_events": "cancellations", "quotes": "conversion",
                "quote_offers": "conversion", "supplier_calls": "suppliers", "inventory": "competitiveness",
                "settlement_lines": "sales", "billing_documents": "receivables", "billing_payments": "receivables"}


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


def _record_days(context: dg.AssetExecutionContext, key: dg.AssetKey, days: dict[str, dict[str, int | float]]) -> None:
    """Each day's figures on that day's materialization (a range run records one per day): numbers the asset
    catalog plots over the partitions."""
    for day, figures in days.items():
        context.add_asset_metadata({name: dg.MetadataValue.int(value) if isinstance(value, int)
                                    else dg.MetadataValue.float(value) for name, value in figures.items()},
                                   asset_key=key, partition_key=day)


def _fact_spec(fact: Fact) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=fact.table, group_name=FACT_GROUP, deps=[warehouse_database], kinds={"clickhouse", "postgres"},
        description=fact.description,
        metadata={"table": fact.qualified, "report": dg.MetadataValue.url(report_url(FACT_REPORTS[fact.name]))},
    )


@dg.multi_asset(
    name="warehouse_fact_loads", specs=[_fact_spec(fact) for fact in FACTS.values()], partitions_def=DAILY,
    pool=WAREHOUSE_POOL, can_subset=True, backfill_policy=BACKFILL_POLICY,
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
            first = start
            if fact.name in RETAINED_FACTS:  # days quote retention dropped: the warehouse keeps what it loaded
                first = first_day_held(postgres.database_url, start, end, get_settings().quote_retention_days)
            try:
                result = load_fact(client, postgres.database_url, fact, first, end) if first < end else None
            except Exception as error:
                raise RuntimeError(f"{fact.table} {first}..{end}: {error}") from error
            rows = result.rows if result else 0
            context.log.info(f"{fact.table} {first}..{end}: {rows} rows; {(first - start).days} days kept as loaded")
            _record_days(context, key, daily_figures(client, fact.qualified, start, end))
            yield dg.MaterializeResult(asset_key=key, metadata={
                "rows_in_run": rows, "batches": result.batches if result else 0,
                "days_replaced": result.days_replaced if result else 0,
                "days_emptied": result.days_emptied if result else 0, "days_kept": (first - start).days,
            })


# Totals of the inputs over the days built, by name: each is one query, run at most once per step and shared
# by every check that compares with it (daily_sales, cancellation_rate and supplier_performance all reconcile
# with the orders: one pass over fact_orders instead of three).
INPUT_TOTALS: dict[str, str] = {
    # Grouped by exactly the keys and sums of the facts' `day_totals` projection (warehouse DDL 0002), so the
    # engine answers from those per-day rows; the outer query folds the statuses.
    "orders": "SELECT sell_currency AS currency, sum(n) AS orders, sumIf(n, status = 'CONFIRMED') AS bookings, "
              "sumIf(n, status = 'CANCELLED') AS cancelled, sumIf(nights, status = 'CONFIRMED') AS room_nights, "
              "sumIf(sell, status = 'CONFIRMED') AS gmv, sumIf(margin_total, status = 'CONFIRMED') AS margin "
              "FROM (SELECT sell_currency, status, count() AS n, sum(room_nights) AS nights, "
              "sum(sell_amount) AS sell, sum(margin_amount) AS margin_total FROM {{ source('facts', 'orders') }} "
              "WHERE {{ partition_filter('day') }} GROUP BY sell_currency, status) GROUP BY currency ORDER BY currency",
    # Not in the `day_totals` projection (it groups by sell currency): one pass over the days' orders.
    "order_margins": "SELECT net_currency AS supplier_currency, platform_currency, "
                     "countIf(status = 'CONFIRMED') AS bookings, "
                     "sumIf(margin_net_amount, status = 'CONFIRMED') AS margin_supplier, "
                     "ifNull(sumIf(margin_platform_amount, status = 'CONFIRMED'), 0) AS margin_platform "
                     "FROM {{ source('facts', 'orders') }} WHERE {{ partition_filter('day') }} "
                     "GROUP BY supplier_currency, platform_currency ORDER BY supplier_currency, platform_currency",
    "supplier_calls": "SELECT count() AS calls FROM {{ source('facts', 'supplier_calls') }} "
                      "WHERE {{ partition_filter('day') }}",
    "quotes": "SELECT count() AS quotes, sum(offers_shown) AS offers_shown, sum(ordered) AS quotes_ordered "
              "FROM {{ source('facts', 'quotes') }} WHERE {{ partition_filter('day') }}",
    "inventory": "SELECT uniqExact(day, master_hotel_id, if(room_group != '', room_group, "
                 "lower(if(room_class != '', room_class, room_name))), board, if(isNull(eur_amount), currency, 'EUR')) "
                 "AS room_nights FROM {{ source('facts', 'inventory') }} "
                 "WHERE {{ partition_filter('day') }} AND master_hotel_id != ''",
    "contested": "SELECT count() AS room_nights FROM {{ ref('price_competitiveness') }} "
                 "WHERE {{ partition_filter('day') }} AND suppliers >= 2",
    "billing": "SELECT currency, sum(i) AS invoiced, sum(c) AS credited, sum(p) AS paid FROM ("
               "SELECT currency, toDecimal128(sumIf(amount, kind = 'invoice'), 4) AS i, "
               "toDecimal128(sumIf(amount, kind = 'credit_note'), 4) AS c, toDecimal128(0, 4) AS p "
               "FROM {{ source('facts', 'billing_documents') }} WHERE {{ partition_filter('day') }} GROUP BY currency "
               "UNION ALL SELECT currency, toDecimal128(0, 4), toDecimal128(0, 4), toDecimal128(sum(amount), 4) "
               "FROM {{ source('facts', 'billing_payments') }} WHERE {{ partition_filter('day') }} GROUP BY currency) "
               "GROUP BY currency ORDER BY currency",
}


@dataclass(frozen=True)
class Reconciliation:
    """Totals a model must share with its inputs over the days built.

    `model_sql` gives the model's side; `inputs` names, column by column, the input totals it must equal
    ("totals.column"). Grouped: the model's rows must equal the totals' rows (e.g. per currency); otherwise
    each input column is summed over the totals' rows into one row.
    """

    what: str
    model_sql: str
    inputs: tuple[str, ...]
    grouped: bool = False


RECONCILIATIONS: dict[str, Reconciliation] = {
    "daily_sales": Reconciliation(
        "orders, bookings, cancellations, room-nights, GMV and margin per currency",
        "SELECT currency, sum(orders), sum(bookings), sum(cancelled), sum(room_nights), sum(gmv), sum(margin) "
        "FROM {{ ref('daily_sales') }} WHERE {{ partition_filter('day') }} GROUP BY currency ORDER BY currency",
        ("orders.currency", "orders.orders", "orders.bookings", "orders.cancelled", "orders.room_nights",
         "orders.gmv", "orders.margin"), grouped=True),
    "daily_margins": Reconciliation(
        "bookings and margin in the supplier's and the platform's currency per supplier and platform currency",
        "SELECT supplier_currency, platform_currency, sum(bookings), sum(margin_supplier), sum(margin_platform) "
        "FROM {{ ref('daily_margins') }} WHERE {{ partition_filter('day') }} "
        "GROUP BY supplier_currency, platform_currency ORDER BY supplier_currency, platform_currency",
        ("order_margins.supplier_currency", "order_margins.platform_currency", "order_margins.bookings",
         "order_margins.margin_supplier", "order_margins.margin_platform"), grouped=True),
    "cancellation_rate": Reconciliation(
        "orders and cancellations",
        "SELECT sum(orders), sum(cancelled) FROM {{ ref('cancellation_rate') }} WHERE {{ partition_filter('day') }}",
        ("orders.orders", "orders.cancelled")),
    "quote_conversion": Reconciliation(
        "quotes, offers shown and quotes ordered",
        "SELECT sum(quotes), sum(offers_shown), sum(quotes_ordered) FROM {{ ref('quote_conversion') }} "
        "WHERE {{ partition_filter('day') }}",
        ("quotes.quotes", "quotes.offers_shown", "quotes.quotes_ordered")),
    "supplier_performance": Reconciliation(
        "supplier calls and orders",
        "SELECT sum(calls), sum(orders) FROM {{ ref('supplier_performance') }} WHERE {{ partition_filter('day') }}",
        ("supplier_calls.calls", "orders.orders")),
    "price_competitiveness": Reconciliation(
        "mapped hotel-room-nights",
        "SELECT count() FROM {{ ref('price_competitiveness') }} WHERE {{ partition_filter('day') }}",
        ("inventory.room_nights",)),
    "supplier_price_wins": Reconciliation(
        "contested hotel-room-nights",
        "SELECT sum(wins) FROM {{ ref('supplier_price_wins') }} WHERE {{ partition_filter('day') }}",
        ("contested.room_nights",)),
    "daily_receivables": Reconciliation(
        "invoiced, credited and paid per currency",
        "SELECT currency, sum(invoiced), sum(credited), sum(paid) FROM {{ ref('daily_receivables') }} "
        "WHERE {{ partition_filter('day') }} GROUP BY currency ORDER BY currency",
        ("billing.currency", "billing.invoiced", "billing.credited", "billing.paid"), grouped=True),
}


def _render(sql: str, start: date | None, end: date | None) -> str:
    return SqlModel("snippet", MODELS_DIR, sql, {}).render(start, end)


class InputTotals:
    """The input totals for the days in [start, end), each queried on first use and then kept.

    One per step: the models' checks share it, so a fact scanned for one model's check is not scanned again
    for the next. The totals a check uses are read after the models they name were built (a check runs after
    its own model, which comes after the models it refs).
    """

    def __init__(self, client: Client, start: date | None, end: date | None) -> None:
        self._client, self._start, self._end = client, start, end
        self._rows: dict[str, list[dict]] = {}

    def rows(self, name: str) -> list[dict]:
        if name not in self._rows:
            result = self._client.query(_render(INPUT_TOTALS[name], self._start, self._end))
            self._rows[name] = [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]
        return self._rows[name]

    def compare_with(self, reconciliation: Reconciliation) -> list[tuple]:
        columns = [column.split(".", 1) for column in reconciliation.inputs]
        if reconciliation.grouped:
            (name,) = {name for name, _ in columns}
            return [tuple(row[column] for _, column in columns) for row in self.rows(name)]
        return [tuple(sum(row[column] for row in self.rows(name)) for name, column in columns)]


# One check per model over every column its header lists under `not_negative`, its metadata counting each
# column's negative rows: Dagster records every check once per day built, so a check per column multiplied that.
NOT_NEGATIVE = "not_negative"
RECONCILES = "reconciles_with_inputs"


def _zeroed(rows: list[tuple]) -> list[tuple]:
    return [tuple(0 if value is None else value for value in row) for row in rows]


def _check_results(client: Client, model: SqlModel, start: date | None, end: date | None,
                   totals: InputTotals | None = None,
                   wanted: set[dg.AssetCheckKey] | None = None) -> list[dg.AssetCheckResult]:
    """The model's checks over the days in [start, end) (only those in `wanted`, when given)."""

    def want(name: str) -> bool:
        return wanted is None or dg.AssetCheckKey(dg.AssetKey(model.name), name) in wanted

    results = []
    reconciliation = RECONCILIATIONS.get(model.name)
    if reconciliation and want(RECONCILES):
        totals = totals or InputTotals(client, start, end)
        mine = _zeroed(client.query(_render(reconciliation.model_sql, start, end)).result_rows)
        theirs = _zeroed(totals.compare_with(reconciliation))
        results.append(dg.AssetCheckResult(
            asset_key=model.name, check_name=RECONCILES, passed=mine == theirs,
            metadata={"compared": reconciliation.what, "model": str(mine[:20]), "inputs": str(theirs[:20])},
        ))
    if model.not_negative and want(NOT_NEGATIVE):
        counts = ", ".join(f"countIf({column} < 0)" for column in model.not_negative)
        partition = model.partition_by or "day"
        sql = f"SELECT {counts} FROM {{{{ ref('{model.name}') }}}} WHERE {{{{ partition_filter('{partition}') }}}}"
        negatives = dict(zip(model.not_negative, map(int, client.query(_render(sql, start, end)).result_rows[0]),
                             strict=True))
        results.append(dg.AssetCheckResult(
            asset_key=model.name, check_name=NOT_NEGATIVE, passed=not any(negatives.values()),
            metadata={"negative_rows_by_column": negatives},
        ))
    return results


_DONE = object()


@dataclass(frozen=True)
class Built:
    model: SqlModel
    run: ModelRun
    seconds: float
    days: dict[str, dict[str, int | float]]  # per day built: rows and money totals (empty when unpartitioned)


@dataclass(frozen=True)
class Checked:
    model: SqlModel
    results: list[dg.AssetCheckResult]
    seconds: float


def _built_ahead(client: Client, models: list[SqlModel], start: date | None, end: date | None,
                 wanted_checks: set[dg.AssetCheckKey] | None = None) -> Iterator[Built | Checked]:
    """Build and check `models` in order on a worker thread, handing over each build and each model's checks
    as soon as they are done.

    Dagster records a materialization per day of a range run (a few ms each, pure Python); the engine
    releases the GIL while it runs SQL, so Dagster records a model's days while its checks and the next
    model run. The models are still built one at a time, upstream first, in the one session; a model's
    checks run before the next model is built. `wanted_checks` (default: all) limits the checks computed.
    """
    handed: queue.Queue = queue.Queue()
    stop = threading.Event()
    totals = InputTotals(client, start, end)

    def work() -> None:
        try:
            for model in models:
                if stop.is_set():
                    return
                began = time.perf_counter()
                run = materialize(client, model, start, end)
                days = daily_figures(client, model.table, start, end, model.money, model.partition_by) \
                    if model.partition_by and start and end else {}
                handed.put(Built(model, run, time.perf_counter() - began, days))
                began = time.perf_counter()
                results = _check_results(client, model, start, end, totals, wanted_checks)
                handed.put(Checked(model, results, time.perf_counter() - began))
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
        checks.append(dg.AssetCheckSpec(RECONCILES, asset=model.name,
                                        description="Totals over the days built equal the inputs' totals."))
    if model.not_negative:
        checks.append(dg.AssetCheckSpec(NOT_NEGATIVE, asset=model.name,
                                        description=f"No row has a negative {', '.join(model.not_negative)}."))
    return checks


def models_asset(name: str, models: dict[str, SqlModel], partitioned: bool) -> dg.AssetsDefinition:
    """One multi-asset over `models` (upstream first): an asset per model, built in one chDB session."""

    @dg.multi_asset(
        name=name, specs=[_model_spec(model) for model in models.values()],
        check_specs=[check for model in models.values() for check in _model_checks(model)],
        partitions_def=DAILY if partitioned else None, pool=WAREHOUSE_POOL, can_subset=True,
        backfill_policy=BACKFILL_POLICY if partitioned else None,
    )
    def _build(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        start, end = _days(context) if partitioned else (None, None)
        selected = [model for model in models.values() if dg.AssetKey(model.name) in context.selected_asset_keys]
        wanted_checks = context.selected_asset_check_keys
        # One rollup step at a time per warehouse: a month is swapped in whole with the days this run did not
        # build copied from the table, so an overlapping run's swap into the same month would undo this one's.
        with warehouse.exclusive(ROLLUP_LOCK), warehouse.client() as client:
            apply_schema(client)
            selected = cheapest_first(selected, table_rows(client))
            for item in _built_ahead(client, selected, start, end, wanted_checks):
                if isinstance(item, Built):
                    _record_days(context, dg.AssetKey(item.model.name), item.days)
                    yield dg.MaterializeResult(asset_key=item.model.name, metadata={
                        "rows": item.run.rows, "days": f"{start}..{end}", "build_seconds": round(item.seconds, 3)})
                else:  # the model's checks, after its materialization: Dagster records its days meanwhile
                    for result in item.results:
                        yield result.with_metadata({**result.metadata, "check_seconds": round(item.seconds, 3)})

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
