"""`hotelctl config`, `hotelctl flags` and `hotelctl relay` as an operator runs them (real processes)."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.outbox import backlog, write_event_sync
from core.topology import queue_name
from tests.test_ops_events import delete_topology, queued
from tests.test_ops_relay import RABBITMQ_URL, needs_broker

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def cli_env(migrated, data_dir):
    env = {k: v for k, v in os.environ.items() if k not in ("RABBITMQ_URL",)}
    env.update(DATABASE_URL=migrated.database_url, REDIS_URL=migrated.redis_url,
               CLICKHOUSE_URL=migrated.clickhouse_url, HOTEL_DATA_DIR=str(data_dir))
    return env


def hotelctl(env, *args):
    """A real `hotelctl` process (for the relay, which configures process-wide logging)."""
    return subprocess.run([sys.executable, "-m", "cli.main", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=120)


class _Result:
    def __init__(self, result) -> None:
        self.returncode, self.stdout, self.stderr = result.exit_code, result.stdout, result.stderr


def hotelctl_inprocess(env, *args):
    """The same command line through the app in this process (saves the CLI's import time per call)."""
    from typer.testing import CliRunner

    from cli.main import app

    return _Result(CliRunner().invoke(app, list(args), env=env))


def test_config_set_get_list(cli_env):
    key = f"ops.cli.{secrets.token_hex(3)}"
    assert hotelctl_inprocess(cli_env, "config", "get", key).returncode == 1
    done = hotelctl_inprocess(cli_env, "config", "set", key, '{"max": 3}', "--description", "cli test")
    assert done.returncode == 0, done.stderr
    assert json.loads(hotelctl_inprocess(cli_env, "config", "get", key).stdout) == {"max": 3}
    staging = hotelctl_inprocess(cli_env, "config", "set", key, "plain text", "--string", "--env", "staging")
    assert staging.returncode == 0
    assert json.loads(hotelctl_inprocess(cli_env, "config", "get", key, "--env", "staging").stdout) == "plain text"
    rows = json.loads(hotelctl_inprocess(cli_env, "config", "list", "--json").stdout)
    assert {(row["env"], row["updated_by"]) for row in rows if row["key"] == key} == {
        ("production", getpass.getuser()), ("staging", getpass.getuser())}  # who acted (no --as, --by)
    bad = hotelctl_inprocess(cli_env, "config", "set", key, "{not json")
    assert bad.returncode == 2 and "VALUE" in bad.stderr and "not JSON" in bad.stderr


def test_flags_set_list_check(cli_env):
    name = f"ops.cliflag.{secrets.token_hex(3)}"
    created = hotelctl_inprocess(cli_env, "flags", "set", name, "--create", "--on", "--rollout", "0",
                                 "--whitelist", "t-1,t-2")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout) == {"name": name, "enabled": True, "rollout_pct": 0,
                                          "whitelist": ["t-1", "t-2"]}
    assert hotelctl_inprocess(cli_env, "flags", "check", name, "--tenant", "t-2").stdout.strip() == "true"
    assert hotelctl_inprocess(cli_env, "flags", "check", name, "--tenant", "t-3").stdout.strip() == "false"
    listed = json.loads(hotelctl_inprocess(cli_env, "flags", "list", "--json", "--tenant", "t-1").stdout)
    assert {"supplier.realtime.sync", "admin.v2", name} <= {row["name"] for row in listed}
    assert next(row for row in listed if row["name"] == name)["on_for_tenant"] is True
    assert hotelctl_inprocess(cli_env, "flags", "set", name, "--off").returncode == 0
    assert hotelctl_inprocess(cli_env, "flags", "check", name, "--tenant", "t-2").stdout.strip() == "false"
    unknown = hotelctl_inprocess(cli_env, "flags", "set", "no.such.flag", "--on")
    assert unknown.returncode == 2 and "unknown flag" in unknown.stderr
    assert hotelctl_inprocess(cli_env, "flags", "set", name, "--rollout", "150").returncode == 2


def test_relay_needs_rabbitmq_url(cli_env):
    result = hotelctl_inprocess({**cli_env, "RABBITMQ_URL": None}, "relay", "--once")  # exits before logging setup
    assert result.returncode == 2 and "RABBITMQ_URL" in result.stderr


