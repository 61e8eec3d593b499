-- Orders keep the rate set they were priced with (operational migration 0028): its day, and each order's
-- margin in the supplier's (net) currency and in the platform's currency (DEFAULT_CURRENCY) at the order's own
-- rates. `margin_amount` (sell currency) stays as it was.
ALTER TABLE hotel_analytics.fact_orders ADD COLUMN IF NOT EXISTS fx_as_of Nullable(Date);
ALTER TABLE hotel_analytics.fact_orders ADD COLUMN IF NOT EXISTS platform_currency LowCardinality(String);
ALTER TABLE hotel_analytics.fact_orders ADD COLUMN IF NOT EXISTS margin_net_amount Decimal(18, 4);
ALTER TABLE hotel_analytics.fact_orders ADD COLUMN IF NOT EXISTS margin_platform_amount Nullable(Decimal(18, 4));
