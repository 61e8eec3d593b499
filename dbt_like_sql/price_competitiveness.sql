-- materialized: table
-- partition_by: day
-- stored_by: month
-- order_by: master_hotel_id, room_key, board
-- description: For each mapped hotel, room and night (day = stay date): the cheapest supplier and its lead over the next cheapest. A room is its platform room group (room mappings: one product across suppliers, whatever each calls it), else its class or name; prices are compared in euros at the reference rate of the night (a currency no rate set has is compared only with itself). Possible only because supplier hotels and rooms are matched.
-- report: competitiveness
-- not_negative: suppliers, cheapest_price, lead_amount
WITH per_supplier AS (
    SELECT
        day,
        master_hotel_id,
        any(city) AS city,
        if(room_group != '', room_group, lower(if(room_class != '', room_class, room_name))) AS room_key,
        any(if(room_name_en != '', room_name_en, room_name)) AS shown_name,
        board,
        if(isNull(eur_amount), currency, 'EUR') AS compared_in,
        supplier_code,
        min(ifNull(eur_amount, net_amount)) AS price
    FROM {{ source('facts', 'inventory') }}
    WHERE {{ partition_filter('day') }} AND master_hotel_id != ''
    GROUP BY day, master_hotel_id, room_key, board, compared_in, supplier_code
)
SELECT
    day,
    master_hotel_id,
    any(city) AS city,
    room_key,
    any(shown_name) AS room_name,
    board,
    compared_in AS currency,
    toInt64(count()) AS suppliers,
    argMin(supplier_code, (price, supplier_code)) AS cheapest_supplier,
    toDecimal128(min(price), 4) AS cheapest_price,
    toDecimal128(if(count() < 2, min(price), arraySort(groupArray(price))[2]), 4) AS next_price,
    toDecimal128(next_price - cheapest_price, 4) AS lead_amount,
    round(if(cheapest_price = 0, 0, toFloat64(lead_amount) / toFloat64(next_price)), 4) AS lead_pct
FROM per_supplier
GROUP BY day, master_hotel_id, room_key, board, compared_in
