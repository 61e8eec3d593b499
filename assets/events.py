"""Domain events in Dagster, and the pipelines' Prometheus metrics.

- `order_events`: the outbox as an observable source asset. The `domain_events_sensor` reads new
  outbox rows by id cursor (straight from PostgreSQL: it works with or without RabbitMQ) and records
  an observation per tick: events by type, the last id, how many still wait for the relay.
- `pipeline_run_metrics_*`: run-status sensors counting runs per job and outcome and the last run's
  duration. Sensors are evaluated in the code-server process, which serves these metrics on
  `PIPELINE_METRICS_PORT` (9109 in the compose files; unset: not served).
"""

from __future__ import annotations

import os
import threading
from collections import Counter as Tally

import dagster as dg
from prometheus_client import Counter, Gauge, start_http_server

from core.outbox import backlog, read_events
from pipelines.resources import PostgresResource

ORDER_EVENTS = dg.AssetKey("order_events")
MAX_EVENTS_PER_TICK = 5000

EVENTS_SEEN = Counter("pipeline_domain_events_total", "Domain events the pipelines observed", ["event_type"])
OUTBOX_BACKLOG = Gauge("pipeline_outbox_backlog", "Outbox events not yet published, as the sensor last saw")
RUNS = Counter("pipeline_runs_total", "Dagster runs finished", ["job", "status"])
RUN_DURATION = Gauge("pipeline_last_run_duration_seconds", "Duration of the job's last finished run", ["job"])
LAST_SUCCESS = Gauge("pipeline_last_success_timestamp_seconds", "When the job last succeeded", ["job"])

_metrics_lock = threading.Lock()
_metrics_started = False


def ensure_metrics_server() -> bool:
    """Serve the pipeline metrics once per process when PIPELINE_METRICS_PORT is set."""
    global _metrics_started
    port = os.environ.get("PIPELINE_METRICS_PORT")
    with _metrics_lock:
        if _metrics_started or not port:
            return _metrics_started
        start_http_server(int(port))
        _metrics_started = True
    return True


order_events = dg.AssetSpec(
    ORDER_EVENTS, group_name="events", kinds={"postgres"},
    description="Order state transitions in the transactional outbox (outbox_events), as the relay publishes "
                "them to RabbitMQ exchange hotel.events.",
)


@dg.sensor(minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Reads new outbox events by id and records what arrived on the order_events asset.")
def domain_events_sensor(context: dg.SensorEvaluationContext, postgres: PostgresResource):
    ensure_metrics_server()
    after = int(context.cursor or 0)
    engine = postgres.engine()
    events = read_events(engine, after_id=after, limit=MAX_EVENTS_PER_TICK, aggregate_type="order")
    waiting = backlog(engine)
    OUTBOX_BACKLOG.set(waiting)
    if not events:
        return dg.SkipReason(f"no new domain events after id {after}; {waiting} wait for the relay")
    by_type = Tally(event.event_type for event in events)
    for event_type, count in by_type.items():
        EVENTS_SEEN.labels(event_type).inc(count)
    last = events[-1].id
    observation = dg.AssetObservation(
        asset_key=ORDER_EVENTS,
        metadata={"new_events": len(events), "last_event_id": last, "by_type": dict(by_type),
                  "aggregates": len({event.aggregate_id for event in events}), "outbox_backlog": waiting},
    )
    return dg.SensorResult(asset_events=[observation], cursor=str(last))


def record_run(job: str, status: str, duration_s: float | None, finished_at: float | None) -> None:
    RUNS.labels(job, status).inc()
    if duration_s is not None:
        RUN_DURATION.labels(job).set(duration_s)
    if status == "success" and finished_at is not None:
        LAST_SUCCESS.labels(job).set(finished_at)


def _record(context: dg.RunStatusSensorContext, status: str) -> None:
    ensure_metrics_server()
    stats = context.instance.get_run_stats(context.dagster_run.run_id)
    duration = stats.end_time - stats.start_time if stats.start_time and stats.end_time else None
    record_run(context.dagster_run.job_name, status, duration, stats.end_time)


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, name="pipeline_run_metrics_success",
                      default_status=dg.DefaultSensorStatus.RUNNING, monitor_all_code_locations=True,
                      description="Counts successful runs per job for Prometheus.")
def pipeline_run_metrics_success(context: dg.RunStatusSensorContext):
    _record(context, "success")


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.FAILURE, name="pipeline_run_metrics_failure",
                      default_status=dg.DefaultSensorStatus.RUNNING, monitor_all_code_locations=True,
                      description="Counts failed runs per job for Prometheus.")
def pipeline_run_metrics_failure(context: dg.RunStatusSensorContext):
    _record(context, "failure")


ASSET_SPECS = [order_events]  # external: observed by the sensor, never materialised
SENSORS = [domain_events_sensor, pipeline_run_metrics_success, pipeline_run_metrics_failure]
