"""The real app served by uvicorn on an ephemeral loopback port: in a thread (browser tests), or as the API
processes `hotelctl up` starts (`python -m api.app`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

from core.runtime import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def serve(app) -> Iterator[str]:
    """Serve `app` in a thread; yields its base URL and stops it on exit."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the API did not start"
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def start_apis(*envs: dict[str, str], output=subprocess.DEVNULL) -> list[tuple[subprocess.Popen, str]]:
    """`python -m api.app` once per environment, each on a free port in its own process group, all starting at
    once (stdout and stderr to `output`); returns (process, base URL) for each once its `/health` answers."""
    started = []
    for env in envs:
        port = free_port()
        started.append((subprocess.Popen([sys.executable, "-m", "api.app"], cwd=REPO_ROOT,
                                         env={**env, "API_PORT": str(port)}, start_new_session=True,
                                         stdout=output, stderr=output),
                        f"http://127.0.0.1:{port}"))
    deadline = time.monotonic() + 60
    try:
        for process, base in started:
            while not _answers(base):
                assert time.monotonic() < deadline and process.poll() is None, "the API did not start"
                time.sleep(0.2)
    except BaseException:
        for process, _ in started:
            stop_api(process)
        raise
    return started


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=2).status_code in (200, 503)
    except httpx.HTTPError:
        return False


def stop_api(process: subprocess.Popen) -> None:
    """Stop an API started by `start_apis`, with every worker it forked."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=20)
