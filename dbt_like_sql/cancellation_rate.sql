-- materialized: table
-- partition_by: day
-- stored_by: month
-- order_by: partner_id, city
-- description: Share of the day's orders cancelled so far, by partner and city (from daily_sales).
-- report: cancellations
-- not_negative: orders, cancelled
SELECT
    day,
    partner_id,
    partner_name,
    city,
    day_orders AS orders,
    day_cancelled AS cancelled,
    round(if(day_orders = 0, 0, day_cancelled / day_orders), 4) AS cancellation_rate
FROM (
    SELECT day, partner_id, any(partner_name) AS partner_name, city,
           toInt64(sum(orders)) AS day_orders, toInt64(sum(cancelled)) AS day_cancelled
    FROM {{ ref('daily_sales') }}
    WHERE {{ partition_filter('day') }}
    GROUP BY day, partner_id, city
)
