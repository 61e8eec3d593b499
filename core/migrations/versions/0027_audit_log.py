"""The staff audit log: every staff action in the console, the admin API and the CLI, with who, when, what,
and the object before and after. Append-only: a trigger refuses UPDATE and DELETE.

Revision ID: 0027_audit_log
Revises: 0001_initial
"""

from alembic import op

revision = "0027_audit_log"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE TABLE audit_log (
    id         BIGSERIAL PRIMARY KEY,
    at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor      TEXT NOT NULL CHECK (actor <> ''),
    actor_role TEXT NOT NULL DEFAULT '',
    source     TEXT NOT NULL CHECK (source IN ('console', 'api', 'cli', 'system')),
    action     TEXT NOT NULL CHECK (action ~ '^[a-z_]+\\.[a-z_]+$'),
    target     TEXT NOT NULL DEFAULT '',
    before     JSONB,
    after      JSONB,
    note       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX ix_audit_log_at ON audit_log (at DESC);
CREATE INDEX ix_audit_log_actor ON audit_log (actor, at DESC);
CREATE INDEX ix_audit_log_target ON audit_log (target, at DESC);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
""")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS audit_log; DROP FUNCTION IF EXISTS audit_log_append_only()")
