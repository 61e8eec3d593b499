"""Expiry of unconfirmed orders after ORDER_EXPIRY_MINUTES, releasing what they held.

`expire_due` runs lazily on every order read, list and creation of a partner (so a partner never
sees a stale PENDING order or loses credit to one), and for all partners from `run_expiry`, which the
Dagster schedule `order_expiry_schedule` (every minute) and `hotelctl orders expire` call through
`order_state`. A PENDING order whose booking was sent is first looked up at the supplier by
our reference: if the booking exists it is CONFIRMED, not expired.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace

from core.orders.service import expire_due, resolve_pending
from core.settings import Settings

__all__ = ["expire_due", "order_state", "resolve_pending", "run_expiry"]


@asynccontextmanager
async def order_state(settings: Settings, database_url: str, redis_url: str) -> AsyncIterator[SimpleNamespace]:
    """What the order flow needs outside the API: a small PostgreSQL pool, Redis (what an order releases reaches
    the hot cache quotes read), settings; supplier adapters closed at the end."""
    import asyncpg
    import redis.asyncio as aioredis

    from core.db import plain_url
    from core.orders.suppliers import close_adapters

    pool = await asyncpg.create_pool(plain_url(database_url), min_size=1, max_size=2)
    client = aioredis.from_url(redis_url)
    state = SimpleNamespace(pg=pool, redis=client, settings=settings, config=None,
                            endpoints=SimpleNamespace(database_url=database_url, redis_url=redis_url))
    try:
        yield state
    finally:
        await close_adapters(state)
        await client.aclose()
        await pool.close()


async def run_expiry(state, batch: int = 200) -> int:
    """Expire every due order of every partner; returns how many ended."""
    total = 0
    while True:
        ended = await expire_due(state, None, limit=batch)
        total += ended
        if ended < batch:
            return total
