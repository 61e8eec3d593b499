"""The platform runs by itself: the sensor `match_after_content_sync` requests a hotel matching run after every
supplier content sync (not after the main job, which matches in the same run), and `order_expiry_schedule` runs
the order expiry every minute; both are in the code location `dagster definitions validate` loads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from tests.admin_fixtures import order_held_for_review

pytest_plugins = ["tests.admin_fixtures"]

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_sensor_and_schedule_are_in_the_code_location():
    from pipelines.definitions import defs

    schedule = defs.get_schedule_def("order_expiry_schedule")
    assert schedule.cron_schedule == "* * * * *" and schedule.job_name == "order_expiry_job"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    sensor = defs.get_sensor_def("match_after_content_sync")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.job_name == "hotel_matching_job"
    assert defs.resolve_job_def("hotel_matching_job").asset_layer.executable_asset_keys == {
        dg.AssetKey("hotel_mappings")}
    validated = subprocess.run([str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w",
                                "workspace.yaml"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert validated.returncode == 0, validated.stdout[-2000:] + validated.stderr[-2000:]


def _content_sync_stand_ins():
    """Assets with the keys of the content sync and of matching, cheap to materialise into a test instance."""
    @dg.asset(name="supplier_hotels")
    def supplier_hotels() -> None:
        return None

    @dg.asset(name="hotel_mappings", deps=[supplier_hotels])
    def hotel_mappings() -> None:
        return None

    return supplier_hotels, hotel_mappings


def test_the_sensor_requests_matching_after_a_content_sync_only(tmp_path):
    from assets.matching import match_after_content_sync

    supplier_hotels, hotel_mappings = _content_sync_stand_ins()
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        first = match_after_content_sync.evaluate_tick(dg.build_sensor_context(instance=instance))
        assert not first.run_requests  # nothing synced yet

        content = dg.materialize([supplier_hotels], instance=instance)
        assert content.success
        requests = match_after_content_sync.evaluate_tick(
            dg.build_sensor_context(instance=instance, cursor=first.cursor)).run_requests
        assert [r.run_key for r in requests] == [f"content-sync-{content.run_id}"]
        assert requests[0].tags["content_sync_run"] == content.run_id

        # The same sensor, later ticks: the main job matched in its own run; nothing new to request.
        main = dg.Definitions(assets=[supplier_hotels, hotel_mappings], jobs=[dg.define_asset_job(
            "platform_main_job", selection=[supplier_hotels, hotel_mappings])])
        assert main.resolve_job_def("platform_main_job").execute_in_process(instance=instance).success
        cursor = match_after_content_sync.evaluate_tick(
            dg.build_sensor_context(instance=instance)).cursor  # past the first sync
        after_main = match_after_content_sync.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor))
        assert not after_main.run_requests
        again = dg.materialize([supplier_hotels], instance=instance)
        latest = match_after_content_sync.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor))
        assert [r.run_key for r in latest.run_requests] == [f"content-sync-{again.run_id}"]


def test_the_expiry_job_ends_due_orders(api_client, engine, redis_url, settings, tmp_path, cli_env):
    from assets.orders import order_expiry_job
    from pipelines.resources import PostgresResource, RedisResource

    _, _, order = order_held_for_review(api_client, engine, redis_url, settings)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE orders SET expires_at = now() - interval '1 second' WHERE id = :id"),
                     {"id": order["order_id"]})
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = order_expiry_job.execute_in_process(instance=instance, resources={
            "postgres": PostgresResource(database_url=settings.database_url),
            "redis": RedisResource(redis_url=settings.redis_url)})
    assert result.success
    assert result.output_for_node("expire_due_orders") >= 1
    with engine.connect() as conn:
        status = conn.execute(sa.text("SELECT status FROM orders WHERE id = :id"), {"id": order["order_id"]}).scalar()
    assert status == "EXPIRED"
