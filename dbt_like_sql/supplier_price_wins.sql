-- materialized: table
-- partition_by: day
-- stored_by: month
-- order_by: city, supplier_code
-- description: How often each supplier is the cheapest for a mapped hotel-room-night with competition, by city (from price_competitiveness).
-- report: competitiveness
-- not_negative: wins
SELECT
    day,
    city,
    cheapest_supplier AS supplier_code,
    currency,
    toInt64(count()) AS wins,
    toDecimal128(avg(lead_amount), 4) AS avg_lead_amount,
    round(avg(lead_pct), 4) AS avg_lead_pct
FROM {{ ref('price_competitiveness') }}
WHERE {{ partition_filter('day') }} AND suppliers >= 2
GROUP BY day, city, cheapest_supplier, currency
