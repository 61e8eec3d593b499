"""Partner credit: outstanding exposure + this order must stay within the credit limit.

Checked under a row lock on the partner (`SELECT … FOR UPDATE`), in the transaction that creates
the order, so concurrent orders of one partner cannot both squeeze under the limit. Each order
stores its amount in the credit currency (`price_breakdown.credit`); exposure is the sum over
orders still holding (PENDING, REVIEW, CONFIRMED), so cancelling or expiring releases it, and so does
the payment of the invoice that billed the order (core.billing.credit).

The partner sees the same figures at `GET /v1/credit`, operators on each partner (admin API, CLI, console).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.billing.credit import SETTLED_ORDER
from core.money import Money

# The orders that hold credit: each holds its `price_breakdown.credit` amount, in the partner's credit currency.
HOLDING_CREDIT = f"status IN ('PENDING', 'REVIEW', 'CONFIRMED') AND NOT {SETTLED_ORDER}"


def exposure_sql(partner: str) -> str:
    """The SQL of a partner's outstanding exposure in its credit currency; `partner` is the SQL naming its id."""
    return ("SELECT COALESCE(sum((price_breakdown->'credit'->>'amount')::numeric), 0) FROM orders"
            f" WHERE partner_id = {partner} AND {HOLDING_CREDIT}")


def credit_json(limit: Decimal, used: Decimal, currency: str) -> dict:
    """The credit limit, what the partner's orders hold of it, and what is left (negative once a limit is lowered
    below what is held), each to the credit currency's minor unit."""
    return {"credit_limit": Money(limit, currency).as_json(), "credit_used": Money(used, currency).as_json(),
            "credit_available": Money(limit - used, currency).as_json()}


def partner_credit(engine: Engine, partner_id: str) -> dict:
    with engine.connect() as conn:
        row = conn.execute(sa.text(f"SELECT credit_limit, credit_currency, ({exposure_sql('p.id')}) AS used"
                                   " FROM partners p WHERE p.id = CAST(:p AS uuid)"), {"p": partner_id}).one()
    return credit_json(row.credit_limit, row.used, row.credit_currency)


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
    exposure = await conn.fetchval(exposure_sql("$1::uuid"), partner_id)
    return CreditState(partner["credit_limit"], partner["credit_currency"], exposure, partner["tier"],
                       partner["status"])
