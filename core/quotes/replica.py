"""An API process's replica of the hot cache's product values, kept true by the changes stream.

Every writer of a product value (the inventory sync, an order's hold or release) adds an entry naming the
products it changed to `hc:changes`; a task of each API process follows that stream (XREAD, blocking) and
drops what it holds of those products, with the shelves built from them. A quote so reads Redis only for a
product it does not hold. Should the stream be lost (Redis restarted, the reader's connection failed), the
replica is emptied and every quote reads Redis until the reader follows again; no value is held longer than
MAX_AGE_S in any case. With `enabled=False` (HOT_CACHE_REPLICA=false) every quote reads Redis.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict

from core.hotcache import CHANGES_KEY, Inventory, Product, decode_inventory
from core.metrics import CacheLookups

MAX_AGE_S = 60.0
MAX_SHELVES = 2048
READ_BLOCK_MS = 1000
RETRY_S = 1.0

logger = logging.getLogger("api.quotes")


class InventoryReplica:
    def __init__(self, redis, enabled: bool = True) -> None:
        self.redis = redis
        self.enabled = enabled
        self.products: dict[str, tuple[Inventory | None, float]] = {}  # "{supplier}|{id}" → (value, read at)
        self.shelves: OrderedDict[tuple, object] = OrderedDict()
        self.shelves_of: dict[str, set[tuple]] = {}  # product → the shelves built from it
        self.following = False  # the reader is at the stream's head: what is held is current
        self.changes = 0  # entries seen (a read that overlaps one keeps its values to itself)
        self.lookups = CacheLookups("inventory")
        self._task: asyncio.Task | None = None

    # ------------------------------------------------------------------ reading values

    async def inventories(self, products: list[Product]) -> tuple[list[Inventory | None], int]:
        """Each product's decoded value (None: not in the hot cache), and how many came from Redis."""
        self._ensure_reader()
        now = time.monotonic()
        found: list[Inventory | None] = [None] * len(products)
        missing: list[int] = []
        if self.following:
            for index, product in enumerate(products):
                held = self.products.get(_name(product))
                if held is None or now - held[1] >= MAX_AGE_S:
                    missing.append(index)
                else:
                    found[index] = held[0]
        else:
            missing = list(range(len(products)))
        if missing:
            changes_before, following_before = self.changes, self.following
            values = await self.redis.mget([products[index].key for index in missing])
            keep = self.following and following_before and self.changes == changes_before
            for index, value in zip(missing, values, strict=True):
                inventory = decode_inventory(value) if value is not None else None
                found[index] = inventory
                if keep:
                    self.products[_name(products[index])] = (inventory, now)
        return found, len(missing)

    # ------------------------------------------------------------------ shelves

    def shelf(self, key: tuple):
        if not self.following:
            return None
        shelf = self.shelves.get(key)
        if shelf is not None:
            self.shelves.move_to_end(key)
        return shelf

    def keep_shelf(self, key: tuple, shelf, products: list[Product], built_at_change: int) -> None:
        """Keep a shelf built from values read while no change arrived (else it may hold a dropped value)."""
        if not self.following or self.changes != built_at_change:
            return
        self.shelves[key] = shelf
        self.shelves.move_to_end(key)
        for product in products:
            self.shelves_of.setdefault(_name(product), set()).add(key)
        while len(self.shelves) > MAX_SHELVES:  # the least recently used, and what names it
            old_key, old = self.shelves.popitem(last=False)
            for product in old.products:
                keys = self.shelves_of.get(_name(product))
                if keys is not None:
                    keys.discard(old_key)
                    if not keys:
                        del self.shelves_of[_name(product)]

    # ------------------------------------------------------------------ following the changes stream

    async def start(self) -> None:
        """Follow the changes stream from its head (at app start, so the first quotes are held already)."""
        if not self.enabled or self._task is not None:
            return
        head = None
        try:
            head = await self._head()
        except Exception:  # Redis not there yet: the follower keeps trying, quotes read Redis meanwhile
            logger.warning("hot cache changes stream not reachable at start; following it once it is")
        self._task = asyncio.get_running_loop().create_task(self._follow(head))

    def _ensure_reader(self) -> None:
        if self.enabled and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._follow(None))

    async def _head(self) -> bytes:
        last = await self.redis.xrevrange(CHANGES_KEY, count=1)
        self.following = True
        return last[0][0] if last else b"0-0"

    def drop(self, names: list[str]) -> None:
        for name in names:
            self.products.pop(name, None)
            for key in self.shelves_of.pop(name, ()):
                self.shelves.pop(key, None)

    def clear(self) -> None:
        self.following = False
        self.products.clear()
        self.shelves.clear()
        self.shelves_of.clear()

    async def _follow(self, last_id: bytes | None) -> None:
        while True:
            try:
                if last_id is None:
                    last_id = await self._head()
                while True:
                    reply = await self.redis.xread({CHANGES_KEY: last_id}, count=500, block=READ_BLOCK_MS)
                    for _, entries in reply or ():
                        for entry_id, fields in entries:
                            last_id = entry_id
                            self.changes += 1
                            self.drop((fields.get(b"p") or b"").decode().split("\n"))
            except asyncio.CancelledError:
                raise
            except Exception as error:  # Redis away: hold nothing, read Redis for every quote, follow again
                if asyncio.current_task().cancelling():
                    # stop() cancelled a blocked read and the client's own read timeout turned that into a
                    # TimeoutError: end here, or this loop would outlive the app.
                    raise asyncio.CancelledError from error
                self.clear()
                last_id = None
                logger.warning("hot cache changes stream lost; reading Redis per quote until it is back",
                               extra={"context": {"error": type(error).__name__}})
                await asyncio.sleep(RETRY_S)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task}, timeout=2.0)  # bounded: a blocked read never holds up shutdown
        self.clear()


def _name(product: Product) -> str:
    return f"{product.supplier_code}|{product.supplier_hotel_id}"
