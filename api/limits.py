"""Resource-consumption limits for the partner API: request body size and per-client rate limits.

- Body size: `LimitedRoute` (the route class of our routers) answers 413 for a body above
  `MAX_BODY_BYTES`, whether the client announced it in Content-Length or streamed it chunked.
- Rate limit: a fixed window per client in Redis (`RATE_LIMIT_MAX` per `RATE_LIMIT_WINDOW_MS`):
  one pipelined INCR + PEXPIRE + PTTL round trip; above the limit → 429 with `Retry-After`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from fastapi import Depends, HTTPException, Request
from fastapi.routing import APIRoute

from api.auth import Principal, current_principal, require_role

MAX_BODY_BYTES = 64 * 1024


def too_large() -> HTTPException:
    return HTTPException(413, detail={"code": "payload_too_large",
                                      "message": f"request body is larger than {MAX_BODY_BYTES} bytes"})


class LimitedRoute(APIRoute):
    """An APIRoute that refuses oversized request bodies before parsing them."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def limited(request: Request):
            length = request.headers.get("content-length")
            if length is not None:
                if not length.isdigit():
                    raise HTTPException(400, detail={"code": "bad_request", "message": "invalid Content-Length"})
                if int(length) > MAX_BODY_BYTES:
                    raise too_large()
            elif request.method in ("POST", "PUT", "PATCH"):
                receive = request._receive
                seen = 0

                async def counting_receive():
                    nonlocal seen
                    message = await receive()
                    if message["type"] == "http.request":
                        seen += len(message.get("body", b""))
                        if seen > MAX_BODY_BYTES:
                            raise too_large()
                    return message

                request._receive = counting_receive
            return await handler(request)

        return limited


def rate_key(client_id: str, window: int) -> str:
    return f"rl:{client_id}:{window}"


def rate_limit_commands(pipe, request: Request, subject: str) -> tuple[int, int]:
    """Queue this request's window counter on `pipe` (so callers may share the round trip).

    Returns (limit, window_ms); `check_rate_result` reads the pipeline's first two results.
    """
    import time

    settings = request.app.state.settings
    window_ms = settings.rate_limit_window_ms
    window = int(time.time() * 1000) // window_ms
    key = rate_key(subject, window)
    pipe.incr(key)
    pipe.pexpire(key, window_ms + 1000)
    return settings.rate_limit_max, window_ms


def check_rate_result(count: int, limit: int, window_ms: int) -> None:
    import time

    if count > limit:
        now_ms = int(time.time() * 1000)
        retry_after = max(1, math.ceil((window_ms - now_ms % window_ms) / 1000))
        raise HTTPException(
            429, detail={"code": "rate_limited",
                         "message": f"more than {limit} requests per {window_ms} ms; retry after {retry_after} s"},
            headers={"Retry-After": str(retry_after)},
        )


async def enforce_rate_limit(request: Request, subject: str) -> None:
    pipe = request.app.state.redis.pipeline(transaction=False)
    limit, window_ms = rate_limit_commands(pipe, request, subject)
    count, _ = await pipe.execute()
    check_rate_result(int(count), limit, window_ms)


def rate_subject(principal: Principal) -> str:
    """Partners are limited per partner (all their clients together); staff per client."""
    return f"p:{principal.partner_id}" if principal.partner_id else f"c:{principal.client_id}"


async def limited_principal(request: Request, principal: Principal = Depends(current_principal)) -> Principal:
    await enforce_rate_limit(request, rate_subject(principal))
    return principal


_partner_only = require_role("partner")


async def limited_partner(request: Request, principal: Principal = Depends(_partner_only)) -> Principal:
    """A partner caller, counted against its partner's rate limit."""
    await enforce_rate_limit(request, rate_subject(principal))
    return principal
