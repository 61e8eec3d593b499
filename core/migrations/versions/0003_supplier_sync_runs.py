"""Supplier sync runs: one row per supplier feed per run (content or inventory), with what was
fetched, upserted and quarantined, the contract outcome, and whether the hot cache took it.

The inventory contract's row-count bound compares with the last good run of the same supplier;
the hot cache refresh skips a supplier whose latest inventory run did not pass.

Revision ID: 0003_supplier_sync_runs
Revises: 0001_initial
"""

from alembic import op

revision = "0003_supplier_sync_runs"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE TABLE supplier_sync_runs (
    id               BIGSERIAL PRIMARY KEY,
    run_id           TEXT,
    supplier_code    TEXT NOT NULL,
    feed             TEXT NOT NULL CHECK (feed IN ('content', 'inventory')),
    started_at       TIMESTAMPTZ NOT NULL,
    finished_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    status           TEXT NOT NULL CHECK (status IN ('ok', 'partial', 'failed', 'contract_failed')),
    window_start     DATE,
    window_end       DATE,
    rows_fetched     INTEGER NOT NULL DEFAULT 0 CHECK (rows_fetched >= 0),
    rows_upserted    INTEGER NOT NULL DEFAULT 0 CHECK (rows_upserted >= 0),
    rows_quarantined INTEGER NOT NULL DEFAULT 0 CHECK (rows_quarantined >= 0),
    latency_ms       NUMERIC(12,1) NOT NULL DEFAULT 0,
    errors           JSONB NOT NULL DEFAULT '[]',
    contract         JSONB NOT NULL DEFAULT '{}',
    cache_updated    BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX ix_supplier_sync_runs_latest ON supplier_sync_runs (supplier_code, feed, id DESC);
CREATE INDEX ix_supplier_quarantine_run ON supplier_quarantine (run_id);
""")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_supplier_quarantine_run")
    op.execute("DROP TABLE IF EXISTS supplier_sync_runs")
