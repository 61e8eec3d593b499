"""The `quote_offers` view shows each offer's room as partners saw it, and the offer it is an alternative of.

`room_name_en`, `room_group` and `alternative_of` were inside the stored offer set only, so reading a quote back
and making an order parsed the set a second time to find them. Offers stored before room mappings have them null.

Revision ID: 0035_offer_room_names
Revises: 0028_order_fx_rate_sets
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "0035_offer_room_names"
down_revision = "0028_order_fx_rate_sets"
branch_labels = None
depends_on = None


def _view_0028() -> str:
    """The `quote_offers` view as revision 0028 created it (migrations are frozen: read, not copied)."""
    path = Path(__file__).with_name("0028_order_fx_rate_sets.py")
    spec = importlib.util.spec_from_file_location("_revision_0028", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._view()


def _view() -> str:
    view = _view_0028()
    for old, new in (
        ("o.rank, o.fx_as_of, o.platform_fx_rate\n",
         "o.rank, o.fx_as_of, o.platform_fx_rate, o.room_name_en, o.room_group, o.alternative_of\n"),
        ("    cancellation_policy JSONB\n",
         "    cancellation_policy JSONB, room_name_en TEXT, room_group TEXT, alternative_of SMALLINT\n"),
    ):
        if old not in view:
            raise RuntimeError(f"revision 0028's view changed; expected {old!r}")
        view = view.replace(old, new)
    return view


def upgrade() -> None:
    op.execute("DROP VIEW quote_offers")
    op.execute(_view())


def downgrade() -> None:
    op.execute("DROP VIEW quote_offers")
    op.execute(_view_0028())
