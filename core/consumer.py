"""Consuming `hotel.events`: one durable queue per consumer (core/topology.py), at least once.

`EventConsumer(url, name, handler)` declares its queue, then hands each delivery to `handler` as a
`ReceivedEvent`; a handler that returns acks it, one that raises has it requeued, and after the queue's
delivery limit the broker moves it to the consumer's dead-letter queue. The connection is robust:
after a broker restart it reconnects and consumes again. Delivery is at least once, so a handler
deduplicates by `event.id` (the outbox id, the message id the relay sets).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aio_pika
from prometheus_client import Counter

from core.topology import CONSUMERS, DEFAULT_EXCHANGE, dead_letter_queue_name, declare_consumer_queue, queue_name

logger = logging.getLogger("consumer")

MAX_RECONNECT_DELAY_S = 30.0
EVENTS_CONSUMED = Counter("events_consumed_total", "Deliveries a consumer handled", ["consumer", "outcome"])


@dataclass(frozen=True)
class ReceivedEvent:
    id: int
    event_type: str
    routing_key: str
    aggregate_type: str
    aggregate_id: str
    payload: dict[str, Any]
    redelivered: bool
    delivery_count: int = 0  # earlier deliveries of this message (the quorum queue's x-delivery-count)


def received_event(message: aio_pika.abc.AbstractIncomingMessage) -> ReceivedEvent:
    headers = message.headers or {}
    return ReceivedEvent(int(message.message_id or 0), message.type or "", message.routing_key or "",
                         str(headers.get("aggregate_type", "")), str(headers.get("aggregate_id", "")),
                         json.loads(message.body), bool(message.redelivered),
                         int(headers.get("x-delivery-count", 0) or 0))


Handler = Callable[[ReceivedEvent], Awaitable[None]]


class EventConsumer:
    def __init__(self, rabbitmq_url: str, name: str, handler: Handler, exchange: str = DEFAULT_EXCHANGE,
                 routing_keys: tuple[str, ...] | None = None, prefetch: int = 20,
                 connection_name: str | None = None) -> None:
        self.rabbitmq_url = rabbitmq_url
        self.name = name
        self.handler = handler
        self.exchange = exchange
        self.routing_keys = routing_keys if routing_keys is not None else CONSUMERS[name]
        self.prefetch = prefetch
        self.connection_name = connection_name or f"hotel-consumer-{name}"
        self.stats = {"acked": 0, "requeued": 0}

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        try:
            await self.handler(received_event(message))
        except Exception as error:  # the broker counts redeliveries and dead-letters past the limit
            self.stats["requeued"] += 1
            EVENTS_CONSUMED.labels(self.name, "requeued").inc()
            logger.warning("consumer: handler failed, requeued", extra={"context": {
                "consumer": self.name, "messageId": message.message_id, "error": f"{type(error).__name__}: {error}"}})
            await message.nack(requeue=True)
            return
        self.stats["acked"] += 1
        EVENTS_CONSUMED.labels(self.name, "acked").inc()
        await message.ack()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; waits for a broker that is away at the start, as the relay does, and
        reconnects by itself while it is away later."""
        connection = await self._connect(stop)
        if connection is None:
            return
        try:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=self.prefetch)
            queue = await declare_consumer_queue(channel, self.name, self.routing_keys, self.exchange)
            await queue.consume(self._on_message)
            logger.info("consumer started", extra={"context": {"consumer": self.name, "queue": queue.name}})
            await stop.wait()
        finally:
            await connection.close()

    async def _connect(self, stop: asyncio.Event) -> aio_pika.abc.AbstractRobustConnection | None:
        delay = 1.0
        while not stop.is_set():
            try:
                return await aio_pika.connect_robust(
                    self.rabbitmq_url, client_properties={"connection_name": self.connection_name})
            except (aio_pika.exceptions.AMQPConnectionError, OSError) as error:
                logger.warning("consumer: broker unavailable, retrying", extra={"context": {
                    "consumer": self.name, "error": str(error), "retryInS": delay}})
                await sleep_or_stop(stop, delay)
                delay = min(delay * 2, MAX_RECONNECT_DELAY_S)
        return None


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()


async def dead_letters(rabbitmq_url: str, consumer: str, exchange: str = DEFAULT_EXCHANGE,
                       limit: int = 1000) -> list[ReceivedEvent]:
    """The events in the consumer's dead-letter queue (read, then left there in the same order)."""
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(dead_letter_queue_name(exchange, consumer), ensure=True)
        held = []
        while len(held) < limit:
            message = await queue.get(fail=False)
            if message is None:
                break
            held.append(message)
        events = [received_event(message) for message in held]
        for message in held:
            await message.nack(requeue=True)
    return events


async def replay_dead_letters(rabbitmq_url: str, consumer: str, exchange: str = DEFAULT_EXCHANGE) -> int:
    """Move every dead-lettered event back to the consumer's queue (only that consumer sees it again, with a
    fresh delivery count); each is removed from the dead-letter queue only once the broker confirmed it."""
    connection = await aio_pika.connect(rabbitmq_url)
    moved = 0
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.get_queue(dead_letter_queue_name(exchange, consumer), ensure=True)
        target = queue_name(exchange, consumer)
        while (message := await queue.get(fail=False)) is not None:
            headers = {k: v for k, v in (message.headers or {}).items() if not k.startswith("x-")}
            copy = aio_pika.Message(message.body, headers=headers, content_type=message.content_type,
                                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT, message_id=message.message_id,
                                    type=message.type, timestamp=message.timestamp)
            await channel.default_exchange.publish(copy, routing_key=target)
            await message.ack()
            moved += 1
    return moved
