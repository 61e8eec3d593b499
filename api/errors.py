"""JSON error bodies for every failure, each with its request's trace id; a 500 never shows a stack trace.

A store that is down is answered, not crashed: 503 with a code naming it (`hot_cache_unavailable`,
`database_unavailable`, see `core.outages`) and `Retry-After`.
"""

from __future__ import annotations

import logging

import asyncpg
import psycopg
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis import exceptions as redis_errors
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.schemas import CrossFieldError
from core import outages
from core.logs import trace_id_var

logger = logging.getLogger("api.errors")


TRACE_SCOPE_KEY = "trace_id"  # where ObservabilityMiddleware leaves the request's trace id in the ASGI scope
STORE_ERRORS = (redis_errors.RedisError, asyncpg.PostgresError, asyncpg.InterfaceError,
                asyncpg.exceptions.InternalClientError, psycopg.Error, sqlalchemy.exc.SQLAlchemyError, OSError)
_STORE_NAMES = {outages.HOT_CACHE: "the hot cache (Redis)", outages.DATABASE: "the database (PostgreSQL)"}


def error_body(status: int, code: str, message: str, trace_id: str | None = None, **extra) -> dict:
    return {"error": {"status": status, "code": code, "message": message,
                      "traceId": trace_id or trace_id_var.get(), **extra}}


def unavailable(store: str, trace_id: str | None = None) -> JSONResponse:
    """503 naming the store that is down, with `Retry-After`."""
    message = f"{_STORE_NAMES[store]} is unavailable; retry after {outages.RETRY_AFTER_S} s"
    return JSONResponse(error_body(503, store, message, trace_id), status_code=503,
                        headers={"Retry-After": str(outages.RETRY_AFTER_S)})


def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    """500, logged with its stack (or 503 for a store that is down, whatever raised it); the body and
    `X-Request-ID` carry the trace id (this handler may run after the middleware that set the trace id's context
    has left: the scope still has it)."""
    trace_id = trace_id_var.get() or request.scope.get(TRACE_SCOPE_KEY)
    headers = {"X-Request-ID": trace_id} if trace_id else {}
    store = outages.unavailable_store(exc)
    if store is not None:
        response = unavailable(store, trace_id)
        response.headers.update(headers)
        return response
    logger.error("unhandled error", exc_info=exc, extra={"context": {"path": request.url.path, "traceId": trace_id}})
    return JSONResponse(error_body(500, "internal_error", "internal error; quote the traceId", trace_id),
                        status_code=500, headers=headers)


def _field_errors(exc: RequestValidationError) -> list[dict]:
    fields = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ()) if part not in ("body",)]
        reason = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            reason = "unknown field"
        error = (err.get("ctx") or {}).get("error")
        if isinstance(error, CrossFieldError):  # a check across fields: the field it names, inside the model's place
            loc.append(error.field)
            reason = error.reason
        elif err.get("type") == "json_invalid":
            loc, reason = [], f"the body is not valid JSON: {error or reason}"
        fields.append({"field": ".".join(loc) or "body", "reason": reason})
    return fields


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail
        if isinstance(detail, dict):
            body = error_body(exc.status_code, detail.get("code", "error"), detail.get("message", ""),
                              **{k: v for k, v in detail.items() if k not in ("code", "message")})
        else:
            body = error_body(exc.status_code, _code_for(exc.status_code), str(detail))
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = _field_errors(exc)
        summary = "; ".join(f"{f['field']}: {f['reason']}" for f in fields)
        return JSONResponse(error_body(422, "validation_error", summary, fields=fields), status_code=422)

    async def store_error(request: Request, exc: Exception) -> JSONResponse:
        store = outages.unavailable_store(exc)
        if store is None:
            return _internal_error(request, exc)
        logger.warning("store unavailable", extra={"context": {"path": request.url.path, "store": store,
                                                               "error": type(exc).__name__}})
        return unavailable(store)

    # Answered inside the middleware (trace headers, metrics); anything else reaches `unexpected`.
    for error_class in STORE_ERRORS:
        app.add_exception_handler(error_class, store_error)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _internal_error(request, exc)


def _code_for(status: int) -> str:
    return {
        400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
        409: "conflict", 413: "payload_too_large", 422: "validation_error", 429: "rate_limited",
        503: "unavailable",
    }.get(status, "error")
