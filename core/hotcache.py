"""The hot inventory cache in Redis that quotes read (PostgreSQL stays the source of truth).

Layout, chosen so a quote is array slicing over what an API process already holds:

- `hc:city:{CC}:{city}` — SET of sellable products in a city: "{hotel_id}|{supplier}|{supplier_hotel_id}",
  where hotel_id is the master hotel the supplier hotel is mapped to (unmapped hotels are not sold).
- `hc:hotel:{hotel_id}` — SET of "{supplier}|{supplier_hotel_id}" for a hotel_ids search.
- `hc:p:{supplier}:{supplier_hotel_id}` — one supplier hotel's whole sync window as packed arrays
  (`encode_inventory`): per room type and night the sellable count, per rate (room type × board × plan ×
  currency) and night the net price in integer minor units, its refundability and its cancellation policy.
  A stay is a slice of these arrays, never a decode per night.
- `hc:changes` — a Redis stream: every writer of a product value (the sync, an order's hold or release)
  adds an entry naming the products it changed, so each API process drops what it holds of them.

A supplier whose feed failed its contract is simply not written, so its previous good data keeps
serving until `PRODUCT_TTL_S` runs out.
"""

from __future__ import annotations

import datetime as dt
import struct
import unicodedata
from dataclasses import dataclass, field

import numpy as np
import orjson

PRODUCT_TTL_S = 3 * 24 * 3600
CHANGES_KEY = "hc:changes"
CHANGES_MAXLEN = 100_000
EPOCH = dt.date(1970, 1, 1)
MAGIC = b"HCP1"
# magic, first night (days since 1970-01-01), nights, room types, rates, metadata length
PREFIX = struct.Struct("<4siIIII")
NO_RATE = -1
# Advisory lock class of a product value's writers (order holds, the sync's cache writer): see core.orders.holds.
WRITER_LOCK_CLASS = 20_0010


def normalise_city(city: str) -> str:
    folded = unicodedata.normalize("NFKC", city).strip().casefold()
    return "-".join(folded.split())


def city_key(country: str, city: str) -> str:
    return f"hc:city:{country.upper()}:{normalise_city(city)}"


def hotel_key(hotel_id: str) -> str:
    return f"hc:hotel:{hotel_id}"


def product_key(supplier_code: str, supplier_hotel_id: str) -> str:
    return f"hc:p:{supplier_code}:{supplier_hotel_id}"


def writer_lock_name(supplier_code: str, supplier_hotel_id: str) -> str:
    """The name whose hashtext() keys a product's writer lock (with WRITER_LOCK_CLASS)."""
    return f"{supplier_code}|{supplier_hotel_id}"


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

    @property
    def key(self) -> str:
        return product_key(self.supplier_code, self.supplier_hotel_id)


def nights_of(check_in: dt.date, check_out: dt.date) -> list[dt.date]:
    return [check_in + dt.timedelta(days=offset) for offset in range((check_out - check_in).days)]


def day_number(day: dt.date) -> int:
    return (day - EPOCH).days


@dataclass(frozen=True, slots=True)
class RateRow:
    """One sellable rate of a supplier hotel: what does not change from night to night."""

    room_type_id: int
    room_code: str
    room_name: str
    board: str
    rate_plan: str
    currency: str
    rate_key: str | None


