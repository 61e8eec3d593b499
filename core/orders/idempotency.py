"""Idempotency keys for order creation, scoped to the partner and kept 24 h (`idempotency_keys`).

As the reference APIs do it: the same key and the same body replay the first response; the same
key with another body is refused (422); a duplicate arriving while the first is still running is
refused (409). An unexpected failure before the order existed releases the key for a retry; after it existed, the
key keeps pointing at that order (linked in the order's own transaction), and a retry once the first
request is clearly gone answers with that order — it is never created or booked a second time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

KEY_TTL = "24 hours"
STALE_AFTER = "30 seconds"  # an in-progress key with an order this old lost its request (crash): answer its order


def request_hash(body: dict) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Claim:
    kind: str  # new | replay | mismatch | in_progress | orphaned
    status: int | None = None
    body: dict | None = None
    order_id: str | None = None  # for `orphaned`: the order the lost request created


async def claim(pool, partner_id: str, key: str, digest: str) -> Claim:
    async with pool.acquire() as conn, conn.transaction():
        # An expired key no longer counts (kept at least 24 h, then a new request may reuse it).
        await conn.execute("DELETE FROM idempotency_keys WHERE partner_id = $1::uuid AND key = $2"
                           " AND expires_at < now()", partner_id, key)
        inserted = await conn.fetchval(
            "INSERT INTO idempotency_keys (partner_id, key, request_hash, expires_at)"
            f" VALUES ($1::uuid, $2, $3, now() + interval '{KEY_TTL}')"
            " ON CONFLICT (partner_id, key) DO NOTHING RETURNING 1",
            partner_id, key, digest,
        )
        if inserted:
            return Claim("new")
        row = await conn.fetchrow(
            "SELECT request_hash, state, response_status, response_body,"
            f" created_at < now() - interval '{STALE_AFTER}' AS stale FROM idempotency_keys"
            " WHERE partner_id = $1::uuid AND key = $2", partner_id, key)
    if row is None:  # removed between our statements: treat as busy, the client retries
        return Claim("in_progress")
    if row["request_hash"] != digest:
        return Claim("mismatch")
    if row["state"] != "completed":
        linked = json.loads(row["response_body"]) if row["response_body"] else {}
        if row["stale"] and linked.get("order_id"):
            return Claim("orphaned", order_id=linked["order_id"])
        return Claim("in_progress")
    return Claim("replay", row["response_status"], json.loads(row["response_body"]))


async def link_order(conn, partner_id: str, key: str, order_id) -> None:
    """Inside the transaction that creates the order: remember which order this key made."""
    await conn.execute(
        "UPDATE idempotency_keys SET response_body = jsonb_build_object('order_id', $3::text)"
        " WHERE partner_id = $1::uuid AND key = $2 AND state = 'in_progress'", partner_id, key, str(order_id))


async def complete(pool, partner_id: str, key: str, status: int, body: dict) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE idempotency_keys SET state = 'completed', response_status = $3, response_body = $4::jsonb"
            " WHERE partner_id = $1::uuid AND key = $2", partner_id, key, status, json.dumps(body))


async def release(pool, partner_id: str, key: str) -> None:
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM idempotency_keys WHERE partner_id = $1::uuid AND key = $2"
                           " AND state = 'in_progress'", partner_id, key)


async def release_unlinked(pool, partner_id: str, key: str) -> None:
    """Release an in-progress key that never got as far as creating an order."""
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM idempotency_keys WHERE partner_id = $1::uuid AND key = $2"
                           " AND state = 'in_progress' AND response_body IS NULL", partner_id, key)
