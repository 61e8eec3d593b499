"""Priced offers stored once per offer set, not once per quote (`quote_offer_sets`, `quotes.offer_set`).

An API process answers a repeated search from the offers it already priced (QUOTE_CACHE_MS): every
such quote showed the same ~30 KB of offers, and storing them again for each quote was most of
PostgreSQL's work on the quote path. A quote now names its offer set; the set's elements carry no
offer id, because an offer's id is its quote's id with the last two bytes set to rank + 1 (as
`core.quotes.new_quote_ids` makes them), and the `quote_offers` view derives it. Quotes stored
before this revision keep their inline offers and ids; the view reads both.

Revision ID: 0007_quote_offer_sets
Revises: 0005_quote_offers_inline
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "0007_quote_offer_sets"
down_revision = "0005_quote_offers_inline"
branch_labels = None
depends_on = None


def _view_0005() -> str:
    """The `quote_offers` view as revision 0005 created it (migrations are frozen: read, not copied)."""
    path = Path(__file__).with_name("0005_quote_offers_inline.py")
    spec = importlib.util.spec_from_file_location("_revision_0005", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.VIEW


_DERIVED_ID = "(left(q.id::text, 32) || lpad(to_hex(o.rank + 1), 4, '0'))::uuid"


def _view() -> str:
    view = _view_0005()
    for old, new in (
        ("SELECT o.id, q.id AS quote_id,", f"SELECT COALESCE(o.id, {_DERIVED_ID}) AS id, q.id AS quote_id,"),
        ("FROM quotes q CROSS JOIN LATERAL jsonb_to_recordset(convert_from(q.offers, 'UTF8')::jsonb)",
         "FROM quotes q LEFT JOIN quote_offer_sets s ON s.id = q.offer_set\n"
         "CROSS JOIN LATERAL jsonb_to_recordset(convert_from(COALESCE(s.offers, q.offers), 'UTF8')::jsonb)"),
    ):
        if old not in view:
            raise RuntimeError(f"revision 0005's view changed; expected {old!r}")
        view = view.replace(old, new)
    return view


def upgrade() -> None:
    op.execute("""
CREATE TABLE quote_offer_sets (
    id         UUID PRIMARY KEY,
    offers     BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
)""")
    op.execute("""
DO $$ BEGIN
    ALTER TABLE quote_offer_sets ALTER COLUMN offers SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN NULL;  -- a server built without lz4
END $$""")
    op.execute("ALTER TABLE quotes ADD COLUMN offer_set UUID REFERENCES quote_offer_sets(id)")
    op.execute("DROP VIEW quote_offers")
    op.execute(_view())


def downgrade() -> None:
    # Each quote gets its set's offers back inline, with the ids the view derived.
    op.execute("""
UPDATE quotes q SET offers = convert_to(COALESCE((
    SELECT jsonb_agg(e || jsonb_build_object(
        'id', left(q.id::text, 32) || lpad(to_hex((e->>'rank')::int + 1), 4, '0')) ORDER BY (e->>'rank')::int)
    FROM jsonb_array_elements(convert_from(s.offers, 'UTF8')::jsonb) AS e), '[]'::jsonb)::text, 'UTF8')
FROM quote_offer_sets s WHERE s.id = q.offer_set
""")
    op.execute("DROP VIEW quote_offers")
    op.execute("ALTER TABLE quotes DROP COLUMN offer_set")
    op.execute("DROP TABLE quote_offer_sets")
    op.execute(_view_0005())
