-- materialized: table
-- partition_by: day
-- stored_by: month
-- order_by: partner_id, city
-- description: Quote-to-order conversion: searches, offers shown, searches followed by an order, by partner and city.
-- report: conversion
-- not_negative: quotes, offers_shown, quotes_ordered
SELECT
    day,
    partner_id,
    any(partner_name) AS partner_name,
    city,
    count() AS quotes,
    toInt64(sum(offers_shown)) AS offers_shown,
    toInt64(sum(ordered)) AS quotes_ordered,
    round(if(count() = 0, 0, sum(ordered) / count()), 4) AS conversion_rate
FROM {{ source('facts', 'quotes') }}
WHERE {{ partition_filter('day') }}
GROUP BY day, partner_id, city
