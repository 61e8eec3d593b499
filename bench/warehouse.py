"""`hotelctl bench warehouse --orders N`: the rollups through the pipeline, beside the same SQL run bare.

One run, one fresh chDB directory (never the platform's warehouse): N synthetic orders are made as
Arrow columns (numpy/polars, no Python loop per row) and inserted into `fact_orders` with
`insert_arrow`. Then every dbt_like_sql model is built over the whole day range in three ways:

- project path: one Dagster run (`dg.materialize`, partition-range run) of the model assets: render,
  staging table, the days swapped in (the range covers every day the tables hold, so embedded each staging
  table is exchanged for its model's table whole), asset checks, Dagster's per-day events (the models build
  on a worker thread while Dagster records the previous model's days). Dagster records them in an instance
  like the platform's own: its PostgreSQL storages (`pipelines.dagster_storage`) and event batch size, in a
  scratch database on the platform's PostgreSQL server (`--instance ephemeral`: Dagster's in-memory one);
- bare engine: the same rendered SELECT of each model, `INSERT INTO` a table in the model's own layout
  (its `partition_by` and `order_by`, as anyone running the model by hand would create it), nothing else;
  and, for comparison with earlier runs, `INSERT INTO` an unpartitioned, unsorted table (one part a model).

Each round runs the three, each round starting with another of them; it prints the best time of each and
the ratios (target: under 1.5x at 10 M orders, against the model's own layout).
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import typer

from bench import bench_app
from cli.common import endpoints_or_exit, settings_or_exit, step

STATUSES = np.array(["CONFIRMED", "CANCELLED", "FAILED", "EXPIRED", "PENDING"])
STATUS_WEIGHTS = [0.7, 0.15, 0.05, 0.05, 0.05]
BARE = "bench_bare_"  # the model's own layout
PLAIN = "bench_plain_"  # unpartitioned, unsorted
PIPELINE = "pipeline"


class InstanceKind(StrEnum):
    platform = "platform"
    ephemeral = "ephemeral"


def _decimal(unscaled: np.ndarray) -> pa.Array:
    """Decimal128(18, 4) from unscaled non-negative int64 values (ten-thousandths), without Python objects."""
    words = np.zeros((len(unscaled), 2), dtype=np.int64)
    words[:, 0] = unscaled
    return pa.Array.from_buffers(pa.decimal128(18, 4), len(unscaled), [None, pa.py_buffer(words.tobytes())])


def _strings(series: pl.Series) -> pa.Array:
    return series.to_arrow().cast(pa.string())


def synthetic_orders(rows: int, start: date, days: int, seed: int) -> pa.Table:
    """`rows` orders spread over `days` days from `start`, in fact_orders' column order and types."""
    rng = np.random.default_rng(seed)
    partner_index = pl.Series(rng.integers(0, 50, rows))
    day = np.datetime64(start.isoformat(), "D") + rng.integers(0, days, rows).astype("timedelta64[D]")
    nights = rng.integers(1, 6, rows)
    room_count = rng.integers(1, 3, rows)
    net = rng.integers(500_000, 5_000_000, rows)  # 50.0000 .. 500.0000
    markup = net // 10
    check_in = day + np.timedelta64(7, "D")
    created = day.astype("datetime64[ms]") + rng.integers(0, 86_400_000, rows).astype("timedelta64[ms]")
    fx_words = np.zeros((rows, 2), dtype=np.int64)
    fx_words[:, 0] = 100_000_000  # 1.00000000
    return pa.table({
        "day": pa.array(day).cast(pa.date32()),
        "order_id": _strings(pl.int_range(0, rows, eager=True).cast(pl.String)),
        "partner_id": _strings("00000000-0000-0000-0000-" + partner_index.cast(pl.String).str.zfill(12)),
        "partner_name": _strings("Partner " + partner_index.cast(pl.String)),
        "quote_id": pa.array(np.full(rows, "")),
        "offer_id": pa.array(np.full(rows, "")),
        "status": pa.array(rng.choice(STATUSES, rows, p=STATUS_WEIGHTS)),
        "supplier_code": pa.array(np.array(["A", "B", "C", "D", "E"])[rng.integers(0, 5, rows)]),
        "hotel_id": _strings("H" + pl.Series(rng.integers(0, 5000, rows)).cast(pl.String)),
        "city": _strings("City " + pl.Series(rng.integers(0, 20, rows)).cast(pl.String)),
        "country": pa.array(np.full(rows, "PT")),
        "check_in": pa.array(check_in).cast(pa.date32()),
        "check_out": pa.array(check_in + nights.astype("timedelta64[D]")).cast(pa.date32()),
        "rooms": pa.array(room_count.astype(np.uint16)),
        "room_nights": pa.array((room_count * nights).astype(np.int32)),
        "net_amount": _decimal(net), "net_currency": pa.array(np.full(rows, "EUR")),
        "platform_markup": _decimal(markup), "partner_markup": _decimal(np.zeros(rows, dtype=np.int64)),
        "fx_rate": pa.Array.from_buffers(pa.decimal128(18, 8), rows, [None, pa.py_buffer(fx_words.tobytes())]),
        "sell_amount": _decimal(net + markup), "sell_currency": pa.array(np.full(rows, "EUR")),
        "margin_amount": _decimal(markup),
        "created_at": pa.array(created).cast(pa.timestamp("ms", tz="UTC")),
        "updated_at": pa.array(created).cast(pa.timestamp("ms", tz="UTC")),
    })


