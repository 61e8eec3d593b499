"""Runs the platform stopped under: after a crash, a reboot or a `kill -9`, the run history still shows them in
flight, and the steps they had started still hold their concurrency pool's slots. With the embedded warehouse's
pool of one (`warehouse`), every later warehouse step then waits for ever ("Step still blocked by limit for pool
warehouse"), `hotelctl up`'s main job included. The default run launcher cannot tell Dagster's run monitoring
whether a run's process lives, so `hotelctl up`, `run`, `backfill` and `settle run` ask here before they start
any: a run whose worker (the process that wrote its RUN_START) is gone is marked failed, saying why, and its slots
are freed. While the platform runs, `WorkerWatchingRunLauncher` answers the same question for the daemon's run
monitoring, so a worker killed under a running platform (the OOM killer, a `kill -9`) fails its run within a poll,
and Dagster's run retries re-execute it from failure; `supervision_yaml` is the instance's part that turns both on.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
import psutil
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus
from dagster._core.storage.tags import MAX_RETRIES_TAG, WILL_RETRY_TAG

from core.runtime import pid_alive

IN_FLIGHT = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
# The tags of a run a `hotelctl` command executes in its own process: whoever ran the command reads its result and
# runs it again. Dagster cannot re-execute such a run (no code location launched it), yet would tag it "will retry".
EXECUTED_BY_A_COMMAND = {MAX_RETRIES_TAG: "0"}


@dataclass(frozen=True)
class OrphanedRun:
    run_id: str
    job_name: str
    worker_pid: int
    will_retry: bool  # Dagster's run retries re-execute it from failure once the daemon runs


def fail_orphaned_runs(instance: dg.DagsterInstance) -> list[OrphanedRun]:
    """Mark failed every in-flight run whose worker process is gone, and free its pool slots."""
    orphaned = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=IN_FLIGHT)):
        run = record.dagster_run
        pid = gone_worker(instance, run.run_id)
        if pid is None:
            continue
        instance.report_run_failed(run, f"the platform stopped while this run was in flight: its worker process "
                                        f"({pid}) is gone (a crash, a reboot or a kill); marked failed by hotelctl")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        orphaned.append(OrphanedRun(run.run_id, run.job_name, pid, _will_retry(instance, run)))
    return orphaned


def _will_retry(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    """Run retries can re-execute only a run launched from a code location (the UI, a schedule, a sensor), not one
    a command executed in its own process."""
    failed = instance.get_run_by_id(run.run_id)
    return run.remote_job_origin is not None and failed is not None and failed.tags.get(WILL_RETRY_TAG) == "true"


def gone_worker(instance: dg.DagsterInstance, run_id: str) -> int | None:
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


class WorkerWatchingRunLauncher(DefaultRunLauncher):
    """Dagster's default launcher (a run's worker is a process on this host), which can also tell the daemon's run
    monitoring whether that worker still lives."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        pid = gone_worker(self._instance, run.run_id)
        if pid is None:
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(WorkerStatus.FAILED, f"its worker process ({pid}) is gone (a crash, a kill or "
                                                         "the OOM killer)")


def supervision_yaml(workers_on_this_host: bool) -> str:
    """The instance's run monitoring and run retries. A run stuck starting, or one whose worker is gone where the
    workers are this host's processes, is failed; its pool slots are freed; Dagster re-executes it once from
    failure. A step that failed stays failed: that is for an operator to read, not to repeat."""
    launcher = ("run_launcher:\n"
                "  module: pipelines.orphan_runs\n"
                "  class: WorkerWatchingRunLauncher\n") if workers_on_this_host else ""
    return launcher + (
        "run_monitoring:\n"
        "  enabled: true\n"
        "  poll_interval_seconds: 15\n"
        "  start_timeout_seconds: 180\n"
        "  cancel_timeout_seconds: 180\n"
        "  free_slots_after_run_end_seconds: 30\n"
        "run_retries:\n"
        "  enabled: true\n"
        "  max_retries: 1\n"
        "  retry_on_asset_or_op_failure: false\n"
    )
