"""Order risk: a 0–100 score from explainable factors, each stored as a reason on the order.

At or above RISK_SCORE_THRESHOLD the order is rejected when the `risk.auto.reject` flag is on for
the partner, and held for review (status REVIEW) otherwise.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

FLAG = "risk.auto.reject"


@dataclass(frozen=True)
class RiskInput:
    sell_in_credit: Decimal  # this order's amount in the partner's credit currency
    credit_limit: Decimal
    check_in: dt.date
    nights: int
    rooms: int
    recent_orders: int  # the partner's orders in the last 10 minutes
    duplicate_guest: bool  # an active order with the same lead guest and check-in exists
    today: dt.date


def score(data: RiskInput) -> tuple[int, list[dict]]:
    reasons: list[dict] = []

    def add(code: str, points: int, detail: str) -> None:
        reasons.append({"code": code, "points": points, "detail": detail})

    if data.credit_limit > 0:
        share = data.sell_in_credit / data.credit_limit
        if share >= Decimal("0.5"):
            add("amount_high", 40, "order is at least half the partner's credit limit")
        elif share >= Decimal("0.2"):
            add("amount_elevated", 20, "order is at least a fifth of the partner's credit limit")
    days_ahead = (data.check_in - data.today).days
    if days_ahead <= 1:
        add("last_minute", 15, "check-in within a day")
    if data.rooms >= 5:
        add("many_rooms", 20, f"{data.rooms} rooms in one order")
    if data.nights >= 14:
        add("long_stay", 10, f"{data.nights} nights")
    if data.recent_orders >= 5:
        add("burst", 20, f"{data.recent_orders} orders in the last 10 minutes")
    if data.duplicate_guest:
        add("duplicate_guest", 30, "same lead guest and check-in as another active order")
    return min(100, sum(r["points"] for r in reasons)), reasons


async def auto_reject_enabled(state, partner_id: str) -> bool:
    """Whether risky orders are rejected (True) or held for review (False) for this partner.

    The one place the flag is read: the cached config center when the app runs one, otherwise the
    flag table directly.
    """
    center = getattr(state, "config", None)
    if center is not None and hasattr(center, "flag_on"):
        return bool(center.flag_on(FLAG, partner_id))
    from core.config import flag_enabled
    from core.db import engine_for

    engine = engine_for(state.endpoints.database_url)
    return await asyncio.to_thread(flag_enabled, engine, FLAG, partner_id)
