"""Offers stored inside their quote: one row per quote (`quotes.offers`, a JSON array), `quote_offers` a view.

The quote path stores every quote it answers and reads one back only when an order takes an offer
(and in the daily warehouse load). Thirty-odd offer rows per quote, with their indexes, foreign keys
and JSONB breakdowns, cost PostgreSQL more CPU than the whole quote costs the API; so does parsing
the offers into JSONB on write (~1 ms for 36 offers). The offers are stored as their UTF-8 JSON in a
BYTEA (lz4-compressed where the server has lz4): ~70 µs per quote, parsed only when read. Readers keep
the same relation:
`quote_offers` is a view with the old table's columns (the price breakdown is assembled from the
stored steps). An offer's id is its quote's id with the last two bytes set to rank + 1, so an order
finds its offer through the quote's primary key.

Revision ID: 0005_quote_offers_inline
Revises: 0001_initial
"""

from alembic import op

revision = "0005_quote_offers_inline"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

# One element of quotes.offers, by the names the view gives them.
_ELEMENT = """
    id UUID, rank SMALLINT, hotel_id TEXT, hotel_name TEXT, supplier_code TEXT, supplier_hotel_id TEXT,
    room_type_id BIGINT, room_type TEXT, room_code TEXT, board TEXT, rate_plan TEXT, rate_key TEXT,
    net_amount NUMERIC(14,4), net_currency CHAR(3), platform_markup NUMERIC(14,4), platform_rule_id BIGINT,
    partner_markup NUMERIC(14,4), partner_rule_id BIGINT, fx_rate NUMERIC(18,8), sell_exact NUMERIC,
    sell_amount NUMERIC(14,2), refundable BOOLEAN, nightly_net JSONB, supplier_policy JSONB,
    cancellation_policy JSONB
"""

VIEW = f"""
CREATE VIEW quote_offers AS
SELECT o.id, q.id AS quote_id, o.hotel_id, o.supplier_code, o.supplier_hotel_id, o.room_type_id, o.room_type,
       o.board, o.rate_key, (q.request->>'check_in')::date AS check_in, (q.request->>'check_out')::date AS check_out,
       (q.request->>'rooms')::smallint AS rooms, o.net_amount, o.net_currency, o.platform_markup, o.partner_markup,
       o.fx_rate, o.sell_amount, q.currency AS sell_currency,
       jsonb_build_object(
           'net', jsonb_build_object('amount', o.net_amount::text, 'currency', o.net_currency),
           'platform_markup', jsonb_build_object('amount', o.platform_markup::text, 'currency', o.net_currency,
                                                 'rule_id', o.platform_rule_id),
           'partner_markup', jsonb_build_object('amount', o.partner_markup::text, 'currency', o.net_currency,
                                                'rule_id', o.partner_rule_id),
           'gross', jsonb_build_object('amount', (o.net_amount + o.platform_markup + o.partner_markup)::text,
                                       'currency', o.net_currency),
           'fx', jsonb_build_object('from', o.net_currency, 'to', q.currency, 'rate', o.fx_rate::text),
           'sell_exact', jsonb_build_object('amount', o.sell_exact::text, 'currency', q.currency),
           'sell', jsonb_build_object('amount', o.sell_amount::text, 'currency', q.currency),
           'product', jsonb_build_object(
               'room_code', o.room_code, 'rate_plan', o.rate_plan, 'nightly_net', o.nightly_net,
               'nights', (SELECT jsonb_agg(to_char(night, 'YYYY-MM-DD') ORDER BY night)
                          FROM generate_series((q.request->>'check_in')::date,
                                               (q.request->>'check_out')::date - 1, interval '1 day') AS night),
               'supplier_policy', o.supplier_policy),
           'hotel_name', o.hotel_name
       ) AS price_breakdown,
       o.cancellation_policy, o.refundable, o.rank
FROM quotes q CROSS JOIN LATERAL jsonb_to_recordset(convert_from(q.offers, 'UTF8')::jsonb) AS o({_ELEMENT});
"""

