"""Quotes and offer sets partitioned by day (UTC), so old days are dropped whole instead of kept forever.

`quotes` and `quote_offer_sets` become range-partitioned on `created_at`: one partition per day
(`quotes_p20261203`), plus a default partition for rows of a day that has none yet (rows written with an old
`created_at` by hand or by a tool). `ensure_day_partition(parent, day)` makes a day's partition, moving that
day's rows out of the default one first; the quote writer calls it for the days it writes, the retention job
for the days ahead. The retention job (`core/quote_retention.py`, QUOTE_RETENTION_DAYS) drops whole days.

A partitioned table's unique keys must hold the partition column, so the primary keys become (id, created_at)
and nothing can reference a quote or an offer set by id alone any more: `orders.quote_id` and
`quotes.offer_set` stay as columns without their foreign keys (an order keeps every price step of its offer
in `orders.price_breakdown`, so it needs no quote once booked). The `quote_offers` view is unchanged.

Revision ID: 0020b_quote_partitions
Revises: 0007_quote_offer_sets
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "0020b_quote_partitions"
down_revision = "0007_quote_offer_sets"
branch_labels = None
depends_on = None

TABLES = ("quotes", "quote_offer_sets")
DAYS_AHEAD = 3

ENSURE_FUNCTION = """
CREATE OR REPLACE FUNCTION ensure_day_partition(parent regclass, day date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    name text := parent::text || '_p' || to_char(day, 'YYYYMMDD');
    low timestamptz := day::timestamp AT TIME ZONE 'UTC';
    high timestamptz := (day + 1)::timestamp AT TIME ZONE 'UTC';
BEGIN
    IF to_regclass(name) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE'
                   ' INCLUDING COMPRESSION)', name, parent);
    -- The day's rows that landed in the default partition move into the new one before it is attached.
    EXECUTE format('WITH moved AS (DELETE FROM %I WHERE created_at >= $1 AND created_at < $2 RETURNING *)'
                   ' INSERT INTO %I SELECT * FROM moved', parent::text || '_default', name) USING low, high;
    EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', parent, name, low, high);
    RETURN true;
EXCEPTION WHEN duplicate_table OR unique_violation THEN
    RETURN false;  -- another process made it meanwhile
END $$
"""

_LZ4 = """
DO $$ BEGIN
    ALTER TABLE {table} ALTER COLUMN offers SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN NULL;  -- a server built without lz4
END $$"""


def _view_0007() -> str:
    """The `quote_offers` view as revision 0007 made it (migrations are frozen: read, not copied)."""
    path = Path(__file__).with_name("0007_quote_offer_sets.py")
    spec = importlib.util.spec_from_file_location("_revision_0007", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._view()


def upgrade() -> None:
    op.execute("DROP VIEW quote_offers")
    op.execute("ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_quote_id_fkey")
    op.execute("ALTER TABLE quotes DROP CONSTRAINT IF EXISTS quotes_offer_set_fkey")
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} RENAME TO {table}_unpartitioned")
        op.execute(f"CREATE TABLE {table} (LIKE {table}_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS"
                   " INCLUDING STORAGE INCLUDING COMPRESSION) PARTITION BY RANGE (created_at)")
        op.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (id, created_at)")
        op.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
    op.execute(_LZ4.format(table="quote_offer_sets"))
    op.execute(_LZ4.format(table="quotes"))
    op.execute("ALTER TABLE quotes ADD FOREIGN KEY (partner_id) REFERENCES partners(id)")
    op.execute("DROP INDEX IF EXISTS ix_quotes_partner")
    op.execute("CREATE INDEX ix_quotes_partner ON quotes (partner_id, created_at)")
    op.execute(ENSURE_FUNCTION)
    for table in TABLES:
        op.execute(f"""
SELECT ensure_day_partition('{table}', day::date)
FROM (SELECT DISTINCT (created_at AT TIME ZONE 'UTC')::date AS day FROM {table}_unpartitioned
      UNION SELECT (now() AT TIME ZONE 'UTC')::date + ahead FROM generate_series(0, {DAYS_AHEAD}) AS ahead) AS days""")
        op.execute(f"INSERT INTO {table} SELECT * FROM {table}_unpartitioned")
        op.execute(f"DROP TABLE {table}_unpartitioned")
    op.execute(_view_0007())


def downgrade() -> None:
    op.execute("DROP VIEW quote_offers")
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} RENAME TO {table}_partitioned")
        op.execute(f"CREATE TABLE {table} (LIKE {table}_partitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS"
                   " INCLUDING STORAGE INCLUDING COMPRESSION)")
        op.execute(f"INSERT INTO {table} SELECT * FROM {table}_partitioned")
        op.execute(f"DROP TABLE {table}_partitioned")
        op.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (id)")
    op.execute("ALTER TABLE quotes ADD FOREIGN KEY (partner_id) REFERENCES partners(id)")
    op.execute("CREATE INDEX ix_quotes_partner ON quotes (partner_id, created_at)")
    # Orders and quotes whose quote or set a retention dropped keep their ids: the keys hold for what is new.
    op.execute("ALTER TABLE quotes ADD CONSTRAINT quotes_offer_set_fkey FOREIGN KEY (offer_set)"
               " REFERENCES quote_offer_sets(id) NOT VALID")
    op.execute("ALTER TABLE orders ADD CONSTRAINT orders_quote_id_fkey FOREIGN KEY (quote_id)"
               " REFERENCES quotes(id) NOT VALID")
    op.execute("DROP FUNCTION ensure_day_partition(regclass, date)")
    op.execute(_view_0007())
