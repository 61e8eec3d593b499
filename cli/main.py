"""`hotelctl`: the platform's one command-line entry point."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from cli.common import console, endpoints_or_exit, settings_or_exit, step, unreachable_engine
from cli.partners import app as partners_app
from core import runtime

REPO_ROOT = Path(__file__).resolve().parents[1]

app = typer.Typer(
    help="Operate the hotel distribution platform: engines, schema, API, Dagster, data jobs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(partners_app, name="partners")


@app.command()
def migrate() -> None:
    """Apply the operational schema's migrations (starting embedded engines if needed)."""
    from core.migrate import upgrade

    settings = settings_or_exit()
    endpoints = endpoints_or_exit(settings)
    with step("Migrating PostgreSQL schema"):
        upgrade(endpoints.database_url)
    _migrate_warehouse(endpoints.clickhouse_url)
    console.print("[green]schema is up to date[/green]")


def _migrate_warehouse(clickhouse_url: str) -> None:
    from warehouse.client import DATABASE, warehouse_client

    with step("Migrating ClickHouse schema"), warehouse_client(clickhouse_url, lock_timeout_s=120) as client:
        client.command(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
        try:
            from warehouse.schema import apply_schema
        except ImportError:
            return
        apply_schema(client)


@app.command()
def up(
    api: bool = typer.Option(True, help="Start the API on API_PORT (default 8080)."),
    dagster: bool = typer.Option(True, help="Start the Dagster UI on DAGSTER_PORT (3000) and its daemon."),
    run_main: bool = typer.Option(True, "--run-main/--no-run-main", help="Run the platform's main job."),
    demo: bool = typer.Option(True, "--demo/--no-demo",
                              help="Development only: seed the demo history once (weeks of orders, statements, "
                                   "cycles) and backfill the warehouse; --no-demo starts clean."),
) -> None:
    """Start engines, migrate, start the API (with RABBITMQ_URL also the outbox relay and the webhooks consumer)
    and the Dagster UI; print addresses and demo logins."""
    from core.db import engine_for
    from core.migrate import upgrade
    from core.partners import ensure_demo_credentials
    from core.staff import ensure_demo_staff

    settings = settings_or_exit()
    _ports_free_or_exit(settings, api, dagster)
    endpoints = endpoints_or_exit(settings)
    with step("Migrating PostgreSQL schema"):
        upgrade(endpoints.database_url)
    _migrate_warehouse(endpoints.clickhouse_url)
    _prepare_dagster_instance(settings, endpoints)
    embedded = endpoints.modes.get("postgresql") == runtime.EMBEDDED
    if embedded:
        _start_supplier_simulators(settings)
        _start_fx_service_and_default_rules(settings, endpoints)
    env = endpoints.child_env(settings)
    log_dir = settings.data_dir / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    if api:
        started = _start_service(settings, "api", [sys.executable, "-m", "api.app"], env, log_dir)
        _wait_http(f"http://{settings.api_host}:{settings.api_port}/health", "API", accept_503=True,
                   process=started, log=log_dir / "api.log")
        _start_event_workers(settings, env, log_dir)
    if dagster:
        workspace = str(REPO_ROOT / "workspace.yaml")
        bin_dir = Path(sys.executable).parent
        started = _start_service(
            settings, "dagster-webserver",
            [str(bin_dir / "dagster-webserver"), "-w", workspace, "-h", "127.0.0.1",
             "-p", str(settings.dagster_port)],
            env, log_dir,
        )
        _start_service(settings, "dagster-daemon", [str(bin_dir / "dagster-daemon"), "run", "-w", workspace],
                       env, log_dir)
        _wait_http(f"http://127.0.0.1:{settings.dagster_port}/server_info", "Dagster UI", timeout_s=120,
                   process=started, log=log_dir / "dagster-webserver.log")
    if run_main:
        run_job("platform_main_job", settings, endpoints)
    if embedded or settings.fx_source_url:
        _load_todays_rates(env)
    # Demo logins only in development: against real servers staff accounts come from `hotelctl staff create`.
    logins, demo_staff = [], []
    if settings.development:
        engine, seed = engine_for(endpoints.database_url), settings.encryption_secret.get_secret_value()
        logins, demo_staff = ensure_demo_credentials(engine, seed), ensure_demo_staff(engine, seed)
    if demo and settings.development and api and run_main:
        from cli.demo import seed_demo
        from core.demo.history import DEFAULT_DAYS, DEFAULT_SEED

        seed_demo(settings, endpoints, DEFAULT_DAYS, DEFAULT_SEED)
    _print_addresses(settings, logins, demo_staff, api, dagster)


def _start_event_workers(settings, env: dict, log_dir: Path) -> None:
    """With a broker, the outbox relay and the partner-webhook consumer run beside the API, as the compose files
    run them; without one, order events wait in the outbox and no webhook is sent, which `up` says."""
    if not settings.rabbitmq_url:
        console.print("events: RABBITMQ_URL is not set, so order events wait in the outbox and partner webhooks are "
                      "not sent; `RABBITMQ_URL=amqp://… hotelctl up` also starts the relay and the webhooks consumer")
        return
    hotelctl = [sys.executable, "-m", "cli.main"]
    started = [_start_service(settings, "relay", [*hotelctl, "relay"], env, log_dir),
               _start_service(settings, "webhooks", [*hotelctl, "webhooks", "run"], env, log_dir)]
    time.sleep(1)  # one that ends at once (its settings refused) is said here rather than only in its log
    for name, process in zip(("relay", "webhooks"), started, strict=True):
        if process is not None and process.poll() is not None:
            tail = (log_dir / f"{name}.log").read_text(errors="replace").splitlines()[-5:]
            console.print("\n".join(tail))
            console.print(f"[yellow]{name} exited (code {process.returncode}); partner webhooks are not sent until "
                          f"it runs (see {log_dir / name}.log)[/yellow]")
    console.print(f"events: the outbox relay and the webhooks consumer run (logs: {log_dir}/relay.log, webhooks.log)")


def _start_supplier_simulators(settings) -> None:
    """Embedded mode has no real suppliers: run the three simulated ones and seed their world."""
    from suppliers.launch import start_simulators

    with step("Starting supplier simulators A, B, C"):
        # As real feeds are: phones missing, coordinates geocoded to the street; matching leaves some for review.
        urls = start_simulators(settings, settings.data_dir, rough=True)
    console.print("suppliers: " + ", ".join(f"{code} {url}" for code, url in urls.items()))


def _start_fx_service_and_default_rules(settings, endpoints: runtime.Endpoints) -> None:
    """Embedded mode: the simulated FX service (unless FX_SOURCE_URL names a source) and, on a platform that
    never had a pricing rule, the default rule set (platform margin, tier markups)."""
    from core.db import engine_for
    from core.pricing_rules import seed_default_rules
    from suppliers.launch import start_fx_simulator

    if not settings.fx_source_url:
        with step("Starting the simulated FX service"):
            url = start_fx_simulator(settings, settings.data_dir)
        console.print(f"fx rates: {url} (ECB euro reference XML)")
    added = seed_default_rules(engine_for(endpoints.database_url))
    if added:
        console.print(f"pricing: {added} default rules added (see `hotelctl pricing list`)")


def _load_todays_rates(env: dict) -> None:
    """Today's partition of `fx_rates`, recorded in Dagster (a failure is reported, start-up goes on)."""
    import datetime as dt

    day = dt.datetime.now(dt.UTC).date().isoformat()
    with step(f"Loading exchange rates for {day}"):
        result = subprocess.run(
            [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m", "pipelines.definitions",
             "--select", "fx_rates", "--partition", day],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True,
        )
    if result.returncode != 0:
        console.print(result.stderr[-2000:])
        console.print("[yellow]fx_rates did not load; quotes needing a conversion fail until it does "
                      "(`hotelctl backfill fx_rates --from DAY --to DAY`)[/yellow]")


def _run_history_is_this_hosts(endpoints: runtime.Endpoints) -> bool:
    """Whether the run history is this data folder's own embedded PostgreSQL, so every run in it had its worker on
    this host; a shared one may hold runs of workers on other hosts, whose process ids mean nothing here."""
    return endpoints.modes.get("postgresql") == runtime.EMBEDDED and not os.environ.get("DAGSTER_DATABASE_URL")


def _fail_orphaned_runs(settings, endpoints: runtime.Endpoints) -> None:
    """Runs a crash or a reboot left in flight (their slots would block the warehouse pool for ever)."""
    if not _run_history_is_this_hosts(endpoints):
        return
    import dagster as dg

    from pipelines import orphan_runs

    with dg.DagsterInstance.from_config(str(runtime.dagster_home(settings))) as instance:
        for run in orphan_runs.fail_orphaned_runs(instance):
            then = ("the Dagster daemon re-executes it from failure" if run.will_retry else
                    "re-execute it from the Dagster UI (Re-execute, from failure) to finish its work")
            console.print(f"[yellow]dagster: run {run.run_id} ({run.job_name}) was in flight when the platform "
                          f"stopped and its worker (pid {run.worker_pid}) is gone: marked failed, its pool slots "
                          f"freed; {then}[/yellow]")


def _prepare_dagster_instance(settings, endpoints: runtime.Endpoints) -> None:
    """This data folder's Dagster instance, before a command starts runs on it: its dagster.yaml written, and the
    runs a crash left in flight failed."""
    _write_dagster_instance(settings, endpoints)
    _fail_orphaned_runs(settings, endpoints)


def _write_dagster_instance(settings, endpoints: runtime.Endpoints) -> None:
    from pipelines.dagster_storage import storage_yaml
    from pipelines.orphan_runs import supervision_yaml

    home = runtime.dagster_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    url = runtime.dagster_storage_url(endpoints, settings)
    embedded_warehouse = endpoints.modes["clickhouse"] == runtime.EMBEDDED
    # chDB admits one process per data path: warehouse steps run one at a time.
    pool_limit = 1 if embedded_warehouse else 4
    (home / "dagster.yaml").write_text(
        storage_yaml(url) +
        "telemetry:\n"
        "  enabled: false\n"
        "nux:\n"  # no "join the community" dialog over the catalog an analyst opens first
        "  enabled: false\n"
        "concurrency:\n"
        "  pools:\n"
        f"    default_limit: {pool_limit}\n"
        "run_coordinator:\n"
        "  module: dagster.core.run_coordinator\n"
        "  class: QueuedRunCoordinator\n" +
        supervision_yaml(workers_on_this_host=_run_history_is_this_hosts(endpoints)) +
        # Dagster's own log lines in the platform's JSON schema, as in deploy/dagster/dagster.yaml.
        "python_logs:\n"
        "  python_log_level: INFO\n"
        "  dagster_handler_config:\n"
        "    handlers:\n"
        "      json:\n"
        "        class: logging.StreamHandler\n"
        "        stream: ext://sys.stdout\n"
        "        formatter: json\n"
        f"        level: {settings.log_level.upper()}\n"  # every step event is DEBUG; the event log keeps them all
        "    formatters:\n"
        "      json:\n"
        "        (): pipelines.json_logs.DagsterJsonFormatter\n"
        "        service: dagster\n"
    )


def _ports_free_or_exit(settings, api: bool, dagster: bool) -> None:
    """Before anything starts: a port another process holds (another checkout's platform, any server on 8080)
    would leave this platform's server dead at start-up and `up` talking to the other one."""
    import socket

    running = runtime.started_processes(settings.data_dir)
    wanted = [(api and "api" not in running, settings.api_host, settings.api_port, "API", "API_PORT"),
              (dagster and "dagster-webserver" not in running, "127.0.0.1", settings.dagster_port, "Dagster UI",
               "DAGSTER_PORT")]
    for needed, host, port, what, variable in wanted:
        if not needed:
            continue
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: only a listener refuses
            try:
                probe.bind((host, port))
            except OSError:
                console.print(f"[red]port {port} on {host}, for the {what}, is in use by another process; stop it, "
                              f"or choose another port: {variable}=<port> hotelctl up[/red]")
                raise typer.Exit(1) from None


def _start_service(settings, name: str, command: list[str], env: dict, log_dir: Path) -> subprocess.Popen | None:
    """The process started, or None when this platform's one is already running."""
    running = runtime.started_processes(settings.data_dir)
    if name in running:
        console.print(f"{name}: already running (pid {running[name]})")
        return None
    with open(log_dir / f"{name}.log", "ab") as log_file:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    runtime.record_process(settings.data_dir, name, process.pid)
    return process


def _wait_http(url: str, what: str, timeout_s: float = 60, accept_503: bool = False,
               process: subprocess.Popen | None = None, log: Path | None = None) -> None:
    """Until `url` answers; a `process` that exits meanwhile ends the wait at once, with its log's last lines."""
    import httpx

    with step(f"Waiting for {what} at {url}"):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                tail = log.read_text(errors="replace").splitlines()[-10:] if log and log.exists() else []
                console.print("\n".join(tail))
                console.print(f"[red]{what} exited at start-up (code {process.returncode}); see {log}[/red]")
                raise typer.Exit(1)
            try:
                status = httpx.get(url, timeout=5).status_code
                if status == 200 or (accept_503 and status == 503):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
    console.print(f"[red]{what} did not answer at {url} within {timeout_s:.0f}s; see var/log/[/red]")
    raise typer.Exit(1)


# `dagster job execute` is superseded by `dg launch`, which needs a dg project; its warning on every run is noise.
QUIET_EXECUTE_SUPERSEDED = "ignore:Function `job_execute_command` is superseded"
UNPARTITIONED_RUN = "Cannot access partition_key for a non-partitioned run"
UNKNOWN_JOB = re.compile(r'Job "[^"]*" not found in repository "[^"]*" Found \[([^\]]*)\] instead')


def run_job(job_name: str, settings=None, endpoints: runtime.Endpoints | None = None,
            partition: str | None = None) -> None:
    """Run a Dagster job in this Dagster instance so it shows in the UI's run history (`hotelctl up` passes the
    settings and engines it has already resolved); `partition` names the partition of a partitioned job."""
    if settings is None or endpoints is None:
        settings = settings_or_exit()
        endpoints = endpoints_or_exit(settings)
        _prepare_dagster_instance(settings, endpoints)
    from pipelines.orphan_runs import EXECUTED_BY_A_COMMAND

    env = endpoints.child_env(settings)
    env["PYTHONWARNINGS"] += "," + QUIET_EXECUTE_SUPERSEDED
    tags = dict(EXECUTED_BY_A_COMMAND)
    if partition is not None:
        _check_partition(job_name, partition, env)
        tags["dagster/partition"] = partition
    with step(f"Running Dagster job {job_name}"):
        result = subprocess.run(
            [str(Path(sys.executable).parent / "dagster"), "job", "execute", "-m", "pipelines.definitions",
             "-j", job_name, "--tags", json.dumps(tags)],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True,
        )
    if result.returncode != 0:
        output = " ".join(result.stderr.split())
        unknown = UNKNOWN_JOB.search(output)
        if unknown:
            names = (name.strip(" '") for name in unknown.group(1).split(","))
            jobs = [name for name in names if not name.startswith("__")]
            typer.echo(f"no job named {job_name!r}; the platform's jobs: {', '.join(jobs)}", err=True)
            raise typer.Exit(2)
        if partition is None and UNPARTITIONED_RUN in output:
            typer.echo(f"{job_name} is partitioned: name one partition with --partition (a day: YYYY-MM-DD; a "
                       "settlement cycle: its first day), or run a range with `hotelctl backfill`", err=True)
            raise typer.Exit(2)
        console.print(result.stdout[-4000:] + result.stderr[-4000:])
        console.print(f"[red]job {job_name} failed[/red]")
        raise typer.Exit(1)
    console.print(f"[green]job {job_name} succeeded[/green]")


def _check_partition(job_name: str, partition: str, env: dict) -> None:
    """Exit 2 with one line unless `partition` is one of the job's partitions (as Dagster would only say in a
    traceback from inside the run)."""
    os.environ.update(env)
    from pipelines.definitions import defs

    try:
        job = defs.resolve_job_def(job_name)
    except Exception:  # noqa: BLE001 - Dagster raises several kinds for an unknown name; the run would say the same
        return
    partitions = job.partitions_def
    if partitions is None:
        typer.echo(f"{job_name} is not partitioned: run it without --partition", err=True)
        raise typer.Exit(2)
    if not partitions.has_partition_key(partition):
        typer.echo(f"{partition!r} is not a partition of {job_name}: its partitions run from "
                   f"{partitions.get_first_partition_key()} to {partitions.get_last_partition_key()}", err=True)
        raise typer.Exit(2)


@app.command("run")
def run_command(job: str = typer.Argument("platform_main_job", help="The Dagster job to run."),
                partition: str | None = typer.Option(None, "--partition",
                                                     help="The partition of a partitioned job (a day, YYYY-MM-DD)."),
                ) -> None:
    """Run a Dagster job (default: the platform's main job) and record it in run history."""
    run_job(job, partition=partition)


def _print_addresses(settings, demo, demo_staff, api: bool, dagster: bool) -> None:
    table = Table(title="Hotel platform is up")
    table.add_column("what")
    table.add_column("where")
    if api:
        table.add_row("API", f"http://{settings.api_host}:{settings.api_port}  (health: /health, docs: /docs)")
    if dagster:
        table.add_row("Dagster UI", f"http://127.0.0.1:{settings.dagster_port}")
    table.add_row("data", str(settings.data_dir))
    console.print(table)
    if not demo:
        typer.echo("No demo logins outside development: `hotelctl staff create NAME --role operator` (or finance,"
                   " admin) and `hotelctl partners create NAME` make real ones.")
        return
    typer.echo("Demo partner credentials (POST /v1/auth/token with client_id and client_secret):")
    for name, credentials in demo:
        typer.echo(f"  {name:<14} client_id={credentials.client_id}  client_secret={credentials.client_secret}")
    typer.echo("Demo staff (sign in at /console, /settlements, /billing, /pricing, /reports; API tokens from"
               " POST /v1/auth/staff-token with username and password):")
    for staff, password in demo_staff:
        typer.echo(f"  {staff.display_name:<14} role={staff.role:<8} username={staff.username}  password={password}")


@app.command()
def down() -> None:
    """Stop every process `hotelctl` started (by process id); the data stays."""
    settings = settings_or_exit()
    with step("Stopping platform processes"):
        stopped = runtime.stop_processes(settings.data_dir)
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@app.command()
def status(json_output: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """Each part: embedded or server, reachable or not."""
    import json

    from core.status import platform_status

    settings = settings_or_exit()
    parts = platform_status(settings)
    if json_output:
        typer.echo(json.dumps([part.as_dict() for part in parts], indent=2))
    else:
        table = Table(title="Platform status")
        for column in ("part", "mode", "reachable", "detail"):
            table.add_column(column)
        for part in parts:
            mark = "[green]yes[/green]" if part.reachable else "[red]no[/red]"
            table.add_row(part.part, part.mode, mark, part.detail)
        Console().print(table)
    if not all(part.reachable for part in parts if part.part in ("postgresql", "redis", "clickhouse")):
        raise typer.Exit(1)


def _register_optional_commands() -> None:
    """Command groups other modules contribute (matching, sync, reconcile, bench, …)."""
    import importlib

    for module_name in COMMAND_MODULES:
        module = importlib.import_module(module_name)
        module.register(app)


COMMAND_MODULES: list[str] = ["cli.backfill", "cli.reconcile", "cli.config", "cli.relay", "cli.match", "cli.rooms",
                              "bench", "cli.orders", "cli.billing", "cli.pricing", "cli.secrets", "cli.webhooks",
                              "cli.suppliers", "cli.staff", "cli.archive", "cli.demo"]
_register_optional_commands()


def main() -> None:
    """`hotelctl`: an engine it cannot reach is said in one line, not a traceback."""
    try:
        app()
    except Exception as error:
        message = unreachable_engine(error)
        if message is None:
            raise
        typer.echo(message, err=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
