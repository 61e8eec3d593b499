"""Partner billing: weekly statements, invoices and credit notes, payments, bank lines, the billing journal.

Issued documents are immutable in the database itself: a trigger refuses any UPDATE or DELETE of
`billing_documents` and `billing_document_lines`, and of a statement (or its lines) once a document
was issued from it. Numbers come from `billing_entities.next_number`, taken under the entity's row lock
in the issuing transaction, so a rolled-back issue gives its number back (no gap) and two issuers
wait for each other (no duplicate; UNIQUE (entity_code, number) stands behind it).

Revision ID: 0026_partner_billing
Revises: 0006_settlement_statements
"""

from alembic import op

revision = "0026_partner_billing"
down_revision = "0006_settlement_statements"
branch_labels = None
depends_on = None

CURRENCY = "CHAR(3) NOT NULL CHECK ({0} ~ '^[A-Z]{{3}}$')"

UPGRADE = f"""
CREATE TABLE billing_entities (
    code        TEXT PRIMARY KEY CHECK (code ~ '^[A-Z0-9]{{2,10}}$'),
    name        TEXT NOT NULL,
    address     TEXT NOT NULL DEFAULT '',
    tax_id      TEXT NOT NULL DEFAULT '',
    next_number BIGINT NOT NULL DEFAULT 1 CHECK (next_number > 0),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO billing_entities (code, name, address, tax_id)
VALUES ('HP', 'Hotel Platform Ltd', 'Shanghai, China', 'CN-91310000-HP');

CREATE TABLE billing_tax_rates (
    country    CHAR(2) PRIMARY KEY CHECK (country ~ '^[A-Z]{{2}}$'),
    rate       NUMERIC(6,4) NOT NULL CHECK (rate >= 0 AND rate < 1),
    label      TEXT NOT NULL DEFAULT 'VAT',
    updated_by TEXT NOT NULL DEFAULT 'migration',
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO billing_tax_rates (country, rate, label) VALUES
    ('CN', 0.0600, 'VAT'), ('HK', 0, 'none'), ('SG', 0.0900, 'GST'), ('JP', 0.1000, 'JCT'),
    ('US', 0, 'none'), ('DE', 0.1900, 'USt'), ('GB', 0.2000, 'VAT');

CREATE TABLE partner_billing (
    partner_id         UUID PRIMARY KEY REFERENCES partners(id),
    entity_code        TEXT NOT NULL REFERENCES billing_entities(code),
    country            CHAR(2) NOT NULL CHECK (country ~ '^[A-Z]{{2}}$'),
    billing_currency   {CURRENCY.format('billing_currency')},
    payment_terms_days INTEGER NOT NULL CHECK (payment_terms_days BETWEEN 0 AND 365),
    billing_name       TEXT,
    billing_address    TEXT,
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE partner_statements (
    id                BIGSERIAL PRIMARY KEY,
    partner_id        UUID NOT NULL REFERENCES partners(id),
    period_start      DATE NOT NULL,
    period_end        DATE NOT NULL,
    revision          INTEGER NOT NULL DEFAULT 1 CHECK (revision > 0),
    billing_currency  {CURRENCY.format('billing_currency')},
    totals            JSONB NOT NULL,
    agents            JSONB NOT NULL,
    opening_balance   NUMERIC(16,2) NOT NULL,
    invoiced          NUMERIC(16,2) NOT NULL,
    payments_received NUMERIC(16,2) NOT NULL,
    closing_balance   NUMERIC(16,2) NOT NULL,
    run_id            TEXT,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (partner_id, period_start, revision),
    CHECK (period_end > period_start),
    CHECK (closing_balance = opening_balance + invoiced - payments_received)
);

CREATE TABLE partner_statement_lines (
    id               BIGSERIAL PRIMARY KEY,
    statement_id     BIGINT NOT NULL REFERENCES partner_statements(id),
    order_id         UUID NOT NULL REFERENCES orders(id),
    agent_id         UUID NOT NULL REFERENCES partners(id),
    our_reference    TEXT NOT NULL,
    hotel_id         TEXT NOT NULL,
    check_in         DATE NOT NULL,
    check_out        DATE NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('confirmed', 'cancelled')),
    sell_amount      NUMERIC(14,2) NOT NULL,
    cancellation_fee NUMERIC(14,2),
    commission       NUMERIC(14,2) NOT NULL,
    charge           NUMERIC(14,2) NOT NULL CHECK (charge >= 0),
    margin           NUMERIC(16,4) NOT NULL,
    currency         {CURRENCY.format('currency')},
    UNIQUE (statement_id, order_id)
);

CREATE TABLE billing_documents (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    kind            TEXT NOT NULL CHECK (kind IN ('invoice', 'credit_note')),
    entity_code     TEXT NOT NULL REFERENCES billing_entities(code),
    number          BIGINT NOT NULL CHECK (number > 0),
    document_number TEXT NOT NULL UNIQUE,
    partner_id      UUID NOT NULL REFERENCES partners(id),
    statement_id    BIGINT REFERENCES partner_statements(id),
    period_start    DATE NOT NULL,
    period_end      DATE NOT NULL,
    credited_id     UUID REFERENCES billing_documents(id),
    reason          TEXT,
    issued_on       DATE NOT NULL,
    due_on          DATE NOT NULL,
    currency        {CURRENCY.format('currency')},
    fx_rates        JSONB NOT NULL DEFAULT '{{}}',
    subtotal        NUMERIC(16,2) NOT NULL CHECK (subtotal >= 0),
    tax_country     CHAR(2) NOT NULL,
    tax_label       TEXT NOT NULL,
    tax_rate        NUMERIC(6,4) NOT NULL,
    tax_amount      NUMERIC(16,2) NOT NULL CHECK (tax_amount >= 0),
    total           NUMERIC(16,2) NOT NULL CHECK (total > 0),
    issuer          JSONB NOT NULL,
    bill_to         JSONB NOT NULL,
    pdf             BYTEA NOT NULL,
    pdf_sha256      TEXT NOT NULL,
    issued_by       TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (entity_code, number),
    CHECK (total = subtotal + tax_amount),
    CHECK ((kind = 'invoice') = (credited_id IS NULL)),
    CHECK (kind = 'invoice' OR reason IS NOT NULL)
);
CREATE INDEX ix_billing_documents_partner ON billing_documents (partner_id, issued_on);
CREATE INDEX ix_billing_documents_credited ON billing_documents (credited_id) WHERE credited_id IS NOT NULL;

CREATE TABLE billing_document_lines (
    id              BIGSERIAL PRIMARY KEY,
    document_id     UUID NOT NULL REFERENCES billing_documents(id),
    line_no         INTEGER NOT NULL CHECK (line_no > 0),
    order_id        UUID REFERENCES orders(id),
    agent_id        UUID REFERENCES partners(id),
    description     TEXT NOT NULL,
    source_amount   NUMERIC(14,2) NOT NULL,
    source_currency {CURRENCY.format('source_currency')},
    fx_rate         NUMERIC(18,8) NOT NULL CHECK (fx_rate > 0),
    amount          NUMERIC(16,2) NOT NULL,
    UNIQUE (document_id, line_no)
);
CREATE INDEX ix_billing_document_lines_order ON billing_document_lines (order_id);

CREATE TABLE billing_payments (
    id           BIGSERIAL PRIMARY KEY,
    partner_id   UUID NOT NULL REFERENCES partners(id),
    received_on  DATE NOT NULL,
    amount       NUMERIC(16,2) NOT NULL CHECK (amount > 0),
    currency     {CURRENCY.format('currency')},
    reference    TEXT NOT NULL DEFAULT '',
    method       TEXT NOT NULL CHECK (method IN ('manual', 'bank')),
    recorded_by  TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX ix_billing_payments_partner ON billing_payments (partner_id, received_on);

CREATE TABLE payment_allocations (
    id          BIGSERIAL PRIMARY KEY,
    payment_id  BIGINT NOT NULL REFERENCES billing_payments(id),
    document_id UUID NOT NULL REFERENCES billing_documents(id),
    amount      NUMERIC(16,2) NOT NULL CHECK (amount > 0),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX ix_payment_allocations_document ON payment_allocations (document_id);
CREATE INDEX ix_payment_allocations_payment ON payment_allocations (payment_id);

CREATE TABLE bank_statement_lines (
    id           BIGSERIAL PRIMARY KEY,
    line_key     TEXT NOT NULL UNIQUE,
    filename     TEXT,
    line_no      INTEGER NOT NULL,
    booked_on    DATE NOT NULL,
    amount       NUMERIC(16,2) NOT NULL CHECK (amount > 0),
    currency     {CURRENCY.format('currency')},
    reference    TEXT NOT NULL DEFAULT '',
    counterparty TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL CHECK (status IN ('matched', 'unmatched', 'assigned', 'ignored')),
    matched_by   TEXT CHECK (matched_by IN ('reference', 'amount', 'finance')),
    document_id  UUID REFERENCES billing_documents(id),
    payment_id   BIGINT REFERENCES billing_payments(id),
    note         TEXT,
    imported_by  TEXT NOT NULL,
    reviewed_by  TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((status IN ('matched', 'assigned')) = (payment_id IS NOT NULL))
);
CREATE INDEX ix_bank_statement_lines_status ON bank_statement_lines (status, id);

CREATE TABLE billing_journal (
    id          BIGSERIAL PRIMARY KEY,
    posted_on   DATE NOT NULL,
    document_id UUID REFERENCES billing_documents(id),
    payment_id  BIGINT REFERENCES billing_payments(id),
    account     TEXT NOT NULL,
    debit       NUMERIC(16,2) NOT NULL DEFAULT 0 CHECK (debit >= 0),
    credit      NUMERIC(16,2) NOT NULL DEFAULT 0 CHECK (credit >= 0),
    currency    {CURRENCY.format('currency')},
    memo        TEXT NOT NULL,
    CHECK ((debit = 0) <> (credit = 0)),
    CHECK ((document_id IS NULL) <> (payment_id IS NULL))
);

-- Per-row subqueries (not grouped joins) so a filter on the view (one partner, one id) reads only those rows.
CREATE VIEW billing_invoice_balances AS
SELECT d.id, d.document_number, d.partner_id, d.currency, d.issued_on, d.due_on, d.period_start, d.total,
       c.credited, p.paid, d.total - c.credited - p.paid AS outstanding
FROM billing_documents d
CROSS JOIN LATERAL (SELECT COALESCE(sum(n.total), 0) AS credited FROM billing_documents n
                    WHERE n.credited_id = d.id) c
CROSS JOIN LATERAL (SELECT COALESCE(sum(a.amount), 0) AS paid FROM payment_allocations a
                    WHERE a.document_id = d.id) p
WHERE d.kind = 'invoice';

CREATE FUNCTION billing_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'issued billing documents are immutable (% on %): correct them with a credit note',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
END $$;
CREATE TRIGGER billing_documents_immutable BEFORE UPDATE OR DELETE ON billing_documents
    FOR EACH ROW EXECUTE FUNCTION billing_refuse_change();
CREATE TRIGGER billing_document_lines_immutable BEFORE UPDATE OR DELETE ON billing_document_lines
    FOR EACH ROW EXECUTE FUNCTION billing_refuse_change();

CREATE FUNCTION billing_statement_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sid BIGINT := (to_jsonb(OLD) ->> TG_ARGV[0])::bigint;  -- the statement's id column, named by the trigger
BEGIN
    IF EXISTS (SELECT 1 FROM billing_documents WHERE statement_id = sid) THEN
        RAISE EXCEPTION 'statement % was invoiced and is frozen (% on %)', sid, TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER partner_statements_frozen BEFORE UPDATE OR DELETE ON partner_statements
    FOR EACH ROW EXECUTE FUNCTION billing_statement_frozen('id');
CREATE TRIGGER partner_statement_lines_frozen BEFORE UPDATE OR DELETE ON partner_statement_lines
    FOR EACH ROW EXECUTE FUNCTION billing_statement_frozen('statement_id');

INSERT INTO feature_flags (name, enabled, description) VALUES
    ('billing.overdue.block', false,
     'Refuse new orders of a partner with an invoice overdue by more than BILLING_OVERDUE_BLOCK_DAYS');
"""

DOWNGRADE = """
DELETE FROM feature_flags WHERE name = 'billing.overdue.block';
DROP VIEW IF EXISTS billing_invoice_balances;
DROP TABLE IF EXISTS billing_journal, bank_statement_lines, payment_allocations, billing_payments,
    billing_document_lines, billing_documents, partner_statement_lines, partner_statements, partner_billing,
    billing_tax_rates, billing_entities;
DROP FUNCTION IF EXISTS billing_refuse_change();
DROP FUNCTION IF EXISTS billing_statement_frozen();
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