def compare_and_empty(url: str, bare_tables: dict[str, dict[str, str]]) -> float:
    """Each model has as many rows through the pipeline as in each set of bare tables; then the bare tables are
    emptied for the next round. Returns the seconds the session took to open (every timed path opens one)."""
    from warehouse.client import DATABASE, warehouse_client

    began = time.perf_counter()
    with warehouse_client(url) as client:
        opened = time.perf_counter() - began
        for tables in bare_tables.values():
            for name, bare in tables.items():
                ours = client.query(f"SELECT count() FROM {DATABASE}.{name}").result_rows[0][0]
                theirs = client.query(f"SELECT count() FROM {bare}").result_rows[0][0]
                if ours != theirs:
                    typer.echo(f"{name}: the pipeline has {ours} rows, {bare} {theirs}", err=True)
                    raise typer.Exit(1)
                client.command(f"TRUNCATE TABLE {bare}")
    return opened


@contextmanager
def dagster_instance(kind: InstanceKind) -> Iterator:
    """The Dagster instance the pipeline records its runs in: `platform` (the storages and event batch size the
    platform's instance has, in a scratch database on its PostgreSQL server, dropped afterwards) or `ephemeral`."""
    import dagster as dg

    from core import runtime
    from core.db import driver_url, scratch_database
    from pipelines.dagster_storage import storage_yaml

    if kind is InstanceKind.ephemeral:
        with dg.DagsterInstance.ephemeral() as instance:
            yield instance
        return
    settings = settings_or_exit()
    server = runtime.dagster_storage_url(endpoints_or_exit(settings), settings)
    home = Path(tempfile.mkdtemp(prefix="bench-dagster-"))
    batch_size = os.environ.get("DAGSTER_EVENT_BATCH_SIZE")
    try:
        with scratch_database(server, "bench_dagster") as url:
            (home / "dagster.yaml").write_text(storage_yaml(driver_url(url, "psycopg2")) +
                                               "telemetry:\n  enabled: false\n")
            os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", runtime.DAGSTER_EVENT_BATCH_SIZE)
            with step("Creating the Dagster instance (scratch PostgreSQL database)"):
                instance = dg.DagsterInstance.from_config(str(home))
            with instance:
                yield instance
    finally:
        if batch_size is None:
            os.environ.pop("DAGSTER_EVENT_BATCH_SIZE", None)
        shutil.rmtree(home, ignore_errors=True)


