"""hotelctl on embedded engines, and the Dagster code location."""

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest

from core import runtime

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.embedded


def _hotelctl(*args, env):
    return subprocess.run([sys.executable, "-m", "cli.main", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def test_embedded_migrate_status_partners_down(tmp_path):
    data = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CLICKHOUSE_URL")}
    env["HOTEL_DATA_DIR"] = str(data)
    # Ports nothing listens on: a platform running on this machine would answer on the default ones.
    env["API_PORT"], env["DAGSTER_PORT"] = str(runtime.free_port()), str(runtime.free_port())
    os.chmod(tmp_path, 0o755)
    try:
        assert _hotelctl("migrate", env=env).returncode == 0
        status = _hotelctl("status", "--json", env=env)
        parts = {part["part"]: part for part in json.loads(status.stdout)}
        for name in ("postgresql", "redis", "clickhouse"):
            assert parts[name]["mode"] == "embedded" and parts[name]["reachable"], parts[name]
        assert not parts["api"]["reachable"]  # status is non-zero only for engines
        created = _hotelctl("partners", "create", "Acme Travel", "--credit-limit", "2500.50", env=env)
        assert created.returncode == 0, created.stderr
        fields = dict(line.split("=", 1) for line in created.stdout.splitlines())
        assert fields["client_id"].startswith("pk_") and len(fields["client_secret"]) >= 32
        # no pricing rule yet (`up` adds the defaults): the operator is told the partner gets no partner markup
        assert "warning: no active partner-level pricing rule names tier 'standard'" in created.stderr
        bad = _hotelctl("partners", "create", "X", "--credit-limit", "lots", env=env)
        assert bad.returncode != 0 and "--credit-limit" in bad.stderr
        started = json.loads((data / "processes.json").read_text())
        assert set(started) == {"postgresql", "redis"}
        # Starting again reuses what runs.
        assert _hotelctl("migrate", env=env).returncode == 0
        assert json.loads((data / "processes.json").read_text()) == started
    finally:
        down = _hotelctl("down", env=env)
    assert "postgresql" in down.stderr and "redis" in down.stderr
    assert not (data / "processes.json").exists()
    assert (data / "pg" / "PG_VERSION").exists()  # data kept


# A service that starts a process of its own (as the Dagster daemon starts code servers, which start runs).
_SERVICE = """
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", sys.argv[1], *sys.argv[2:]])
time.sleep(600)
"""
# It stops cleanly, as a Dagster run records its interruption: slowly, and only when told to.
_STARTED_PROCESS = """
import os, pathlib, signal, sys, time
def stop(*_):
    time.sleep(1)
    pathlib.Path(sys.argv[1]).write_text("stopped cleanly")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
pathlib.Path(sys.argv[2]).write_text(str(os.getpid()))
time.sleep(600)
"""


def test_down_stops_what_a_service_started_and_waits_for_it_to_finish(tmp_path):
    stopped, pid_file = tmp_path / "stopped", tmp_path / "pid"
    service = subprocess.Popen([sys.executable, "-c", _SERVICE, _STARTED_PROCESS, str(stopped), str(pid_file)],
                               start_new_session=True)
    runtime.record_process(tmp_path, "dagster-daemon", service.pid)
    while not (pid_file.exists() and pid_file.read_text()):
        assert service.poll() is None
        time.sleep(0.05)
    started = int(pid_file.read_text())

    assert runtime.stop_processes(tmp_path) == ["dagster-daemon"]

    assert stopped.read_text() == "stopped cleanly"  # told, and waited for
    assert not runtime.pid_alive(started) and not runtime.pid_alive(service.pid)
    assert not runtime.started_processes(tmp_path)


def test_down_after_a_reboot_leaves_a_program_that_now_has_a_recorded_id_alone(tmp_path):
    """After a reboot (or a crash) the id `processes.json` names may be another program's. `down` neither stops it
    nor reports it; the platform's own process it stops."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    env = {**os.environ, "HOTEL_DATA_DIR": str(tmp_path)}
    try:
        runtime.record_process(tmp_path, "api", other.pid)
        state = json.loads((tmp_path / "processes.json").read_text())
        _, ticks = state["api"]["identity"].rsplit(":", 1)
        state["api"]["identity"] = f"{uuid.uuid4()}:{ticks}"  # the API recorded under this id ran in an earlier boot
        (tmp_path / "processes.json").write_text(json.dumps(state))
        assert runtime.started_processes(tmp_path) == {}

        down = _hotelctl("down", env=env)
        assert down.returncode == 0 and "stopped: nothing was running" in down.stderr, down.stdout + down.stderr
        assert other.poll() is None

        runtime.record_process(tmp_path, "api", other.pid)  # recorded as it is: the platform's own
        assert runtime.started_processes(tmp_path) == {"api": other.pid}
        down = _hotelctl("down", env=env)
        assert "stopped: api" in down.stderr, down.stdout + down.stderr
        assert other.wait(timeout=30) is not None
    finally:
        other.kill()
        other.wait()


def test_embedded_postgresql_starts_over_a_postmaster_pid_whose_id_is_now_another_programs(tmp_path):
    """A reboot leaves the embedded PostgreSQL's postmaster.pid behind, and its id may be another program's by then:
    PostgreSQL would take that program for a running server and refuse to start."""
    data = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CLICKHOUSE_URL")}
    env.update(HOTEL_DATA_DIR=str(data), API_PORT=str(runtime.free_port()), DAGSTER_PORT=str(runtime.free_port()))
    os.chmod(tmp_path, 0o755)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
    try:
        assert _hotelctl("migrate", env=env).returncode == 0
        pid_file = data / "pg" / "postmaster.pid"
        left_behind = pid_file.read_text().splitlines()
        assert _hotelctl("down", env=env).returncode == 0 and not pid_file.exists()
        left_behind[0] = str(other.pid)  # the id, now another program's
        pid_file.write_text("\n".join(left_behind) + "\n")
        assert runtime.postgres_state(data) is None

        again = _hotelctl("migrate", env=env)
        assert again.returncode == 0, again.stdout + again.stderr
        status = json.loads(_hotelctl("status", "--json", env=env).stdout)
        assert {part["part"]: part["reachable"] for part in status}["postgresql"]
        assert runtime.postgres_state(data) == "ready" and runtime.postgres_pid(data) != other.pid
        assert other.poll() is None
    finally:
        _hotelctl("down", env=env)
        other.kill()
        other.wait()


@pytest.mark.parametrize("command", [[], ["up"], ["down"], ["migrate"], ["status"], ["partners", "create"]])
def test_every_command_has_help(command):
    result = subprocess.run([sys.executable, "-m", "cli.main", *command, "--help"], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0 and "Usage" in result.stdout


def test_definitions_validate_from_the_repository_root():
    result = subprocess.run([str(Path(sys.executable).parent / "dagster"), "definitions", "validate",
                             "-w", "workspace.yaml"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def test_warehouse_assets_share_a_pool_of_one_step():
    from pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    warehouse_nodes = [node for node in graph.asset_nodes
                       if "warehouse" in node.assets_def.required_resource_keys]
    assert warehouse_nodes
    for node in warehouse_nodes:
        assert node.pools == {"warehouse"}, node.key


def test_warehouse_database_materialises_into_chdb(migrated):
    from assets.platform import warehouse_database
    from pipelines.resources import WarehouseResource
    from warehouse.client import warehouse_client

    result = dg.materialize([warehouse_database],
                            resources={"warehouse": WarehouseResource(clickhouse_url=migrated.clickhouse_url)})
    assert result.success
    with warehouse_client(migrated.clickhouse_url) as client:
        assert client.query("EXISTS DATABASE hotel_analytics").result_rows[0][0] == 1


def test_dagster_processes_started_by_hotelctl_do_not_repeat_the_beta_logging_warning(migrated, settings, tmp_path):
    """The daemon and every run it launches would warn, once per run, that dagster.yaml's run logging is beta."""
    (tmp_path / "dagster.yaml").write_text(
        "python_logs:\n  dagster_handler_config:\n    handlers:\n      json:\n        class: logging.StreamHandler\n")
    env = {**migrated.child_env(settings), "DAGSTER_HOME": str(tmp_path)}  # as `hotelctl up` starts them
    handlers = [sys.executable, "-c", "import dagster as dg; dg.DagsterInstance.get().get_handlers()"]

    unquieted = {**env, "PYTHONWARNINGS": ""}
    assert "BetaWarning" in subprocess.run(handlers, env=unquieted, capture_output=True, text=True).stderr
    started = subprocess.run(handlers, env=env, capture_output=True, text=True)
    assert started.returncode == 0 and "Warning" not in started.stderr, started.stderr
