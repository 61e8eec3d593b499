"""The FastAPI application factory: `uvicorn api.app:create_app --factory`."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Awaitable
from contextlib import asynccontextmanager

import asyncpg
import redis.asyncio as aioredis
from fastapi import FastAPI

from api.errors import install_error_handlers
from api.middleware import ObservabilityMiddleware
from api.pages import PAGES
from api.pages.common import static_files
from api.routes import ROUTERS
from core.access import close_access, open_access
from core.collector import survivors_frozen
from core.config_center import ConfigCenter
from core.db import plain_url
from core.logs import configure_logging
from core.quotes.caches import close_quotes, open_quotes
from core.runtime import Endpoints, resolve
from core.settings import Settings, get_settings
from core.tracing import asgi_tracing
from warehouse.client import HeldWarehouse

logger = logging.getLogger("api")
REDIS_CONNECTIONS = 64
REDIS_CONNECT_TIMEOUT_S = 2.0
WORKER_HEALTHCHECK_S = 60
SHUTDOWN_STEP_S = 10.0


async def _shutdown_step(name: str, step: Awaitable[object]) -> bool:
    """Run one shutdown step within SHUTDOWN_STEP_S; a failure or overrun is logged, never raised."""
    try:
        async with asyncio.timeout(SHUTDOWN_STEP_S):
            await step
        return True
    except TimeoutError:
        logger.error("shutdown step did not finish in time", extra={"context": {"step": name,
                                                                                 "timeout_s": SHUTDOWN_STEP_S}})
    except Exception:
        logger.exception("shutdown step failed", extra={"context": {"step": name}})
    return False


def create_app(settings: Settings | None = None, endpoints: Endpoints | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        resolved = endpoints or resolve(settings, start=False)
        app.state.settings = settings
        app.state.endpoints = resolved
        app.state.pg = await asyncpg.create_pool(
            plain_url(resolved.database_url), min_size=1, max_size=settings.db_pool_size,
            command_timeout=settings.query_timeout_ms / 1000,
        )
        # A bounded pool that waits for a free connection: under overload requests queue, they do not fail. A Redis
        # that stopped answering fails a request within QUERY_TIMEOUT_MS (then quotes read PostgreSQL).
        app.state.redis = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(
            resolved.redis_url, max_connections=REDIS_CONNECTIONS, timeout=settings.query_timeout_ms / 1000,
            socket_connect_timeout=REDIS_CONNECT_TIMEOUT_S, socket_timeout=settings.query_timeout_ms / 1000))
        app.state.config = ConfigCenter(
            resolved.database_url, env=settings.hotel_env, poll_interval_s=settings.config_poll_interval_s,
            listen=settings.config_listen,
        )
        await app.state.config.start()
        await open_quotes(app.state)
        await open_access(app.state)
        app.state.warehouse = HeldWarehouse(resolved.clickhouse_url, hold_s=settings.warehouse_hold_s)
        # Everything alive now (modules, app, pools), and the caches as they fill, leave the collector's reach:
        # full collections then scan only what is new (walking the caches caused the quote p99 spikes).
        logger.info("api started", extra={"context": {"modes": resolved.modes}})
        try:
            with survivors_frozen():
                yield
        finally:
            # Every step bounded: a shutdown that waits forever on one engine never lets the process go.
            await _shutdown_step("quotes", close_quotes(app.state))  # the pending batch: orders need it
            await _shutdown_step("access", close_access(app.state))
            await _shutdown_step("config", app.state.config.stop())
            await _shutdown_step("warehouse", asyncio.to_thread(app.state.warehouse.close))
            await _shutdown_step("redis", app.state.redis.aclose())
            if not await _shutdown_step("postgresql", app.state.pg.close()):
                app.state.pg.terminate()  # a connection still out: close them all without waiting

    app = FastAPI(
        title="Hotel distribution platform API",
        version="1.0.0",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    install_error_handlers(app)
    for router in (*ROUTERS, *PAGES):
        app.include_router(router)
    app.mount("/static", static_files(), name="static")  # the pages' one stylesheet
    asgi_tracing(app, "api")  # when tracing is on: OpenTelemetry's SERVER span, inside the middleware below
    app.add_middleware(ObservabilityMiddleware, service="api")
    return app


def served_app() -> FastAPI:
    """The app of a process `main` starts: each uvicorn worker is a fresh interpreter, which logs as the API (one
    JSON line per record, LOG_LEVEL) only once this has configured it."""
    settings = get_settings()
    configure_logging("api", settings.log_level)
    return create_app(settings)


def main() -> None:
    """Entry point for the API process (`python -m api.app`)."""
    import uvicorn

    settings = get_settings()
    configure_logging("api", settings.log_level)
    if settings.api_workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # One /metrics for all workers: each writes its samples under this folder (emptied at start).
        metrics_dir = settings.data_dir / "prometheus"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    uvicorn.run(
        "api.app:served_app", factory=True, host=settings.api_host, port=settings.api_port,
        log_config=None, access_log=False, workers=settings.api_workers,
        # A worker answers the supervisor's health pings only once it has imported the app (seconds on a loaded
        # machine); with uvicorn's 5 s it was killed and restarted before it ever served.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
    )


if __name__ == "__main__":
    main()
