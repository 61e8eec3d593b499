"""The outbox relay: publishes `outbox_events` to RabbitMQ, at least once, in order per aggregate.

Each round, in one PostgreSQL transaction:
1. claim the oldest unpublished rows with `FOR UPDATE SKIP LOCKED` (several relays may run);
2. per aggregate keep only the contiguous prefix: if an earlier unpublished event of that
   aggregate is held by another relay, that aggregate waits for the next round;
3. publish each aggregate's events one after another, each awaiting its publisher confirm
   (aggregates run concurrently on the one channel);
4. mark the confirmed ones `published_at = now()` and commit.
A broker failure stops that aggregate's chain at the failed event, the confirmed ones are still
marked, and the relay reconnects with back-off: nothing is lost, and an event is re-sent only when
its confirm was lost (consumers dedupe by `message_id`, the outbox id).

Each message carries the trace its event was written in (`traceparent` in its headers): the relay publishes
inside that stored trace, so with tracing on its PRODUCER span, and the consumers' spans, join the order's trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping

import aio_pika
import asyncpg
from prometheus_client import Counter, Gauge

from core.consumer import sleep_or_stop
from core.db import plain_url
from core.outbox import OutboxEvent, event_from_row
from core.topology import CONSUMERS, DEFAULT_EXCHANGE, declare_topology
from core.tracing import continued

logger = logging.getLogger("relay")

EVENTS_PUBLISHED = Counter("outbox_events_published_total", "Outbox events confirmed by the broker",
                           ["aggregate_type"])
PUBLISH_FAILURES = Counter("outbox_publish_failures_total", "Broker connection or publish failures")
BACKLOG = Gauge("outbox_backlog", "Outbox events not yet published")
BROKER_UP = Gauge("outbox_relay_broker_connected", "1 while the relay holds a broker connection")
LAST_PUBLISH = Gauge("outbox_relay_last_publish_timestamp_seconds", "When the relay last published an event")

_CLAIM = ("SELECT id, aggregate_type, aggregate_id, event_type, payload, created_at, published_at"
          " FROM outbox_events WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED")
_EARLIER = ("SELECT id, aggregate_type, aggregate_id FROM outbox_events WHERE published_at IS NULL"
            " AND aggregate_id = ANY($1::text[]) AND id <= $2 ORDER BY id")


class BrokerError(Exception):
    """The broker could not be reached or did not confirm; the relay reconnects."""


def in_order_chains(claimed: list[OutboxEvent], unpublished: list[tuple[int, str, str]]) -> dict:
    """Per aggregate, the claimed events that may go now: those before any unpublished event we do not hold."""
    ours = {event.id: event for event in claimed}
    chains: OrderedDict[tuple[str, str], list[OutboxEvent]] = OrderedDict()
    blocked: set[tuple[str, str]] = set()
    for event_id, aggregate_type, aggregate_id in unpublished:
        key = (aggregate_type, aggregate_id)
        if key in blocked:
            continue
        if event_id in ours:
            chains.setdefault(key, []).append(ours[event_id])
        else:
            blocked.add(key)  # another relay holds an earlier event of this aggregate
    return chains


class Relay:
    def __init__(self, database_url: str, rabbitmq_url: str, exchange: str = DEFAULT_EXCHANGE,
                 batch_size: int = 200, idle_interval_s: float = 0.2, reconnect_delay_s: float = 0.5,
                 max_reconnect_delay_s: float = 10.0, publish_timeout_s: float = 10.0,
                 connection_name: str = "hotel-outbox-relay",
                 consumers: Mapping[str, tuple[str, ...]] = CONSUMERS) -> None:
        self.database_url = plain_url(database_url)
        self.rabbitmq_url = rabbitmq_url
        self.exchange_name = exchange
        self.consumers = consumers  # their queues are declared before the first publish: no event is dropped
        self.batch_size = batch_size
        self.idle_interval_s = idle_interval_s
        self.reconnect_delay_s = reconnect_delay_s
        self.max_reconnect_delay_s = max_reconnect_delay_s
        self.publish_timeout_s = publish_timeout_s
        self.connection_name = connection_name
        self.stats = {"published": 0, "rounds": 0, "broker_failures": 0, "connects": 0}
        self._pool: asyncpg.Pool | None = None
        self._connection: aio_pika.abc.AbstractConnection | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None

    # --- broker -----------------------------------------------------------------------------------

    async def _connect(self) -> aio_pika.abc.AbstractExchange:
        if self._exchange is not None and self._connection is not None and not self._connection.is_closed:
            return self._exchange
        await self._disconnect()
        try:
            self._connection = await aio_pika.connect(
                self.rabbitmq_url, timeout=self.publish_timeout_s,
                client_properties={"connection_name": self.connection_name})
            channel = await self._connection.channel(publisher_confirms=True)
            self._exchange = await declare_topology(channel, self.exchange_name, self.consumers)
        except (OSError, TimeoutError, aio_pika.exceptions.AMQPException) as error:
            await self._disconnect()
            raise BrokerError(f"cannot reach the broker: {type(error).__name__}: {error}") from error
        self.stats["connects"] += 1
        BROKER_UP.set(1)
        logger.info("relay connected to broker", extra={"context": {"exchange": self.exchange_name}})
        return self._exchange

    async def _disconnect(self) -> None:
        connection, self._connection, self._exchange = self._connection, None, None
        BROKER_UP.set(0)
        if connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 2)

    @staticmethod
    def message(event: OutboxEvent) -> aio_pika.Message:
        return aio_pika.Message(
            body=json.dumps(event.payload, default=str).encode(), content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT, message_id=str(event.id), type=event.event_type,
            timestamp=event.created_at,
            headers={**(event.trace or {}), "aggregate_type": event.aggregate_type,
                     "aggregate_id": event.aggregate_id, "outbox_id": event.id},
        )

    async def _publish_chain(self, exchange, chain: list[OutboxEvent]) -> tuple[list[int], Exception | None]:
        done: list[int] = []
        for event in chain:
            try:
                with continued(event.trace):  # traced: a PRODUCER span in the event's own trace
                    await exchange.publish(self.message(event), event.routing_key, mandatory=False,
                                           timeout=self.publish_timeout_s)
            except Exception as error:  # any failure ends this aggregate's chain for this round
                return done, error
            done.append(event.id)
        return done, None

    # --- one round --------------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Claim, publish and mark one batch; returns how many were published. Raises BrokerError."""
        pool = await self._db()
        exchange = await self._connect()
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(_CLAIM, self.batch_size)
            if not rows:
                return 0
            claimed = [event_from_row(row) for row in rows]
            unpublished = await conn.fetch(_EARLIER, list({e.aggregate_id for e in claimed}), claimed[-1].id)
            chains = in_order_chains(claimed, [(r["id"], r["aggregate_type"], r["aggregate_id"]) for r in unpublished])
            results = await asyncio.gather(*(self._publish_chain(exchange, chain) for chain in chains.values()))
            published = [event_id for done, _ in results for event_id in done]
            if published:
                await conn.execute("UPDATE outbox_events SET published_at = now(), attempts = attempts + 1"
                                   " WHERE id = ANY($1::bigint[])", published)
            failed = [chain[len(done)].id for chain, (done, error) in zip(chains.values(), results, strict=True)
                      if error is not None]
            if failed:
                await conn.execute("UPDATE outbox_events SET attempts = attempts + 1 WHERE id = ANY($1::bigint[])",
                                   failed)
        self.stats["rounds"] += 1
        self.stats["published"] += len(published)
        by_type: dict[str, int] = {}
        published_ids = set(published)
        for chain in chains.values():
            for event in chain:
                if event.id in published_ids:
                    by_type[event.aggregate_type] = by_type.get(event.aggregate_type, 0) + 1
        for aggregate_type, count in by_type.items():
            EVENTS_PUBLISHED.labels(aggregate_type).inc(count)
        if published:
            LAST_PUBLISH.set(time.time())
        errors = [error for _, error in results if error is not None]
        if errors:
            raise BrokerError(f"{len(errors)} aggregate(s) not confirmed: {type(errors[0]).__name__}: {errors[0]}")
        return len(published)

    async def _db(self) -> asyncpg.Pool:
        if self._pool is None:
            self._pool = await asyncpg.create_pool(self.database_url, min_size=1, max_size=2,
                                                   server_settings={"application_name": "hotel-outbox-relay"})
        return self._pool

    async def backlog(self) -> int:
        pool = await self._db()
        count = await pool.fetchval("SELECT count(*) FROM outbox_events WHERE published_at IS NULL")
        BACKLOG.set(count)
        return count

    # --- the loop ---------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Publish until `stop` is set, reconnecting to the broker with exponential back-off."""
        stop = stop or asyncio.Event()
        delay = self.reconnect_delay_s
        last_backlog = 0.0
        try:
            while not stop.is_set():
                try:
                    published = await self.run_once()
                    delay = self.reconnect_delay_s
                except BrokerError as error:
                    self.stats["broker_failures"] += 1
                    PUBLISH_FAILURES.inc()
                    logger.warning("relay: broker unavailable, retrying",
                                   extra={"context": {"error": str(error), "retryInS": delay}})
                    await self._disconnect()
                    await sleep_or_stop(stop, delay)
                    delay = min(delay * 2, self.max_reconnect_delay_s)
                    continue
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                    logger.warning("relay: database unavailable, retrying",
                                   extra={"context": {"error": str(error), "retryInS": delay}})
                    if self._pool is not None:
                        pool, self._pool = self._pool, None
                        pool.terminate()
                    await sleep_or_stop(stop, delay)
                    delay = min(delay * 2, self.max_reconnect_delay_s)
                    continue
                if time.monotonic() - last_backlog > 5:
                    last_backlog = time.monotonic()
                    await self.backlog()
                if published == 0:
                    await sleep_or_stop(stop, self.idle_interval_s)
        finally:
            await self.close()

    async def close(self) -> None:
        await self._disconnect()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
