"""The per-partner rate limit's counter (`api.limits.RateCounter`) against the real Redis.

Counts are taken from Redis in blocks and handed out in-process: these tests hold it to what the limit
promises across API processes (each stands for one, with its own Redis client).
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import redis.asyncio as aioredis
from fastapi import HTTPException

from api.limits import MAX_BLOCK, RateCounter, rate_key


@pytest.fixture
async def clients(redis_url):
    opened = [aioredis.from_url(redis_url) for _ in range(3)]
    yield opened
    for client in opened:
        await client.aclose()


def _window(window_ms: int) -> int:
    return int(time.time() * 1000) // window_ms


async def test_processes_together_never_admit_more_than_the_limit_and_no_count_is_handed_out_twice(clients):
    limit, window_ms = 2_000, 600_000
    first, second = (RateCounter(client, limit, window_ms) for client in clients[:2])
    subject = f"p:{uuid.uuid4()}"

    async def requests(counter: RateCounter, n: int) -> list[int]:
        counts = []
        for _ in range(n):
            counts.append(await counter.count(subject))
            await asyncio.sleep(0)  # the other process's requests interleave
        return counts

    a, b = await asyncio.gather(requests(first, 1_500), requests(second, 1_500))
    counts = a + b
    assert len(set(counts)) == len(counts)  # every count was taken from Redis once
    admitted = sum(count <= limit for count in counts)
    assert admitted <= limit
    # What is lost is what the processes still held when the limit was reached: at most a block each.
    assert admitted >= limit - 2 * MAX_BLOCK
    # Both kept going past the limit, and those requests are refused.
    with pytest.raises(HTTPException) as refused:
        first.check(max(a))
    assert refused.value.status_code == 429
    assert 1 <= int(refused.value.headers["Retry-After"]) <= window_ms // 1000


async def test_a_small_limit_is_counted_one_request_at_a_time(clients):
    limit, window_ms = 100, 600_000
    counter = RateCounter(clients[0], limit, window_ms)
    subject = f"p:{uuid.uuid4()}"
    for expected in range(1, limit + 3):
        count = await counter.count(subject)
        stored = int(await clients[1].get(rate_key(subject, _window(window_ms))))
        assert (count, stored) == (expected, expected)  # no count taken ahead of its request
    assert 0 < await clients[1].pttl(rate_key(subject, _window(window_ms))) <= window_ms + 1000


async def test_a_busy_partner_takes_counts_in_growing_blocks_and_a_new_window_starts_at_one(clients):
    limit, window_ms = 10_000_000, 1_000
    counter = RateCounter(clients[0], limit, window_ms)
    subject = f"p:{uuid.uuid4()}"
    while (time.time() * 1000) % window_ms > 200:  # a fresh window with time to spare
        await asyncio.sleep(0.01)
    window = _window(window_ms)
    counts = [await counter.count(subject) for _ in range(500)]
    assert _window(window_ms) == window
    assert counts == list(range(1, 501))
    taken = int(await clients[1].get(rate_key(subject, window)))
    assert 500 <= taken < 500 + MAX_BLOCK  # ahead of the requests by less than one block
    await asyncio.sleep((window_ms - (time.time() * 1000) % window_ms + 20) / 1000)
    assert await counter.count(subject) == 1
