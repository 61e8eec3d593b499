"""`hotelctl bench backfill`: the time and memory a long backfill of the warehouse needs, against one day's.

Both backfills are `hotelctl backfill warehouse_facts warehouse_rollups` in a child process of its own, each
into an empty embedded warehouse, reading the same history (`warehouse.sample_history`, seeded into a scratch
PostgreSQL database) and recording its runs in a scratch Dagster database; both databases are dropped
afterwards. A child's peak memory is its peak resident set, as the kernel reports it when the child exits
(`wait4`): the Python process, Dagster and the chDB engine inside it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import typer

from bench import bench_app
from cli.common import endpoints_or_exit, settings_or_exit, step

GROUPS = ("warehouse_facts", "warehouse_rollups")


@dataclass(frozen=True)
class Backfill:
    days: int
    runs: int
    seconds: float
    peak_mb: float
    orders: int
    days_built: int


def _backfill(env: dict[str, str], workdir: Path, start: date, days: int, days_per_run: int) -> Backfill:
    """`hotelctl backfill` of `days` days from `start` into a new warehouse under `workdir`; exits on failure."""
    from warehouse.client import DATABASE, warehouse_client

    warehouse = workdir / f"warehouse-{days}d"
    env = {**env, "CLICKHOUSE_URL": f"chdb://{warehouse}"}
    log = workdir / f"backfill-{days}d.log"
    last = start + timedelta(days=days - 1)
    began = time.perf_counter()
    with open(log, "w") as output:
        child = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "backfill", *GROUPS, "--from", start.isoformat(),
             "--to", last.isoformat(), "--days-per-run", str(days_per_run)],
            env=env, stdout=output, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[1])
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - began
    if child.returncode != 0:
        typer.echo(f"the backfill of {days} day(s) failed (exit {child.returncode}):\n{log.read_text()[-3000:]}",
                   err=True)
        raise typer.Exit(1)
    with warehouse_client(f"chdb://{warehouse}") as client:
        orders, days_built = client.query(
            f"SELECT (SELECT count() FROM {DATABASE}.fact_orders), (SELECT uniqExact(day) FROM {DATABASE}.daily_sales)"
        ).result_rows[0]
    runs = -(-days // days_per_run) if days_per_run else -(-days // _policy_days())
    return Backfill(days, runs, seconds, usage.ru_maxrss / 1024, int(orders), int(days_built))  # ru_maxrss: KiB


def _policy_days() -> int:
    from assets.warehouse import DAYS_PER_RUN

    return DAYS_PER_RUN


@bench_app.command("backfill")
def bench_backfill(
    days: int = typer.Option(365, min=2, max=1096, help="Days of the long backfill (one partition each)."),
    scale: int = typer.Option(20, min=1, max=1000,
                              help="Daily volume: SCALE x 2-5 quotes (60 % ordered) and SCALE x 3-8 supplier calls."),
    start: str = typer.Option("2025-01-01", "--from", help="First day of the history (YYYY-MM-DD)."),
    days_per_run: int = typer.Option(0, min=0, max=366,
                                     help="Days per Dagster run of the long backfill (0: the assets' backfill "
                                          "policy, as `hotelctl backfill` does)."),
) -> None:
    """Time and peak memory of a backfill of DAYS days of the warehouse beside a backfill of its first day."""
    from core import runtime
    from core.db import driver_url, scratch_database
    from core.migrate import upgrade
    from warehouse.sample_history import seed_history

    try:
        first = date.fromisoformat(start)
    except ValueError:
        typer.echo(f"--from: '{start}' is not a date (YYYY-MM-DD)", err=True)
        raise typer.Exit(2) from None
    settings = settings_or_exit()
    endpoints = endpoints_or_exit(settings)
    workdir = Path(tempfile.mkdtemp(prefix="bench-backfill-"))
    try:
        with scratch_database(endpoints.database_url, "bench_backfill_ops") as ops_url, \
                scratch_database(endpoints.database_url, "bench_backfill_dagster") as dagster_url:
            with step(f"Seeding {days} days of history (scale {scale})"):
                began = time.perf_counter()
                upgrade(ops_url)
                seed_history(ops_url, first, days, scale=scale)
                seeded = time.perf_counter() - began
            env = {**endpoints.child_env(settings), "DATABASE_URL": ops_url, "DAGSTER_HOME": str(workdir / "dagster"),
                   "DAGSTER_DATABASE_URL": driver_url(dagster_url, "psycopg2"),
                   "HOTEL_ENGINE_MODES": json.dumps({**endpoints.modes, "clickhouse": runtime.EMBEDDED})}
            with step("Backfilling one day"):
                one = _backfill(env, workdir, first, 1, 1)
            with step(f"Backfilling {days} days"):
                many = _backfill(env, workdir, first, days, days_per_run)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    typer.echo(f"history: {days} days from {first}, scale {scale}, seeded in {seeded:.1f}s")
    for backfill in (one, many):
        typer.echo(f"backfill of {backfill.days:>4} day(s): {backfill.runs} run(s), {backfill.seconds:7.1f}s, "
                   f"{backfill.orders:,} orders loaded, {backfill.days_built} day(s) of rollups, "
                   f"peak memory {backfill.peak_mb:.0f} MB")
    typer.echo(f"time per day: {many.seconds / many.days:.2f}s over {days} days, {one.seconds:.2f}s for one day; "
               f"a year at this pace: {many.seconds / many.days * 365 / 60:.1f} min (target: under 5 min)")
    typer.echo(f"peak memory, {days} days over one day: {many.peak_mb / one.peak_mb:.2f}x "
               f"(target: a long backfill needs no more memory than one day)")