class InventoryBuilder:
    """Collects one supplier hotel's rates and allotment over a window, then packs them (`encode`)."""

    def __init__(self, first_night: dt.date, nights: int) -> None:
        self.first_night, self.nights = first_night, nights
        self.room_types: dict[int, int] = {}  # room type id → index
        self.occupancy: list[int] = []
        self.counts: list[list[int]] = []
        self.rows: dict[tuple, int] = {}  # (room type, board, plan, currency) → index
        self.row_meta: list[RateRow] = []
        self.prices: list[list[int]] = []
        self.refundable: list[list[int]] = []
        self.policy_of: list[list[int]] = []
        self.policies: dict[bytes, int] = {}

    def room_type(self, room_type_id: int, max_occupancy: int) -> int:
        index = self.room_types.get(room_type_id)
        if index is None:
            index = self.room_types[room_type_id] = len(self.occupancy)
            self.occupancy.append(max_occupancy)
            self.counts.append([0] * self.nights)
        return index

    def allotment(self, room_type_id: int, max_occupancy: int, night: dt.date, sellable: int) -> None:
        day = (night - self.first_night).days
        if 0 <= day < self.nights:
            self.counts[self.room_type(room_type_id, max_occupancy)][day] = max(0, int(sellable))

    def rate(self, row: RateRow, max_occupancy: int, night: dt.date, net_minor: int, refundable: bool,
             policy: list | None) -> None:
        day = (night - self.first_night).days
        if not 0 <= day < self.nights:
            return
        self.room_type(row.room_type_id, max_occupancy)
        key = (row.room_type_id, row.board, row.rate_plan, row.currency)
        index = self.rows.get(key)
        if index is None:
            index = self.rows[key] = len(self.row_meta)
            self.row_meta.append(row)
            self.prices.append([NO_RATE] * self.nights)
            self.refundable.append([0] * self.nights)
            self.policy_of.append([0] * self.nights)
        encoded = orjson.dumps(policy or [])
        self.prices[index][day] = int(net_minor)
        self.refundable[index][day] = 1 if refundable else 0
        self.policy_of[index][day] = self.policies.setdefault(encoded, len(self.policies))

    def encode(self) -> bytes:
        """The packed value; rates in a fixed order (room type, board, plan, currency), whatever order they came in."""
        meta = self.row_meta
        order = sorted(range(len(meta)),
                       key=lambda i: (meta[i].room_type_id, meta[i].board, meta[i].rate_plan, meta[i].currency))
        self.row_meta = [self.row_meta[i] for i in order]
        self.prices = [self.prices[i] for i in order]
        self.refundable = [self.refundable[i] for i in order]
        self.policy_of = [self.policy_of[i] for i in order]
        types, rows, nights = len(self.occupancy), len(self.row_meta), self.nights
        meta = orjson.dumps({
            "rows": [[r.room_code, r.room_name, r.board, r.rate_plan, r.currency, r.rate_key] for r in self.row_meta],
            "policies": [orjson.loads(p) for p in self.policies],
        })
        ids = sorted(self.room_types, key=self.room_types.__getitem__)
        parts = [
            PREFIX.pack(MAGIC, day_number(self.first_night), nights, types, rows, len(meta)),
            np.asarray(ids, dtype="<i8").tobytes(),
            np.asarray(self.counts, dtype="<i4").reshape(types * nights).tobytes(),
            np.asarray(self.occupancy, dtype="<i4").tobytes(),
            np.asarray([self.room_types[r.room_type_id] for r in self.row_meta], dtype="<i4").tobytes(),
            np.asarray(self.prices, dtype="<i8").reshape(rows * nights).tobytes(),
            np.asarray(self.refundable, dtype="<i1").reshape(rows * nights).tobytes(),
            np.asarray(self.policy_of, dtype="<i4").reshape(rows * nights).tobytes(),
            meta,
        ]
        return b"".join(parts)


@dataclass(frozen=True, slots=True)
class Inventory:
    """A decoded product value: arrays over the window (views of the value's bytes, never copied)."""

    first_day: int  # days since 1970-01-01
    nights: int
    room_type_ids: np.ndarray  # [T]
    counts: np.ndarray  # [T, nights] sellable rooms
    occupancy: np.ndarray  # [T] max guests per room
    row_type: np.ndarray  # [R] index into the room types
    prices: np.ndarray  # [R, nights] net per room and night, minor units of the row's currency; NO_RATE = none
    refundable: np.ndarray  # [R, nights]
    policy: np.ndarray  # [R, nights] index into `policies`
    rows: list  # [R] [room_code, room_name, board, rate_plan, currency, rate_key]
    policies: list  # supplier cancellation rules (fee per room, net currency)
    # `policies` as quotes price them, filled by `core.quotes.offers`: kept with the value, so every shelf that
    # holds this product shares them, and they go when the value does.
    parsed: dict = field(default_factory=dict, compare=False, repr=False)


