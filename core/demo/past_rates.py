"""The supplier rates of the demo's past nights, for the warehouse's inventory facts (price competitiveness).

A fresh platform has synced only the nights ahead: the suppliers sell nothing in the past, so a history of
bookings would have no supplier prices beside it. Each past night of the history gets the rates and allotments
the suppliers publish now for the first night ahead on the same weekday (the price patterns follow the weekday),
as a sync before that night would have stored them. Nights that already have rates keep them.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Engine

# For each past night n: its source night, the first night from today on the same weekday.
_NIGHTS = """
WITH nights AS (
    SELECT night::date AS night,
           night::date + 7 * ceil((CAST(:today AS date) - night::date) / 7.0)::int AS source
    FROM generate_series(CAST(:first AS date), CAST(:today AS date) - 1, interval '1 day') AS night
)
"""
_COPY_RATES = sa.text(_NIGHTS + """
INSERT INTO rates (room_type_id, stay_date, board, rate_plan, rate_key, net_amount, currency, refundable,
                   cancellation_policy, updated_at)
SELECT r.room_type_id, n.night, r.board, r.rate_plan, NULL, r.net_amount, r.currency, r.refundable,
       r.cancellation_policy, n.night - interval '1 day'
FROM nights n JOIN rates r ON r.stay_date = n.source
ON CONFLICT (room_type_id, stay_date, board, rate_plan) DO NOTHING
""")
_COPY_AVAILABILITY = sa.text(_NIGHTS + """
INSERT INTO availability (room_type_id, stay_date, allotment, updated_at)
SELECT a.room_type_id, n.night, a.allotment, n.night - interval '1 day'
FROM nights n JOIN availability a ON a.stay_date = n.source
ON CONFLICT (room_type_id, stay_date) DO NOTHING
""")


def carry_rates_back(engine: Engine, first_day: dt.date, today: dt.date) -> int:
    """Rates for the nights first_day..yesterday that have none, from the same weekday ahead; rows written."""
    params = {"first": first_day, "today": today}
    with engine.begin() as conn:
        written = conn.execute(_COPY_RATES, params).rowcount
        conn.execute(_COPY_AVAILABILITY, params)
    return written
