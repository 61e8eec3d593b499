-- materialized: table
-- partition_by: day
-- stored_by: month
-- order_by: supplier_code
-- description: Supplier API latency percentiles and error rate (calls), and booking success (orders), per day.
-- report: suppliers
-- not_negative: calls, errors, orders, confirmed, failed
WITH calls AS (
    SELECT
        day,
        supplier_code,
        count() AS calls,
        countIf(outcome NOT IN ('ok', 'success')) AS errors,
        quantileExact(0.5)(latency_ms) AS latency_p50_ms,
        quantileExact(0.95)(latency_ms) AS latency_p95_ms,
        quantileExact(0.99)(latency_ms) AS latency_p99_ms
    FROM {{ source('facts', 'supplier_calls') }}
    WHERE {{ partition_filter('day') }}
    GROUP BY day, supplier_code
),
bookings AS (
    SELECT
        day,
        supplier_code,
        count() AS orders,
        countIf(status IN ('CONFIRMED', 'CANCELLED')) AS confirmed,
        countIf(status = 'FAILED') AS failed
    FROM {{ source('facts', 'orders') }}
    WHERE {{ partition_filter('day') }}
    GROUP BY day, supplier_code
)
SELECT
    if(calls.day = toDate(0), bookings.day, calls.day) AS day,
    if(calls.supplier_code = '', bookings.supplier_code, calls.supplier_code) AS supplier_code,
    toInt64(calls.calls) AS calls,
    toInt64(calls.errors) AS errors,
    round(if(calls.calls = 0, 0, calls.errors / calls.calls), 4) AS error_rate,
    round(calls.latency_p50_ms, 3) AS latency_p50_ms,
    round(calls.latency_p95_ms, 3) AS latency_p95_ms,
    round(calls.latency_p99_ms, 3) AS latency_p99_ms,
    toInt64(bookings.orders) AS orders,
    toInt64(bookings.confirmed) AS confirmed,
    toInt64(bookings.failed) AS failed,
    round(if(bookings.confirmed + bookings.failed = 0, 0,
             bookings.confirmed / (bookings.confirmed + bookings.failed)), 4) AS booking_success_rate
FROM calls FULL OUTER JOIN bookings ON calls.day = bookings.day AND calls.supplier_code = bookings.supplier_code
SETTINGS join_use_nulls = 0
