"""Dagster side of operations: the domain-events sensor over the real outbox, run metrics, run logs in
the platform's JSON schema through the instance config that deploy/dagster/dagster.yaml ships, and the
instance's pooled PostgreSQL storage."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import psycopg
import sqlalchemy as sa
import yaml
from prometheus_client import REGISTRY

from assets.events import domain_events_sensor, pipeline_run_metrics_failure, pipeline_run_metrics_success
from core.db import driver_url, plain_url
from core.outbox import write_event_sync
from pipelines.dagster_storage import STORAGES, storage_yaml
from pipelines.resources import PostgresResource

REPO = Path(__file__).resolve().parents[1]


def _metric(name: str, labels: dict) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_domain_events_sensor_observes_new_outbox_events_by_cursor(engine, migrated):
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM outbox_events"))
        for seq, event_type in enumerate(["order.pending", "order.confirmed", "order.pending"]):
            write_event_sync(conn, "order", f"o-{seq % 2}", event_type, {"seq": seq})
    resources = {"postgres": PostgresResource(database_url=migrated.database_url)}
    before = _metric("pipeline_domain_events_total", {"event_type": "order.pending"})

    result = domain_events_sensor(dg.build_sensor_context(cursor=None, resources=resources))
    assert isinstance(result, dg.SensorResult)
    (observation,) = result.asset_events
    metadata = {key: value.value for key, value in observation.metadata.items()}
    assert observation.asset_key == dg.AssetKey("order_events")
    assert metadata["new_events"] == 3 and metadata["aggregates"] == 2 and metadata["outbox_backlog"] == 3
    assert metadata["by_type"] == {"order.pending": 2, "order.confirmed": 1}
    assert _metric("pipeline_domain_events_total", {"event_type": "order.pending"}) - before == 2

    again = domain_events_sensor(dg.build_sensor_context(cursor=result.cursor, resources=resources))
    assert isinstance(again, dg.SkipReason)  # nothing new after the cursor
    with engine.begin() as conn:
        write_event_sync(conn, "order", "o-9", "order.cancelled", {})
    third = domain_events_sensor(dg.build_sensor_context(cursor=result.cursor, resources=resources))
    assert third.asset_events[0].metadata["new_events"].value == 1 and int(third.cursor) > int(result.cursor)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM outbox_events"))


@dg.op
def _noisy(context) -> int:
    context.log.info("reconciling 3 suppliers")
    return 3


@dg.op
def _broken(context) -> None:
    raise RuntimeError("supplier statement missing")


@dg.job
def ops_probe_job():
    _noisy()


@dg.job
def ops_failing_job():
    _broken()


def _instance_with_deploy_logging(tmp_path: Path) -> dg.DagsterInstance:
    """A local instance whose python_logs section is exactly the deployment's."""
    deployed = yaml.safe_load((REPO / "deploy" / "dagster" / "dagster.yaml").read_text())
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump({"python_logs": deployed["python_logs"],
                                                           "telemetry": {"enabled": False}}))
    return dg.DagsterInstance.from_config(str(tmp_path))


def test_run_logs_use_the_platform_json_schema(tmp_path, capfd):
    with _instance_with_deploy_logging(tmp_path) as instance:
        result = ops_probe_job.execute_in_process(instance=instance)
    assert result.success
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")]
    ours = [line for line in lines if line.get("service") == "dagster"]
    assert ours, "the run logged through the deployment's JSON handler"
    for line in ours:
        assert set(line) == {"timestamp", "level", "service", "traceId", "spanId", "message", "context"}
        assert line["traceId"] == result.run_id.replace("-", "")  # the run id is the trace id
    # At LOG_LEVEL info: Dagster's DEBUG step events stay in its event log, off the log stream.
    assert {line["level"] for line in ours} <= {"INFO", "WARNING", "ERROR", "CRITICAL"}
    step_lines = [line for line in ours if line["message"] == "reconciling 3 suppliers"]
    assert step_lines and step_lines[0]["context"]["step"] == "_noisy" and len(step_lines[0]["spanId"]) == 16


