"""What the order flow asks billing (asyncpg, inside the order's transaction).

- `SETTLED_ORDER`: an order on an invoice that is paid (something was paid and nothing is open) no longer
  uses the partner's credit limit; `core.orders.credit.lock_credit` leaves such orders out of the exposure.
- `overdue_refusal`: with the feature flag `billing.overdue.block` on, an invoice of the partner (or of the
  parent that is billed for a sub-agent) open more than BILLING_OVERDUE_BLOCK_DAYS past its due date
  refuses new orders, naming the invoices.
"""

from __future__ import annotations

import asyncio
import datetime as dt

FLAG = "billing.overdue.block"

SETTLED_ORDER = (
    "EXISTS (SELECT 1 FROM billing_document_lines l JOIN billing_invoice_balances b ON b.id = l.document_id"
    " WHERE l.order_id = orders.id AND b.paid > 0 AND b.outstanding <= 0)"
)

OVERDUE_SQL = """
WITH RECURSIVE up AS (SELECT id, parent_id FROM partners WHERE id = $1::uuid
                      UNION ALL SELECT p.id, p.parent_id FROM partners p JOIN up ON p.id = up.parent_id)
SELECT b.document_number, b.due_on, b.outstanding, b.currency FROM billing_invoice_balances b
WHERE b.partner_id = (SELECT id FROM up WHERE parent_id IS NULL) AND b.due_on < $2 AND b.outstanding > 0
ORDER BY b.due_on, b.document_number LIMIT 5
"""


async def _flag_on(state, partner_id: str) -> bool:
    center = getattr(state, "config", None)
    if center is not None and hasattr(center, "flag_on"):
        return bool(center.flag_on(FLAG, partner_id))
    from core.config import flag_enabled
    from core.db import engine_for

    return await asyncio.to_thread(flag_enabled, engine_for(state.endpoints.database_url), FLAG, partner_id)


async def overdue_refusal(state, conn, partner_id: str, today: dt.date | None = None) -> str | None:
    """None, or the reason the partner may not order now."""
    if not await _flag_on(state, partner_id):
        return None
    days = state.settings.billing_overdue_block_days
    limit = (today or dt.date.today()) - dt.timedelta(days=days)
    rows = await conn.fetch(OVERDUE_SQL, partner_id, limit)
    if not rows:
        return None
    listed = ", ".join(f"{r['document_number']} ({r['outstanding']} {r['currency']}, due {r['due_on']})"
                       for r in rows)
    return (f"new orders are paused: invoices more than {days} days overdue: {listed}."
            " Pay them or contact finance.")
