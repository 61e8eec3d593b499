-- materialized: table
-- partition_by: day
-- stored_by: month
-- order_by: partner_id, city, supplier_code
-- description: Daily orders, bookings, GMV, room-nights and margin by partner, city and supplier (per sell currency), with the margin also in the platform's currency (at each order's own rates).
-- report: sales
-- not_negative: orders, bookings, room_nights, gmv
-- money: gmv, margin
SELECT
    day,
    partner_id,
    any(partner_name) AS partner_name,
    city,
    supplier_code,
    sell_currency AS currency,
    count() AS orders,
    countIf(status = 'CONFIRMED') AS bookings,
    countIf(status = 'CANCELLED') AS cancelled,
    toInt64(sumIf(room_nights, status = 'CONFIRMED')) AS room_nights,
    toDecimal128(sumIf(sell_amount, status = 'CONFIRMED'), 4) AS gmv,
    toDecimal128(sumIf(margin_amount, status = 'CONFIRMED'), 4) AS margin,
    -- orders made before they kept their rates (operational migration 0028) have no platform-currency margin
    toDecimal128(ifNull(sumIf(margin_platform_amount, status = 'CONFIRMED'), 0), 4) AS margin_platform,
    anyIf(platform_currency, platform_currency != '') AS platform_currency
FROM {{ source('facts', 'orders') }}
WHERE {{ partition_filter('day') }}
GROUP BY day, partner_id, city, supplier_code, sell_currency
