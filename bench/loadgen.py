"""Load generators of `hotelctl bench api`; each cycles over a list of requests, each with its own headers.

The list is a file, one request a line: the Authorization header's value, a tab, the JSON body (the same
file for every generator). Three generators, each run as a process of its own so it never shares a core's
time with the benchmark's orchestration:

- `wrk` (Debian's package) for saturation: a Lua script reads the file and its `request` function hands out
  the next request each time (`wrk.format`, prepared once per request in `init`);
- a closed-loop Python generator of the same shape (N keep-alive connections) where wrk is not installed;
- an open-loop generator for the fixed-rate phases: requests go out on a fixed schedule and latency counts
  from each request's scheduled time (no coordinated omission).

Each phase starts at an offset into the list, so consecutive phases send searches the server has not just
seen. Run as `python -m bench.loadgen open|closed URL FILE SECONDS RATE|CONNECTIONS OFFSET`; prints a JSON
summary (req/s, p50/p99 ms, requests, errors = non-2xx answers plus failed requests, and `error_kinds`: how many
of each, by `http <status>`, `timeout`, `failed` (connection refused, reset or closed mid-answer) and, in the
open loop, `not sent` (every one of its MAX_CONNECTIONS connections was busy: the server was past saturation)).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parents[1]
MAX_CONNECTIONS = 256  # the open loop's ceiling: a request whose turn finds none free counts as an error
REQUEST_TIMEOUT_S = 30.0

WRK_SCRIPT = r"""
local prepared = {}
local count = 0
local index = 0

function init(args)
  local offset = tonumber(args[2] or "0")
  for line in io.lines(args[1]) do
    local auth, body = line:match("^([^\t]*)\t(.*)$")
    count = count + 1
    prepared[count] = wrk.format("POST", nil, {["Authorization"] = auth,
                                               ["Content-Type"] = "application/json"}, body)
  end
  index = offset % count
end

request = function()
  index = index + 1
  if index > count then index = 1 end
  return prepared[index]
end

done = function(summary, latency, requests)
  io.write(string.format("P50=%d\nP99=%d\nREQS=%d\nSECS=%f\nNON2XX=%d\nFAILED=%d\nTIMEOUT=%d\n",
    latency:percentile(50), latency:percentile(99), summary.requests, summary.duration / 1e6,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write,
    summary.errors.timeout))
end
"""


def write_requests(path: Path, requests: list[tuple[str, str]]) -> Path:
    """(Authorization value, JSON body) pairs, one a line."""
    with open(path, "w") as out:
        for auth, body in requests:
            if "\t" in auth or "\n" in auth or "\n" in body or "\t" in body:
                raise ValueError("a request line must hold no tab or newline")
            out.write(f"{auth}\t{body}\n")
    return path


def read_requests(path: str) -> list[tuple[str, str]]:
    with open(path) as lines:
        return [tuple(line.rstrip("\n").split("\t", 1)) for line in lines if line.strip()]


# ------------------------------------------------------------------ wrk (saturation)


def wrk(url: str, requests_file: Path, seconds: int, connections: int, offset: int = 0) -> dict:
    """Saturation with wrk (one thread, `connections` keep-alive connections), cycling over the file."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    try:
        out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", script.name, url, "--",
                              str(requests_file), str(offset)], capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script.name)
    values = dict(re.findall(r"^(P50|P99|REQS|SECS|NON2XX|FAILED|TIMEOUT)=([\d.]+)$", out, re.MULTILINE))
    requests = int(values["REQS"])
    kinds = {"non-2xx": int(values["NON2XX"]), "failed": int(values["FAILED"]), "timeout": int(values["TIMEOUT"])}
    return {"rps": requests / float(values["SECS"]), "p50": int(values["P50"]) / 1000,
            "p99": int(values["P99"]) / 1000, "requests": requests, "errors": sum(kinds.values()),
            "error_kinds": {kind: count for kind, count in kinds.items() if count}}


# ------------------------------------------------------------------ the Python generators (child process)


def closed_loop(url: str, requests_file: Path, seconds: int, connections: int, offset: int = 0) -> dict:
    """Saturation without wrk: the same shape (N keep-alive connections) from a child Python process."""
    return _child(["closed", url, str(requests_file), str(seconds), str(connections), str(offset)])


def open_loop(url: str, requests_file: Path, seconds: int, rate: float, offset: int = 0) -> dict:
    """A fixed request rate from a child process (see `_open_loop`)."""
    return _child(["open", url, str(requests_file), str(seconds), str(rate), str(offset)])


def open_loop_process(url: str, requests_file: Path, seconds: int, rate: float, offset: int,
                      output: Path) -> subprocess.Popen:
    """The same, left running (the soak samples memory meanwhile); its summary is written to `output`."""
    with open(output, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "bench.loadgen", "open", url, str(requests_file), str(seconds),
                                 str(rate), str(offset)], cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT)


