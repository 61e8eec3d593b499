"""Staff sign-in by username and password, for the console cookie and for admin API bearer tokens alike,
throttled in Redis: after FAILURES_PER_USER wrong passwords for one username, or FAILURES_PER_ADDRESS from one
source address, within WINDOW_S, that username (or address) is refused with 429 until the window ends.
Only failures count, so staff signing in often are never locked out; a success clears its username's count.
"""

from __future__ import annotations

import logging

from fastapi import HTTPException, Request

from api.auth import Principal
from api.limits import REDIS_DOWN
from core import staff as staff_accounts

logger = logging.getLogger("api.staff")
FAILURES_PER_USER = 5
FAILURES_PER_ADDRESS = 50
WINDOW_S = 15 * 60


class SignInThrottled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {max(1, retry_after // 60)} minute(s)")
        self.retry_after = retry_after


def _keys(request: Request, username: str) -> tuple[str, str]:
    address = request.client.host if request.client else "unknown"
    return f"staff-sign-in:user:{username.strip().lower()[:64]}", f"staff-sign-in:ip:{address}"


async def _refused_for(request: Request, username: str) -> int:
    """Seconds until this username and address may try again (0: they may now)."""
    redis = request.app.state.redis
    user_key, address_key = _keys(request, username)
    try:
        user_failures, address_failures = await redis.mget(user_key, address_key)
        for key, failures, limit in ((user_key, user_failures, FAILURES_PER_USER),
                                     (address_key, address_failures, FAILURES_PER_ADDRESS)):
            if failures is not None and int(failures) >= limit:
                return max(1, await redis.ttl(key))
    except REDIS_DOWN:
        logger.warning("sign-in throttle: Redis unreachable, not counting")
    return 0


# One failure more, the window starting at the first: atomic, and on any Redis (EXPIRE's NX is Redis 7 only; the
# embedded engine is 6.2).
_COUNT_FAILURE = """
local failures = redis.call('INCR', KEYS[1])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return failures
"""


async def _count_failure(request: Request, username: str) -> None:
    redis = request.app.state.redis
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for key in _keys(request, username):
                pipe.eval(_COUNT_FAILURE, 1, key, WINDOW_S)
            await pipe.execute()
    except REDIS_DOWN:
        pass


async def sign_in(request: Request, username: str, password: str) -> staff_accounts.Staff | None:
    """The account these credentials open, None when they do not; raises SignInThrottled past the limits."""
    retry_after = await _refused_for(request, username)
    if retry_after:
        raise SignInThrottled(retry_after)
    found = await staff_accounts.authenticate(request.app.state.pg, username, password)
    if found is None:
        await _count_failure(request, username)
        return None
    try:
        await request.app.state.redis.delete(_keys(request, username)[0])
    except REDIS_DOWN:
        pass
    return found


def throttled(error: SignInThrottled) -> HTTPException:
    return HTTPException(429, detail={"code": "rate_limited", "message": str(error)},
                         headers={"Retry-After": str(error.retry_after)})


def principal(found: staff_accounts.Staff) -> Principal:
    """A staff member as the API sees a caller: the username is the token's subject (and the audit's actor); the
    token's generation is the account's, so disabling it or resetting its password refuses the tokens issued before."""
    return Principal(found.username, found.role, None, found.token_generation)
