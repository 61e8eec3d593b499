"""A run whose worker is killed (a crash, a reboot) stays in flight in the run history and keeps its step's slot in
its concurrency pool, so with a pool of one every later step in that pool waits for ever. `hotelctl up`'s check
(`pipelines.orphan_runs`) marks such a run failed, saying why, and frees the slot; a run whose worker lives is left
alone. `hotelctl run` (as `up` and `backfill`) runs that check first on a data folder of its own. While the
platform runs, the daemon's run monitoring asks the launcher the same question: a worker killed under a running
daemon fails its run within a poll, and the run is re-executed from failure."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from core.db import driver_url
from pipelines.dagster_storage import storage_yaml
from pipelines.orphan_runs import fail_orphaned_runs, supervision_yaml

REPO = Path(__file__).resolve().parents[1]
POOL = "warehouse"


@dg.asset(pool=POOL)
def held_for_long() -> None:
    time.sleep(600)


@dg.asset(pool=POOL)
def after_the_crash() -> int:
    return 1


def run_held_for_long(home: str) -> None:
    """The worker: a run whose step holds the pool's one slot until the process is killed."""
    with dg.DagsterInstance.from_config(home) as instance:
        dg.materialize([held_for_long], instance=instance)


def _until(predicate, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.1)


def _start_worker(home: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "from tests.test_ops_orphan_runs import run_held_for_long; "
                             f"run_held_for_long({str(home)!r})"], cwd=REPO, start_new_session=True)


def test_a_run_whose_worker_was_killed_is_failed_and_frees_its_pool_slot(new_database, tmp_path):
    home = tmp_path / "dagster"
    home.mkdir()
    url = driver_url(new_database("hotel_dagster"), "psycopg2")
    (home / "dagster.yaml").write_text(storage_yaml(url) + "concurrency:\n  pools:\n    default_limit: 1\n")
    worker = _start_worker(home)
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            def slot_holders() -> set[str]:
                return instance.event_log_storage.get_concurrency_info(POOL).active_run_ids

            _until(lambda: slot_holders(), "the worker's step holds the pool's slot")
            [run_id] = slot_holders()
            assert fail_orphaned_runs(instance) == []  # its worker lives: left alone
            assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED

            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
            assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED  # as a crash leaves it
            assert slot_holders() == {run_id}

            [orphaned] = fail_orphaned_runs(instance)
            assert (orphaned.run_id, orphaned.job_name, orphaned.worker_pid) == (run_id, "__ephemeral_asset_job__",
                                                                                 worker.pid)
            assert not orphaned.will_retry  # executed by its own process: no code location can re-execute it
            assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
            [failure] = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
            assert f"its worker process ({worker.pid}) is gone" in failure.event_log_entry.dagster_event.message
            assert slot_holders() == set()
            assert fail_orphaned_runs(instance) == []  # once

            assert dg.materialize([after_the_crash], instance=instance).success  # the pool serves the next step
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def test_hotelctl_run_first_fails_a_run_a_crash_left_in_flight(tmp_path):
    data = tmp_path / "var"
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "CLICKHOUSE_URL", "DAGSTER_HOME", "DAGSTER_DATABASE_URL",
                        "HOTEL_ENGINE_MODES")}
    env["HOTEL_DATA_DIR"] = str(data)
    os.chmod(tmp_path, 0o755)

    def hotelctl(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=300)

    worker = None
    try:
        assert hotelctl("migrate").returncode == 0
        first = hotelctl("run", "order_expiry_job")  # writes the data folder's Dagster instance
        assert first.returncode == 0, first.stdout + first.stderr
        with dg.DagsterInstance.from_config(str(data / "dagster")) as instance:
            [executed] = instance.get_runs(dg.RunsFilter(job_name="order_expiry_job"))
            assert executed.tags["dagster/max_retries"] == "0"  # the command's user runs it again, not Dagster
            worker = _start_worker(data / "dagster")
            _until(lambda: instance.event_log_storage.get_concurrency_info(POOL).active_run_ids, "slot held")
            [run_id] = instance.event_log_storage.get_concurrency_info(POOL).active_run_ids
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()

            again = hotelctl("run", "order_expiry_job")
            said = " ".join((again.stdout + again.stderr).split())
            assert again.returncode == 0, said
            assert (f"dagster: run {run_id} (__ephemeral_asset_job__) was in flight when the platform stopped and its "
                    f"worker (pid {worker.pid}) is gone: marked failed, its pool slots freed") in said
            assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
            assert instance.event_log_storage.get_concurrency_info(POOL).active_run_ids == set()
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        hotelctl("down")


