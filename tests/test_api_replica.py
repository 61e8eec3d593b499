"""The replica of the hot cache in an API process, against real Redis: it drops what the changes stream names,
and holds nothing once it has lost the stream, until it follows again."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets

import redis
import redis.asyncio as aioredis

from core.hotcache import InventoryBuilder, Product, RateRow, announce, write_inventory
from core.quotes.replica import InventoryReplica


def _write(redis_url: str, product: Product, net_minor: int, announced: bool) -> None:
    builder = InventoryBuilder(dt.date(2027, 1, 1), 3)
    for day in range(3):
        night = dt.date(2027, 1, 1) + dt.timedelta(days=day)
        builder.allotment(1, 2, night, 5)
        builder.rate(RateRow(1, "R1", "Standard", "RO", "BAR", "CNY", None), 2, night, net_minor, True, [])
    client = redis.Redis.from_url(redis_url)
    pipe = client.pipeline()
    write_inventory(pipe, product.supplier_code, product.supplier_hotel_id, builder.encode())
    if announced:
        announce(pipe, [f"{product.supplier_code}|{product.supplier_hotel_id}"])
    pipe.execute()
    client.close()


async def _until(condition, within_s: float = 3.0) -> bool:
    deadline = asyncio.get_running_loop().time() + within_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def test_replica_drops_named_values_and_holds_nothing_after_losing_the_stream(redis_url):
    product = Product("MH-r", "A", f"A-{secrets.token_hex(4)}")
    _write(redis_url, product, 10000, announced=False)
    client = aioredis.from_url(redis_url)
    replica = InventoryReplica(client)
    await replica.start()
    try:
        [held], read = await replica.inventories([product])
        assert read == 1 and int(held.prices[0, 0]) == 10000
        [again], read = await replica.inventories([product])
        assert read == 0 and again is held  # held, not read again

        _write(redis_url, product, 12000, announced=True)  # a sync rewrites it and says so
        assert await _until(lambda: replica.changes > 0)
        [fresh], read = await replica.inventories([product])
        assert read == 1 and int(fresh.prices[0, 0]) == 12000

        # The follower's connection dies (as when Redis restarts): nothing is held until it follows again.
        killer = redis.Redis.from_url(redis_url)
        followers = [c["id"] for c in killer.client_list() if c.get("cmd") == "xread"]
        assert followers
        for follower in followers:
            killer.client_kill_filter(_id=follower)
        killer.close()
        assert await _until(lambda: not replica.products)
        assert await _until(lambda: replica.following)  # it follows again by itself
        [after], read = await replica.inventories([product])
        assert read == 1 and int(after.prices[0, 0]) == 12000
    finally:
        await replica.stop()
        await client.aclose()


async def test_shelves_are_bounded_and_forget_what_named_the_evicted(redis_url, monkeypatch):
    """Searches by ever new hotel sets build ever new shelves: the replica keeps MAX_SHELVES of them, and its
    index from product to shelves forgets the evicted ones (else it grows with every distinct search)."""
    from types import SimpleNamespace

    from core.quotes import replica as replica_module

    monkeypatch.setattr(replica_module, "MAX_SHELVES", 3)
    client = aioredis.from_url(redis_url)
    replica = InventoryReplica(client)
    await replica.start()
    try:
        assert await _until(lambda: replica.following)
        for index in range(10):
            products = [Product(f"MH-{index}", "A", f"A-{index}"), Product("MH-shared", "B", "B-shared")]
            replica.keep_shelf(("hotel_ids", index), SimpleNamespace(products=products), products, replica.changes)
        assert list(replica.shelves) == [("hotel_ids", 7), ("hotel_ids", 8), ("hotel_ids", 9)]
        assert set(replica.shelves_of) == {"A|A-7", "A|A-8", "A|A-9", "B|B-shared"}
        assert replica.shelves_of["B|B-shared"] == set(replica.shelves)
    finally:
        await replica.stop()
        await client.aclose()
