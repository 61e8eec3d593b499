"""Partner credit: outstanding exposure + this order must stay within the credit limit.

Checked under a row lock on the partner (`SELECT … FOR UPDATE`), in the transaction that creates
the order, so concurrent orders of one partner cannot both squeeze under the limit. Each order
stores its amount in the credit currency (`price_breakdown.credit`); exposure is the sum over
orders still holding (PENDING, REVIEW, CONFIRMED), so cancelling or expiring releases it, and so does
the payment of the invoice that billed the order (core.billing.credit).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.billing.credit import SETTLED_ORDER


@dataclass(frozen=True)
class CreditState:
    limit: Decimal
    currency: str
    exposure: Decimal
    tier: str
    status: str

    def allows(self, amount: Decimal) -> bool:
        return self.exposure + amount <= self.limit


async def lock_credit(conn, partner_id: str) -> CreditState:
    partner = await conn.fetchrow(
        "SELECT credit_limit, credit_currency, tier, status FROM partners WHERE id = $1::uuid FOR UPDATE", partner_id)
    exposure = await conn.fetchval(
        "SELECT COALESCE(sum((price_breakdown->'credit'->>'amount')::numeric), 0) FROM orders"
        f" WHERE partner_id = $1::uuid AND status IN ('PENDING', 'REVIEW', 'CONFIRMED') AND NOT {SETTLED_ORDER}",
        partner_id)
    return CreditState(partner["credit_limit"], partner["credit_currency"], exposure, partner["tier"],
                       partner["status"])
