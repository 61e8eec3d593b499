"""Outbox relay against the real RabbitMQ (RABBITMQ_URL, default amqp://guest:guest@127.0.0.1:5672/):
the broker connection dropped from the server side mid-stream, the broker unreachable for a while,
two relays at once; every event arrives, in order per aggregate."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess

import aio_pika
import pytest
import sqlalchemy as sa

from core import runtime
from core.outbox import backlog, read_events, write_event_sync
from core.relay import Relay, in_order_chains
from tests.needs import needs, needs_tool, tool

RABBITMQ_URL = os.environ.get("RABBITMQ_URL") or "amqp://guest:guest@127.0.0.1:5672/"


def _broker_reachable() -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(RABBITMQ_URL)
    try:
        socket.create_connection((parts.hostname, parts.port or 5672), timeout=2).close()
        return True
    except OSError:
        return False


needs_broker = needs(_broker_reachable(), f"RabbitMQ at {RABBITMQ_URL}")


@pytest.fixture
def clean_outbox(engine):
    """Each test starts with an empty outbox, so counts are exact (session database, our table)."""
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM outbox_events"))
    yield
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM outbox_events"))


def _write(engine, events: list[tuple[str, int]]) -> None:
    with engine.begin() as conn:
        for aggregate, seq in events:
            write_event_sync(conn, "order", aggregate, "order.test", {"aggregate": aggregate, "seq": seq})


def _interleaved(aggregates: int, per_aggregate: int, start: int = 0) -> list[tuple[str, int]]:
    return [(f"agg-{a}", seq) for seq in range(start, start + per_aggregate) for a in range(aggregates)]


class Consumer:
    """A queue bound to the test's own exchange; collects (aggregate, seq, outbox id) as delivered."""

    def __init__(self, exchange: str) -> None:
        self.exchange = exchange
        self.received: list[tuple[str, int, int]] = []

    async def __aenter__(self):
        self.connection = await aio_pika.connect(RABBITMQ_URL)
        channel = await self.connection.channel()
        exchange = await channel.declare_exchange(self.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, "order.#")

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                body = json.loads(message.body)
                self.received.append((body["aggregate"], body["seq"], int(message.message_id)))

        await queue.consume(on_message)
        return self

    async def __aexit__(self, *exc):
        channel = await self.connection.channel()
        await channel.exchange_delete(self.exchange)
        await self.connection.close()

    def assert_complete_and_ordered(self, expected: list[tuple[str, int]]) -> None:
        assert {(a, s) for a, s, _ in self.received} == set(expected), "every event arrives"
        seen: dict[str, list[int]] = {}
        for aggregate, seq, _ in self.received:
            if seq not in seen.setdefault(aggregate, []):  # at least once: a redelivery repeats, never reorders
                seen[aggregate].append(seq)
        assert all(seqs == sorted(seqs) for seqs in seen.values()), "in order per aggregate"


async def _until(predicate, timeout_s: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.05)


def _close_connection_server_side(connection_name: str) -> None:
    listed = subprocess.run([tool("rabbitmqctl"), "list_connections", "pid", "client_properties", "-q",
                             "--no-table-headers"], capture_output=True, text=True, timeout=60, check=True)
    pids = [line.split("\t")[0] for line in listed.stdout.splitlines() if connection_name in line]
    assert pids, "the relay's connection is listed by the broker"
    for pid in pids:
        subprocess.run([tool("rabbitmqctl"), "close_connection", pid, "test: broker drops the relay"],
                       capture_output=True, text=True, timeout=60, check=True)


def _relay(migrated, exchange: str, **kwargs) -> Relay:
    kwargs.setdefault("batch_size", 40)
    kwargs.setdefault("reconnect_delay_s", 0.1)
    kwargs.setdefault("max_reconnect_delay_s", 0.5)
    kwargs.setdefault("consumers", {})  # these tests bind their own queue (Consumer)
    return Relay(migrated.database_url, kwargs.pop("url", RABBITMQ_URL), exchange=exchange, **kwargs)


def test_outbox_is_written_and_readable_without_a_broker(engine, clean_outbox):
    _write(engine, _interleaved(3, 2))
    events = read_events(engine, after_id=0)
    assert [(e.payload["aggregate"], e.payload["seq"]) for e in events] == _interleaved(3, 2)
    assert backlog(engine) == 6 and all(e.published_at is None for e in events)
    assert read_events(engine, after_id=events[2].id) == events[3:]
    assert events[0].routing_key == "order.order.test"


