-- Fact tables, one partition per day. Loads replace a whole day (staging + REPLACE PARTITION).
-- Money: Decimal(18,4) beside its currency; never Float.

CREATE TABLE IF NOT EXISTS hotel_analytics.fact_orders (
    day              Date,
    order_id         String,
    partner_id       String,
    partner_name     String,
    quote_id         String,
    offer_id         String,
    status           LowCardinality(String),
    supplier_code    LowCardinality(String),
    hotel_id         String,
    city             String,
    country          LowCardinality(String),
    check_in         Date,
    check_out        Date,
    rooms            UInt16,
    room_nights      Int32,
    net_amount       Decimal(18, 4),
    net_currency     LowCardinality(String),
    platform_markup  Decimal(18, 4),
    partner_markup   Decimal(18, 4),
    fx_rate          Decimal(18, 8),
    sell_amount      Decimal(18, 4),
    sell_currency    LowCardinality(String),
    margin_amount    Decimal(18, 4),
    created_at       DateTime64(3, 'UTC'),
    updated_at       DateTime64(3, 'UTC')
) ENGINE = MergeTree PARTITION BY day ORDER BY (partner_id, order_id);

CREATE TABLE IF NOT EXISTS hotel_analytics.fact_order_events (
    day          Date,
    event_id     Int64,
    order_id     String,
    from_status  LowCardinality(String),
    to_status    LowCardinality(String),
    reason       String,
    actor        LowCardinality(String),
    created_at   DateTime64(3, 'UTC')
) ENGINE = MergeTree PARTITION BY day ORDER BY (order_id, event_id);

CREATE TABLE IF NOT EXISTS hotel_analytics.fact_quotes (
    day           Date,
    quote_id      String,
    partner_id    String,
    partner_name  String,
    city          String,
    currency      LowCardinality(String),
    offers_shown  UInt32,
    ordered       UInt8,
    created_at    DateTime64(3, 'UTC')
) ENGINE = MergeTree PARTITION BY day ORDER BY (partner_id, quote_id);

CREATE TABLE IF NOT EXISTS hotel_analytics.fact_quote_offers (
    day            Date,
    offer_id       String,
    quote_id       String,
    partner_id     String,
    hotel_id       String,
    city           String,
    supplier_code  LowCardinality(String),
    room_type_id   Int64,
    board          LowCardinality(String),
    check_in       Date,
    check_out      Date,
    rooms          UInt16,
    net_amount     Decimal(18, 4),
    net_currency   LowCardinality(String),
    sell_amount    Decimal(18, 4),
    sell_currency  LowCardinality(String),
    rank           Int16,
    chosen         UInt8
) ENGINE = MergeTree PARTITION BY day ORDER BY (quote_id, offer_id);

CREATE TABLE IF NOT EXISTS hotel_analytics.fact_supplier_calls (
    day            Date,
    call_id        Int64,
    supplier_code  LowCardinality(String),
    operation      LowCardinality(String),
    started_at     DateTime64(3, 'UTC'),
    latency_ms     Float64,
    outcome        LowCardinality(String),
    http_status    Int16,
    error          String
) ENGINE = MergeTree PARTITION BY day ORDER BY (supplier_code, call_id);

-- One row per supplier rate for the night `day` (the stay date): price per hotel, room, night, supplier.
CREATE TABLE IF NOT EXISTS hotel_analytics.fact_inventory (
    day                Date,
    supplier_code      LowCardinality(String),
    supplier_hotel_id  String,
    master_hotel_id    String,
    city               String,
    room_type_id       Int64,
    room_code          String,
    room_name          String,
    room_class         String,
    board              LowCardinality(String),
    rate_plan          LowCardinality(String),
    net_amount         Decimal(18, 4),
    currency           LowCardinality(String),
    refundable         UInt8,
    allotment          Int32,
    updated_at         DateTime64(3, 'UTC')
) ENGINE = MergeTree PARTITION BY day ORDER BY (master_hotel_id, supplier_code, room_type_id);

-- Lines of the settlement cycles whose period starts on `day` (superseded revisions left out).
CREATE TABLE IF NOT EXISTS hotel_analytics.fact_settlement_lines (
    day               Date,
    line_id           Int64,
    cycle_id          Int64,
    supplier_code     LowCardinality(String),
    period_start      Date,
    period_end        Date,
    class             LowCardinality(String),
    supplier_ref      String,
    order_id          String,
    platform_amount   Nullable(Decimal(18, 4)),
    statement_amount  Nullable(Decimal(18, 4)),
    difference        Nullable(Decimal(18, 4)),
    currency          LowCardinality(String)
) ENGINE = MergeTree PARTITION BY day ORDER BY (supplier_code, cycle_id, line_id);
