"""`python -m api.app` (what `hotelctl up` starts) serves with API_WORKERS processes, and `/metrics` counts the
requests of all of them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from core.runtime import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_api_workers_and_one_metrics_for_all(database_url, redis_url, tmp_path):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "API_PORT": str(port),
           "API_WORKERS": "2", "HOTEL_DATA_DIR": str(tmp_path), "LOG_LEVEL": "warning"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = subprocess.Popen([sys.executable, "-m", "api.app"], cwd=REPO_ROOT, env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code in (200, 503):
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and process.poll() is None, "the API did not start"
            time.sleep(0.2)
        workers = [child for child in psutil.Process(process.pid).children(recursive=True)
                   if "multiprocessing" in " ".join(child.cmdline())
                   and "resource_tracker" not in " ".join(child.cmdline())]
        assert len(workers) == 2
        before = _served(base)
        for _ in range(40):  # a new connection each: the kernel hands them to either worker
            assert httpx.get(f"{base}/openapi.json", timeout=5).status_code == 200
        assert _served(base) - before == 40
        assert any(path.name.startswith("counter_") for path in (tmp_path / "prometheus").iterdir())
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def _served(base: str) -> float:
    """Requests counted in /metrics, every route but /metrics itself."""
    text = httpx.get(f"{base}/metrics", timeout=5).text
    return sum(float(value) for route, value in re.findall(
        r'^http_requests_total\{[^}]*route="([^"]*)"[^}]*\} ([0-9.e+]+)$', text, re.MULTILINE) if route != "/metrics")
