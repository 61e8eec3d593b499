"""The demo history `hotelctl up` seeds in development: weeks of partner activity made through the platform's own
paths, so that every user finds something on a fresh platform.

`plan` draws the activity (seeded: the same seed gives the same history), `history` drives it through the partner
and finance APIs against the simulated suppliers, `timetravel` moves each day's bookings back to the day they
stand for (the one place that rewrites timestamps, and why), `statements` writes the suppliers' statements with
the discrepancies real ones have, `billing` bills the partners for the closed cycles (statements, invoices,
payments) as finance would, `past_rates` gives the past nights the suppliers' rates of nights ahead.
"""