@needs_broker
def test_relay_once_publishes_the_backlog(cli_env, engine):
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM outbox_events"))
        for seq in range(5):
            write_event_sync(conn, "order", "cli-order", "order.test", {"seq": seq})
    exchange = f"hotel.events.test.{secrets.token_hex(4)}"
    result = hotelctl({**cli_env, "RABBITMQ_URL": RABBITMQ_URL}, "relay", "--once", "--exchange", exchange)
    assert result.returncode == 0, result.stderr
    *log_lines, last = result.stdout.strip().splitlines()
    summary = json.loads(last)
    assert summary["published"] == 5 and summary["backlog"] == 0
    logs = [json.loads(line) for line in log_lines]  # the relay logs JSON lines in the platform schema
    assert any(line["service"] == "relay" and line["message"] == "relay connected to broker" for line in logs)
    assert all({"timestamp", "level", "traceId", "message", "context"} <= set(line) for line in logs)
    assert backlog(engine) == 0
    try:  # the relay declared the webhooks consumer's durable queue first: all five wait there
        assert asyncio.run(queued(queue_name(exchange, "webhooks"))) == 5
    finally:
        asyncio.run(delete_topology(exchange, "webhooks"))


@needs_broker
def test_bench_ops_runs_at_a_tiny_size(cli_env):
    result = hotelctl_inprocess({**cli_env, "RABBITMQ_URL": RABBITMQ_URL}, "bench", "ops", "--gets", "1000",
                                "--changes", "3", "--events", "20")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("ratio:") == 3 and "(baseline)" in result.stdout


def test_up_against_real_servers_creates_no_demo_logins(cli_env, engine, tmp_path):
    env = {**cli_env, "HOTEL_DATA_DIR": str(tmp_path), "CLICKHOUSE_URL": f"chdb://{tmp_path / 'clickhouse'}"}
    env.pop("HOTEL_ENV", None)
    result = hotelctl(env, "up", "--no-api", "--no-dagster", "--no-run-main")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Demo" not in result.stdout and "No demo logins outside development" in result.stdout
    with engine.connect() as conn:
        demo = conn.execute(sa.text("SELECT count(*) FROM api_credentials WHERE client_id LIKE 'demo-%'")).scalar()
        demo_staff = conn.execute(sa.text("SELECT count(*) FROM staff WHERE username LIKE 'demo-%'")).scalar()
    assert demo == 0 and demo_staff == 0


def test_up_refuses_a_port_another_process_holds_before_starting_anything(cli_env, tmp_path):
    import socket

    from core.runtime import started_processes

    with socket.socket() as other:  # another checkout's API, or any server on the port
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        env = {**cli_env, "HOTEL_DATA_DIR": str(tmp_path), "CLICKHOUSE_URL": f"chdb://{tmp_path / 'clickhouse'}",
               "API_PORT": str(port)}
        result = hotelctl(env, "up", "--no-dagster", "--no-run-main", "--no-demo")
    out = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 1, out
    assert f"port {port} on 127.0.0.1, for the API, is in use by another process" in out and "API_PORT=" in out
    assert "Migrating" not in out and started_processes(tmp_path) == {}


def test_up_stops_waiting_when_a_server_exits_at_start_up_and_shows_its_log(tmp_path, capsys):
    import typer

    from cli.main import _wait_http

    log = tmp_path / "api.log"
    with open(log, "wb") as out:
        dying = subprocess.Popen([sys.executable, "-c", "print('[Errno 98] Address already in use'); exit(3)"],
                                 stdout=out, stderr=subprocess.STDOUT)
    dying.wait()
    with pytest.raises(typer.Exit):  # nothing answers there: without the exit seen, the wait would time out
        _wait_http("http://127.0.0.1:9/health", "API", timeout_s=5, process=dying, log=log)
    shown = " ".join(capsys.readouterr().err.split())
    assert "[Errno 98] Address already in use" in shown and "API exited at start-up (code 3)" in shown
    assert "did not answer" not in shown


def test_an_engine_url_nothing_answers_is_one_line_not_a_traceback(cli_env, tmp_path):
    import socket

    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**cli_env, "HOTEL_DATA_DIR": str(tmp_path), "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/x"}
    result = hotelctl(env, "migrate")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if "cannot reach" in line]
    assert line.startswith("cannot reach PostgreSQL (DATABASE_URL): ") and f"port {port} failed" in line


def test_status_names_an_api_this_platform_did_not_start(cli_env, tmp_path):
    """A second checkout (or any server on the port): `status` must not pass another platform's API off as its own."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Health(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    other = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        env = {**cli_env, "HOTEL_DATA_DIR": str(tmp_path), "API_PORT": str(other.server_address[1])}
        result = hotelctl_inprocess(env, "status", "--json")
    finally:
        other.shutdown()
        other.server_close()
    api = {part["part"]: part for part in json.loads(result.stdout)}["api"]
    assert api["reachable"] and api["mode"] == "not started here"
    assert api["detail"] == (f"200 from http://127.0.0.1:{other.server_address[1]}, a server this platform did not "
                             "start (another checkout's, or another program on the port)")
