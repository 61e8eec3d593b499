"""The hot cache's side of a hold: what an order holds or gives back in PostgreSQL reaches the sellable counts
quotes read, once the transaction that did it has committed.

Inside `transaction(state, conn)`, every hold taken or released is noted (`note`); after the commit each is
applied to its product's value in Redis in place (`core.hotcache.ADJUST_LUA`: the room type's count on those
nights, never below zero, announced on the changes stream, so every API process drops what it held of the
product). A rolled-back transaction applies nothing. Redis being away loses nothing of the order: the next
inventory sync writes the counts from PostgreSQL again.
"""

from __future__ import annotations

import datetime as dt
import logging
from contextlib import asynccontextmanager
from contextvars import ContextVar

from core.hotcache import ADJUST_LUA, CHANGES_KEY, CHANGES_MAXLEN, day_number, product_key

logger = logging.getLogger("api.orders")
_PENDING: ContextVar[list | None] = ContextVar("hot_cache_holds", default=None)



def note(supplier_code: str, supplier_hotel_id: str, room_type_id: int, check_in: dt.date, check_out: dt.date,
         delta: int) -> None:
    """Remember a hold (negative `delta`) or a release (positive) of rooms of this room type on these nights."""
    pending = _PENDING.get()
    if pending is not None:
        pending.append((supplier_code, supplier_hotel_id, room_type_id, check_in, (check_out - check_in).days, delta))


@asynccontextmanager
async def transaction(state, conn):
    """`conn.transaction()`, and after its commit the holds it took or released applied to the hot cache."""
    pending: list = []
    token = _PENDING.set(pending)
    try:
        async with conn.transaction():
            yield
    finally:
        _PENDING.reset(token)
    redis = getattr(state, "redis", None)  # a tool without Redis leaves the counts to the next sync
    if pending and redis is not None:
        await apply(redis, pending)


async def apply(redis, pending: list) -> None:
    try:
        script = redis.register_script(ADJUST_LUA)
        for supplier_code, supplier_hotel_id, room_type_id, check_in, nights, delta in pending:
            await script(keys=[product_key(supplier_code, supplier_hotel_id), CHANGES_KEY],
                         args=[room_type_id, day_number(check_in), nights, delta,
                               f"{supplier_code}|{supplier_hotel_id}", CHANGES_MAXLEN])
    except Exception as error:  # the order stands; the next inventory sync rewrites the counts
        logger.warning("a hold did not reach the hot cache", extra={"context": {"error": type(error).__name__}})