def test_run_status_sensors_count_runs(tmp_path):
    with dg.DagsterInstance.ephemeral() as instance:
        ok = ops_probe_job.execute_in_process(instance=instance)
        failed = ops_failing_job.execute_in_process(instance=instance, raise_on_error=False)
        before = (_metric("pipeline_runs_total", {"job": "ops_probe_job", "status": "success"}),
                  _metric("pipeline_runs_total", {"job": "ops_failing_job", "status": "failure"}))
        pipeline_run_metrics_success(dg.build_run_status_sensor_context(
            sensor_name="pipeline_run_metrics_success", dagster_instance=instance, dagster_run=ok.dagster_run,
            dagster_event=ok.get_run_success_event()))
        pipeline_run_metrics_failure(dg.build_run_status_sensor_context(
            sensor_name="pipeline_run_metrics_failure", dagster_instance=instance, dagster_run=failed.dagster_run,
            dagster_event=failed.get_run_failure_event()).for_run_failure())
    assert _metric("pipeline_runs_total", {"job": "ops_probe_job", "status": "success"}) == before[0] + 1
    assert _metric("pipeline_runs_total", {"job": "ops_failing_job", "status": "failure"}) == before[1] + 1
    assert _metric("pipeline_last_run_duration_seconds", {"job": "ops_probe_job"}) > 0
    assert _metric("pipeline_last_success_timestamp_seconds", {"job": "ops_probe_job"}) > 1.7e9


def test_definitions_carry_the_events_sensors():
    from pipelines.definitions import defs

    names = {sensor.name for sensor in defs.sensors}
    assert {"domain_events_sensor", "pipeline_run_metrics_success", "pipeline_run_metrics_failure"} <= names
    assert defs.get_repository_def().asset_graph.has(dg.AssetKey("order_events"))


def _platform_instance_config(home: Path, database_url: str) -> None:
    """A dagster.yaml in `home` with the platform's storages on `database_url`, as `hotelctl` writes them."""
    (home / "dagster.yaml").write_text(storage_yaml(driver_url(database_url, "psycopg2")) +
                                       "telemetry:\n  enabled: false\n")


def test_the_platform_instance_keeps_a_pooled_connection_and_another_process_reads_its_runs(
        tmp_path, new_database, database_url):
    url = new_database("dagster_test")
    name = urlsplit(url).path.lstrip("/")
    _platform_instance_config(tmp_path, url)
    deployed = yaml.safe_load((REPO / "deploy" / "dagster" / "dagster.yaml").read_text())
    for section, module, class_name in STORAGES:  # the compose deployment's instance uses the same storages
        assert (deployed[section]["module"], deployed[section]["class"]) == (module, class_name)

    def held_connections() -> int:
        with psycopg.connect(plain_url(database_url), autocommit=True) as conn:
            return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> "
                                "pg_backend_pid()", (name,)).fetchone()[0]

    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        runs = [ops_probe_job.execute_in_process(instance=instance) for _ in range(2)]
        assert all(run.success for run in runs)
        # Held open between runs (stock dagster-postgres would hold none and open one per event).
        assert 1 <= held_connections() <= 2
    # Released when the instance closes: the server's backend ends a moment after the client hangs up.
    deadline = time.monotonic() + 10
    while held_connections() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert held_connections() == 0
    # Another process (a fresh instance on the same config) sees both runs and every event of each.
    with dg.DagsterInstance.from_config(str(tmp_path)) as reader:
        assert {run.run_id for run in reader.get_runs()} == {run.run_id for run in runs}
        for run in runs:
            types = [entry.dagster_event.event_type for entry in reader.all_logs(run.run_id) if entry.dagster_event]
            assert dg.DagsterEventType.STEP_SUCCESS in types and dg.DagsterEventType.RUN_SUCCESS in types


DAYS = dg.DailyPartitionsDefinition(start_date="2026-01-01")


