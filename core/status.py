"""What `hotelctl status` reports: each part, embedded or server, reachable or not."""

from __future__ import annotations

import httpx

from core import runtime
from core.db import check_postgres
from core.settings import Settings


def _probe(part: str, mode: str, check) -> runtime.PartStatus:
    try:
        return runtime.PartStatus(part, mode, True, str(check()))
    except Exception as exc:  # report the failure's type only: messages may carry credentials
        return runtime.PartStatus(part, mode, False, type(exc).__name__)


def platform_status(settings: Settings) -> list[runtime.PartStatus]:
    import redis

    from warehouse.client import check_clickhouse

    modes = runtime.engine_modes(settings)
    endpoints = runtime.resolve(settings, start=False)
    parts = [
        _probe("postgresql", modes["postgresql"], lambda: check_postgres(endpoints.database_url)),
        _probe("redis", modes["redis"],
               lambda: redis.Redis.from_url(endpoints.redis_url, socket_timeout=2).info("server")["redis_version"]),
        _probe("clickhouse", modes["clickhouse"], lambda: check_clickhouse(endpoints.clickhouse_url)),
    ]
    pg_state = runtime.postgres_state(settings.data_dir) if modes["postgresql"] == runtime.EMBEDDED else None
    if pg_state not in (None, "ready") and not parts[0].reachable:  # caught starting or stopping
        parts[0].detail = runtime.busy_advice("PostgreSQL", pg_state)
    running = runtime.started_processes(settings.data_dir)
    for name, url in (("api", f"http://{settings.api_host}:{settings.api_port}/health"),
                      ("dagster-webserver", f"http://127.0.0.1:{settings.dagster_port}/server_info")):
        mode = f"pid {running[name]}" if name in running else "not started here"
        part = _probe(name, mode, lambda url=url: httpx.get(url, timeout=2).status_code)
        if part.reachable and name not in running:  # what answers is not this data folder's platform
            part.detail += f" from {url.rsplit('/', 1)[0]}, a server this platform did not start (another " \
                           "checkout's, or another program on the port)"
        parts.append(part)
    broker = settings.rabbitmq_url
    parts.append(_probe("events", "rabbitmq" if broker else "no broker (RABBITMQ_URL unset)",
                        lambda: _events(endpoints.database_url, broker, running)))
    return parts


def _events(database_url: str, broker: str | None, running: dict[str, int]) -> str:
    """The outbox's backlog and who moves it: the broker reachable, the relay and webhook consumer running."""
    import socket
    from urllib.parse import urlsplit

    import psycopg

    from core.db import plain_url

    # core.outbox.backlog counts the same, but through an engine without a connect timeout: status must not hang.
    with psycopg.connect(plain_url(database_url), connect_timeout=2) as conn:
        waiting = conn.execute("SELECT count(*) FROM outbox_events WHERE published_at IS NULL").fetchone()[0]
    if broker:
        address = urlsplit(broker)
        socket.create_connection((address.hostname or "localhost", address.port or 5672), timeout=2).close()
    workers = [f"{name} pid {running[name]}" for name in ("relay", "webhooks") if name in running]
    return f"outbox: {waiting} waiting; " + (", ".join(workers) or "no relay or webhooks consumer runs here")