_TABLE = """
CREATE TABLE quote_offers (
    id                  UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    quote_id            UUID NOT NULL REFERENCES quotes(id) ON DELETE CASCADE,
    hotel_id            TEXT NOT NULL REFERENCES master_hotels(id),
    supplier_code       TEXT NOT NULL REFERENCES suppliers(code),
    supplier_hotel_id   TEXT NOT NULL,
    room_type_id        BIGINT NOT NULL REFERENCES room_types(id),
    room_type           TEXT NOT NULL,
    board               TEXT NOT NULL,
    rate_key            TEXT,
    check_in            DATE NOT NULL,
    check_out           DATE NOT NULL,
    rooms               SMALLINT NOT NULL CHECK (rooms > 0),
    net_amount          NUMERIC(14,4) NOT NULL,
    net_currency        CHAR(3) NOT NULL,
    platform_markup     NUMERIC(14,4) NOT NULL,
    partner_markup      NUMERIC(14,4) NOT NULL,
    fx_rate             NUMERIC(18,8) NOT NULL DEFAULT 1,
    sell_amount         NUMERIC(14,2) NOT NULL,
    sell_currency       CHAR(3) NOT NULL,
    price_breakdown     JSONB NOT NULL,
    cancellation_policy JSONB NOT NULL DEFAULT '[]',
    refundable          BOOLEAN NOT NULL,
    rank                SMALLINT NOT NULL DEFAULT 0,
    CHECK (check_out > check_in)
);
"""


def upgrade() -> None:
    op.execute("ALTER TABLE quotes ADD COLUMN offers BYTEA NOT NULL DEFAULT '\\x5b5d'")  # '[]'
    op.execute("""
DO $$ BEGIN
    ALTER TABLE quotes ALTER COLUMN offers SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN NULL;  -- a server built without lz4
END $$""")
    # Quotes stored before this revision keep their offers (and their offer ids).
    op.execute("""
UPDATE quotes q SET offers = convert_to((
    SELECT jsonb_agg(jsonb_build_object(
        'id', o.id, 'rank', o.rank, 'hotel_id', o.hotel_id, 'hotel_name', o.price_breakdown->>'hotel_name',
        'supplier_code', o.supplier_code, 'supplier_hotel_id', o.supplier_hotel_id, 'room_type_id', o.room_type_id,
        'room_type', o.room_type, 'room_code', o.price_breakdown->'product'->>'room_code', 'board', o.board,
        'rate_plan', o.price_breakdown->'product'->>'rate_plan', 'rate_key', o.rate_key,
        'net_amount', o.net_amount, 'net_currency', o.net_currency, 'platform_markup', o.platform_markup,
        'platform_rule_id', o.price_breakdown->'platform_markup'->'rule_id', 'partner_markup', o.partner_markup,
        'partner_rule_id', o.price_breakdown->'partner_markup'->'rule_id', 'fx_rate', o.fx_rate,
        'sell_exact', coalesce(o.price_breakdown->'sell_exact'->>'amount', o.sell_amount::text),
        'sell_amount', o.sell_amount, 'refundable', o.refundable,
        'nightly_net', o.price_breakdown->'product'->'nightly_net',
        'supplier_policy', o.price_breakdown->'product'->'supplier_policy',
        'cancellation_policy', o.cancellation_policy) ORDER BY o.rank)
    FROM quote_offers o WHERE o.quote_id = q.id)::text, 'UTF8')
WHERE EXISTS (SELECT 1 FROM quote_offers o WHERE o.quote_id = q.id)
""")
    op.execute("ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_offer_id_fkey")
    op.execute("DROP TABLE quote_offers")
    op.execute(VIEW)


def downgrade() -> None:
    op.execute("ALTER VIEW quote_offers RENAME TO quote_offers_inline")
    op.execute(_TABLE)
    op.execute("INSERT INTO quote_offers SELECT * FROM quote_offers_inline")
    op.execute("DROP VIEW quote_offers_inline")
    op.execute("CREATE INDEX ix_quote_offers_quote ON quote_offers (quote_id)")
    op.execute("ALTER TABLE orders ADD CONSTRAINT orders_offer_id_fkey FOREIGN KEY (offer_id)"
               " REFERENCES quote_offers(id)")
    op.execute("ALTER TABLE quotes DROP COLUMN offers")