def test_in_order_chains_stop_at_an_event_held_elsewhere():
    from datetime import UTC, datetime

    def event(event_id, aggregate):
        return type("E", (), {"id": event_id, "aggregate_type": "order", "aggregate_id": aggregate,
                              "created_at": datetime.now(UTC)})()

    claimed = [event(1, "a"), event(3, "a"), event(4, "b"), event(6, "b")]
    unpublished = [(1, "order", "a"), (2, "order", "a"), (3, "order", "a"), (4, "order", "b"), (5, "order", "c"),
                   (6, "order", "b")]
    chains = in_order_chains(claimed, unpublished)
    assert [e.id for e in chains[("order", "a")]] == [1]  # event 2 is held by another relay: 3 waits
    assert [e.id for e in chains[("order", "b")]] == [4, 6]


@needs_broker
@needs_tool("rabbitmqctl")  # drops the relay's connection from the server side
async def test_connection_dropped_mid_stream_loses_nothing(engine, migrated, clean_outbox):
    exchange = f"hotel.events.test.{secrets.token_hex(4)}"
    name = f"relay-test-{secrets.token_hex(4)}"
    expected = _interleaved(20, 20)

    dropped = asyncio.Event()

    async def writer():  # events keep coming while the relay publishes; the second half after the drop
        for start in range(0, len(expected), 5):
            if start == len(expected) // 2:
                await dropped.wait()
            await asyncio.to_thread(_write, engine, expected[start:start + 5])
            await asyncio.sleep(0.03)

    async with Consumer(exchange) as consumer:
        relay = _relay(migrated, exchange, connection_name=name, batch_size=10)
        stop = asyncio.Event()
        writing = asyncio.create_task(writer())
        task = asyncio.create_task(relay.run(stop))
        try:
            await _until(lambda: len(consumer.received) >= 30, 30)
            await asyncio.to_thread(_close_connection_server_side, name)  # the broker drops us mid-stream
            assert not writing.done(), "the drop happened mid-stream"
            dropped.set()
            await writing
            await _until(lambda: len({(a, s) for a, s, _ in consumer.received}) >= len(expected), 60)
        finally:  # a failure must not leave this relay publishing the next tests' events
            dropped.set()
            stop.set()
            await task
        assert relay.stats["connects"] >= 2 and relay.stats["broker_failures"] >= 1
        consumer.assert_complete_and_ordered(expected)
    assert backlog(engine) == 0


@needs_broker
async def test_broker_unavailable_for_a_while_loses_nothing(engine, migrated, clean_outbox):
    exchange = f"hotel.events.test.{secrets.token_hex(4)}"
    closed_port = runtime.free_port()  # a port nobody listens on
    expected = _interleaved(5, 8)
    await asyncio.to_thread(_write, engine, expected)
    async with Consumer(exchange) as consumer:
        relay = _relay(migrated, exchange, url=f"amqp://guest:guest@127.0.0.1:{closed_port}/")
        stop = asyncio.Event()
        task = asyncio.create_task(relay.run(stop))
        try:
            await _until(lambda: relay.stats["broker_failures"] >= 3, 30)
            assert backlog(engine) == len(expected) and consumer.received == []  # waiting, not dropped
            relay.rabbitmq_url = RABBITMQ_URL  # the broker is back
            await _until(lambda: len(consumer.received) >= len(expected), 30)
        finally:
            stop.set()
            await task
        consumer.assert_complete_and_ordered(expected)
    assert backlog(engine) == 0


@needs_broker
async def test_two_relays_keep_per_aggregate_order(engine, migrated, clean_outbox):
    exchange = f"hotel.events.test.{secrets.token_hex(4)}"
    expected = _interleaved(8, 15)
    await asyncio.to_thread(_write, engine, expected)
    async with Consumer(exchange) as consumer:
        relays = [_relay(migrated, exchange, batch_size=7, connection_name=f"relay-pair-{i}") for i in range(2)]
        stop = asyncio.Event()
        tasks = [asyncio.create_task(relay.run(stop)) for relay in relays]
        try:
            await _until(lambda: len(consumer.received) >= len(expected), 30)
        finally:
            stop.set()
            await asyncio.gather(*tasks)
        consumer.assert_complete_and_ordered(expected)
        assert len(consumer.received) == len(expected)  # no failure, so no redelivery
    assert backlog(engine) == 0
