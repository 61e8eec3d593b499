"""A shelf: the inventory of one product set (a city's or some hotels' supplier hotels) stacked into arrays,
one row per rate, so that a stay is a slice, a sum and a minimum over every rate at once.

Rows carry what does not change from quote to quote (their offer group, price class, room facts and the
offer JSON fragments that name them); `Shelf.stay` answers which rows are sellable for a stay and their net.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import orjson

from core.hotcache import NO_RATE, Inventory, Product, RateRow
from core.money import minor_digits
from core.quotes.caches import HotelFacts, RoomName

_SERIALS = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Row(RateRow):
    """A rate of the shelf: what the hot cache says of it, and whose it is."""

    product: Product
    hotel: HotelFacts
    digits: int  # the net currency's minor-unit digits
    shown: str  # the partner's offer JSON fields naming the room (after the offer id)
    stored: str  # the stored offer's JSON fields naming the product


@dataclass(slots=True)
class Stay:
    """The sellable rows of a shelf for one stay."""

    rows: np.ndarray  # row indexes
    net: np.ndarray  # net per room for the whole stay, minor units of each row's currency
    refundable: np.ndarray  # bool: refundable on every night
    policy: np.ndarray  # the check-in night's supplier policy (index into `Shelf.policies`)
    first: int  # the check-in night's column


@dataclass(slots=True)
class Shelf:
    products: list[Product]
    first_day: int
    prices: np.ndarray  # [R, D] int64 net per room and night; NO_RATE where there is none
    counts: np.ndarray  # [R, D] int32 sellable rooms of the row's room type
    refundable: np.ndarray  # [R, D] int8
    policy: np.ndarray  # [R, D] int32
    occupancy: np.ndarray  # [R] max guests per room
    group: np.ndarray  # [R] offer group: hotel × room × board (an offer is one per group and refundability)
    supplier: np.ndarray  # [R] the row's supplier (an index: each supplier's best in a group is an alternative)
    price_class: np.ndarray  # [R] index into `classes`
    classes: list[tuple]  # (supplier code, city, star, currency): what the price chain depends on
    rows: list[Row]
    policies: list[list]
    serial: int = 0  # unique per shelf built: what the memo's entries name (a rebuilt shelf is another)
    # Each product's first index into `policies`, in shelf order, and its value's `Inventory.parsed`: a policy is
    # parsed once per product value, whichever shelves hold it (core.quotes.offers._policy).
    policy_starts: list[int] = field(default_factory=list)
    policy_parsed: list[dict] = field(default_factory=list)
    rooms_epoch: int = 0  # the room mappings it was built with (`caches.room_epoch`)

    @property
    def days(self) -> int:
        return self.prices.shape[1]

    def stay(self, first_day: int, nights: int, rooms: int, per_room: int) -> Stay | None:
        start = first_day - self.first_day
        if start < 0 or start + nights > self.days or not self.rows:
            return None
        prices = self.prices[:, start:start + nights]
        ok = (self.occupancy >= per_room) & (prices.min(axis=1) > NO_RATE) & \
            (self.counts[:, start:start + nights].min(axis=1) >= rooms)
        rows = np.flatnonzero(ok)
        if not len(rows):
            return None
        return Stay(rows, prices[rows].sum(axis=1), self.refundable[rows, start:start + nights].min(axis=1) > 0,
                    self.policy[rows, start], start)


def build_shelf(products: list[Product], inventories: list[Inventory | None], facts: dict[str, HotelFacts],
                rooms: dict[int, RoomName] | None = None) -> Shelf:
    """Stack the products' values (a product without a value or hotel facts sells nothing).

    A room with a room mapping is offered under its English name, in its room group: the rooms of one hotel
    that are the same product, whichever supplier sells them (a mapping awaiting review keeps a group of its
    own); a room without one under its supplier's name, grouped with the hotel's rooms of that name."""
    rooms = rooms or {}
    present = [(product, inventory) for product, inventory in zip(products, inventories, strict=True)
               if inventory is not None and product.hotel_id in facts and len(inventory.rows)]
    first = min((inventory.first_day for _, inventory in present), default=0)
    end = max((inventory.first_day + inventory.nights for _, inventory in present), default=0)
    prices, counts, refundable, policy, occupancy = [], [], [], [], []
    rows: list[Row] = []
    policies: list[list] = []
    policy_starts: list[int] = []
    policy_parsed: list[dict] = []
    groups: dict[tuple, int] = {}
    group, price_class, supplier = [], [], []
    suppliers: dict[str, int] = {}
    classes: dict[tuple, int] = {}
    for product, inventory in present:
        hotel = facts[product.hotel_id]
        lead, tail = inventory.first_day - first, end - inventory.first_day - inventory.nights
        pad = ((0, 0), (lead, tail))
        prices.append(np.pad(inventory.prices, pad, constant_values=NO_RATE))
        counts.append(np.pad(inventory.counts[inventory.row_type], pad))
        refundable.append(np.pad(inventory.refundable, pad))
        policy.append(np.pad(inventory.policy, pad) + len(policies))
        policy_starts.append(len(policies))
        policy_parsed.append(inventory.parsed)
        policies.extend(inventory.policies)
        occupancy.append(inventory.occupancy[inventory.row_type])
        for row_index, (room_code, room_name, board, plan, currency, rate_key) in enumerate(inventory.rows):
            room_type_id = int(inventory.room_type_ids[inventory.row_type[row_index]])
            mapped = rooms.get(room_type_id)
            if mapped is None:
                key: tuple = (product.hotel_id, "name", room_name.casefold(), board)
            else:
                key = (product.hotel_id, "group", mapped.group, board) if mapped.group else \
                    (product.hotel_id, "room", room_type_id, board)
            group.append(groups.setdefault(key, len(groups)))
            supplier.append(suppliers.setdefault(product.supplier_code, len(suppliers)))
            price_class.append(classes.setdefault((product.supplier_code, hotel.city, hotel.star, currency),
                                                  len(classes)))
            name_en, room_group = (mapped.name_en, mapped.group) if mapped else (room_name, None)
            shown = orjson.dumps({"hotel_id": product.hotel_id, "hotel_name": hotel.name, "room_type": name_en,
                                  "room_name_local": room_name, "room_group": room_group,
                                  "board": board})[1:-1].decode()
            stored = orjson.dumps({
                "hotel_id": product.hotel_id, "hotel_name": hotel.name, "supplier_code": product.supplier_code,
                "supplier_hotel_id": product.supplier_hotel_id, "room_type_id": room_type_id,
                "room_type": room_name, "room_code": room_code, "board": board, "rate_plan": plan,
                "rate_key": rate_key, "net_currency": currency, "room_name_en": name_en,
                "room_group": room_group})[1:-1].decode()
            rows.append(Row(room_type_id, room_code, room_name, board, plan, currency, rate_key, product, hotel,
                            minor_digits(currency), shown, stored))
    if not rows:
        empty = np.zeros((0, 0), dtype=np.int64)
        return Shelf(products, first, empty, empty, empty, empty, np.zeros(0, np.int32), np.zeros(0, np.int64),
                     np.zeros(0, np.int64), np.zeros(0, np.int32), [], [], [], next(_SERIALS))
    return Shelf(products, first, np.concatenate(prices), np.concatenate(counts), np.concatenate(refundable),
                 np.concatenate(policy), np.concatenate(occupancy), np.asarray(group, dtype=np.int64),
                 np.asarray(supplier, dtype=np.int64), np.asarray(price_class, dtype=np.int32), list(classes), rows,
                 policies, next(_SERIALS), policy_starts, policy_parsed)
