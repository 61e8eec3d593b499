"""`python -m api.app` (what `hotelctl up` starts) serves with API_WORKERS processes, and `/metrics` counts the
requests of all of them."""

from __future__ import annotations

import os
import re

import httpx
import psutil

from tests.live_server import start_apis, stop_api


def test_api_workers_and_one_metrics_for_all(database_url, redis_url, tmp_path):
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "API_WORKERS": "2",
           "HOTEL_DATA_DIR": str(tmp_path), "LOG_LEVEL": "warning"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    [(process, base)] = start_apis(env)
    try:
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
        stop_api(process)


def _served(base: str) -> float:
    """Requests counted in /metrics, every route but /metrics itself."""
    text = httpx.get(f"{base}/metrics", timeout=5).text
    return sum(float(value) for route, value in re.findall(
        r'^http_requests_total\{[^}]*route="([^"]*)"[^}]*\} ([0-9.e+]+)$', text, re.MULTILINE) if route != "/metrics")
