"""Runs the platform stopped under: after a crash, a reboot or a `kill -9`, the run history still shows them in
flight, and the steps they had started still hold their concurrency pool's slots. With the embedded warehouse's
pool of one (`warehouse`), every later warehouse step then waits for ever ("Step still blocked by limit for pool
warehouse"), `hotelctl up`'s main job included. The default run launcher cannot tell Dagster's run monitoring
whether a run's process lives, so `hotelctl up`, `run`, `backfill` and `settle run` ask here before they start
any: a run whose worker (the process that wrote its RUN_START) is gone is marked failed, saying why, and its slots
are freed.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
import psutil

from core.runtime import pid_alive

IN_FLIGHT = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


@dataclass(frozen=True)
class OrphanedRun:
    run_id: str
    job_name: str
    worker_pid: int


def fail_orphaned_runs(instance: dg.DagsterInstance) -> list[OrphanedRun]:
    """Mark failed every in-flight run whose worker process is gone, and free its pool slots."""
    orphaned = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=IN_FLIGHT)):
        run = record.dagster_run
        pid = _orphaned_worker(instance, run.run_id)
        if pid is None:
            continue
        instance.report_run_failed(run, f"the platform stopped while this run was in flight: its worker process "
                                        f"({pid}) is gone (a crash, a reboot or a kill); marked failed by hotelctl")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        orphaned.append(OrphanedRun(run.run_id, run.job_name, pid))
    return orphaned


def _orphaned_worker(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The id of the run's worker when that process is gone, else None (alive, or no RUN_START to tell)."""
    started = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_START, limit=1).records
    if not started or started[0].event_log_entry.dagster_event is None:
        return None
    entry = started[0].event_log_entry
    pid = entry.dagster_event.pid
    if pid is None:
        return None
    before_this_boot = entry.timestamp < psutil.boot_time()  # the id may be another program's since the reboot
    return pid if before_this_boot or not pid_alive(pid) else None

