"""Metrics of runs that end: the inventory sync runs in a Dagster run process that nothing scrapes while it
lives, so at its end it pushes this process's metrics (supplier calls, latencies, breakers, the sync's own
gauges) to the Pushgateway (`PUSHGATEWAY_URL`), which Prometheus scrapes. Unset: nothing is pushed."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Gauge, push_to_gateway

from core.settings import Settings

logger = logging.getLogger("metrics")

SYNC_LAST_SUCCESS = Gauge("inventory_sync_last_success_timestamp_seconds",
                          "When the supplier's inventory last synced with status ok", ["supplier"])
SYNC_INTERVAL = Gauge("inventory_sync_interval_seconds", "The inventory sync's schedule interval (SYNC_INTERVAL_MS)")
SYNC_ROWS = Gauge("inventory_sync_rows", "Rows of the supplier's last inventory sync, by outcome",
                  ["supplier", "outcome"])


def record_inventory_sync(settings: Settings, results: Mapping[str, Any], now: float | None = None) -> None:
    """Gauges of one sync: per supplier its rows, and when it last succeeded (only ok suppliers move)."""
    now = time.time() if now is None else now
    SYNC_INTERVAL.set(settings.sync_interval_ms / 1000)
    for code, result in results.items():
        SYNC_ROWS.labels(code, "upserted").set(result.rows_upserted)
        SYNC_ROWS.labels(code, "quarantined").set(result.rows_quarantined)
        if result.status == "ok":
            SYNC_LAST_SUCCESS.labels(code).set(now)


# What a sync run pushes: its supplier calls, latencies and breakers, and its own gauges. Only these: the run
# process holds other families too (e.g. pipeline_runs_total, whose `job` label the gateway would refuse).
RUN_METRIC_PREFIXES = ("supplier_", "inventory_sync_")


class _Selected:
    """The families of `source` whose names start with one of `prefixes`."""

    def __init__(self, source: CollectorRegistry, prefixes: tuple[str, ...]) -> None:
        self.source, self.prefixes = source, prefixes

    def collect(self):
        return (family for family in self.source.collect() if family.name.startswith(self.prefixes))


def push_run_metrics(settings: Settings, job: str, prefixes: tuple[str, ...] = RUN_METRIC_PREFIXES,
                     source: CollectorRegistry = REGISTRY) -> bool:
    """Push this process's `prefixes` metrics as the group `job` (replacing that job's previous push); False
    when not configured or refused (logged: a run does not fail for its metrics)."""
    if not settings.pushgateway_url:
        return False
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Selected(source, prefixes))
    try:
        push_to_gateway(settings.pushgateway_url, job=job, registry=registry, timeout=10)
    except OSError as error:
        logger.warning("metrics push failed", extra={"context": {"job": job, "error": str(error)}})
        return False
    return True
