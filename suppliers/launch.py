"""Starting the three simulators: in-process threads (tests, benchmarks) or child processes
(`hotelctl up` in embedded mode), each on 127.0.0.1 and an ephemeral port.

`start_fx_simulator(settings, data_dir)` does the same for the simulated FX service (ECB XML,
suppliers/sim_fx.py); its port file is where the `fx` resource finds it when FX_SOURCE_URL is unset.

`start_simulators(settings, data_dir)` is the `hotelctl up` hook: it starts (or reuses) one process
per supplier, registers each base URL and encrypted API key in the `suppliers` table, and seeds the
master catalog of the same world, so the main job has hotels to sync and match.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from suppliers import sim_a, sim_b, sim_c
from suppliers.simcore import RunningSimulator
from suppliers.world import World, generate_world, roughen_world

DEV_KEYS = {"A": sim_a.DEFAULT_API_KEY, "B": sim_b.DEFAULT_API_KEY, "C": sim_c.DEFAULT_API_KEY}


def create_app(code: str, world: World, api_key: str | None = None, secret: str | None = None):
    key = api_key or DEV_KEYS[code]
    if code == "A":
        return sim_a.create_app(world, key, secret or sim_a.DEFAULT_SECRET)
    if code == "B":
        return sim_b.create_app(world, key)
    if code == "C":
        return sim_c.create_app(world, key)
    raise ValueError(f"unknown supplier {code!r}")


def start_simulator(code: str, world: World, api_key: str | None = None, secret: str | None = None,
                    host: str = "127.0.0.1", port: int = 0) -> RunningSimulator:
    """One simulator served from a background thread; `.base_url`, `.state`, `.stop()`."""
    return RunningSimulator(code, create_app(code, world, api_key, secret), host, port).start()


def start_simulator_threads(world: World, codes: tuple[str, ...] = ("A", "B", "C")) -> dict[str, RunningSimulator]:
    return {code: start_simulator(code, world) for code in codes}


def start_fx_thread(clock=None) -> RunningSimulator:
    """The simulated FX service served from a background thread (tests)."""
    from suppliers import sim_fx

    return RunningSimulator("FX", sim_fx.create_app(*(clock,) if clock else ()), "127.0.0.1", 0).start()


def _port_file(data_dir: Path, code: str) -> Path:
    return data_dir / "suppliers" / f"{code}.port"


def fx_port_file(data_dir: Path) -> Path:
    return _port_file(data_dir, "FX")


def _spawn(data_dir: Path, name: str, command: list[str], env: dict, port_file: Path, timeout_s: float) -> None:
    """Run a simulator as a child process (recorded for `hotelctl down`) and wait for its port file."""
    from core import runtime

    log_dir = data_dir / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    port_file.parent.mkdir(parents=True, exist_ok=True)
    port_file.unlink(missing_ok=True)
    with open(log_dir / f"{name}.log", "ab") as log_file:
        process = subprocess.Popen(command + ["--port-file", str(port_file)], env=env, stdout=log_file,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                   cwd=Path(__file__).resolve().parents[1])
    runtime.record_process(data_dir, name, process.pid)
    deadline = time.monotonic() + timeout_s
    while not port_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"simulator {name} did not start; see {log_dir / (name + '.log')}")
        time.sleep(0.1)


def start_fx_simulator(settings, data_dir: Path | None = None, timeout_s: float = 60.0) -> str:
    """`hotelctl up`: run the simulated FX service as a child process (reused if running); its base URL."""
    from core import runtime

    data_dir = Path(data_dir or settings.data_dir)
    port_file = fx_port_file(data_dir)
    if "fx-service" not in runtime.started_processes(data_dir) or not port_file.exists():
        env = runtime.resolve(settings, start=False).child_env(settings)
        _spawn(data_dir, "fx-service", [sys.executable, "-m", "suppliers.launch", "--code", "FX"], env, port_file,
               timeout_s)
    return f"http://127.0.0.1:{port_file.read_text().strip()}"


def start_simulators(settings, data_dir: Path | None = None, codes: tuple[str, ...] = ("A", "B", "C"),
                     timeout_s: float = 60.0, rough: bool = False) -> dict[str, str]:
    """`hotelctl up`: run each simulator as a child process (reused if running), register it, seed the catalog.
    `rough`: the simulators send their hotels as messier feeds do (`suppliers.world.roughen_world`).

    Returns {code: base_url}.
    """
    from core import runtime
    from core.db import engine_for
    from core.suppliers.config import DEV_SECRETS, supplier_settings
    from core.suppliers.registry import MissingSupplierKey, credentials, register_supplier
    from suppliers.catalog import seed_master_catalog

    data_dir = Path(data_dir or settings.data_dir)
    config = supplier_settings()
    endpoints = runtime.resolve(settings, start=False)
    engine = engine_for(endpoints.database_url)
    running = runtime.started_processes(data_dir)
    urls: dict[str, str] = {}
    for code in codes:
        name = f"supplier-{code}"
        port_file = _port_file(data_dir, code)
        try:
            _, api_key, secret = credentials(code, settings)
        except MissingSupplierKey:  # these are our own simulators: their development keys are theirs to use
            api_key, secret = DEV_KEYS[code], DEV_SECRETS.get(code, "")
        if name not in running or not port_file.exists():
            command = [sys.executable, "-m", "suppliers.launch", "--code", code, "--seed",
                       str(config.supplier_world_seed), "--hotels", str(config.supplier_world_hotels)]
            command += ["--rough"] if rough else []
            env = endpoints.child_env(settings)
            env[f"SUPPLIER_{code}_API_KEY"] = api_key
            if secret:
                env[f"SUPPLIER_{code}_SECRET"] = secret
            _spawn(data_dir, name, command, env, port_file, timeout_s)
        url = config.url(code) or f"http://127.0.0.1:{port_file.read_text().strip()}"
        register_supplier(engine, code, url, api_key, settings.encryption_secret.get_secret_value())
        urls[code] = url
    world = generate_world(config.supplier_world_seed, config.supplier_world_hotels, master_only=True)
    seed_master_catalog(engine, world)
    return urls


def main(argv: list[str] | None = None) -> None:
    """Child-process entry point: serve one simulator until terminated."""
    import os

    import uvicorn

    parser = argparse.ArgumentParser(description="Run one supplier simulator.")
    parser.add_argument("--code", required=True, choices=["A", "B", "C", "FX"])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--hotels", type=int, default=300)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", type=Path)
    parser.add_argument("--rough", action="store_true", help="Send the hotels as messier feeds do.")
    args = parser.parse_args(argv)
    from core.tracing import setup_tracing

    setup_tracing(f"supplier-{args.code}")  # exports its spans when OTEL_EXPORTER_OTLP_ENDPOINT is set
    if args.code == "FX":
        from suppliers import sim_fx

        app = sim_fx.create_app()
    else:
        world = generate_world(args.seed, args.hotels)
        app = create_app(args.code, roughen_world(world) if args.rough else world,
                         os.environ.get(f"SUPPLIER_{args.code}_API_KEY"),
                         os.environ.get(f"SUPPLIER_{args.code}_SECRET"))
    simulator = RunningSimulator(args.code, app, args.host, args.port)
    if args.port_file:
        args.port_file.write_text(str(simulator.port))
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[simulator._socket])


if __name__ == "__main__":
    main()
