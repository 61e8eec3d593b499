-- Every load swaps whole days in, and the parts it replaced stay on disk as "outdated" until the table's
-- cleanup task removes them. That task first runs `cleanup_delay_period` seconds (30, plus up to 10 at
-- random) after the table is opened. An embedded chDB session lives one pipeline step or one API request,
-- nearly always less than that, so the replaced parts were never removed: they piled up with every run,
-- and every session open, REPLACE PARTITION and query got slower. With 1 second, each session removes
-- what the earlier ones left. A ClickHouse server still keeps replaced parts for `old_parts_lifetime`.

ALTER TABLE hotel_analytics.fact_orders MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 0;
ALTER TABLE hotel_analytics.fact_order_events MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 0;
ALTER TABLE hotel_analytics.fact_quotes MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 0;
ALTER TABLE hotel_analytics.fact_quote_offers MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 0;
ALTER TABLE hotel_analytics.fact_supplier_calls MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 0;
ALTER TABLE hotel_analytics.fact_inventory MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 0;
ALTER TABLE hotel_analytics.fact_settlement_lines MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 0;
ALTER TABLE hotel_analytics.schema_versions MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 0;
