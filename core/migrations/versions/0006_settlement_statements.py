"""Supplier statements finance uploads for a settlement cycle (the CSV upload path).

Revision ID: 0006_settlement_statements
Revises: 0001_initial
"""

from alembic import op

revision = "0006_settlement_statements"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE TABLE settlement_statements (
    id            BIGSERIAL PRIMARY KEY,
    supplier_code TEXT NOT NULL REFERENCES suppliers(code),
    period_start  DATE NOT NULL,
    filename      TEXT,
    content       TEXT NOT NULL,
    line_count    INTEGER NOT NULL CHECK (line_count >= 0),
    uploaded_by   TEXT NOT NULL,
    uploaded_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX ix_settlement_statements_cycle ON settlement_statements (supplier_code, period_start, id);
""")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS settlement_statements")
