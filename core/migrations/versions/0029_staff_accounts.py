"""Named staff accounts (operator, finance, admin) with argon2id password hashes, and their server-side
console sessions (the cookie holds a random id; only its SHA-256 is stored).

Revision ID: 0029_staff_accounts
Revises: 0001_initial
"""

from alembic import op

revision = "0029_staff_accounts"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE TABLE staff (
    id                  BIGSERIAL PRIMARY KEY,
    username            TEXT NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._-]{1,63}$'),
    display_name        TEXT NOT NULL CHECK (display_name <> ''),
    role                TEXT NOT NULL CHECK (role IN ('operator', 'finance', 'admin')),
    password_hash       TEXT NOT NULL,
    disabled            BOOLEAN NOT NULL DEFAULT false,
    password_changed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_sign_in_at     TIMESTAMPTZ
);
CREATE TABLE staff_sessions (
    id_hash      TEXT PRIMARY KEY,
    staff_id     BIGINT NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ NOT NULL,
    address      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX ix_staff_sessions_staff ON staff_sessions (staff_id);
CREATE INDEX ix_staff_sessions_expires ON staff_sessions (expires_at);
""")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS staff_sessions; DROP TABLE IF EXISTS staff")
