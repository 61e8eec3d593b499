"""`hotelctl bench ops`: config-center and relay figures, each beside a baseline measured in the same run.

Runs in a scratch database it creates and drops on the configured PostgreSQL server (never touches
the platform's own outbox), and a scratch exchange on RABBITMQ_URL (the relay part needs it).
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import time

import typer

from bench import bench_app
from cli.common import console, endpoints_or_exit, settings_or_exit


async def _config_figures(url: str, engine, gets: int, changes: int) -> dict:
    from core.config import config_value, set_config
    from core.config_center import ConfigCenter

    set_config(engine, "bench.key", {"v": 0})
    center = ConfigCenter(url, poll_interval_s=3600)
    await center.start()
    try:
        started = time.perf_counter()
        for _ in range(gets):
            center.get("bench.key")
        cached_s = (time.perf_counter() - started) / gets
        reads = max(50, gets // 1000)
        started = time.perf_counter()
        for _ in range(reads):
            config_value(engine, "bench.key")
        direct_s = (time.perf_counter() - started) / reads
        notify = await _propagation(center, engine, changes, "notify")
    finally:
        await center.stop()
    poller = ConfigCenter(url, poll_interval_s=1.0, listen=False)
    await poller.start()
    try:
        poll = await _propagation(poller, engine, max(3, changes // 4), "poll")
    finally:
        await poller.stop()
    return {"cached_get_us": cached_s * 1e6, "direct_read_us": direct_s * 1e6, "notify_ms": notify, "poll_ms": poll}


async def _propagation(center, engine, changes: int, tag: str) -> list[float]:
    from core.config import set_config

    latencies = []
    for i in range(changes):
        value = {"v": f"{tag}-{i}"}
        started = time.perf_counter()
        await asyncio.to_thread(set_config, engine, "bench.key", value)
        while center.get("bench.key") != value:
            await asyncio.sleep(0.001)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def _relay_rate(url: str, engine, rabbitmq_url: str, events: int, aggregates: int) -> float:
    import sqlalchemy as sa

    from core.outbox import write_event_sync
    from core.relay import Relay

    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM outbox_events"))
        for i in range(events):
            write_event_sync(conn, "order", f"bench-{i % aggregates}", "order.bench", {"i": i})
    exchange = f"hotel.events.bench.{secrets.token_hex(4)}"
    relay = Relay(url, rabbitmq_url, exchange=exchange, batch_size=500, consumers={})  # publishing alone
    started = time.perf_counter()
    try:
        while await relay.run_once():
            pass
    finally:
        await relay.close()
    elapsed = time.perf_counter() - started
    import aio_pika

    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        await channel.exchange_delete(exchange)
    return events / elapsed


@bench_app.command("ops")
def bench_ops(
    gets: int = typer.Option(200_000, min=1000, help="Cached config reads to time."),
    changes: int = typer.Option(20, min=3, help="Config changes whose propagation is timed."),
    events: int = typer.Option(2000, min=10, help="Outbox events the relay publishes per case."),
) -> None:
    """Config get() vs a database read; NOTIFY vs poll propagation; relay rate, many aggregates vs one."""

    from core.db import engine_for, scratch_database
    from core.migrate import upgrade

    settings = settings_or_exit()
    endpoints = endpoints_or_exit(settings)
    with scratch_database(endpoints.database_url, "hotel_bench") as url:
        upgrade(url)
        engine = engine_for(url)
        figures = asyncio.run(_config_figures(url, engine, gets, changes))
        typer.echo(f"config get() from cache     {figures['cached_get_us']:9.3f} µs/op")
        typer.echo(f"config read from PostgreSQL {figures['direct_read_us']:9.1f} µs/op  (baseline)")
        typer.echo(f"  ratio: cached get is {figures['direct_read_us'] / figures['cached_get_us']:,.0f}x faster")
        notify, poll = figures["notify_ms"], figures["poll_ms"]
        typer.echo(f"change visible via NOTIFY   p50 {statistics.median(notify):7.1f} ms  max {max(notify):7.1f} ms")
        typer.echo(f"change visible via 1 s poll p50 {statistics.median(poll):7.1f} ms  max {max(poll):7.1f} ms"
                   "  (baseline)")
        typer.echo(f"  ratio: NOTIFY is {statistics.median(poll) / statistics.median(notify):,.0f}x faster (p50)")
        if not settings.rabbitmq_url:
            console.print("[yellow]RABBITMQ_URL not set: relay figures skipped[/yellow]")
            return
        many = asyncio.run(_relay_rate(url, engine, settings.rabbitmq_url, events, 100))
        one = asyncio.run(_relay_rate(url, engine, settings.rabbitmq_url, events, 1))
        typer.echo(f"relay, 100 aggregates       {many:9.0f} events/s (confirmed, in order per aggregate)")
        typer.echo(f"relay, 1 aggregate          {one:9.0f} events/s  (baseline: strictly sequential confirms)")
        typer.echo(f"  ratio: {many / one:.1f}x")
