"""Who may call the API right now: suspended partners (with every sub-agent under them) and credentials revoked or
rotated since a token was issued, held in each API process so that checking a request costs no round trip.

An operator's change reaches every API process at once: migration 0030 makes every change to `partners` or
`api_credentials` NOTIFY `access_changed`; `AccessFollower` marks the list stale and the next request reloads it
(one query), as does a change made by this process itself (`mark_stale`). Without a notification connection the
list is read again every STALE_AFTER_S.

Tokens carry their credential's generation (`gen`); rotating a secret bumps it, so tokens issued with the old
secret stop working with it. Only credentials that differ from "active, generation 1" are held.

Staff tokens (`POST /v1/auth/staff-token`) carry the staff row's `token_generation` instead, which disabling the
account or resetting its password bumps; every staff row is held (a short table; migration 0034 makes such a
change NOTIFY `access_changed`), so a disabled member's tokens are refused (403 `staff_disabled`), and tokens
issued before a reset or a disable stay refused (401 `token_revoked`), also once the account is enabled again.
A staff token whose subject is no staff row is left to its signature and expiry.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import asyncpg

from core.quotes.invalidation import PricingFollower

logger = logging.getLogger("access")

STALE_AFTER_S = 30.0
RETRY_AFTER_S = 1.0

SUSPENDED_SQL = """
WITH RECURSIVE refused AS (
    SELECT id FROM partners WHERE status <> 'active'
    UNION
    SELECT p.id FROM partners p JOIN refused r ON p.parent_id = r.id
)
SELECT id::text FROM refused
"""
CREDENTIALS_SQL = "SELECT client_id, generation, active FROM api_credentials WHERE NOT active OR generation <> 1"
STAFF_SQL = "SELECT username, disabled, token_generation FROM staff"


class AccessRefused(Exception):
    """A request refused: 403 `partner_suspended` or `staff_disabled`, or 401 for a revoked credential or an
    outdated token."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class AccessList:
    suspended: frozenset[str] = frozenset()  # partner ids, sub-agents of a suspended partner included
    credentials: dict[str, tuple[int, bool]] = field(default_factory=dict)  # client id → (generation, active)
    staff: dict[str, tuple[int, bool]] = field(default_factory=dict)  # username → (token generation, disabled)
    loaded_at: float = float("-inf")
    stale: bool = True
    follower: AccessFollower | None = None
    _loading: asyncio.Lock = field(default_factory=asyncio.Lock)

    def mark_stale(self) -> None:
        self.stale = True

    def needs_load(self) -> bool:
        return self.stale or time.monotonic() - self.loaded_at >= STALE_AFTER_S

    async def load(self, pool) -> None:
        """Read the list again (one request at a time; the others wait for it)."""
        async with self._loading:
            if not self.needs_load():
                return
            self.stale = False
            started = time.monotonic()
            try:
                async with pool.acquire() as conn:
                    suspended = await conn.fetch(SUSPENDED_SQL)
                    credentials = await conn.fetch(CREDENTIALS_SQL)
                    staff = await conn.fetch(STAFF_SQL)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as error:
                # PostgreSQL down: keep the list last read (tokens are still verified), try again shortly.
                logger.warning("access list: reload failed", extra={"context": {"error": str(error)}})
                self.stale = True
                self.loaded_at = started - STALE_AFTER_S + RETRY_AFTER_S
                return
            self.suspended = frozenset(row[0] for row in suspended)
            self.credentials = {row["client_id"]: (row["generation"], row["active"]) for row in credentials}
            self.staff = {row["username"]: (row["token_generation"], row["disabled"]) for row in staff}
            self.loaded_at = started

    def check(self, client_id: str, partner_id: str | None, generation: int) -> None:
        """Raise AccessRefused if this caller may no longer act."""
        if partner_id is None and client_id in self.staff:
            version, disabled = self.staff[client_id]
            if disabled:
                raise AccessRefused(403, "staff_disabled", "this staff account is disabled")
            if generation != version:
                raise AccessRefused(401, "token_revoked",
                                    "this token was issued before the staff account was disabled or its password reset")
            return
        if partner_id is not None and partner_id in self.suspended:
            raise AccessRefused(403, "partner_suspended", "this partner account is suspended")
        held = self.credentials.get(client_id)
        if held is not None:
            current, active = held
            if not active:
                raise AccessRefused(401, "credential_revoked", "this credential has been revoked")
            if generation != current:
                raise AccessRefused(401, "token_revoked",
                                    "this token was issued with a secret that has since been rotated")


class AccessFollower(PricingFollower):
    """Marks the access list stale whenever PostgreSQL says partners, credentials or staff changed (and on
    reconnect)."""

    channel = "access_changed"
    application_name = "hotel-api-access-follower"

    def _drop(self, table: str) -> None:
        if table in ("partners", "api_credentials", "staff", ""):
            self.caches.mark_stale()


async def open_access(state) -> AccessList:
    """App start: the access list, read once, and its follower."""
    access = AccessList()
    endpoints = getattr(state, "endpoints", None)
    if endpoints is not None:
        access.follower = AccessFollower(endpoints.database_url, access)
        access.follower.start()
    await access.load(state.pg)
    state.access = access
    return access


async def close_access(state) -> None:
    access = getattr(state, "access", None)
    if access is not None and access.follower is not None:
        await access.follower.stop()
