"""The rate limits against the real Redis: the per-partner counter (`api.limits.RateCounter`) under overlapping
requests in one process and across two, its window by Redis's clock, and the sign-in limits.

Counts are taken from Redis in blocks and handed out in-process: these tests hold it to what the limit
promises when many requests of one partner are in flight at once, as they are behind a real API.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import secrets
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from api.limits import MAX_BLOCK, RateCounter, rate_key
from tests.api_fixtures import ServedApp, new_partner

IN_FLIGHT = 8  # requests of one partner in flight at once, as from 8 connections to one API process
ROOT = Path(__file__).resolve().parents[1]

# One API process's worth of overlapping requests, run as its own OS process: prints the counts it was given.
PROCESS = """
import asyncio, json, sys
import redis.asyncio as aioredis
from api.limits import RateCounter

async def main(url, subject, limit, window_ms, requests, in_flight):
    client = aioredis.from_url(url)
    counter = RateCounter(client, limit, window_ms)
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    sys.stdin.readline()  # both processes start together
    todo = iter(range(requests))
    counts = []
    async def connection():
        for _ in todo:
            await asyncio.sleep(0)  # the request's own work: the others' requests arrive meanwhile
            counts.append(await counter.count(subject))
    await asyncio.gather(*(connection() for _ in range(in_flight)))
    await client.aclose()
    print(json.dumps(counts))

