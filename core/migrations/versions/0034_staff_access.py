"""Staff bearer tokens can be refused at once: `staff.token_generation` (carried by each staff token; disabling the
account or resetting its password bumps it), and a change to it or to `staff.disabled` NOTIFYs `access_changed`
(payload "staff"), so every API process reloads its access list (`core.access`).

Its own trigger function (not 0030's): this revision does not depend on 0030_operator_actions.

Revision ID: 0034_staff_access
Revises: 0029_staff_accounts
"""

from alembic import op

revision = "0034_staff_access"
down_revision = "0029_staff_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
ALTER TABLE staff ADD COLUMN token_generation INTEGER NOT NULL DEFAULT 1 CHECK (token_generation >= 1);
CREATE OR REPLACE FUNCTION staff_access_changed_notify() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM pg_notify('access_changed', TG_TABLE_NAME);
    RETURN NULL;
END
$fn$;
CREATE TRIGGER staff_access_changed AFTER INSERT OR DELETE OR TRUNCATE
    OR UPDATE OF disabled, token_generation, username
    ON staff FOR EACH STATEMENT EXECUTE FUNCTION staff_access_changed_notify();
""")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS staff_access_changed ON staff;"
               " DROP FUNCTION IF EXISTS staff_access_changed_notify();"
               " ALTER TABLE staff DROP COLUMN IF EXISTS token_generation")
