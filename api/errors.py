"""JSON error bodies for every failure; a 500 never shows a stack trace."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.logs import trace_id_var

logger = logging.getLogger("api.errors")


def error_body(status: int, code: str, message: str, **extra) -> dict:
    return {"error": {"status": status, "code": code, "message": message, "traceId": trace_id_var.get(), **extra}}


def _field_errors(exc: RequestValidationError) -> list[dict]:
    fields = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ()) if part not in ("body",)]
        reason = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            reason = "unknown field"
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

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.error("unhandled error", exc_info=exc, extra={"context": {"path": request.url.path}})
        return JSONResponse(error_body(500, "internal_error", "internal error; quote the traceId"), status_code=500)


def _code_for(status: int) -> str:
    return {
        400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
        409: "conflict", 413: "payload_too_large", 422: "validation_error", 429: "rate_limited",
        503: "unavailable",
    }.get(status, "error")
