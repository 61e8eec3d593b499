"""Why a quote has no offers, for the partner who sent it: a city name that names no hotel the platform sells
(with the closest names), hotel ids of which none is sold, a stay outside the nights whose rates are held, or no
room sellable for these nights and guests. Only an empty answer carries one, so the priced path never pays for it.
"""

from __future__ import annotations

import datetime as dt

from rapidfuzz import fuzz, process

from core import hotcache
from core.quotes.caches import QuoteCaches, city_countries, city_names
from core.quotes.shelf import Shelf

SUGGESTIONS = 3
SUGGESTION_SCORE = 75  # rapidfuzz WRatio, 0–100: "Shangai" → "Shanghai" scores 93, unrelated names under 60


async def empty_quote_notice(pool, caches: QuoteCaches, request: dict, shelf: Shelf) -> dict:
    """The notice of a quote that has no offers: {"code", "message"}."""
    if not shelf.products:
        if request.get("hotel_ids") is not None:
            return {"code": "unknown_hotels", "message": "none of hotel_ids is a hotel the platform sells"}
        return await _unknown_city(pool, caches, request["city"], request.get("country"))
    first, last = _held_nights(shelf)
    check_in, check_out = request["check_in"], request["check_out"]
    if first is not None and (check_in < first or check_out - dt.timedelta(days=1) > last):
        return {"code": "outside_inventory",
                "message": f"rates are held for nights {first} to {last}; the stay {check_in} to {check_out} "
                           "is not within them"}
    hotels = len({product.hotel_id for product in shelf.products})
    return {"code": "no_availability",
            "message": f"none of the {hotels} hotel(s) searched has a room sellable for these nights, rooms and "
                       "guests"}


async def _unknown_city(pool, caches: QuoteCaches, city: str, country: str | None) -> dict:
    elsewhere = await city_countries(pool, caches, city)
    if country and elsewhere:
        return {"code": "unknown_city",
                "message": f"no hotel is sold in {city!r} in {country.upper()}; it has hotels in "
                           f"{', '.join(elsewhere)}"}
    names = await city_names(pool, caches)
    matches = process.extract(hotcache.normalise_city(city), list(names), scorer=fuzz.WRatio,
                              processor=None, limit=SUGGESTIONS, score_cutoff=SUGGESTION_SCORE)
    message = f"no hotel is sold in a city named {city!r}"
    if matches:
        message += "; closest: " + ", ".join(names[match] for match, _, _ in matches)
    return {"code": "unknown_city", "message": message}


def _held_nights(shelf: Shelf) -> tuple[dt.date | None, dt.date | None]:
    if not shelf.days:
        return None, None
    first = hotcache.EPOCH + dt.timedelta(days=shelf.first_day)
    return first, first + dt.timedelta(days=shelf.days - 1)