@bench_app.command("warehouse")
def bench_warehouse(
    orders: int = typer.Option(1_000_000, min=1000, help="Synthetic orders to load."),
    days: int = typer.Option(30, min=1, max=366, help="Days the orders spread over (one partition each)."),
    chunk: int = typer.Option(1_000_000, min=10_000, help="Orders generated and inserted per Arrow batch."),
    seed: int = typer.Option(20260101, help="Random seed of the synthetic orders."),
    repeat: int = typer.Option(2, min=1, max=10, help="Rounds of (bare, pipeline); the best of each is compared."),
    data_dir: Path | None = typer.Option(None, help="chDB directory to use (default: a fresh temporary one)."),
    instance_kind: InstanceKind = typer.Option(
        InstanceKind.platform, "--instance", help="Dagster instance of the pipeline runs: one like the platform's "
                                                  "(PostgreSQL storages, scratch database) or Dagster's in-memory"),
) -> None:
    """Load N synthetic orders; time the rollups through the pipeline and as bare SQL; print the ratio."""
    import warnings

    import dagster as dg

    from assets.warehouse import MODEL_ASSETS
    from pipelines.resources import WarehouseResource
    from warehouse.client import DATABASE, warehouse_client
    from warehouse.schema import apply_schema
    from warehouse.sql_models import create_table_sql, load_models

    warnings.filterwarnings("ignore")
    temporary = data_dir is None
    path = Path(tempfile.mkdtemp(prefix="bench-warehouse-")) if temporary else data_dir
    url = f"chdb://{path}"
    start = date(2026, 1, 1)
    end = start + timedelta(days=days)
    models = load_models()
    stack = ExitStack()
    try:
        instance = stack.enter_context(dagster_instance(instance_kind))
        with warehouse_client(url) as client:
            apply_schema(client)
            client.command(f"TRUNCATE TABLE {DATABASE}.fact_orders")
            generated = inserted = 0.0
            for offset in range(0, orders, chunk):
                began = time.perf_counter()
                batch = synthetic_orders(min(chunk, orders - offset), start, days, seed + offset)
                generated += time.perf_counter() - began
                began = time.perf_counter()
                client.insert_arrow(f"{DATABASE}.fact_orders", batch)
                inserted += time.perf_counter() - began
            loaded = client.query(f"SELECT count() FROM {DATABASE}.fact_orders").result_rows[0][0]
            typer.echo(f"orders: {loaded:,} over {days} days; generated in {generated:.2f}s (Arrow), "
                       f"inserted in {inserted:.2f}s ({loaded / max(inserted, 1e-9):,.0f} rows/s)")
            client.query(f"SELECT sum(sell_amount) FROM {DATABASE}.fact_orders")  # warm the caches for both paths
            bare_tables: dict[str, dict[str, str]] = {BARE: {}, PLAIN: {}}
            for model in models.values():
                for prefix, tables in bare_tables.items():
                    table, sql = f"{DATABASE}.{prefix}{model.name}", model.render(ref_prefix=prefix)
                    client.command(f"DROP TABLE IF EXISTS {table}")
                    client.command(create_table_sql(model, table, sql) if prefix == BARE else
                                   f"CREATE TABLE {table} ENGINE = MergeTree ORDER BY tuple() EMPTY AS {sql}")
                    tables[model.name] = table

        assets = MODEL_ASSETS
        resources = {"warehouse": WarehouseResource(clickhouse_url=url)}
        run_tags = {"dagster/asset_partition_range_start": start.isoformat(),
                    "dagster/asset_partition_range_end": (end - timedelta(days=1)).isoformat()}
        quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
        times: dict[str, list[float]] = {BARE: [], PLAIN: [], PIPELINE: []}
        breakdowns, results, opens = [], [], []

        def bare(prefix: str) -> None:
            with warehouse_client(url) as client:
                for model in models.values():
                    client.command(f"INSERT INTO {bare_tables[prefix][model.name]} {model.render(start, end, prefix)}")

        def pipeline() -> None:
            result = dg.materialize(assets, instance=instance, resources=resources, tags=run_tags, run_config=quiet,
                                    raise_on_error=False)
            if not result.success:
                typer.echo("the pipeline run failed", err=True)
                raise typer.Exit(1)
            # A range run records one materialization per day, all with the step's metadata: one per asset.
            built = {event.asset_key: event.materialization.metadata["build_seconds"].value
                     for event in result.get_asset_materialization_events()}
            checked = {evaluation.asset_key: evaluation.metadata["check_seconds"].value
                       for evaluation in result.get_asset_check_evaluations()}
            breakdowns.append((sum(built.values()), sum(checked.values())))
            results.append(result)

        paths = {BARE: lambda: bare(BARE), PLAIN: lambda: bare(PLAIN), PIPELINE: pipeline}
        order = list(paths)
        for round_ in range(repeat):
            # Every path is timed from "no session open" to "session closed": the pipeline's step opens its own.
            # Each round another path goes first: a path inherits the file churn of the one before it (the
            # parts it replaced or emptied), and none should always run on a settled disk.
            for name in order[round_ % len(order):] + order[:round_ % len(order)]:
                began = time.perf_counter()
                paths[name]()
                times[name].append(time.perf_counter() - began)
            opens.append(compare_and_empty(url, bare_tables))
        with warehouse_client(url) as client:
            gmv = client.query(f"SELECT sum(gmv) FROM {DATABASE}.daily_sales").result_rows[0][0]
        best = times[PIPELINE].index(min(times[PIPELINE]))
        bare_s, plain_s, project_s = min(times[BARE]), min(times[PLAIN]), times[PIPELINE][best]
        build_s, check_s = breakdowns[best]
        checks = results[best].get_asset_check_evaluations()
        typer.echo(f"models: {len(models)} ({', '.join(models)}); daily_sales GMV {gmv} EUR")
        labels = {BARE: "bare", PLAIN: "unpartitioned bare", PIPELINE: "pipeline"}
        typer.echo("rounds: " + "; ".join(f"{labels[path]} {', '.join(f'{t:.2f}s' for t in taken)}"
                                          for path, taken in times.items()) + " (best of each below)")
        typer.echo(f"bare SQL on the engine:              {bare_s:8.2f}s (into tables in the models' own layout, "
                   f"partitioned and sorted; from opening the chDB session to closing it, as the pipeline's step "
                   f"does; an open takes ~{min(opens):.2f}s)")
        typer.echo(f"bare SQL into unpartitioned tables:  {plain_s:8.2f}s (unsorted, one part a model)")
        typer.echo(f"project path (Dagster run, {days} day partitions, staging + swap, "
                   f"{len(checks)} checks, {instance_kind.value} instance): {project_s:8.2f}s")
        typer.echo(f"  of which: model SQL + staging + swap {build_s:.2f}s, asset checks {check_s:.2f}s, "
                   f"Dagster run and chDB session (beyond what overlaps the builds) "
                   f"{project_s - build_s - check_s:.2f}s")
        typer.echo(f"ratio project/bare: {project_s / bare_s:.2f}x (target < 1.5x at 10 M orders); "
                   f"against the unpartitioned tables: {project_s / plain_s:.2f}x; "
                   f"checks passed: {sum(c.passed for c in checks)}/{len(checks)}")
        per_round = [ours / theirs for ours, theirs in zip(times[PIPELINE], times[BARE], strict=True)]
        typer.echo(f"ratio in each round: {', '.join(f'{ratio:.2f}x' for ratio in per_round)} "
                   f"(median {statistics.median(per_round):.2f}x)")
    finally:
        stack.close()
        if temporary:
            shutil.rmtree(path, ignore_errors=True)