asyncio.run(main(sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])))
"""


@pytest.fixture
async def clients(redis_url):
    opened = [aioredis.from_url(redis_url) for _ in range(2)]
    yield opened
    for client in opened:
        await client.aclose()


async def _redis_window(client, window_ms: int) -> int:
    seconds, micros = await client.time()
    return (seconds * 1000 + micros // 1000) // window_ms


async def _overlapping(counter: RateCounter, subject: str, requests: int) -> list[int]:
    todo = iter(range(requests))
    counts: list[int] = []

    async def connection() -> None:
        for _ in todo:
            await asyncio.sleep(0)  # the request's own work: the others' requests arrive meanwhile
            counts.append(await counter.count(subject))

    await asyncio.gather(*(connection() for _ in range(IN_FLIGHT)))
    return counts


async def test_overlapping_requests_of_one_process_are_admitted_up_to_the_limit_exactly(clients):
    limit, window_ms = 1_000, 600_000
    counter = RateCounter(clients[0], limit, window_ms)
    subject = f"p:{uuid.uuid4()}"
    counts = await _overlapping(counter, subject, 1_300)
    admitted = [count for count in counts if count <= limit]
    assert len(admitted) == limit  # no block overwritten by a refill that overlapped it
    assert sorted(admitted) == list(range(1, limit + 1))  # and no count handed out twice
    # Past the limit, refused without asking Redis for more: the window's counter stops where it was spent.
    taken = int(await clients[1].get(rate_key(subject, await _redis_window(clients[1], window_ms))))
    assert limit <= taken < limit + MAX_BLOCK


async def test_two_processes_with_overlapping_requests_never_admit_more_than_the_limit(redis_url):
    limit, window_ms, per_process = 1_000, 600_000, 700
    subject = f"p:{uuid.uuid4()}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-c", PROCESS, redis_url, subject, str(limit), str(window_ms), str(per_process),
            str(IN_FLIGHT)]
    processes = [subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                  cwd=ROOT) for _ in range(2)]
    try:
        for process in processes:
            assert process.stdout.readline().strip() == "ready"
        for process in processes:
            process.stdin.write("go\n")
            process.stdin.flush()
        outputs = [process.communicate(timeout=60)[0] for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    counts = [count for output in outputs for count in json.loads(output.strip().splitlines()[-1])]
    assert len(counts) == 2 * per_process
    admitted = [count for count in counts if count <= limit]
    assert len(set(admitted)) == len(admitted)  # every count was taken from Redis once
    assert limit - 2 * MAX_BLOCK <= len(admitted) <= limit


async def test_the_window_is_redis_s_and_a_small_limit_is_counted_one_request_at_a_time(clients):
    limit, window_ms = 100, 600_000
    counter = RateCounter(clients[0], limit, window_ms)
    subject = f"p:{uuid.uuid4()}"
    for expected in range(1, limit + 1):
        count = await counter.count(subject)
        stored = int(await clients[1].get(rate_key(subject, await _redis_window(clients[1], window_ms))))
        assert (count, stored) == (expected, expected)  # no count taken ahead of its request
    assert await counter.count(subject) > limit
    key = rate_key(subject, await _redis_window(clients[1], window_ms))
    assert 0 < await clients[1].pttl(key) <= window_ms + 1000
    seconds, _ = await clients[1].time()
    left_s = window_ms / 1000 - seconds % (window_ms / 1000)
    assert abs(counter.retry_after(subject) - left_s) <= 2  # the window ends when Redis's clock says


async def test_a_busy_partner_takes_counts_in_growing_blocks_and_a_new_window_starts_at_one(clients):
    limit, window_ms = 10_000_000, 1_000
    counter = RateCounter(clients[0], limit, window_ms)
    subject = f"p:{uuid.uuid4()}"
    while True:  # a fresh window (by Redis's clock) with time to spare
        seconds, micros = await clients[1].time()
        if (seconds * 1000 + micros // 1000) % window_ms < 200:
            break
        await asyncio.sleep(0.01)
    window = await _redis_window(clients[1], window_ms)
    counts = [await counter.count(subject) for _ in range(500)]
    assert await _redis_window(clients[1], window_ms) == window
    assert counts == list(range(1, 501))
    taken = int(await clients[1].get(rate_key(subject, window)))
    assert 500 <= taken < 500 + MAX_BLOCK  # ahead of the requests by less than one block
    await asyncio.sleep(1.1)
    assert await counter.count(subject) == 1


@pytest.fixture
def sign_in_client(settings, migrated):
    from fastapi.testclient import TestClient

    from api.app import create_app

    limited = settings.model_copy(update={"rate_limit_max": 3, "auth_address_rate_limit_max": 6,
                                          "rate_limit_window_ms": 600_000})
    app = create_app(limited, migrated)
    address = "10." + ".".join(str(byte) for byte in secrets.token_bytes(3))  # this test's own source address
    with TestClient(app, raise_server_exceptions=False, client=(address, 50000)) as client:
        yield client, app


def test_sign_in_is_limited_per_client_id_and_per_source_address_and_keeps_no_table_of_client_ids(
        sign_in_client, engine):
    client, app = sign_in_client
    creds = new_partner(engine)
    statuses = [client.post("/v1/auth/token", json={"client_id": creds.client_id, "client_secret": "guess"})
                .status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]  # RATE_LIMIT_MAX guesses per client id
    # The same address naming other (unknown) client ids: each counted, none held in the process.
    unknown = [client.post("/v1/auth/token", json={"client_id": f"nobody-{uuid.uuid4()}", "client_secret": "x"})
               for _ in range(3)]
    assert [response.status_code for response in unknown] == [401, 401, 429]  # 6 per address
    refused = unknown[-1]
    assert refused.json()["error"]["code"] == "rate_limited" and int(refused.headers["Retry-After"]) >= 1
    assert not app.state.rate_counter._leases and not app.state.local_rate_windows._windows


async def test_a_partner_with_8_requests_in_flight_to_one_api_process_is_admitted_exactly_its_limit(
        settings, migrated, engine):
    """What the issue saw from outside: 8 connections of one partner to one API process, at a limit of 300."""
    limited = settings.model_copy(update={"rate_limit_max": 300, "rate_limit_window_ms": 600_000})
    credentials = new_partner(engine)
    check_in = dt.date.today() + dt.timedelta(days=30)
    search = {"city": f"Nowhere {uuid.uuid4().hex[:6]}", "check_in": check_in.isoformat(),
              "check_out": (check_in + dt.timedelta(days=1)).isoformat(), "adults": 1}
    with ServedApp(limited, migrated) as served:
        async with httpx.AsyncClient(base_url=served.base_url, timeout=30,
                                     limits=httpx.Limits(max_connections=IN_FLIGHT)) as client:
            signed = await client.post("/v1/auth/token", json={"client_id": credentials.client_id,
                                                              "client_secret": credentials.client_secret})
            headers = {"Authorization": f"Bearer {signed.json()['access_token']}"}
            todo = iter(range(400))
            statuses: list[int] = []

            async def connection() -> None:
                for _ in todo:
                    statuses.append((await client.post("/v1/quotes", headers=headers, json=search)).status_code)

            await asyncio.gather(*(connection() for _ in range(IN_FLIGHT)))
    assert Counter(statuses) == {200: 300, 429: 100}