def test_under_the_daemon_a_killed_worker_fails_its_run_and_a_launched_run_is_re_executed(new_database, tmp_path):
    home = tmp_path / "dagster"
    home.mkdir()
    url = driver_url(new_database("hotel_dagster"), "psycopg2")
    (home / "dagster.yaml").write_text(
        storage_yaml(url) + "concurrency:\n  pools:\n    default_limit: 1\n"
        "run_coordinator:\n  module: dagster.core.run_coordinator\n  class: QueuedRunCoordinator\n"
        + supervision_yaml(workers_on_this_host=True))
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(f"load_from:\n  - python_module:\n      module_name: tests.crash_once_defs\n"
                         f"      working_directory: {REPO}\n")
    marker = tmp_path / "first-step.pid"
    env = {**os.environ, "DAGSTER_HOME": str(home), "CRASH_ONCE_MARKER": str(marker)}
    bin_dir = Path(sys.executable).parent
    daemon = subprocess.Popen([str(bin_dir / "dagster-daemon"), "run", "-w", str(workspace)], cwd=REPO, env=env,
                              start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            def status(run_id: str) -> dg.DagsterRunStatus:
                return instance.get_run_by_id(run_id).status

            def slot_holders() -> set[str]:
                return instance.event_log_storage.get_concurrency_info(POOL).active_run_ids

            # A run a command executes in its own process (as `hotelctl run` does), its worker killed while the
            # platform runs: no code server watches it, so only the daemon's run monitoring can end it.
            worker = _start_worker(home)
            _until(lambda: slot_holders(), "the worker's step holds the pool's slot")
            [held] = slot_holders()
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
            _until(lambda: status(held) == dg.DagsterRunStatus.FAILURE, "the daemon fails the run", timeout_s=90)
            [failure] = instance.get_records_for_run(held, of_type=dg.DagsterEventType.RUN_FAILURE).records
            assert f"its worker process ({worker.pid}) is gone" in failure.event_log_entry.dagster_event.message
            _until(lambda: slot_holders() == set(), "the daemon frees the run's slot", timeout_s=90)

            # A run launched from the code location (the UI, a schedule), its worker killed: re-executed from failure.
            launched = subprocess.run([str(bin_dir / "dagster"), "job", "launch", "-w", str(workspace),
                                       "-j", "crash_once_job"], cwd=REPO, env=env, capture_output=True, text=True,
                                      timeout=120)
            assert launched.returncode == 0, launched.stdout + launched.stderr
            [first] = instance.get_runs(dg.RunsFilter(job_name="crash_once_job"))
            _until(lambda: marker.exists() and marker.read_text(), "the launched run's step runs", timeout_s=120)
            [started] = instance.get_records_for_run(first.run_id, of_type=dg.DagsterEventType.RUN_START).records
            for pid in (started.event_log_entry.dagster_event.pid, int(marker.read_text())):  # worker, then step
                os.kill(pid, signal.SIGKILL)
            _until(lambda: status(first.run_id) == dg.DagsterRunStatus.FAILURE, "the run fails", timeout_s=90)

            def retries() -> list[dg.DagsterRun]:
                return [run for run in instance.get_runs() if run.parent_run_id == first.run_id]

            _until(lambda: retries() and retries()[0].is_finished, "the re-execution ends", timeout_s=180)
            [retry] = retries()
            assert retry.status == dg.DagsterRunStatus.SUCCESS  # from failure: the killed step ran again
            assert instance.get_latest_materialization_event(dg.AssetKey("crashes_once")).run_id == retry.run_id
            assert [run.run_id for run in instance.get_runs(dg.RunsFilter(job_name="crash_once_job"))] == \
                [retry.run_id, first.run_id]  # once
    finally:
        os.killpg(daemon.pid, signal.SIGKILL)
        daemon.wait()
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        if marker.exists() and marker.read_text():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(marker.read_text()), signal.SIGKILL)
