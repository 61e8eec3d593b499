"""Deterministic rates and allotment of the simulated world, per (seed, hotel, room, date).

Prices start from the real hotel (so one hotel is priced alike at every supplier, give or take the
supplier's margin), vary by star, city, weekday, season, room type, board and rate plan, and are
quoted in the supplier's currency: A in CNY for Chinese hotels and EUR elsewhere, B in CNY, C in USD.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal

import mmh3

from suppliers.world import World, WorldSupplierHotel

CENT = Decimal("0.01")
CNY_PER = {"CNY": Decimal("1"), "EUR": Decimal("7.80"), "USD": Decimal("7.20")}
BASE_CNY_BY_STAR = {1.0: 160, 1.5: 190, 2.0: 220, 2.5: 280, 3.0: 380, 3.5: 480, 4.0: 650, 4.5: 900, 5.0: 1300}
SUPPLIER_MARGIN = {"A": 1.0, "B": 0.97, "C": 1.04}

# (code per supplier, name per supplier, price factor, max occupancy)
ROOMS = (
    ({"A": "DBL.ST", "B": "SD", "C": "std-dbl"},
     {"A": "Standard Double", "B": "标准大床房", "C": "Standard Queen"}, 1.0, 2),
    ({"A": "TWN.ST", "B": "ST", "C": "std-twin"},
     {"A": "Standard Twin", "B": "标准双床房", "C": "Standard Two Beds"}, 1.02, 2),
    ({"A": "DBL.DX", "B": "DK", "C": "dlx-king"},
     {"A": "Deluxe King", "B": "豪华大床房", "C": "Deluxe King"}, 1.35, 2),
    ({"A": "FAM.ST", "B": "FR", "C": "family"},
     {"A": "Family Room", "B": "家庭房", "C": "Family Suite"}, 1.6, 4),
    ({"A": "SUI.EX", "B": "ES", "C": "suite"},
     {"A": "Executive Suite", "B": "行政套房", "C": "Executive Suite"}, 2.3, 3),
)
BOARD_FACTOR = {"RO": 1.0, "BB": 1.12}


@dataclass(frozen=True, slots=True)
class WorldRate:
    room_code: str
    room_name: str
    board: str
    rate_plan: str  # BAR (refundable) | NRF (non-refundable, cheaper)
    stay_date: dt.date
    amount: Decimal
    currency: str
    allotment: int
    refundable: bool
    max_occupancy: int


def supplier_currency(supplier_code: str, country: str) -> str:
    if supplier_code == "A":
        return "CNY" if country == "CN" else "EUR"
    if supplier_code == "C":
        return "USD"
    return "CNY"


def _h(*parts: object) -> int:
    return mmh3.hash64(":".join(str(p) for p in parts), signed=False)[0]


def _unit(value: int, shift: int) -> float:
    """A uniform float in [0, 1) from 16 bits of a hash."""
    return ((value >> shift) & 0xFFFF) / 65536.0


def room_indexes(seed: int, hotel: WorldSupplierHotel) -> list[int]:
    """Which of ROOMS this hotel has (the same at every supplier selling it)."""
    identity = hotel.true_hotel_id or f"{hotel.supplier_code}:{hotel.supplier_hotel_id}"
    bits = _h(seed, identity, "rooms")
    rooms = [0, 2]
    if bits & 1:
        rooms.insert(1, 1)
    if (hotel.star or 3) >= 4 and bits & 2:
        rooms.append(4)
    elif bits & 4 and not bits & 1:
        rooms.append(3)
    return rooms


class RateBook:
    """Prices and allotment of one world, with per-hotel facts cached."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.seed = world.seed
        self._base: dict[tuple[str, str], tuple[float, list[int], str]] = {}

    def _hotel_base(self, hotel: WorldSupplierHotel) -> tuple[float, list[int], str]:
        key = (hotel.supplier_code, hotel.supplier_hotel_id)
        cached = self._base.get(key)
        if cached is None:
            identity = hotel.true_hotel_id or f"{hotel.supplier_code}:{hotel.supplier_hotel_id}"
            city = self.world.city_of(hotel)
            star = hotel.star or 3.0
            base = BASE_CNY_BY_STAR.get(star, 380) * city.price_factor
            base *= 0.8 + 0.45 * _unit(_h(self.seed, identity, "base"), 0)
            base *= SUPPLIER_MARGIN.get(hotel.supplier_code, 1.0)
            currency = supplier_currency(hotel.supplier_code, hotel.country)
            cached = (base, room_indexes(self.seed, hotel), currency)
            self._base[key] = cached
        return cached

    def nightly(self, hotel: WorldSupplierHotel, stay_date: dt.date) -> list[WorldRate]:
        base, rooms, currency = self._hotel_base(hotel)
        code = hotel.supplier_code
        ordinal = stay_date.toordinal()
        weekend = 1.15 if stay_date.weekday() in (4, 5) else 1.0
        season = 1.0 + 0.12 * math.sin(2 * math.pi * (stay_date.timetuple().tm_yday - 80) / 365.0)
        day_bits = _h(self.seed, code, hotel.supplier_hotel_id, ordinal)
        day = base * weekend * season * (0.95 + 0.1 * _unit(day_bits, 0))
        per_currency = CNY_PER.get(currency, Decimal(1))
        rates: list[WorldRate] = []
        for position, index in enumerate(rooms):
            codes, names, factor, occupancy = ROOMS[index]
            bits = day_bits >> (position * 5) if position < 6 else day_bits
            allotment = 0 if _unit(bits, 16) < 0.07 else 1 + int(_unit(bits, 32) * 9)
            room_price = day * factor
            room_code, room_name = codes.get(code, codes["A"]), names.get(code, names["A"])
            for board, board_factor in BOARD_FACTOR.items():
                amount = (Decimal(f"{room_price * board_factor:.2f}") / per_currency).quantize(CENT)
                rates.append(WorldRate(room_code, room_name, board, "BAR", stay_date, amount, currency, allotment,
                                       True, occupancy))
                if index == 0 and board == "RO":
                    nrf = (amount * Decimal("0.9")).quantize(CENT)
                    rates.append(WorldRate(room_code, room_name, board, "NRF", stay_date, nrf, currency, allotment,
                                           False, occupancy))
        return rates

    def stay(self, hotel: WorldSupplierHotel, check_in: dt.date, check_out: dt.date) -> list[WorldRate]:
        rates: list[WorldRate] = []
        day = check_in
        while day < check_out:
            rates.extend(self.nightly(hotel, day))
            day += dt.timedelta(days=1)
        return rates


FREE_CANCEL_HOURS = 72


def cancellation_fee(total: Decimal, nights: int, refundable: bool, check_in: dt.date, today: dt.date) -> Decimal:
    """Non-refundable: everything. Refundable: free until 72 h before check-in, then one night's worth."""
    if not refundable:
        return total
    if (check_in - today).days * 24 > FREE_CANCEL_HOURS:
        return Decimal("0.00")
    return (total / max(1, nights)).quantize(CENT)
