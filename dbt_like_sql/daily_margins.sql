-- materialized: table
-- partition_by: day
-- stored_by: month
-- order_by: supplier_currency, partner_id, city, supplier_code
-- description: Daily margin of confirmed orders by supplier (net) currency, partner, city and supplier: in the supplier's currency and in the platform's currency, each at the order's own rates (daily_sales sums the margin per sell currency).
-- report: sales
-- not_negative: bookings
SELECT
    day,
    partner_id,
    any(partner_name) AS partner_name,
    city,
    supplier_code,
    net_currency AS supplier_currency,
    -- '' for orders made before they kept their rates (operational migration 0028): no platform-currency margin
    platform_currency,
    countIf(status = 'CONFIRMED') AS bookings,
    toDecimal128(sumIf(margin_net_amount, status = 'CONFIRMED'), 4) AS margin_supplier,
    toDecimal128(ifNull(sumIf(margin_platform_amount, status = 'CONFIRMED'), 0), 4) AS margin_platform
FROM {{ source('facts', 'orders') }}
WHERE {{ partition_filter('day') }}
GROUP BY day, partner_id, city, supplier_code, net_currency, platform_currency
