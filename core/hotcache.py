"""The hot inventory cache in Redis that quotes read (PostgreSQL stays the source of truth).

Layout, chosen so a quote for a city and date range is a handful of round trips:

- `hc:city:{CC}:{city}` — SET of sellable products in a city: "{hotel_id}|{supplier}|{supplier_hotel_id}",
  where hotel_id is the master hotel the supplier hotel is mapped to (unmapped hotels are not sold).
- `hc:hotel:{hotel_id}` — SET of "{supplier}|{supplier_hotel_id}" for a hotel_ids search.
- `hc:n:{supplier}:{supplier_hotel_id}:{YYYYMMDD}` — one night of one supplier hotel: a JSON list of
  room rates (amounts as decimal strings, with currency).

A quote is: SMEMBERS (1 trip) + MGET of products × nights (1 trip). Each supplier's keys are
written in one pipeline per batch; a supplier whose feed failed its contract is simply not
written, so its previous good data keeps serving until `NIGHT_TTL_S` runs out.
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

NIGHT_TTL_S = 3 * 24 * 3600


def normalise_city(city: str) -> str:
    folded = unicodedata.normalize("NFKC", city).strip().casefold()
    return "-".join(folded.split())


def city_key(country: str, city: str) -> str:
    return f"hc:city:{country.upper()}:{normalise_city(city)}"


def hotel_key(hotel_id: str) -> str:
    return f"hc:hotel:{hotel_id}"


def night_key(supplier_code: str, supplier_hotel_id: str, stay_date: dt.date) -> str:
    return f"hc:n:{supplier_code}:{supplier_hotel_id}:{stay_date:%Y%m%d}"


@dataclass(frozen=True, slots=True)
class CachedRate:
    room_type_id: int
    room_code: str
    room_name: str
    board: str
    rate_plan: str
    net_amount: Decimal
    currency: str
    allotment: int
    refundable: bool
    rate_key: str | None
    cancellation: list  # [{"hours_before": int, "fee": "12.00", "currency": "CNY"}]

    def to_json(self) -> list:
        return [self.room_type_id, self.room_code, self.room_name, self.board, self.rate_plan,
                str(self.net_amount), self.currency, self.allotment, self.refundable, self.rate_key,
                self.cancellation]

    @classmethod
    def from_json(cls, item: list) -> CachedRate:
        (room_type_id, room_code, room_name, board, rate_plan, amount, currency, allotment, refundable,
         rate_key, cancellation) = item
        return cls(room_type_id, room_code, room_name, board, rate_plan, Decimal(amount), currency,
                   allotment, refundable, rate_key, cancellation)


@dataclass(frozen=True, slots=True)
class Product:
    hotel_id: str
    supplier_code: str
    supplier_hotel_id: str

    @classmethod
    def parse(cls, member: bytes | str) -> Product:
        text = member.decode() if isinstance(member, bytes) else member
        hotel_id, supplier, supplier_hotel_id = text.split("|", 2)
        return cls(hotel_id, supplier, supplier_hotel_id)

    def member(self) -> str:
        return f"{self.hotel_id}|{self.supplier_code}|{self.supplier_hotel_id}"


def write_nights(pipe, supplier_code: str, supplier_hotel_id: str,
                 nights: dict[dt.date, Iterable[CachedRate]], ttl_s: int = NIGHT_TTL_S) -> None:
    """Queue one supplier hotel's nights on a Redis pipeline (the caller executes it)."""
    for stay_date, rates in nights.items():
        payload = json.dumps([rate.to_json() for rate in rates], separators=(",", ":"))
        pipe.set(night_key(supplier_code, supplier_hotel_id, stay_date), payload, ex=ttl_s)


def write_products(pipe, country: str, city: str, products: Iterable[Product]) -> None:
    members = [product.member() for product in products]
    if not members:
        return
    pipe.sadd(city_key(country, city), *members)
    for product in products:
        pipe.sadd(hotel_key(product.hotel_id), f"{product.supplier_code}|{product.supplier_hotel_id}")


def nights_of(check_in: dt.date, check_out: dt.date) -> list[dt.date]:
    return [check_in + dt.timedelta(days=offset) for offset in range((check_out - check_in).days)]


def product_night_keys(products: list[Product], nights: list[dt.date]) -> list[str]:
    return [night_key(p.supplier_code, p.supplier_hotel_id, night) for p in products for night in nights]
