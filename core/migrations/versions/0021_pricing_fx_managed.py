"""Pricing rules and exchange rates as managed data: rule history, and NOTIFY on every change.

- `pricing_rule_versions`: one row per create / update / retire of a rule, with who, when, and the
  rule before and after (JSON). `pricing_rules.updated_at` and `retired_at` say when a rule last changed.
- Channel `pricing_changed` (payload: the table's name) fires once per statement that changes
  `pricing_rules` or `fx_rates`, so every API process drops its cached rules or rates within a second
  (`core.quotes.invalidation`). A statement trigger: an FX load of 30 rows notifies once.

Revision ID: 0021_pricing_fx_managed
Revises: 0007_quote_offer_sets
"""

from alembic import op

revision = "0021_pricing_fx_managed"
down_revision = "0007_quote_offer_sets"
branch_labels = None
depends_on = None

CHANNEL = "pricing_changed"
TABLES = ("pricing_rules", "fx_rates")


def upgrade() -> None:
    op.execute("""
ALTER TABLE pricing_rules ADD COLUMN updated_at TIMESTAMPTZ NOT NULL DEFAULT now();
ALTER TABLE pricing_rules ADD COLUMN retired_at TIMESTAMPTZ;
CREATE TABLE pricing_rule_versions (
    id         BIGSERIAL PRIMARY KEY,
    rule_id    BIGINT NOT NULL REFERENCES pricing_rules(id),
    action     TEXT NOT NULL CHECK (action IN ('create', 'update', 'retire')),
    changed_by TEXT NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    before     JSONB,
    after      JSONB NOT NULL
);
CREATE INDEX ix_pricing_rule_versions_rule ON pricing_rule_versions (rule_id, id);
""")
    op.execute(f"""
CREATE OR REPLACE FUNCTION pricing_changed_notify() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
    RETURN NULL;
END
$fn$;
""")
    for table in TABLES:
        op.execute(f"CREATE TRIGGER {table}_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}"
                   " FOR EACH STATEMENT EXECUTE FUNCTION pricing_changed_notify()")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_changed ON {table}")
    op.execute("DROP FUNCTION IF EXISTS pricing_changed_notify()")
    op.execute("DROP TABLE IF EXISTS pricing_rule_versions")
    op.execute("ALTER TABLE pricing_rules DROP COLUMN IF EXISTS retired_at, DROP COLUMN IF EXISTS updated_at")
