"""What the demo partners do on each day: searches, which of them book, which bookings are cancelled.

Seeded, so a given seed always draws the same history. Volumes grow over the weeks and dip at weekends; each
partner has its own habits (booking rate, cancellation rate, lead time).
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Habits:
    searches_per_day: float
    booking_rate: float  # share of searches that book an offer
    cancel_rate: float  # share of bookings cancelled later
    lead_days: tuple[int, int]  # check-in this many days after the search
    currency: str | None  # None: the partner's credit currency


@dataclass(frozen=True)
class Search:
    partner: str  # a key of the partners' habits
    city: str
    lead_days: int
    nights: int
    adults: int
    rooms: int
    book: bool
    offer_rank: int  # which of the offers listed first the partner picks
    cancel: bool
    guest: tuple[str, str]


@dataclass(frozen=True)
class Day:
    days_ago: int
    searches: list[Search]


FIRST_NAMES = ("Wei", "Li", "Ming", "Anna", "James", "Sofia", "Hiro", "Yuki", "Lucas", "Maria", "Chen", "Olga",
               "Ravi", "Amira", "Tom", "Lena")
LAST_NAMES = ("Zhang", "Wang", "Smith", "Garcia", "Tanaka", "Müller", "Rossi", "Kim", "Novak", "Silva", "Khan",
              "Dubois", "Nguyen", "Larsen", "Okafor", "Costa")


def draw(days: int, habits: dict[str, Habits], cities: list[str], seed: int, scale: float = 1.0) -> list[Day]:
    """`days` days of activity, oldest first (days_ago from days-1 down to 0); `scale` multiplies the volumes."""
    rng = random.Random(seed)
    plan = []
    for days_ago in range(days - 1, -1, -1):
        growth = 0.7 + 0.6 * (days - days_ago) / days  # the business grows over the weeks
        weekend = 0.6 if (days_ago % 7) in (1, 2) else 1.0
        searches = []
        for partner, habit in habits.items():
            count = max(1, round(rng.gauss(habit.searches_per_day * scale * growth * weekend, scale)))
            for _ in range(count):
                book = rng.random() < habit.booking_rate
                searches.append(Search(
                    partner=partner, city=rng.choice(cities), lead_days=rng.randint(*habit.lead_days),
                    nights=rng.choice((1, 1, 2, 2, 3, 4)), adults=rng.choice((1, 2, 2, 2)), rooms=1, book=book,
                    offer_rank=min(int(rng.expovariate(0.8)), 4),
                    cancel=book and rng.random() < habit.cancel_rate,
                    guest=(rng.choice(FIRST_NAMES), f"{rng.choice(LAST_NAMES)}-{rng.randint(100, 999)}"),
                ))
        plan.append(Day(days_ago, searches))
    return plan
