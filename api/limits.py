"""Resource-consumption limits for the partner API: request body size and per-client rate limits.

- Body size: `LimitedRoute` (the route class of our routers) answers 413 for a body above
  `MAX_BODY_BYTES`, whether the client announced it in Content-Length or streamed it chunked.
- Rate limit: a fixed window per client in Redis (`RATE_LIMIT_MAX` per `RATE_LIMIT_WINDOW_MS`),
  counted in blocks taken from Redis (`RateCounter`); above the limit → 429 with `Retry-After`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException, Request
from fastapi.routing import APIRoute

from api.auth import BearerAuth, Principal

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


# Take `ARGV[2]` counts of the window, setting its expiry when they are the first: atomic, one round trip,
# never a counter without a TTL. Returns the last count taken.
RATE_COUNTER_LUA = ("local n = redis.call('INCRBY', KEYS[1], ARGV[2]) "
                    "if n == tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end return n")
MAX_BLOCK = 64  # counts taken from Redis at once, at most
REMAINING_SHARE = 64  # ...and at most this fraction of what the window has left
_MAX_LEASES = 10_000


def rate_key(client_id: str, window: int) -> str:
    return f"rl:{client_id}:{window}"


@dataclass(slots=True)
class _Lease:
    window: int
    next: int  # the next count to hand out
    last: int  # the last count of the block
    block: int


class RateCounter:
    """Fixed-window request counts per subject in Redis (`RATE_LIMIT_MAX` per `RATE_LIMIT_WINDOW_MS`).

    Counts are taken from the window's Redis counter in blocks and handed out here, one per request. A subject's
    first block in a window is one count; each further block doubles, up to MAX_BLOCK and to 1/REMAINING_SHARE
    of what the window had left. So a partner sending a few requests takes one count per request, exactly like
    a plain INCR, and small limits are counted one by one; a partner at full speed costs a round trip per 64
    requests instead of one each (the round trip was a fifth of a quote's time). Every count is taken from
    Redis once, so all processes together never admit more than the limit. A process's unused counts are lost
    when the window ends: at most one block per process, never more than 1/64 of what was left.
    """

    def __init__(self, redis, limit: int, window_ms: int) -> None:
        self.limit, self.window_ms = limit, window_ms
        self._script = redis.register_script(RATE_COUNTER_LUA)
        self._leases: dict[str, _Lease] = {}

    async def count(self, subject: str) -> int:
        """This request's number within its window (above the limit: refuse it)."""
        window = int(time.time() * 1000) // self.window_ms
        lease = self._leases.get(subject)
        if lease is not None and lease.window == window and lease.next <= lease.last:
            lease.next += 1
            return lease.next - 1
        block = self._next_block(lease, window)
        last = int(await self._script(keys=[rate_key(subject, window)], args=[self.window_ms + 1000, block]))
        if len(self._leases) >= _MAX_LEASES:
            self._leases = {key: held for key, held in self._leases.items() if held.window == window}
        self._leases[subject] = _Lease(window, last - block + 2, last, block)
        return last - block + 1

    def _next_block(self, lease: _Lease | None, window: int) -> int:
        if lease is None or lease.window != window:
            return 1
        return max(1, min(MAX_BLOCK, lease.block * 2, (self.limit - lease.last) // REMAINING_SHARE))

    def check(self, count: int) -> None:
        """429 with `Retry-After` (the seconds until the window ends) once `count` is above the limit."""
        if count > self.limit:
            now_ms = int(time.time() * 1000)
            retry_after = max(1, math.ceil((self.window_ms - now_ms % self.window_ms) / 1000))
            raise HTTPException(
                429, detail={"code": "rate_limited", "message": f"more than {self.limit} requests per "
                                                                f"{self.window_ms} ms; retry after {retry_after} s"},
                headers={"Retry-After": str(retry_after)},
            )


async def enforce_rate_limit(request: Request, subject: str) -> None:
    state = request.app.state
    counter = getattr(state, "rate_counter", None)
    if counter is None:
        settings = state.settings
        counter = state.rate_counter = RateCounter(state.redis, settings.rate_limit_max, settings.rate_limit_window_ms)
    counter.check(await counter.count(subject))


def rate_subject(principal: Principal) -> str:
    """Partners are limited per partner (all their clients together); staff per client."""
    return f"p:{principal.partner_id}" if principal.partner_id else f"c:{principal.client_id}"


class RateLimitedBearer(BearerAuth):
    """`BearerAuth` that also counts the caller against its rate limit (still one dependency)."""

    async def __call__(self, request: Request) -> Principal:
        principal = await super().__call__(request)
        await enforce_rate_limit(request, rate_subject(principal))
        return principal


limited_partner = RateLimitedBearer(("partner",))
"""A partner caller, counted against its partner's rate limit."""
