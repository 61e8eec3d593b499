"""The RabbitMQ topology the outbox relay publishes into, declared by the relay and by every consumer.

- `hotel.events`: topic exchange; routing key `<aggregate_type>.<event_type>` (core/outbox.py).
- one durable quorum queue per consumer, `hotel.events.<consumer>`, bound with the consumer's keys:
  events wait there while the consumer is down (the broker no longer drops them for want of a queue);
- a failed delivery is requeued up to `DELIVERY_LIMIT` times (the broker counts, `x-delivery-limit`), then
  dead-lettered through `hotel.events.dead` into `hotel.events.<consumer>.dead`, where an operator reads
  and replays it (`hotelctl events`).

Declaring is idempotent: the relay declares before it publishes, a consumer before it consumes.
"""

from __future__ import annotations

from collections.abc import Mapping

import aio_pika

DEFAULT_EXCHANGE = "hotel.events"
DELIVERY_LIMIT = 5
# Consumer name -> routing keys it binds; a new consumer is one line here and one `EventConsumer` process.
# `webhooks`: order events, and a partner's test events, POSTed to partners (core/webhooks, `hotelctl webhooks run`).
CONSUMERS: Mapping[str, tuple[str, ...]] = {"webhooks": ("order.#", "partner.webhook.#")}


def queue_name(exchange: str, consumer: str) -> str:
    return f"{exchange}.{consumer}"


def dead_letter_queue_name(exchange: str, consumer: str) -> str:
    return f"{exchange}.{consumer}.dead"


def dead_letter_exchange_name(exchange: str) -> str:
    return f"{exchange}.dead"


async def declare_exchange(channel: aio_pika.abc.AbstractChannel,
                           exchange: str = DEFAULT_EXCHANGE) -> aio_pika.abc.AbstractExchange:
    return await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)


async def declare_consumer_queue(channel: aio_pika.abc.AbstractChannel, consumer: str, routing_keys: tuple[str, ...],
                                 exchange: str = DEFAULT_EXCHANGE,
                                 delivery_limit: int = DELIVERY_LIMIT) -> aio_pika.abc.AbstractQueue:
    """The consumer's durable queue, bound to `routing_keys`, with its dead-letter queue behind it."""
    events = await declare_exchange(channel, exchange)
    dead = await channel.declare_exchange(dead_letter_exchange_name(exchange), aio_pika.ExchangeType.DIRECT,
                                          durable=True)
    dead_queue = await channel.declare_queue(dead_letter_queue_name(exchange, consumer), durable=True,
                                             arguments={"x-queue-type": "quorum"})
    await dead_queue.bind(dead, consumer)
    queue = await channel.declare_queue(queue_name(exchange, consumer), durable=True, arguments={
        "x-queue-type": "quorum", "x-delivery-limit": delivery_limit,
        "x-dead-letter-exchange": dead_letter_exchange_name(exchange), "x-dead-letter-routing-key": consumer})
    for key in routing_keys:
        await queue.bind(events, key)
    return queue


async def declare_topology(channel: aio_pika.abc.AbstractChannel, exchange: str = DEFAULT_EXCHANGE,
                           consumers: Mapping[str, tuple[str, ...]] = CONSUMERS) -> aio_pika.abc.AbstractExchange:
    """The exchange and every consumer's queues; returns the exchange to publish to."""
    for consumer, keys in consumers.items():
        await declare_consumer_queue(channel, consumer, keys, exchange)
    return await declare_exchange(channel, exchange)