def decode_inventory(value: bytes) -> Inventory:
    magic, first_day, nights, types, rows, meta_len = PREFIX.unpack_from(value)
    if magic != MAGIC:
        raise ValueError("not a product inventory value")
    offset = PREFIX.size

    def take(dtype: str, count: int) -> np.ndarray:
        nonlocal offset
        array = np.frombuffer(value, dtype=dtype, count=count, offset=offset)
        offset += array.nbytes
        return array

    ids = take("<i8", types)
    counts = take("<i4", types * nights).reshape(types, nights)
    occupancy = take("<i4", types)
    row_type = take("<i4", rows)
    prices = take("<i8", rows * nights).reshape(rows, nights)
    refundable = take("<i1", rows * nights).reshape(rows, nights)
    policy = take("<i4", rows * nights).reshape(rows, nights)
    meta = orjson.loads(value[offset:offset + meta_len])
    return Inventory(first_day, nights, ids, counts, occupancy, row_type, prices, refundable, policy, meta["rows"],
                     meta["policies"])


# Set one room type's sellable counts on consecutive nights of a product value, in place, and announce the
# change. The counts come from PostgreSQL (allotment - held, never below 0) in the transaction that changed
# them; the writer holds the product's advisory lock (`core.orders.holds`) from before its commit until this
# has run, so values land in commit order and a sync's rewrite never interleaves with them.
# KEYS: product value, changes stream. ARGV: room type id, first night (days since 1970-01-01), the product's
# "{supplier}|{supplier_hotel_id}", stream max length, then one count per night.
# Returns how many nights were written (0: the value or the room type is not cached).
SET_COUNTS_LUA = """
local head = redis.call('GETRANGE', KEYS[1], 0, 23)
if #head < 24 or string.sub(head, 1, 4) ~= 'HCP1' then return 0 end
local _, first, nights, types = struct.unpack('<c4i4I4I4', head)
local ids = redis.call('GETRANGE', KEYS[1], 24, 24 + 8 * types - 1)
local wanted = tonumber(ARGV[1])
local index = -1
for i = 0, types - 1 do
  local id = struct.unpack('<i8', ids, 1 + 8 * i)
  if id == wanted then index = i break end
end
if index < 0 then return 0 end
local base = 24 + 8 * types + 4 * index * nights
local changed = 0
for k = 5, #ARGV do
  local n = tonumber(ARGV[2]) + (k - 5) - first
  if n >= 0 and n < nights then
    local count = tonumber(ARGV[k])
    if count < 0 then count = 0 end
    redis.call('SETRANGE', KEYS[1], base + 4 * n, struct.pack('<i4', count))
    changed = changed + 1
  end
end
if changed > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'p', ARGV[3])
end
return changed
"""


def announce(pipe, products: list[str]) -> None:
    """Queue a changes-stream entry naming these products ("{supplier}|{supplier_hotel_id}") on a pipeline."""
    if products:
        pipe.xadd(CHANGES_KEY, {"p": "\n".join(products)}, maxlen=CHANGES_MAXLEN, approximate=True)


def write_inventory(pipe, supplier_code: str, supplier_hotel_id: str, value: bytes,
                    ttl_s: int = PRODUCT_TTL_S) -> None:
    """Queue one supplier hotel's packed inventory on a Redis pipeline (the caller announces and executes)."""
    pipe.set(product_key(supplier_code, supplier_hotel_id), value, ex=ttl_s)


def write_products(pipe, country: str, city: str, products: list[Product]) -> None:
    """Queue adding products to their city's and hotels' sets on a Redis pipeline."""
    if not products:
        return
    pipe.sadd(city_key(country, city), *[product.member() for product in products])
    for product in products:
        pipe.sadd(hotel_key(product.hotel_id), f"{product.supplier_code}|{product.supplier_hotel_id}")
