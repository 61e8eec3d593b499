-- materialized: table
-- partition_by: day
-- order_by: partner_id, city, supplier_code
-- description: Daily orders, bookings, GMV, room-nights and margin by partner, city and supplier (per sell currency).
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
    toDecimal128(sumIf(margin_amount, status = 'CONFIRMED'), 4) AS margin
FROM {{ source('facts', 'orders') }}
WHERE {{ partition_filter('day') }}
GROUP BY day, partner_id, city, supplier_code, sell_currency
