"""Operational schema: catalog, inventory, partners, pricing, orders, settlement, config.

Money is NUMERIC beside a currency column everywhere; constraints refuse what must never
happen (negative allotment, a mapping to a missing hotel, a duplicate supplier booking ref).

Revision ID: 0001_initial
Revises:
"""

from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

CURRENCY = "CHAR(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$')"

UPGRADE = f"""
CREATE TABLE suppliers (
    code              TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    protocol          TEXT NOT NULL,
    base_url          TEXT,
    api_key_encrypted BYTEA,
    enabled           BOOLEAN NOT NULL DEFAULT true,
    reliability       NUMERIC(5,4) NOT NULL DEFAULT 0.9500 CHECK (reliability BETWEEN 0 AND 1),
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE master_hotels (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    name_local    TEXT,
    address       TEXT,
    address_local TEXT,
    city          TEXT NOT NULL,
    country       CHAR(2) NOT NULL,
    lat           NUMERIC(9,6) CHECK (lat BETWEEN -90 AND 90),
    lon           NUMERIC(9,6) CHECK (lon BETWEEN -180 AND 180),
    star          NUMERIC(2,1) CHECK (star BETWEEN 0 AND 5),
    phone         TEXT,
    brand         TEXT,
    source        TEXT NOT NULL DEFAULT 'catalog',
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX ix_master_hotels_country_city ON master_hotels (country, city);

CREATE TABLE supplier_hotels (
    id                BIGSERIAL PRIMARY KEY,
    supplier_code     TEXT NOT NULL REFERENCES suppliers(code),
    supplier_hotel_id TEXT NOT NULL,
    name              TEXT NOT NULL,
    address           TEXT,
    city              TEXT,
    country           CHAR(2),
    lat               NUMERIC(9,6) CHECK (lat BETWEEN -90 AND 90),
    lon               NUMERIC(9,6) CHECK (lon BETWEEN -180 AND 180),
    star              NUMERIC(2,1) CHECK (star BETWEEN 0 AND 5),
    phone             TEXT,
    raw               JSONB NOT NULL DEFAULT '{{}}',
    content_hash      TEXT NOT NULL,
    fetched_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (supplier_code, supplier_hotel_id)
);

CREATE TABLE hotel_mappings (
    id               BIGSERIAL PRIMARY KEY,
    supplier_hotel   BIGINT NOT NULL UNIQUE REFERENCES supplier_hotels(id) ON DELETE CASCADE,
    master_hotel_id  TEXT REFERENCES master_hotels(id),
    decision         TEXT NOT NULL CHECK (decision IN ('auto', 'review', 'new')),
    status           TEXT NOT NULL DEFAULT 'machine'
                     CHECK (status IN ('machine', 'pending_review', 'accepted', 'rejected', 'marked_new')),
    score            NUMERIC(6,4) NOT NULL CHECK (score BETWEEN 0 AND 1),
    features         JSONB NOT NULL DEFAULT '{{}}',
    candidates       JSONB NOT NULL DEFAULT '[]',
    content_hash     TEXT NOT NULL,
    algorithm        TEXT NOT NULL DEFAULT 'weighted_score',
    decided_by       TEXT NOT NULL DEFAULT 'machine',
    reviewer         TEXT,
    reviewed_at      TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (decision <> 'auto' OR master_hotel_id IS NOT NULL)
);
CREATE INDEX ix_hotel_mappings_master ON hotel_mappings (master_hotel_id);
CREATE INDEX ix_hotel_mappings_pending ON hotel_mappings (status) WHERE status = 'pending_review';

CREATE TABLE room_types (
    id             BIGSERIAL PRIMARY KEY,
    supplier_hotel BIGINT NOT NULL REFERENCES supplier_hotels(id) ON DELETE CASCADE,
    room_code      TEXT NOT NULL,
    name           TEXT NOT NULL,
    room_class     TEXT,
    max_occupancy  SMALLINT NOT NULL DEFAULT 2 CHECK (max_occupancy > 0),
    UNIQUE (supplier_hotel, room_code)
);

CREATE TABLE availability (
    room_type_id BIGINT NOT NULL REFERENCES room_types(id) ON DELETE CASCADE,
    stay_date    DATE NOT NULL,
    allotment    INTEGER NOT NULL CHECK (allotment >= 0),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (room_type_id, stay_date)
);

CREATE TABLE rates (
    room_type_id        BIGINT NOT NULL REFERENCES room_types(id) ON DELETE CASCADE,
    stay_date           DATE NOT NULL,
    board               TEXT NOT NULL,
    rate_plan           TEXT NOT NULL DEFAULT 'BAR',
    rate_key            TEXT,
    net_amount          NUMERIC(14,4) NOT NULL CHECK (net_amount > 0),
    currency            {CURRENCY},
    refundable          BOOLEAN NOT NULL DEFAULT true,
    cancellation_policy JSONB NOT NULL DEFAULT '[]',
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (room_type_id, stay_date, board, rate_plan)
);

CREATE TABLE supplier_quarantine (
    id            BIGSERIAL PRIMARY KEY,
    supplier_code TEXT NOT NULL,
    feed          TEXT NOT NULL,
    record        JSONB NOT NULL,
    reason        TEXT NOT NULL,
    run_id        TEXT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX ix_supplier_quarantine_supplier ON supplier_quarantine (supplier_code, created_at);

CREATE TABLE supplier_calls (
    id            BIGSERIAL PRIMARY KEY,
    supplier_code TEXT NOT NULL,
    operation     TEXT NOT NULL,
    started_at    TIMESTAMPTZ NOT NULL,
    latency_ms    NUMERIC(12,3) NOT NULL CHECK (latency_ms >= 0),
    outcome       TEXT NOT NULL,
    http_status   SMALLINT,
    error         TEXT
);
CREATE INDEX ix_supplier_calls_started ON supplier_calls (started_at);

CREATE TABLE partners (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name            TEXT NOT NULL,
    parent_id       UUID REFERENCES partners(id),
    tier            TEXT NOT NULL DEFAULT 'standard',
    credit_limit    NUMERIC(14,2) NOT NULL DEFAULT 0 CHECK (credit_limit >= 0),
    credit_currency {CURRENCY.replace('currency', 'credit_currency')},
    commission_pct  NUMERIC(5,2) NOT NULL DEFAULT 0 CHECK (commission_pct BETWEEN 0 AND 100),
    status          TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (parent_id IS NULL OR parent_id <> id)
);

CREATE TABLE api_credentials (
    client_id    TEXT PRIMARY KEY,
    secret_hash  TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('partner', 'operator', 'finance')),
    partner_id   UUID REFERENCES partners(id),
    active       BOOLEAN NOT NULL DEFAULT true,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at TIMESTAMPTZ,
    CHECK (role <> 'partner' OR partner_id IS NOT NULL)
);

CREATE TABLE pricing_rules (
    id             BIGSERIAL PRIMARY KEY,
    level          TEXT NOT NULL CHECK (level IN ('platform', 'partner')),
    partner_id     UUID REFERENCES partners(id),
    partner_tier   TEXT,
    supplier_code  TEXT REFERENCES suppliers(code),
    city           TEXT,
    star_min       NUMERIC(2,1),
    star_max       NUMERIC(2,1),
    date_from      DATE,
    date_to        DATE,
    markup_pct     NUMERIC(7,4) NOT NULL DEFAULT 0,
    markup_fixed   NUMERIC(14,4) NOT NULL DEFAULT 0,
    fixed_currency CHAR(3),
    priority       INTEGER NOT NULL DEFAULT 0,
    active         BOOLEAN NOT NULL DEFAULT true,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (markup_fixed = 0 OR fixed_currency IS NOT NULL),
    CHECK (date_to IS NULL OR date_from IS NULL OR date_to >= date_from)
);

CREATE TABLE fx_rates (
    base_currency  CHAR(3) NOT NULL,
    quote_currency CHAR(3) NOT NULL,
    rate           NUMERIC(18,8) NOT NULL CHECK (rate > 0),
    as_of          DATE NOT NULL,
    source         TEXT NOT NULL DEFAULT 'manual',
    PRIMARY KEY (base_currency, quote_currency, as_of)
);

CREATE TABLE quotes (
    id         UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    partner_id UUID NOT NULL REFERENCES partners(id),
    request    JSONB NOT NULL,
    currency   {CURRENCY},
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX ix_quotes_partner ON quotes (partner_id, created_at);

CREATE TABLE quote_offers (
    id                  UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    quote_id            UUID NOT NULL REFERENCES quotes(id) ON DELETE CASCADE,
    hotel_id            TEXT NOT NULL REFERENCES master_hotels(id),
    supplier_code       TEXT NOT NULL REFERENCES suppliers(code),
    supplier_hotel_id   TEXT NOT NULL,
    room_type_id        BIGINT NOT NULL REFERENCES room_types(id),
    room_type           TEXT NOT NULL,
    board               TEXT NOT NULL,
    rate_key            TEXT,
    check_in            DATE NOT NULL,
    check_out           DATE NOT NULL,
    rooms               SMALLINT NOT NULL CHECK (rooms > 0),
    net_amount          NUMERIC(14,4) NOT NULL,
    net_currency        CHAR(3) NOT NULL,
    platform_markup     NUMERIC(14,4) NOT NULL,
    partner_markup      NUMERIC(14,4) NOT NULL,
    fx_rate             NUMERIC(18,8) NOT NULL DEFAULT 1,
    sell_amount         NUMERIC(14,2) NOT NULL,
    sell_currency       CHAR(3) NOT NULL,
    price_breakdown     JSONB NOT NULL,
    cancellation_policy JSONB NOT NULL DEFAULT '[]',
    refundable          BOOLEAN NOT NULL,
    rank                SMALLINT NOT NULL DEFAULT 0,
    CHECK (check_out > check_in)
);
CREATE INDEX ix_quote_offers_quote ON quote_offers (quote_id);

CREATE TABLE orders (
    id                  UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    partner_id          UUID NOT NULL REFERENCES partners(id),
    quote_id            UUID REFERENCES quotes(id),
    offer_id            UUID REFERENCES quote_offers(id),
    status              TEXT NOT NULL
                        CHECK (status IN ('PENDING', 'REVIEW', 'CONFIRMED', 'CANCELLED', 'EXPIRED', 'FAILED')),
    our_reference       TEXT NOT NULL UNIQUE,
    client_reference    TEXT,
    supplier_code       TEXT NOT NULL REFERENCES suppliers(code),
    supplier_ref        TEXT,
    hotel_id            TEXT NOT NULL REFERENCES master_hotels(id),
    room_type_id        BIGINT REFERENCES room_types(id),
    check_in            DATE NOT NULL,
    check_out           DATE NOT NULL,
    rooms               SMALLINT NOT NULL DEFAULT 1 CHECK (rooms > 0),
    guests              JSONB NOT NULL DEFAULT '[]',
    contact             JSONB NOT NULL DEFAULT '{{}}',
    net_amount          NUMERIC(14,4) NOT NULL CHECK (net_amount >= 0),
    net_currency        CHAR(3) NOT NULL,
    platform_markup     NUMERIC(14,4) NOT NULL DEFAULT 0,
    partner_markup      NUMERIC(14,4) NOT NULL DEFAULT 0,
    fx_rate             NUMERIC(18,8) NOT NULL DEFAULT 1,
    sell_amount         NUMERIC(14,2) NOT NULL CHECK (sell_amount >= 0),
    sell_currency       CHAR(3) NOT NULL,
    price_breakdown     JSONB NOT NULL DEFAULT '{{}}',
    cancellation_policy JSONB NOT NULL DEFAULT '[]',
    cancellation_fee    NUMERIC(14,2),
    risk_score          SMALLINT CHECK (risk_score BETWEEN 0 AND 100),
    risk_reasons        JSONB NOT NULL DEFAULT '[]',
    expires_at          TIMESTAMPTZ,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (supplier_code, supplier_ref),
    CHECK (check_out > check_in)
);
CREATE INDEX ix_orders_partner_created ON orders (partner_id, created_at, id);
CREATE INDEX ix_orders_status ON orders (status);
CREATE INDEX ix_orders_checkout ON orders (supplier_code, check_out);

CREATE TABLE order_events (
    id          BIGSERIAL PRIMARY KEY,
    order_id    UUID NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    reason      TEXT,
    payload     JSONB NOT NULL DEFAULT '{{}}',
    actor       TEXT NOT NULL DEFAULT 'system',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX ix_order_events_order ON order_events (order_id, id);
CREATE INDEX ix_order_events_created ON order_events (created_at);

CREATE TABLE idempotency_keys (
    partner_id      UUID NOT NULL REFERENCES partners(id),
    key             TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash    TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'in_progress' CHECK (state IN ('in_progress', 'completed')),
    response_status SMALLINT,
    response_body   JSONB,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at      TIMESTAMPTZ NOT NULL DEFAULT now() + interval '24 hours',
    PRIMARY KEY (partner_id, key),
    CHECK (expires_at >= created_at + interval '24 hours')
);

CREATE TABLE outbox_events (
    id             BIGSERIAL PRIMARY KEY,
    aggregate_type TEXT NOT NULL,
    aggregate_id   TEXT NOT NULL,
    event_type     TEXT NOT NULL,
    payload        JSONB NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at   TIMESTAMPTZ,
    attempts       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX ix_outbox_unpublished ON outbox_events (id) WHERE published_at IS NULL;

CREATE TABLE settlement_cycles (
    id            BIGSERIAL PRIMARY KEY,
    supplier_code TEXT NOT NULL REFERENCES suppliers(code),
    period_start  DATE NOT NULL,
    period_end    DATE NOT NULL,
    revision      INTEGER NOT NULL DEFAULT 1 CHECK (revision > 0),
    status        TEXT NOT NULL DEFAULT 'reconciled'
                  CHECK (status IN ('reconciled', 'approved', 'superseded')),
    totals        JSONB NOT NULL DEFAULT '{{}}',
    counts        JSONB NOT NULL DEFAULT '{{}}',
    run_id        TEXT,
    approved_by   TEXT,
    approved_at   TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (supplier_code, period_start, revision),
    CHECK (period_end > period_start)
);

CREATE TABLE settlement_lines (
    id               BIGSERIAL PRIMARY KEY,
    cycle_id         BIGINT NOT NULL REFERENCES settlement_cycles(id) ON DELETE CASCADE,
    supplier_ref     TEXT,
    order_id         TEXT,
    class            TEXT NOT NULL,
    platform_amount  NUMERIC(14,4),
    statement_amount NUMERIC(14,4),
    difference       NUMERIC(14,4),
    currency         CHAR(3)
);
CREATE INDEX ix_settlement_lines_cycle ON settlement_lines (cycle_id, class);

CREATE TABLE settlement_discrepancies (
    id               BIGSERIAL PRIMARY KEY,
    cycle_id         BIGINT NOT NULL REFERENCES settlement_cycles(id) ON DELETE CASCADE,
    line_id          BIGINT REFERENCES settlement_lines(id) ON DELETE CASCADE,
    class            TEXT NOT NULL,
    supplier_ref     TEXT,
    order_id         TEXT,
    platform_amount  NUMERIC(14,4),
    statement_amount NUMERIC(14,4),
    difference       NUMERIC(14,4),
    currency         CHAR(3),
    status           TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    resolution_note  TEXT,
    resolved_by      TEXT,
    resolved_at      TIMESTAMPTZ,
    CHECK (status = 'open' OR (resolved_by IS NOT NULL AND resolved_at IS NOT NULL))
);
CREATE INDEX ix_settlement_discrepancies_cycle ON settlement_discrepancies (cycle_id, class, status);

CREATE TABLE journal_entries (
    id         BIGSERIAL PRIMARY KEY,
    cycle_id   BIGINT NOT NULL REFERENCES settlement_cycles(id) ON DELETE CASCADE,
    account    TEXT NOT NULL,
    debit      NUMERIC(16,4) NOT NULL DEFAULT 0 CHECK (debit >= 0),
    credit     NUMERIC(16,4) NOT NULL DEFAULT 0 CHECK (credit >= 0),
    currency   {CURRENCY},
    memo       TEXT,
    CHECK ((debit = 0) <> (credit = 0))
);

CREATE TABLE platform_config (
    id          SERIAL PRIMARY KEY,
    key         VARCHAR(255) NOT NULL,
    value       JSONB NOT NULL,
    env         VARCHAR(20) NOT NULL DEFAULT 'production',
    description TEXT,
    updated_at  TIMESTAMPTZ DEFAULT NOW(),
    updated_by  VARCHAR(100),
    UNIQUE (key, env)
);
CREATE INDEX idx_config_env_key ON platform_config (env, key);

CREATE TABLE feature_flags (
    id          SERIAL PRIMARY KEY,
    name        VARCHAR(100) NOT NULL UNIQUE,
    enabled     BOOLEAN NOT NULL DEFAULT false,
    rollout_pct INTEGER NOT NULL DEFAULT 100 CHECK (rollout_pct BETWEEN 0 AND 100),
    whitelist   TEXT[],
    description TEXT,
    created_at  TIMESTAMPTZ DEFAULT NOW(),
    updated_at  TIMESTAMPTZ DEFAULT NOW()
);

INSERT INTO feature_flags (name, enabled, description) VALUES
    ('supplier.realtime.sync', false, 'Supplier real-time sync (gradual rollout)'),
    ('risk.auto.reject', false, 'Risk: reject orders at or above the threshold automatically'),
    ('matching.ai.boost', false, 'Extra weight for learned matching signals'),
    ('settlement.auto.reconcile', false, 'Reconcile closed cycles automatically'),
    ('admin.v2', false, 'Admin console V2');

INSERT INTO platform_config (key, value, env, description) VALUES
    ('matching.algorithm.weights',
     '{{"price_weight": 0.4, "rating_weight": 0.3, "availability_weight": 0.2,
       "supplier_reliability_weight": 0.1}}',
     'production', 'Best-offer ranking weights');
"""

TABLES = [
    "feature_flags", "platform_config", "journal_entries", "settlement_discrepancies",
    "settlement_lines", "settlement_cycles", "outbox_events", "idempotency_keys", "order_events",
    "orders", "quote_offers", "quotes", "fx_rates", "pricing_rules", "api_credentials", "partners",
    "supplier_calls", "supplier_quarantine", "rates", "availability", "room_types", "hotel_mappings",
    "supplier_hotels", "master_hotels", "suppliers",
]


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TABLE IF EXISTS {table}")
