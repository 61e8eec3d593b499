"""Resource-consumption limits for the partner API: request body size and per-client rate limits.

- Body size: `LimitedRoute` (the route class of our routers) answers 413 for a body above
  `MAX_BODY_BYTES`, whether the client announced it in Content-Length or streamed it chunked.
- Rate limit: a fixed window per partner in Redis (`RATE_LIMIT_MAX` per `RATE_LIMIT_WINDOW_MS`, by Redis's
  clock), counted in blocks taken from Redis (`RateCounter`); above the limit → 429 with `Retry-After`.
  Sign-in is limited per source address and per client id, counted in Redis alone (`enforce_sign_in_limit`).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException, Request
from fastapi.routing import APIRoute
from redis import exceptions as redis_errors

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


# Take `ARGV[2]` counts of the subject's current window, the window being Redis's clock (TIME), so every API
# process and the key's TTL agree on it; the expiry is set with the first count. Atomic, one round trip, never a
# counter without a TTL. KEYS[1]: the subject's key prefix; ARGV: window ms, counts. Returns the last count
# taken, the window's number and the milliseconds left in it.
RATE_COUNTER_LUA = """
redis.replicate_commands()
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local size = tonumber(ARGV[1])
local window = math.floor(now_ms / size)
local key = KEYS[1] .. ':' .. window
local n = redis.call('INCRBY', key, ARGV[2])
if n == tonumber(ARGV[2]) then redis.call('PEXPIRE', key, size + 1000) end
return {n, window, size - now_ms % size}
"""
MAX_BLOCK = 64  # counts taken from Redis at once, at most
REMAINING_SHARE = 64  # ...and at most this fraction of what the window has left
MAX_LEASES = 10_000  # subjects holding counts in one process (least recently refilled out first)
REDIS_RETRY_S = 1.0  # after Redis failed, count locally this long before trying it again
REDIS_DOWN = (redis_errors.ConnectionError, redis_errors.TimeoutError)


def rate_prefix(subject: str) -> str:
    """The subject's key prefix; the braces keep every window's key in the prefix's cluster slot."""
    return f"rl:{{{subject}}}"


def rate_key(subject: str, window: int) -> str:
    return f"{rate_prefix(subject)}:{window}"


class LocalWindows:
    """This process's own fixed windows, for while Redis is unreachable: each process admits its share of the
    limit (`limit / API_WORKERS`, at least one), so all of them together stay near the limit. Bounded: at most
    MAX_LEASES subjects, the least recently started window out first."""

    def __init__(self, limit: int, window_ms: int) -> None:
        self.limit, self.window_s = limit, window_ms / 1000
        self._windows: OrderedDict[str, list] = OrderedDict()  # subject → [ends (monotonic), count]

    def count(self, subject: str) -> tuple[int, int]:
        """This request's number in the subject's local window and the seconds until it ends."""
        now = time.monotonic()
        window = self._windows.get(subject)
        if window is None or now >= window[0]:
            window = self._windows[subject] = [now + self.window_s, 0]
            self._windows.move_to_end(subject)
            while len(self._windows) > MAX_LEASES:
                self._windows.popitem(last=False)
        window[1] += 1
        return window[1], max(1, math.ceil(window[0] - now))


@dataclass(slots=True)
class _Lease:
    ends: float  # monotonic time the window ends (by Redis's clock when the block was taken)
    next: int  # the next count to hand out
    last: int  # the last count of the block
    block: int


