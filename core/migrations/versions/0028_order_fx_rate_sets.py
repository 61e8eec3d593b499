"""Orders keep the rate set they were priced with, and the rate into the platform's currency.

- Each stored offer (quote_offer_sets) now carries `fx_as_of` (the day of the oldest rate set its FX rate came
  from) and `platform_fx_rate` (net currency → the platform's DEFAULT_CURRENCY at pricing time); the
  `quote_offers` view shows both as columns and in `price_breakdown.fx` (`as_of`, `platform_currency` is the
  order's). Offers stored before have them null.
- `orders.fx_as_of`, `orders.platform_currency`, `orders.platform_fx_rate`: copied from the offer when the order
  is made, never changed by a later rate load, so settlement and BI report the order's margin in the supplier's
  (net) currency and in the platform's currency at the rates the order was sold at.

Revision ID: 0028_order_fx_rate_sets
Revises: 0020b_quote_partitions
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "0028_order_fx_rate_sets"
down_revision = "0020b_quote_partitions"
branch_labels = None
depends_on = None


def _view_0007() -> str:
    """The `quote_offers` view as revisions 0007 and 0020b created it (migrations are frozen: read, not copied)."""
    path = Path(__file__).with_name("0007_quote_offer_sets.py")
    spec = importlib.util.spec_from_file_location("_revision_0007", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._view()


def _view() -> str:
    view = _view_0007()
    for old, new in (
        ("fx_rate NUMERIC(18,8), sell_exact NUMERIC,",
         "fx_rate NUMERIC(18,8), fx_as_of DATE, platform_fx_rate NUMERIC, sell_exact NUMERIC,"),
        ("'fx', jsonb_build_object('from', o.net_currency, 'to', q.currency, 'rate', o.fx_rate::text),",
         "'fx', jsonb_build_object('from', o.net_currency, 'to', q.currency, 'rate', o.fx_rate::text,\n"
         "                         'as_of', o.fx_as_of, 'platform_rate', o.platform_fx_rate::text),"),
        ("o.cancellation_policy, o.refundable, o.rank\n",
         "o.cancellation_policy, o.refundable, o.rank, o.fx_as_of, o.platform_fx_rate\n"),
    ):
        if old not in view:
            raise RuntimeError(f"the quote_offers view changed; expected {old!r}")
        view = view.replace(old, new)
    return view


def upgrade() -> None:
    op.execute("DROP VIEW quote_offers")
    op.execute(_view())
    op.execute("ALTER TABLE orders ADD COLUMN fx_as_of DATE, ADD COLUMN platform_currency CHAR(3),"
               " ADD COLUMN platform_fx_rate NUMERIC(18,8)")


def downgrade() -> None:
    op.execute("ALTER TABLE orders DROP COLUMN fx_as_of, DROP COLUMN platform_currency, DROP COLUMN platform_fx_rate")
    op.execute("DROP VIEW quote_offers")
    op.execute(_view_0007())
