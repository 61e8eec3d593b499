"""`/health` (each engine, 503 naming the failing one; 200 "degraded" when exchange rates are older than
FX_MAX_AGE_DAYS) and `/metrics` (Prometheus)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from core.fx import freshness
from core.quotes.caches import caches_for
from warehouse.client import check_clickhouse

router = APIRouter(tags=["operations"])
CHECK_TIMEOUT_S = 3.0


async def _check(name: str, coro) -> dict:
    try:
        detail = await asyncio.wait_for(coro, CHECK_TIMEOUT_S)
        return {"status": "ok", "detail": str(detail)}
    except Exception as exc:  # any failure is reported, by type only: messages may carry URLs
        reason = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
        return {"status": "fail", "detail": reason}


async def _postgres(request: Request) -> str:
    async with request.app.state.pg.acquire() as conn:
        return await conn.fetchval("SHOW server_version")


async def _redis(request: Request) -> str:
    info = await request.app.state.redis.info("server")
    return info.get("redis_version", "?")


async def _clickhouse(request: Request) -> str:
    state = request.app.state
    return await asyncio.to_thread(check_clickhouse, state.endpoints.clickhouse_url, 2.0, state.warehouse)


async def _fx_rates(request: Request) -> dict:
    """The age of the newest exchange-rate set quotes price from (the quote path's own table, so what it says
    is what quotes do); also refreshes the fx_rates_age_days gauge."""
    state = request.app.state
    table = await caches_for(state).fx.table(state.pg)
    return freshness(table, dt.datetime.now(dt.UTC).date()).as_json()


@router.get("/health", summary="Health of the API and each engine it needs, and the exchange rates' age")
async def health(request: Request) -> JSONResponse:
    names = ("postgresql", "redis", "clickhouse")
    results = await asyncio.gather(
        _check("postgresql", _postgres(request)),
        _check("redis", _redis(request)),
        _check("clickhouse", _clickhouse(request)),
    )
    modes = request.app.state.endpoints.modes
    checks = {name: {**result, "mode": modes.get(name, "server")} for name, result in zip(names, results, strict=True)}
    failing = [name for name, result in checks.items() if result["status"] != "ok"]
    try:
        fx = await asyncio.wait_for(_fx_rates(request), CHECK_TIMEOUT_S)
    except Exception as exc:  # PostgreSQL down is reported above; by type only, messages may carry URLs
        fx = {"status": "unknown", "detail": type(exc).__name__}
    degraded = ["fx_rates"] if fx["status"] == "stale" else []
    status = "fail" if failing else ("degraded" if degraded else "ok")
    body = {"status": status, "failing": failing, "degraded": degraded, "checks": checks, "fx_rates": fx}
    return JSONResponse(body, status_code=503 if failing else 200)


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    try:  # the exchange rates' age as of now, even when no quote has loaded them lately
        await asyncio.wait_for(_fx_rates(request), CHECK_TIMEOUT_S)
    except Exception:  # noqa: BLE001 - metrics are served whatever PostgreSQL does
        pass
    return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)


def _registry() -> CollectorRegistry:
    """Every API worker's metrics when they share PROMETHEUS_MULTIPROC_DIR (API_WORKERS > 1), else this process's."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry
