"""hotelctl on embedded engines, and the Dagster code location."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.embedded


def _hotelctl(*args, env):
    return subprocess.run([sys.executable, "-m", "cli.main", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def test_embedded_migrate_status_partners_down(tmp_path):
    data = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CLICKHOUSE_URL")}
    env["HOTEL_DATA_DIR"] = str(data)
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
