"""Expiry of unconfirmed orders after ORDER_EXPIRY_MINUTES, releasing what they held.

`expire_due` runs lazily on every order read, list and creation of a partner (so a partner never
sees a stale PENDING order or loses credit to one), and for all partners from `run_expiry`, which a
scheduler can call. A PENDING order whose booking was sent is first looked up at the supplier by
our reference: if the booking exists it is CONFIRMED, not expired.
"""

from __future__ import annotations

from core.orders.service import expire_due, resolve_pending

__all__ = ["expire_due", "resolve_pending", "run_expiry"]


async def run_expiry(state, batch: int = 200) -> int:
    """Expire every due order of every partner; returns how many ended."""
    total = 0
    while True:
        ended = await expire_due(state, None, limit=batch)
        total += ended
        if ended < batch:
            return total
