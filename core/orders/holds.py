"""The hot cache's side of a hold: what an order holds or gives back in PostgreSQL reaches the sellable counts
quotes read, in commit order.

Inside `transaction(state, conn)`, every hold taken or released notes the sellable counts of its nights as
PostgreSQL has them after the change (`note`). Before the commit the transaction takes the product's writer
lock (`core.hotcache.WRITER_LOCK_SQL`, a session advisory lock); after the commit it sets those counts in the
product's Redis value (`SET_COUNTS_LUA`, announced on the changes stream) and only then lets the lock go. The
inventory sync's hot cache writer takes the same lock while it reads PostgreSQL and writes Redis, so neither a
later hold nor a sync is overwritten by an earlier one. A rolled-back transaction applies nothing. Redis being
away loses nothing of the order: the next inventory sync writes the counts from PostgreSQL again.
"""

from __future__ import annotations

import datetime as dt
import logging
from contextlib import asynccontextmanager
from contextvars import ContextVar

from core.hotcache import (
    CHANGES_KEY,
    CHANGES_MAXLEN,
    SET_COUNTS_LUA,
    WRITER_LOCK_CLASS,
    day_number,
    product_key,
    writer_lock_name,
)

logger = logging.getLogger("api.orders")
_PENDING: ContextVar[list | None] = ContextVar("hot_cache_holds", default=None)


def note(supplier_code: str, supplier_hotel_id: str, room_type_id: int, first_night: dt.date,
         counts: list[int]) -> None:
    """Remember the sellable counts of this room type from `first_night` on, as this transaction leaves them."""
    pending = _PENDING.get()
    if pending is not None and counts:
        pending.append((supplier_code, supplier_hotel_id, room_type_id, first_night, counts))


@asynccontextmanager
async def transaction(state, conn):
    """`conn.transaction()`, and after its commit the counts it changed set in the hot cache, under the
    products' writer locks taken before the commit."""
    pending: list = []
    locked: list[str] = []
    redis = getattr(state, "redis", None)  # a tool without Redis leaves the counts to the next sync
    token = _PENDING.set(pending)
    try:
        try:
            async with conn.transaction():
                yield
                if redis is not None:
                    for name in sorted({writer_lock_name(code, hotel) for code, hotel, *_ in pending}):
                        await conn.execute("SELECT pg_advisory_lock($1, hashtext($2))", WRITER_LOCK_CLASS, name)
                        locked.append(name)
        finally:
            _PENDING.reset(token)
        if pending and redis is not None:
            await apply(redis, pending)
    finally:
        for name in locked:
            try:
                await conn.execute("SELECT pg_advisory_unlock($1, hashtext($2))", WRITER_LOCK_CLASS, name)
            except Exception:  # a broken connection has lost its session locks already
                logger.warning("a hot cache writer lock could not be released", extra={"context": {"lock": name}})


async def apply(redis, pending: list) -> None:
    try:
        script = redis.register_script(SET_COUNTS_LUA)
        for supplier_code, supplier_hotel_id, room_type_id, first_night, counts in pending:
            await script(keys=[product_key(supplier_code, supplier_hotel_id), CHANGES_KEY],
                         args=[room_type_id, day_number(first_night), f"{supplier_code}|{supplier_hotel_id}",
                               CHANGES_MAXLEN, *counts])
    except Exception as error:  # the order stands; the next inventory sync rewrites the counts
        logger.warning("a hold did not reach the hot cache", extra={"context": {"error": type(error).__name__}})
