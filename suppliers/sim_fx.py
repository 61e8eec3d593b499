"""The simulated FX service: the ECB's daily euro reference rates, same paths, same XML.

`GET /stats/eurofxref/eurofxref-daily.xml` gives the newest working day's set,
`GET /stats/eurofxref/eurofxref-hist-90d.xml` the last 90 days (no sets at weekends, as at the ECB).
Rates are a deterministic function of the day (the start rates moved by the sum of the last 30 days'
hashed steps of at most ±0.5 %, so at most 1 % from one day to the next), so every run and every
process sees the same history. `POST /_admin/down` {"down": true} makes every rate
request fail with 503 (a source outage); `POST /_admin/rates` {"day": "...", "rates": {...}} overrides
one day's set (a test's jump or a missing currency).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.fx_rates import ECB_DAILY_PATH, ECB_HISTORY_PATH, RateSet, ecb_xml

START_RATES = {"USD": "1.0850", "CNY": "7.7300", "GBP": "0.8550", "JPY": "162.40", "HKD": "8.4500",
               "SGD": "1.4550", "AUD": "1.6500", "THB": "38.150", "KRW": "1452.30", "CHF": "0.9450"}
WINDOW_DAYS = 30
HISTORY_DAYS = 90


def _step(currency: str, day: dt.date) -> Decimal:
    """A day's move in basis points, -50..+50, from a hash (the same everywhere)."""
    digest = hashlib.sha256(f"{currency}:{day.isoformat()}".encode()).digest()
    return Decimal(int.from_bytes(digest[:2], "big") % 101 - 50) / 10_000


def rates_for_day(day: dt.date) -> RateSet | None:
    """The set published on `day` (None at weekends)."""
    if day.weekday() >= 5:
        return None
    rates = {}
    for currency, start in START_RATES.items():
        start_rate = Decimal(start)
        drift = sum((_step(currency, day - dt.timedelta(days=n)) for n in range(WINDOW_DAYS)), Decimal(0))
        rates[currency] = (start_rate * (1 + drift)).quantize(start_rate)
    return RateSet(day, rates)


def history(today: dt.date, days: int = HISTORY_DAYS) -> list[RateSet]:
    found = (rates_for_day(today - dt.timedelta(days=n)) for n in range(days))
    return sorted((s for s in found if s is not None), key=lambda s: s.as_of)


def create_app(clock=lambda: dt.datetime.now(dt.UTC).date()) -> Starlette:
    state = {"down": False, "overrides": {}}

    def _sets(days: int) -> list[RateSet]:
        today = clock()
        sets = {s.as_of: s for s in history(today, days)}
        for day, rate_set in state["overrides"].items():
            if today - dt.timedelta(days=days) < day <= today:
                sets[day] = rate_set
        return list(sets.values())

    def _answer(days: int) -> Response:
        if state["down"]:
            return Response("service unavailable", status_code=503)
        sets = sorted(_sets(days), key=lambda s: s.as_of)
        return Response(ecb_xml(sets[-1:] if days < HISTORY_DAYS else sets), media_type="text/xml")

    async def daily(_request: Request) -> Response:
        return _answer(7)

    async def hist(_request: Request) -> Response:
        return _answer(HISTORY_DAYS)

    async def down(request: Request) -> JSONResponse:
        state["down"] = bool((await request.json()).get("down", True))
        return JSONResponse({"down": state["down"]})

    async def override(request: Request) -> JSONResponse:
        body = await request.json()
        day = dt.date.fromisoformat(body["day"])
        state["overrides"][day] = RateSet(day, {c: Decimal(str(r)) for c, r in body["rates"].items()})
        return JSONResponse({"day": day.isoformat(), "currencies": len(body["rates"])})

    app = Starlette(routes=[
        Route(ECB_DAILY_PATH, daily), Route(ECB_HISTORY_PATH, hist),
        Route("/_admin/down", down, methods=["POST"]), Route("/_admin/rates", override, methods=["POST"]),
    ])
    app.state.sim = None  # no supplier state (RunningSimulator reads it)
    return app
