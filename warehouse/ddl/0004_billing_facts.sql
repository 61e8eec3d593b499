-- Partner billing facts (from PostgreSQL billing_documents and billing_payments), one partition per day:
-- the issue day of an invoice or credit note, the day a payment was received. The model daily_receivables
-- and the receivables report (balance, days sales outstanding) read them.

CREATE TABLE IF NOT EXISTS hotel_analytics.fact_billing_documents (
    day              Date,
    document_id      String,
    document_number  String,
    kind             LowCardinality(String),
    partner_id       String,
    partner_name     String,
    currency         LowCardinality(String),
    amount           Decimal(18, 4),
    due_on           Date
) ENGINE = MergeTree PARTITION BY day ORDER BY (partner_id, document_number);

CREATE TABLE IF NOT EXISTS hotel_analytics.fact_billing_payments (
    day           Date,
    payment_id    Int64,
    partner_id    String,
    partner_name  String,
    currency      LowCardinality(String),
    amount        Decimal(18, 4)
) ENGINE = MergeTree PARTITION BY day ORDER BY (partner_id, payment_id);
