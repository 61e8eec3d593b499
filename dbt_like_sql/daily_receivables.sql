-- materialized: table
-- partition_by: day
-- stored_by: month
-- order_by: partner_id, currency
-- description: Partner billing per day, partner and billing currency: invoiced, credited and paid; the receivables report sums the days up to a date into the balance and days sales outstanding.
-- report: receivables
-- not_negative: invoiced, credited, paid
-- money: invoiced, credited, paid
SELECT
    day,
    partner_id,
    any(partner_name) AS partner_name,
    currency,
    toDecimal128(sum(invoiced), 4) AS invoiced,
    toDecimal128(sum(credited), 4) AS credited,
    toDecimal128(sum(paid), 4) AS paid
FROM (
    SELECT day, partner_id, partner_name, currency,
           toDecimal128(if(kind = 'invoice', amount, 0), 4) AS invoiced,
           toDecimal128(if(kind = 'credit_note', amount, 0), 4) AS credited,
           toDecimal128(0, 4) AS paid
    FROM {{ source('facts', 'billing_documents') }}
    WHERE {{ partition_filter('day') }}
    UNION ALL
    SELECT day, partner_id, partner_name, currency, toDecimal128(0, 4), toDecimal128(0, 4), toDecimal128(amount, 4)
    FROM {{ source('facts', 'billing_payments') }}
    WHERE {{ partition_filter('day') }}
)
GROUP BY day, partner_id, currency
