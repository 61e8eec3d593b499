"""Velocity limits per partner: at most N orders a minute and M an hour.

Counted in PostgreSQL inside the transaction that holds the partner's credit lock, so the count is
exact under concurrency. Limits come from platform config `orders.velocity` ({"per_minute": …,
"per_hour": …}) when set, else the defaults here.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PER_MINUTE = 30
DEFAULT_PER_HOUR = 600
CONFIG_KEY = "orders.velocity"


@dataclass(frozen=True)
class VelocityLimits:
    per_minute: int = DEFAULT_PER_MINUTE
    per_hour: int = DEFAULT_PER_HOUR


def limits_from(state) -> VelocityLimits:
    center = getattr(state, "config", None)
    value = center.get(CONFIG_KEY) if center is not None and hasattr(center, "get") else None
    if isinstance(value, dict):
        try:
            return VelocityLimits(int(value.get("per_minute", DEFAULT_PER_MINUTE)),
                                  int(value.get("per_hour", DEFAULT_PER_HOUR)))
        except (TypeError, ValueError):
            pass
    return VelocityLimits()


async def exceeded(conn, partner_id: str, limits: VelocityLimits) -> str | None:
    """A message naming the exceeded limit, or None."""
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE created_at > now() - interval '1 minute') AS minute,"
        " count(*) AS hour FROM orders WHERE partner_id = $1::uuid AND created_at > now() - interval '1 hour'",
        partner_id)
    if row["minute"] >= limits.per_minute:
        return f"more than {limits.per_minute} orders per minute"
    if row["hour"] >= limits.per_hour:
        return f"more than {limits.per_hour} orders per hour"
    return None
