"""What `hotelctl bench api` asks: a seeded list of distinct quote searches, as partners send them.

The mix: every city of the seeded world, each weighted by its size (hotels sold there); check-in spread
over the seeded inventory window; 1–7 nights, 1–3 rooms, 1–3 adults per room, sometimes children (with
their ages); several sell currencies (or none: the partner's credit currency); several partners, each with
its own pricing rules; a small share of searches by `hotel_ids` instead of a city. Every search is distinct
(partner and body), and the list is shuffled. The single workload is one search, repeated: the largest
city, as the first version of this benchmark measured.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import Counter
from dataclasses import dataclass

CURRENCIES = ("CNY", "USD", "EUR", None)  # None: the partner's credit currency
CURRENCY_WEIGHTS = (50, 25, 15, 10)
NIGHT_WEIGHTS = (30, 25, 15, 10, 8, 6, 6)  # 1..7 nights: short stays are the common case
ROOM_WEIGHTS = (72, 20, 8)  # 1..3 rooms
ADULT_WEIGHTS = (28, 62, 10)  # 1..3 adults per room
CHILDREN_SHARE = 0.15
HOTEL_IDS_SHARE = 0.08
COUNTRY_SHARE = 0.5  # city searches that also name the country
MAX_HOTEL_IDS = 5


@dataclass(frozen=True)
class City:
    country: str
    name: str
    hotel_ids: tuple[str, ...]  # the master hotels sold there


@dataclass(frozen=True)
class Search:
    partner: int  # index into the seeded partners
    body: dict

    def key(self) -> str:
        return f"{self.partner}|{json.dumps(self.body, sort_keys=True)}"

    def json(self) -> str:
        return json.dumps(self.body, separators=(",", ":"))


def mix(seed: int, count: int, cities: list[City], partners: int, window_start: dt.date,
        window_days: int) -> list[Search]:
    """`count` distinct searches (fewer only if the world is too small to have that many)."""
    if not cities:
        raise ValueError("the seeded world sells no hotel")
    rng = random.Random(seed)
    weights = [len(city.hotel_ids) for city in cities]
    searches: dict[str, Search] = {}
    attempts = 0
    while len(searches) < count and attempts < count * 20:
        attempts += 1
        # The first searches visit every city once; then each city as often as its size says.
        city = cities[len(searches)] if len(searches) < len(cities) else rng.choices(cities, weights)[0]
        search = _one(rng, city, partners, window_start, window_days)
        searches.setdefault(search.key(), search)
    ordered = list(searches.values())
    rng.shuffle(ordered)
    return ordered


def _one(rng: random.Random, city: City, partners: int, window_start: dt.date, window_days: int) -> Search:
    nights = min(rng.choices(range(1, 8), NIGHT_WEIGHTS)[0], window_days)
    check_in = window_start + dt.timedelta(days=rng.randrange(window_days - nights + 1))
    rooms = rng.choices(range(1, 4), ROOM_WEIGHTS)[0]
    adults = sum(rng.choices(range(1, 4), ADULT_WEIGHTS, k=rooms))
    body: dict = {}
    if rng.random() < HOTEL_IDS_SHARE:
        body["hotel_ids"] = rng.sample(city.hotel_ids, min(len(city.hotel_ids), rng.randint(1, MAX_HOTEL_IDS)))
    else:
        body["city"] = city.name
        if rng.random() < COUNTRY_SHARE:
            body["country"] = city.country
    body.update(check_in=check_in.isoformat(), check_out=(check_in + dt.timedelta(days=nights)).isoformat(),
                rooms=rooms, adults=adults)
    if rng.random() < CHILDREN_SHARE:
        body["children_ages"] = [rng.randint(0, 17) for _ in range(rng.randint(1, 2))]
    currency = rng.choices(CURRENCIES, CURRENCY_WEIGHTS)[0]
    if currency:
        body["currency"] = currency
    return Search(rng.randrange(partners), body)


def single(cities: list[City], window_start: dt.date, window_days: int, nights: int) -> Search:
    """One search of the largest city (Shanghai-sized), the first partner, 1 room for 2 adults."""
    city = max(cities, key=lambda c: (len(c.hotel_ids), c.name))
    nights = min(nights, window_days)
    check_in = window_start + dt.timedelta(days=min(7, window_days - nights))
    return Search(0, {"city": city.name, "country": city.country, "check_in": check_in.isoformat(),
                      "check_out": (check_in + dt.timedelta(days=nights)).isoformat(), "rooms": 1, "adults": 2})


def describe(searches: list[Search], partner_names: list[str]) -> str:
    """One line on what the list holds (so a reader sees the mix, not just its size)."""
    by_city = Counter(s.body.get("city", "(hotel_ids)") for s in searches)
    by_currency = Counter(s.body.get("currency", "partner's") for s in searches)
    by_partner = Counter(partner_names[s.partner] for s in searches)
    nights = Counter((dt.date.fromisoformat(s.body["check_out"]) - dt.date.fromisoformat(s.body["check_in"])).days
                     for s in searches)
    with_children = sum(1 for s in searches if s.body.get("children_ages"))

    def share(counter: Counter) -> str:
        return ", ".join(f"{key} {value / len(searches):.0%}" for key, value in counter.most_common())

    return (f"{len(searches)} distinct searches over {len(by_city) - ('(hotel_ids)' in by_city)} cities "
            f"(by hotel_ids {by_city.get('(hotel_ids)', 0) / len(searches):.0%}); currency: {share(by_currency)}; "
            f"partners: {share(by_partner)}; nights: "
            f"{', '.join(f'{n} {c / len(searches):.0%}' for n, c in sorted(nights.items()))}; "
            f"with children {with_children / len(searches):.0%}")
