"""Pricing rules and exchange rates reach new quotes within a second of a change.

The quote caches keep rules (`RulesCache`) and rates (`FxCache`) in memory for their TTLs. Migration
0021 makes every statement that changes `pricing_rules` or `fx_rates` NOTIFY `pricing_changed` (payload:
the table); `PricingFollower` LISTENs on its own connection and drops that cache, so the next quote
reloads it (and the quote memo, keyed by the rules and rates objects it priced with, misses). After a
(re)connect both caches are dropped, since a change may have come while nobody listened; without a
connection the TTLs still bound how stale either can be.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from core.db import plain_url

logger = logging.getLogger("quotes.invalidation")

CHANNEL = "pricing_changed"
APPLICATION_NAME = "hotel-quote-pricing-follower"


class PricingFollower:
    """Drops `caches.rules` / `caches.fx` when PostgreSQL says their table changed; partner facts and the
    disabled-supplier set when `partners` or `suppliers` changed (migration 0030)."""

    channel = CHANNEL
    application_name = APPLICATION_NAME

    def __init__(self, database_url: str, caches, reconnect_delay_s: float = 1.0) -> None:
        self.database_url = plain_url(database_url)
        self.caches = caches
        self.reconnect_delay_s = reconnect_delay_s
        self.notifications = 0
        self.listening = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.application_name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task}, timeout=2.0)

    def _drop(self, table: str) -> None:
        if table in ("pricing_rules", ""):
            self.caches.rules.invalidate()
        if table in ("fx_rates", ""):
            self.caches.fx.invalidate()
        if table in ("partners", ""):
            self.caches.partners.items.clear()
        if table in ("suppliers", ""):
            self.caches.suppliers_stale = True
            self.caches.suppliers_version += 1

    def _on_notify(self, _conn, _pid, _channel: str, payload: str) -> None:
        self.notifications += 1
        self._drop(payload)

    async def _run(self) -> None:
        while True:
            conn = None
            lost = asyncio.Event()
            try:
                conn = await asyncpg.connect(self.database_url, timeout=10,
                                             server_settings={"application_name": self.application_name})
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await conn.add_listener(self.channel, self._on_notify)
                self._drop("")  # changes made while nobody listened
                self.listening.set()
                await lost.wait()
            except asyncio.CancelledError:
                raise
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as error:
                logger.warning("pricing follower: connection problem, reconnecting",
                               extra={"context": {"error": str(error)}})
            finally:
                self.listening.clear()
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.shield(conn.close(timeout=2))
            await asyncio.sleep(self.reconnect_delay_s)