def summary_of(output: Path) -> dict:
    return json.loads(output.read_text().strip().splitlines()[-1])


def _child(args: list[str]) -> dict:
    result = subprocess.run([sys.executable, "-m", "bench.loadgen", *args], cwd=REPO_ROOT, capture_output=True,
                            text=True)
    if result.returncode != 0:
        raise RuntimeError(f"load generator failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


class _RawConnection:
    """A minimal keep-alive HTTP/1.1 client connection (pre-encoded requests, Content-Length responses):
    a load generator that costs far less CPU per request than the server it measures."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> _RawConnection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def roundtrip(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


def _encoded(url: str, requests: list[tuple[str, str]]) -> tuple[str, int, list[bytes]]:
    parts = urlsplit(url)
    encoded = []
    for auth, body in requests:
        payload = body.encode()
        head = (f"POST {parts.path} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\nAuthorization: {auth}\r\n\r\n")
        encoded.append(head.encode() + payload)
    return parts.hostname, parts.port, encoded


async def _open_loop(url: str, requests: list[tuple[str, str]], seconds: int, rate: float, offset: int) -> dict:
    """Requests sent on a fixed schedule; latency counts from the scheduled time (no coordinated omission).

    A request whose turn comes while every connection is busy gets a new connection (up to MAX_CONNECTIONS)."""
    host, port, encoded = _encoded(url, requests)
    idle: list[_RawConnection] = [await _RawConnection.open(host, port) for _ in range(4)]
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    opened = len(idle)
    start = time.perf_counter() + 0.1
    total = int(seconds * rate)

    async def send(connection: _RawConnection, request: bytes) -> tuple[_RawConnection, int]:
        try:
            return connection, await connection.roundtrip(request)
        except (ConnectionError, asyncio.IncompleteReadError) as error:
            if isinstance(error, asyncio.IncompleteReadError) and error.partial:
                raise
            # The server closed this idle keep-alive connection (uvicorn: after 5 s): as any HTTP client
            # does, send again on a fresh one; the latency still counts from the scheduled time.
            connection.close()
            connection = await _RawConnection.open(host, port)
            return connection, await connection.roundtrip(request)

    async def one(scheduled: float, request: bytes) -> None:
        nonlocal opened
        if idle:
            connection = idle.pop()
        elif opened < MAX_CONNECTIONS:
            opened += 1
            connection = await _RawConnection.open(host, port)
        else:
            errors["not sent"] += 1
            return
        try:
            connection, status = await asyncio.wait_for(send(connection, request), REQUEST_TIMEOUT_S)
            if status >= 300:
                errors[f"http {status}"] += 1
            idle.append(connection)
        except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError) as error:
            errors["timeout" if isinstance(error, TimeoutError) else "failed"] += 1
            opened -= 1
            connection.close()
        latencies.append(time.perf_counter() - scheduled)

    tasks = []
    for index in range(total):
        scheduled = start + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled, encoded[(offset + index) % len(encoded)])))
    await asyncio.gather(*tasks)
    for connection in idle:
        connection.close()
    return summary(latencies, errors, seconds)


async def _closed_loop(url: str, requests: list[tuple[str, str]], seconds: int, connections: int,
                       offset: int) -> dict:
    host, port, encoded = _encoded(url, requests)
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    deadline = time.perf_counter() + seconds
    position = offset

    async def worker() -> None:
        nonlocal position
        connection = await _RawConnection.open(host, port)
        while time.perf_counter() < deadline:
            request = encoded[position % len(encoded)]
            position += 1
            sent = time.perf_counter()
            try:
                status = await connection.roundtrip(request)
                if status >= 300:
                    errors[f"http {status}"] += 1
            except (OSError, asyncio.IncompleteReadError, ValueError):
                errors["failed"] += 1
                connection.close()
                connection = await _RawConnection.open(host, port)
            latencies.append(time.perf_counter() - sent)
        connection.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return summary(latencies, errors, time.perf_counter() - began)


def summary(latencies: list[float], errors: Counter[str], seconds: float) -> dict:
    ordered = sorted(latencies) or [0.0]

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000

    return {"rps": len(latencies) / seconds, "p50": pct(50), "p99": pct(99), "requests": len(latencies),
            "errors": errors.total(), "error_kinds": dict(errors.most_common())}


if __name__ == "__main__":  # python -m bench.loadgen open|closed URL FILE SECONDS RATE|CONNECTIONS OFFSET
    mode, target, path, duration, amount, start_at = sys.argv[1:7]
    listed = read_requests(path)
    runner = (_open_loop(target, listed, int(duration), float(amount), int(start_at)) if mode == "open" else
              _closed_loop(target, listed, int(duration), int(amount), int(start_at)))
    print(json.dumps(asyncio.run(runner)))
