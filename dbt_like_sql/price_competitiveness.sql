-- materialized: table
-- partition_by: day
-- stored_by: month
-- order_by: master_hotel_id, room_key, board
-- description: For each mapped hotel, room and night (day = stay date): the cheapest supplier and its lead over the next cheapest, per currency. Possible only because supplier hotels are matched to master hotels.
-- report: competitiveness
-- not_negative: suppliers, cheapest_price, lead_amount
WITH per_supplier AS (
    SELECT
        day,
        master_hotel_id,
        any(city) AS city,
        lower(if(room_class != '', room_class, room_name)) AS room_key,
        board,
        currency,
        supplier_code,
        min(net_amount) AS price
    FROM {{ source('facts', 'inventory') }}
    WHERE {{ partition_filter('day') }} AND master_hotel_id != ''
    GROUP BY day, master_hotel_id, room_key, board, currency, supplier_code
)
SELECT
    day,
    master_hotel_id,
    any(city) AS city,
    room_key,
    board,
    currency,
    toInt64(count()) AS suppliers,
    argMin(supplier_code, (price, supplier_code)) AS cheapest_supplier,
    toDecimal128(min(price), 4) AS cheapest_price,
    toDecimal128(if(count() < 2, min(price), arraySort(groupArray(price))[2]), 4) AS next_price,
    toDecimal128(next_price - cheapest_price, 4) AS lead_amount,
    round(if(cheapest_price = 0, 0, toFloat64(lead_amount) / toFloat64(next_price)), 4) AS lead_pct
FROM per_supplier
GROUP BY day, master_hotel_id, room_key, board, currency
