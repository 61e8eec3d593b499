"""Operator actions: credential generations (a rotated or revoked secret's tokens stop working), change
notifications for access and supplier state, and indexes for the cross-partner order search.

Every statement that changes `partners`, `api_credentials` or `suppliers` NOTIFYs `access_changed` (API
processes reload who is suspended or revoked) and `pricing_changed` (the quote caches drop partner facts and
the disabled-supplier set), with the table's name as payload.

Revision ID: 0030_operator_actions
Revises: 0001_initial
"""

from alembic import op

revision = "0030_operator_actions"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

# Only the columns that decide access or what is quoted (a sign-in's `last_used_at` must not wake every process).
TABLES = {"partners": "status, parent_id, tier, credit_currency",
          "api_credentials": "secret_hash, active, generation, role, partner_id",
          "suppliers": "enabled, api_key_encrypted, base_url"}


def upgrade() -> None:
    op.execute("""
ALTER TABLE api_credentials
    ADD COLUMN generation INTEGER NOT NULL DEFAULT 1 CHECK (generation >= 1),
    ADD COLUMN rotated_at TIMESTAMPTZ,
    ADD COLUMN revoked_at TIMESTAMPTZ;
CREATE INDEX ix_api_credentials_partner ON api_credentials (partner_id);
CREATE INDEX ix_partners_parent ON partners (parent_id);
CREATE INDEX ix_orders_client_reference ON orders (client_reference);
CREATE INDEX ix_orders_supplier_ref ON orders (supplier_ref);
CREATE INDEX ix_orders_created ON orders (created_at, id);
CREATE INDEX ix_orders_review ON orders (created_at, id) WHERE status = 'REVIEW';
CREATE OR REPLACE FUNCTION access_changed_notify() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM pg_notify('access_changed', TG_TABLE_NAME);
    PERFORM pg_notify('pricing_changed', TG_TABLE_NAME);
    RETURN NULL;
END
$fn$;
""")
    for table, columns in TABLES.items():
        op.execute(f"CREATE TRIGGER {table}_access_changed AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF {columns}"
                   f" ON {table} FOR EACH STATEMENT EXECUTE FUNCTION access_changed_notify()")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_access_changed ON {table}")
    op.execute("DROP FUNCTION IF EXISTS access_changed_notify()")
    op.execute("""
DROP INDEX IF EXISTS ix_orders_review; DROP INDEX IF EXISTS ix_orders_created;
DROP INDEX IF EXISTS ix_orders_supplier_ref; DROP INDEX IF EXISTS ix_orders_client_reference;
DROP INDEX IF EXISTS ix_partners_parent; DROP INDEX IF EXISTS ix_api_credentials_partner;
ALTER TABLE api_credentials DROP COLUMN revoked_at, DROP COLUMN rotated_at, DROP COLUMN generation;
""")
