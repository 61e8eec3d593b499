"""The supplier rates of the demo's past nights, for the warehouse's inventory facts (price competitiveness).

A fresh platform has synced only the nights ahead: the suppliers sell nothing in the past, so a history of
bookings would have no supplier prices beside it. Each past night of the history gets the rates and allotments
the suppliers publish now for a night ahead on the same weekday (the price patterns follow the weekday), as a
sync before that night would have stored them; successive past weeks take successive weeks of the synced
horizon, so a week's prices are not the next one's again. Nights that already have rates keep them.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Engine

_PAIRS = "WITH nights AS (SELECT * FROM unnest(CAST(:nights AS date[]), CAST(:sources AS date[])) AS n(night, source))"
_COPY_RATES = sa.text(_PAIRS + """
INSERT INTO rates (room_type_id, stay_date, board, rate_plan, rate_key, net_amount, currency, refundable,
                   cancellation_policy, updated_at)
SELECT r.room_type_id, n.night, r.board, r.rate_plan, NULL, r.net_amount, r.currency, r.refundable,
       r.cancellation_policy, n.night - interval '1 day'
FROM nights n JOIN rates r ON r.stay_date = n.source
ON CONFLICT (room_type_id, stay_date, board, rate_plan) DO NOTHING
""")
_COPY_AVAILABILITY = sa.text(_PAIRS + """
INSERT INTO availability (room_type_id, stay_date, allotment, updated_at)
SELECT a.room_type_id, n.night, a.allotment, n.night - interval '1 day'
FROM nights n JOIN availability a ON a.stay_date = n.source
ON CONFLICT (room_type_id, stay_date) DO NOTHING
""")


def source_nights(first_day: dt.date, today: dt.date, horizon_weeks: int) -> list[tuple[dt.date, dt.date]]:
    """(past night, the night ahead it takes its rates from) for first_day..yesterday: the same weekday, the
    past weeks counted back from yesterday taking the horizon's weeks in turn (1 week ago: the first week ahead)."""
    weeks = max(1, horizon_weeks)
    pairs = []
    for back in range(1, (today - first_day).days + 1):
        week, weekday = divmod(back - 1, 7)
        pairs.append((today - dt.timedelta(days=back), today + dt.timedelta(days=7 * (week % weeks) + 6 - weekday)))
    return pairs


def carry_rates_back(engine: Engine, first_day: dt.date, today: dt.date) -> int:
    """Rates for the nights first_day..yesterday that have none, from nights ahead (`source_nights` over the
    whole weeks synced from today); rows written."""
    with engine.begin() as conn:
        last = conn.execute(sa.text("SELECT max(stay_date) FROM rates")).scalar_one()
        horizon_weeks = ((last - today).days + 1) // 7 if last else 0
        pairs = source_nights(first_day, today, horizon_weeks)
        params = {"nights": [night for night, _ in pairs], "sources": [source for _, source in pairs]}
        written = conn.execute(_COPY_RATES, params).rowcount
        conn.execute(_COPY_AVAILABILITY, params)
    return written