class RateCounter:
    """Fixed-window request counts per subject in Redis (`limit` per `window_ms`, windows by Redis's clock).

    Counts are taken from the window's Redis counter in blocks and handed out here, one per request. A subject's
    first block in a window is one count; each further block doubles, up to MAX_BLOCK and to 1/REMAINING_SHARE
    of what the window had left. So a partner sending a few requests takes one count per request, exactly like
    a plain INCR, and small limits are counted one by one; a partner at full speed costs a round trip per 64
    requests instead of one each. One refill per subject is in flight at a time: requests arriving meanwhile
    wait for its block instead of each taking (and losing) one of their own. Every count is taken from Redis
    once, so all processes together never admit more than the limit; a process's unused counts are lost when
    the window ends (at most one block per process, never more than 1/64 of what was left), or when MAX_LEASES
    other subjects were refilled since. Once the window's counts are spent, requests are refused here until
    it ends, without a round trip.
    """

    def __init__(self, redis, limit: int, window_ms: int) -> None:
        self.limit, self.window_ms = limit, window_ms
        self._script = redis.register_script(RATE_COUNTER_LUA)
        self._leases: OrderedDict[str, _Lease] = OrderedDict()
        self._refills: dict[str, asyncio.Future] = {}
        self._down_until = 0.0

    async def count(self, subject: str) -> int:
        """This request's number within its window (above the limit: refuse it)."""
        while True:
            lease = self._leases.get(subject)
            if lease is not None and time.monotonic() < lease.ends:
                if lease.next <= lease.last:
                    lease.next += 1
                    return lease.next - 1
                if lease.last >= self.limit:  # spent: nothing to ask Redis until the window ends
                    return lease.last + 1
            else:
                lease = None
            pending = self._refills.get(subject)
            if pending is None:
                self._reachable()
                return await self._refill(subject, lease)
            await asyncio.shield(pending)  # the block in flight, then take from it (or refill once more)

    async def _refill(self, subject: str, lease: _Lease | None) -> int:
        done = asyncio.get_running_loop().create_future()
        self._refills[subject] = done
        try:
            block = self._next_block(lease)
            last, left_ms = await self._take(subject, block)
            self._leases[subject] = _Lease(time.monotonic() + int(left_ms) / 1000, last - block + 2, last, block)
            self._leases.move_to_end(subject)
            while len(self._leases) > MAX_LEASES:
                self._leases.popitem(last=False)
            return last - block + 1
        finally:
            del self._refills[subject]
            done.set_result(None)

    def _next_block(self, lease: _Lease | None) -> int:
        if lease is None:
            return 1
        return max(1, min(MAX_BLOCK, lease.block * 2, (self.limit - lease.last) // REMAINING_SHARE))

    async def count_once(self, subject: str) -> tuple[int, int]:
        """One count taken straight from Redis, nothing kept in-process (subjects callers make up, such as
        client ids at sign-in); returns the count and the seconds left in its window."""
        self._reachable()
        last, left_ms = await self._take(subject, 1)
        return last, max(1, math.ceil(left_ms / 1000))

    async def _take(self, subject: str, counts: int) -> tuple[int, int]:
        """Take counts of the subject's window in Redis: the last one taken and the window's milliseconds left."""
        try:
            last, _, left_ms = await self._script(keys=[rate_prefix(subject)], args=[self.window_ms, counts])
        except REDIS_DOWN:
            self._down_until = time.monotonic() + REDIS_RETRY_S
            raise
        return int(last), int(left_ms)

    def _reachable(self) -> None:
        """Raise at once, without a round trip, while Redis failed less than REDIS_RETRY_S ago."""
        if time.monotonic() < self._down_until:
            raise redis_errors.ConnectionError("Redis was unreachable a moment ago")

    def retry_after(self, subject: str) -> int:
        """Seconds until the subject's window ends (by the clock of the block last taken for it)."""
        lease = self._leases.get(subject)
        left = lease.ends - time.monotonic() if lease is not None else self.window_ms / 1000
        return max(1, math.ceil(left))



def rate_limited(limit: int, window_ms: int, retry_after: int) -> HTTPException:
    """The 429 for a subject past `limit`, with `Retry-After` (seconds until its window ends)."""
    message = f"more than {limit} requests per {window_ms} ms; retry after {retry_after} s"
    return HTTPException(429, detail={"code": "rate_limited", "message": message},
                         headers={"Retry-After": str(retry_after)})


def _limits(state) -> tuple[RateCounter, LocalWindows]:
    counter = getattr(state, "rate_counter", None)
    if counter is None:
        settings = state.settings
        counter = state.rate_counter = RateCounter(state.redis, settings.rate_limit_max, settings.rate_limit_window_ms)
        state.local_rate_windows = LocalWindows(max(1, settings.rate_limit_max // settings.api_workers),
                                                settings.rate_limit_window_ms)
    return counter, state.local_rate_windows


async def enforce_rate_limit(request: Request, subject: str) -> None:
    """Count a request against its subject's limit (429 above it). With Redis unreachable the process counts
    its share of the limit itself: the partner keeps being served, and limited."""
    counter, local = _limits(request.app.state)
    try:
        count = await counter.count(subject)
    except REDIS_DOWN:
        count, retry_after = local.count(subject)
        if count > local.limit:
            raise rate_limited(local.limit, counter.window_ms, retry_after) from None
        return
    if count > counter.limit:
        raise rate_limited(counter.limit, counter.window_ms, counter.retry_after(subject))


async def enforce_sign_in_limit(request: Request, client_id: str) -> None:
    """`/v1/auth/token`: limited per source address (AUTH_ADDRESS_RATE_LIMIT_MAX) and per client id
    (RATE_LIMIT_MAX), each counted in Redis alone: a caller naming ever new client ids grows no table here.
    With Redis unreachable, the address alone is counted in-process (a bounded table)."""
    counter, local = _limits(request.app.state)
    settings = request.app.state.settings
    address = f"auth-ip:{request.client.host if request.client else 'unknown'}"
    try:
        count, retry_after = await counter.count_once(address)
        if count > settings.auth_address_rate_limit_max:
            raise rate_limited(settings.auth_address_rate_limit_max, counter.window_ms, retry_after)
        count, retry_after = await counter.count_once(f"auth:{client_id}")
        if count > counter.limit:
            raise rate_limited(counter.limit, counter.window_ms, retry_after)
    except REDIS_DOWN:
        count, retry_after = local.count(address)
        share = max(1, settings.auth_address_rate_limit_max // settings.api_workers)
        if count > share:
            raise rate_limited(share, counter.window_ms, retry_after) from None


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
