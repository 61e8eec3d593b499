"""Partner webhooks: the URL a partner registers for its order events (with the HMAC secret, encrypted with
ENCRYPTION_SECRET), and one delivery row per event and partner, so an operator sees what was delivered, what
is retrying and what was dead-lettered, and a redelivered event is not POSTed again once delivered.

Revision ID: 0024_partner_webhooks
Revises: 0007_quote_offer_sets
"""

from alembic import op

revision = "0024_partner_webhooks"
down_revision = "0007_quote_offer_sets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE TABLE partner_webhooks (
    partner_id        UUID PRIMARY KEY REFERENCES partners(id) ON DELETE CASCADE,
    url               TEXT NOT NULL CHECK (url ~ '^https?://'),
    secret_encrypted  BYTEA NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE webhook_deliveries (
    event_id       BIGINT NOT NULL,
    partner_id     UUID NOT NULL REFERENCES partners(id) ON DELETE CASCADE,
    event_type     TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('retrying', 'delivered', 'dead_lettered')),
    attempts       INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_status    INTEGER,
    last_error     TEXT,
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at   TIMESTAMPTZ,
    PRIMARY KEY (event_id, partner_id)
);
CREATE INDEX ix_webhook_deliveries_open ON webhook_deliveries (status, updated_at) WHERE status <> 'delivered';
""")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS webhook_deliveries")
    op.execute("DROP TABLE IF EXISTS partner_webhooks")
