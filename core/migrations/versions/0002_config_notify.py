"""Config center: NOTIFY on every change to platform_config and feature_flags.

Channels `platform_config_changed` and `feature_flags_changed`; the payload is the key (or flag
name) only, so clients re-read that one row. A TRUNCATE notifies an empty payload: reload all.

Revision ID: 0002_config_notify
Revises: 0001_initial
"""

from alembic import op

revision = "0002_config_notify"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

TRIGGERS = {
    # table: (channel, column)
    "platform_config": ("platform_config_changed", "key"),
    "feature_flags": ("feature_flags_changed", "name"),
}


def _upgrade_sql(table: str, channel: str, column: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION {table}_notify() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('{channel}', '');
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM pg_notify('{channel}', OLD.{column});
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND (TG_OP = 'INSERT' OR NEW.{column} IS DISTINCT FROM OLD.{column}) THEN
        PERFORM pg_notify('{channel}', NEW.{column});
    END IF;
    RETURN NULL;
END
$fn$;
CREATE TRIGGER {table}_notify_row AFTER INSERT OR UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION {table}_notify();
CREATE TRIGGER {table}_notify_truncate AFTER TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION {table}_notify();
"""


def upgrade() -> None:
    for table, (channel, column) in TRIGGERS.items():
        op.execute(_upgrade_sql(table, channel, column))


def downgrade() -> None:
    for table in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_notify_truncate ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_notify_row ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {table}_notify()")
