"""Events reach their consumers, against the real RabbitMQ: the relay declares each consumer's durable
queue before publishing, so events wait there while no consumer runs; a consumer receives every event the
relay published (id, type, payload); a delivery its handler keeps failing is dead-lettered, not lost."""

from __future__ import annotations

import asyncio
import secrets

import aio_pika
import pytest

from core.consumer import EventConsumer, ReceivedEvent
from core.topology import dead_letter_exchange_name, dead_letter_queue_name, queue_name
from tests.test_ops_relay import RABBITMQ_URL, _relay, _until, _write, clean_outbox, needs_broker  # noqa: F401

pytestmark = [needs_broker, pytest.mark.usefixtures("clean_outbox")]


async def delete_topology(exchange: str, consumer: str) -> None:
    connection = await aio_pika.connect(RABBITMQ_URL)
    async with connection:
        channel = await connection.channel()
        for queue in (queue_name(exchange, consumer), dead_letter_queue_name(exchange, consumer)):
            await channel.queue_delete(queue)
        for name in (exchange, dead_letter_exchange_name(exchange)):
            await channel.exchange_delete(name)


async def queued(name: str) -> int:
    connection = await aio_pika.connect(RABBITMQ_URL)
    async with connection:
        queue = await (await connection.channel()).declare_queue(name, passive=True)
        return queue.declaration_result.message_count


async def test_events_published_before_the_consumer_starts_are_all_received(engine, migrated):
    exchange, consumer_name = f"hotel.events.test.{secrets.token_hex(4)}", "webhooks"
    _write(engine, [(f"order-{n}", seq) for n in range(3) for seq in range(2)])
    with engine.connect() as conn:
        outbox = {row.id: (row.event_type, row.payload) for row in conn.exec_driver_sql(
            "SELECT id, event_type, payload FROM outbox_events ORDER BY id")}
    try:
        relay = _relay(migrated, exchange, consumers={consumer_name: ("order.#",)})
        assert await relay.run_once() == 6
        await relay.close()
        assert await queued(queue_name(exchange, consumer_name)) == 6  # waiting, though no one consumes yet

        received: list[ReceivedEvent] = []

        async def handle(event: ReceivedEvent) -> None:
            received.append(event)

        stop = asyncio.Event()
        consumer = EventConsumer(RABBITMQ_URL, consumer_name, handle, exchange=exchange, routing_keys=("order.#",))
        task = asyncio.create_task(consumer.run(stop))
        await _until(lambda: len(received) >= 6, 20)
        await asyncio.sleep(0.2)  # nothing more arrives
        stop.set()
        await task
        assert {event.id: (event.event_type, event.payload) for event in received} == outbox
        assert len(received) == 6 and all(e.routing_key == "order.order.test" for e in received)
        assert await queued(queue_name(exchange, consumer_name)) == 0  # every one acknowledged
    finally:
        await delete_topology(exchange, consumer_name)


async def test_an_event_the_handler_keeps_failing_is_dead_lettered(engine, migrated):
    exchange, consumer_name = f"hotel.events.test.{secrets.token_hex(4)}", "webhooks"
    _write(engine, [("order-ok", 0), ("order-poison", 0), ("order-ok", 1)])
    handled: list[str] = []
    attempts = {"poison": 0}

    async def handle(event: ReceivedEvent) -> None:
        if event.aggregate_id == "order-poison":
            attempts["poison"] += 1
            raise RuntimeError("partner endpoint refuses it")
        handled.append(f"{event.aggregate_id}/{event.payload['seq']}")

    try:
        relay = _relay(migrated, exchange, consumers={consumer_name: ("order.#",)})
        assert await relay.run_once() == 3
        await relay.close()
        stop = asyncio.Event()
        consumer = EventConsumer(RABBITMQ_URL, consumer_name, handle, exchange=exchange, routing_keys=("order.#",))
        task = asyncio.create_task(consumer.run(stop))
        dead = dead_letter_queue_name(exchange, consumer_name)

        async def dead_count() -> int:
            return await queued(dead)

        deadline = asyncio.get_running_loop().time() + 20
        while await dead_count() < 1:
            assert asyncio.get_running_loop().time() < deadline, "the poison event was never dead-lettered"
            await asyncio.sleep(0.1)
        stop.set()
        await task
        assert sorted(handled) == ["order-ok/0", "order-ok/1"]
        assert attempts["poison"] == 6  # the first delivery and DELIVERY_LIMIT (5) redeliveries
        assert await queued(queue_name(exchange, consumer_name)) == 0
        connection = await aio_pika.connect(RABBITMQ_URL)
        async with connection:
            queue = await (await connection.channel()).declare_queue(dead, passive=True)
            message = await queue.get(timeout=5)
            assert message.headers["aggregate_id"] == "order-poison"  # kept whole, for an operator to replay
            await message.ack()
    finally:
        await delete_topology(exchange, consumer_name)


async def test_a_consumer_started_while_the_broker_is_away_waits_for_it(engine, migrated, caplog):
    """As `hotelctl up` or a container may start it before RabbitMQ answers: the consumer retries, with a
    warning, instead of ending, and consumes once the broker is there (here: a port that starts forwarding)."""
    import logging
    from urllib.parse import urlsplit

    from core.runtime import free_port

    broker = urlsplit(RABBITMQ_URL)
    port = free_port()

    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(broker.hostname, broker.port or 5672)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except ConnectionError:
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    exchange, consumer_name = f"hotel.events.test.{secrets.token_hex(4)}", "webhooks"
    received: list[ReceivedEvent] = []

    async def handle(event: ReceivedEvent) -> None:
        received.append(event)

    away = broker._replace(netloc=f"{broker.username}:{broker.password}@127.0.0.1:{port}").geturl()
    consumer = EventConsumer(away, consumer_name, handle, exchange=exchange, routing_keys=("order.#",))
    stop = asyncio.Event()
    proxy = None
    with caplog.at_level(logging.WARNING, logger="consumer"):
        task = asyncio.create_task(consumer.run(stop))
        try:
            await _until(lambda: any(r.message == "consumer: broker unavailable, retrying" for r in caplog.records),
                         10)
            assert not task.done()  # still waiting, not ended
            proxy = await asyncio.start_server(forward, "127.0.0.1", port)
            relay = _relay(migrated, exchange, consumers={consumer_name: ("order.#",)})
            _write(engine, [("order-late", 0), ("order-late", 1)])
            assert await relay.run_once() == 2
            await relay.close()
            await _until(lambda: len(received) == 2, 30)
            assert [event.payload["seq"] for event in received] == [0, 1]
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            if proxy is not None:
                proxy.close()
            await delete_topology(exchange, consumer_name)
