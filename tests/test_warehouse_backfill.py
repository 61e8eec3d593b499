"""Backfills: 30 days through Dagster, a rerun of 3 of them, and a clean run give identical totals."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import dagster as dg
import psycopg
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
    loaded_line = re.compile(r"fact_orders 2026-01-02\.\.2026-01-04: \d+ rows")
    assert len(loaded_line.findall(result.stdout + result.stderr)) == 1  # each event once: JSON on stdout
    assert all(json.loads(line)["service"] == "dagster" for line in result.stdout.splitlines() if line.strip())
    with psycopg.connect(dagster_database) as conn:
        runs = conn.execute("SELECT count(*) FROM runs WHERE status = 'SUCCESS'").fetchone()[0]
    assert runs == 1  # both days in one range run (the warehouse's backfill policy), in the instance the UI reads
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


# A backfill of stand-in assets on a persistent (SQLite) instance: each run keeps 64 MB until its process ends,
# as a leak would, and one day's run can be told to kill its process.
_KEEPING_BACKFILL = """
import json, os, sys
import dagster as dg
from cli.backfill import Selection, run_backfill

KEPT = []

@dg.asset(partitions_def=dg.DailyPartitionsDefinition(start_date="2026-01-01"))
def keeper(context):
    KEPT.append(context.partition_key.encode() * (64 * 2**20 // 10))  # written, so resident
    if context.partition_key == os.environ.get("DIE_ON"):
        os._exit(3)

home, days = sys.argv[1], int(sys.argv[2])
with dg.DagsterInstance.local_temp(home) as instance:
    keys = [f"2026-01-0{day}" for day in range(1, days + 1)]
    outcomes = run_backfill(Selection([keeper], [keeper.key]), keys, instance, {})
    statuses = {run.run_id: run.status.value for run in instance.get_runs()}
    print(json.dumps({"outcomes": [[o.partition, o.success, o.error, statuses.get(o.run_id)] for o in outcomes],
                      "pid": os.getpid(), "run_pids": sorted({event.dagster_event.pid for run_id in statuses
                                                               for event in instance.all_logs(run_id)
                                                               if event.dagster_event and event.dagster_event.pid})}))
"""


def _keeping_backfill(tmp_path: Path, days: int, die_on: str = "") -> tuple[dict, float]:
    """The backfill's output and the peak memory (MB) of its largest process: itself, or one of its runs'."""
    home = tmp_path / f"home-{days}-{die_on}"
    home.mkdir()
    out, err = home / "stdout", home / "stderr"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        child = subprocess.Popen([sys.executable, "-c", _KEEPING_BACKFILL, str(home), str(days)], cwd=REPO,
                                 env={**os.environ, "DIE_ON": die_on}, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(child.pid, 0)  # the kernel's peak resident set of the process and its children
        child.returncode = os.waitstatus_to_exitcode(status)
    assert child.returncode == 0, err.read_text()[-3000:]
    return json.loads(out.read_text().strip().splitlines()[-1]), usage.ru_maxrss / 1024


def test_each_backfill_run_has_a_process_of_its_own_so_memory_a_run_keeps_is_given_back(tmp_path):
    one, one_peak = _keeping_backfill(tmp_path, 1)
    five, five_peak = _keeping_backfill(tmp_path, 5)
    assert [outcome[1:] for outcome in one["outcomes"]] == [[True, "", "SUCCESS"]]
    assert [outcome[1:] for outcome in five["outcomes"]] == [[True, "", "SUCCESS"]] * 5
    assert len(five["run_pids"]) == 5 and five["pid"] not in five["run_pids"]  # a process per run, none the backfill's
    # Five runs kept 5 x 64 MB between them; in one process the peak would be 256 MB above one run's.
    assert five_peak - one_peak < 48, (one_peak, five_peak)


def test_a_run_whose_process_dies_fails_its_day_and_run_and_the_backfill_goes_on(tmp_path):
    result, _ = _keeping_backfill(tmp_path, 4, die_on="2026-01-02")
    assert [outcome[:2] for outcome in result["outcomes"]] == [
        ["2026-01-01", True], ["2026-01-02", False], ["2026-01-03", True], ["2026-01-04", True]]
    died = result["outcomes"][1]
    assert died[2] == "the run's process exited with code 3" and died[3] == "FAILURE"  # not left STARTED in the UI


def test_the_warehouse_backfills_in_chunks_of_days_each_day_shown_and_a_failed_chunk_retried_alone():
    from cli.backfill import Selection, policy_days

    assert policy_days(select_assets(defs, ["warehouse_facts", "warehouse_rollups"])) == 31
    daily = dg.DailyPartitionsDefinition(start_date="2026-01-01")
    attempts: dict[str, int] = {}

    @dg.asset(partitions_def=daily, backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=3))
    def chunked(context) -> None:
        first = context.partition_keys[0]
        attempts[first] = attempts.get(first, 0) + 1
        if first == "2026-01-04" and attempts[first] == 1:
            raise RuntimeError("a passing fault")  # its chunk's second run succeeds
        if "2026-01-08" in context.partition_keys:
            raise RuntimeError("a lasting fault")

    selection = Selection([chunked], [chunked.key])
    keys = [f"2026-01-0{day}" for day in range(1, 10)]
    instance = dg.DagsterInstance.ephemeral()
    outcomes = run_backfill(selection, keys, instance, {}, days_per_run=policy_days(selection), retries=1)
    assert [(o.partition, o.success) for o in outcomes] == [(key, key < "2026-01-07") for key in keys]
    assert attempts == {"2026-01-01": 1, "2026-01-04": 2, "2026-01-07": 2}  # only the failed chunks ran again
    assert len(instance.get_runs()) == 5 and len({o.run_id for o in outcomes}) == 3
    status = instance.get_status_by_partition(chunked.key, keys, daily)
    assert {key: value.value for key, value in status.items()} == {
        key: "MATERIALIZED" if key < "2026-01-07" else "FAILED" for key in keys}
