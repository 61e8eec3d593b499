-- Per-day totals kept inside the fact tables as aggregate projections. ClickHouse keeps them in step
-- with the rows on every insert, merge and REPLACE PARTITION (a staging table made `AS` the fact table
-- carries the projection too), and answers a query from one only when it gives the same result as the
-- rows. The rollups' reconciliation checks ask exactly these totals, so they read a few rows per day
-- instead of scanning every order or quote again.

ALTER TABLE hotel_analytics.fact_orders ADD PROJECTION IF NOT EXISTS day_totals (
    SELECT day, sell_currency, status, count(), sum(room_nights), sum(sell_amount), sum(margin_amount)
    GROUP BY day, sell_currency, status
);
ALTER TABLE hotel_analytics.fact_orders MATERIALIZE PROJECTION day_totals SETTINGS mutations_sync = 1;

ALTER TABLE hotel_analytics.fact_quotes ADD PROJECTION IF NOT EXISTS day_totals (
    SELECT day, count(), sum(offers_shown), sum(ordered) GROUP BY day
);
ALTER TABLE hotel_analytics.fact_quotes MATERIALIZE PROJECTION day_totals SETTINGS mutations_sync = 1;