@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run())
def ops_days_probe(context) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"days": len(context.partition_keys)})


def test_a_range_run_on_the_platform_instance_stores_its_days_in_batches(
        tmp_path, new_database, settings, migrated, monkeypatch):
    from core import runtime

    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE", raising=False)
    endpoints = runtime.Endpoints(migrated.database_url, migrated.redis_url, migrated.clickhouse_url, None, {})
    env = endpoints.child_env(settings)  # what hotelctl hands the Dagster processes it starts and sets itself
    assert env["DAGSTER_EVENT_BATCH_SIZE"] == runtime.DAGSTER_EVENT_BATCH_SIZE
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "0")
    assert endpoints.child_env(settings)["DAGSTER_EVENT_BATCH_SIZE"] == "0"  # an operator's value is kept
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", env["DAGSTER_EVENT_BATCH_SIZE"])

    _platform_instance_config(tmp_path, new_database("dagster_batches"))
    days = [f"2026-01-{day:02d}" for day in range(1, 21)]
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        storage = instance.event_log_storage
        batches: list[int] = []
        store_event_batch = storage.store_event_batch

        def counted(events):
            batches.append(sum(event.dagster_event.is_step_materialization for event in events))
            return store_event_batch(events)

        monkeypatch.setattr(storage, "store_event_batch", counted)
        result = dg.materialize([ops_days_probe], instance=instance, tags={
            "dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1]})
        assert result.success
        assert max(batches, default=0) == len(days)  # the twenty days' materializations went to PostgreSQL as one batch
    with dg.DagsterInstance.from_config(str(tmp_path)) as reader:
        assert reader.get_materialized_partitions(dg.AssetKey("ops_days_probe")) == set(days)
        stored = reader.fetch_materializations(dg.AssetKey("ops_days_probe"), limit=100).records
        assert sorted(record.partition_key for record in stored) == days
        assert all(record.asset_materialization.metadata["days"].value == len(days) for record in stored)


@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run(),
          check_specs=[dg.AssetCheckSpec("days_counted", asset="ops_days_checked")])
def ops_days_checked(context):
    if context.partition_key_range.start >= "2026-02-01":
        raise RuntimeError("the probe fails on February's days")
    yield dg.MaterializeResult(metadata={"days": len(context.partition_keys)})
    yield dg.AssetCheckResult(check_name="days_counted", passed=True)


def _stored_rows(url: str) -> dict[str, list[tuple]]:
    """What an instance's database holds about its asset runs, run and event ids replaced by what they name."""
    with psycopg.connect(url) as conn:
        runs = {run_id: index for index, (run_id,) in enumerate(conn.execute("SELECT run_id FROM runs ORDER BY id"))}
        event_types = dict(conn.execute("SELECT id, dagster_event_type FROM event_logs"))
        return {
            "events": sorted([(runs[run_id], *rest) for run_id, *rest in conn.execute(
                "SELECT run_id, dagster_event_type, asset_key, partition, step_key FROM event_logs "
                "WHERE dagster_event_type IN ('ASSET_MATERIALIZATION_PLANNED', 'ASSET_CHECK_EVALUATION_PLANNED', "
                "'ASSET_MATERIALIZATION', 'ASSET_CHECK_EVALUATION', 'STEP_FAILURE', 'RUN_SUCCESS', 'RUN_FAILURE')")],
                key=repr),
            "assets": sorted((key, runs[run_id], stamp is not None) for key, run_id, stamp in conn.execute(
                "SELECT asset_key, last_run_id, last_materialization_timestamp FROM asset_keys")),
            "checks": sorted(((key, name, partition, runs[run_id], status, event_types[event_id])
                              for key, name, partition, run_id, status, event_id in conn.execute(
                                  "SELECT asset_key, check_name, partition, run_id, execution_status, "
                                  "evaluation_event_storage_id FROM asset_check_executions")), key=repr),
        }


def test_a_range_runs_planned_events_are_stored_at_once_leaving_the_rows_and_statuses_of_dagsters_own_storage(
        tmp_path, new_database, monkeypatch):
    from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "100")
    key = dg.AssetKey("ops_days_checked")
    ranges = [("2026-01-01", "2026-01-20"), ("2026-02-01", "2026-02-05"), ("2026-01-10", "2026-01-12")]
    seen: dict[str, dict] = {}
    for kind, platform in (("stock", False), ("platform", True)):
        url, home = new_database(f"dagster_{kind}"), tmp_path / kind
        home.mkdir()
        _platform_instance_config(home, url)
        if not platform:  # dagster-postgres' own classes
            config = home / "dagster.yaml"
            config.write_text(config.read_text().replace("module: pipelines.dagster_storage\n  class: Pooled",
                                                         "module: dagster_postgres\n  class: "))
        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert (type(instance.event_log_storage).__module__ == "pipelines.dagster_storage") is platform
            statements: list[str] = []
            store_event_batch = instance.event_log_storage.store_event_batch

            def counted(events, store_event_batch=store_event_batch, statements=statements):
                planned = all(event.dagster_event_type in (dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
                                                           dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED)
                              for event in events)
                listener = lambda *args: statements.append(args[2])  # noqa: E731
                if planned:
                    sa.event.listen(instance.event_log_storage._engine, "before_cursor_execute", listener)
                try:
                    return store_event_batch(events)
                finally:
                    if planned:
                        sa.event.remove(instance.event_log_storage._engine, "before_cursor_execute", listener)

            monkeypatch.setattr(instance.event_log_storage, "store_event_batch", counted)
            rows = []
            for first, last in ranges:
                dg.materialize([ops_days_checked], instance=instance, raise_on_error=False, tags={
                    "dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last})
                rows.append(_stored_rows(url))  # after each run: a later run overwrites the asset's row
            status = get_and_update_asset_status_cache_value(instance, key, DAYS)
            seen[kind] = {
                "rows": rows,
                "materialized": instance.get_materialized_partitions(key),
                "failed": set(status.deserialize_failed_partition_subsets(DAYS).get_partition_keys()),
                "statements": len(statements),
            }
    stock, ours = seen["stock"], seen["platform"]
    assert ours["materialized"] == {f"2026-01-{day:02d}" for day in range(1, 21)}
    assert ours["failed"] == {f"2026-02-{day:02d}" for day in range(1, 6)}  # February's failed run marks its days
    for what in ("rows", "materialized", "failed"):
        assert ours[what] == stock[what], what
    # 28 days planned in 3 runs: dagster-postgres writes each day's event with 3 statements, ours a run's at once.
    assert stock["statements"] > 2 * 28 and ours["statements"] <= 4 * len(ranges)


def test_the_platform_event_log_asks_the_schema_once_for_what_exists_and_again_for_what_does_not(
        tmp_path, new_database, monkeypatch):
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "100")
    _platform_instance_config(tmp_path, new_database("dagster_schema"))
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        storage = instance.event_log_storage
        catalog: list[str] = []
        sa.event.listen(storage._engine, "before_cursor_execute",
                        lambda *args: catalog.append(args[2]) if "pg_catalog" in args[2] else None)
        tags = {"dagster/asset_partition_range_start": "2026-01-01", "dagster/asset_partition_range_end": "2026-01-07"}
        assert dg.materialize([ops_days_checked], instance=instance, tags=tags).success
        first = len(catalog)
        assert dg.materialize([ops_days_checked], instance=instance, tags=tags).success
        # The stock storage reflects asset_keys' columns and looks up the checks table for every event that needs
        # them; a second run here asks nothing more.
        assert first > 0 and len(catalog) == first
        assert storage.has_asset_key_col("last_materialization_timestamp") and len(catalog) == first
        assert not storage.has_asset_key_col("not_yet_migrated")
        assert not storage.has_asset_key_col("not_yet_migrated")  # a column not found is asked for each time
        assert len(catalog) > first + 1
