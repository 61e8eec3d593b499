"""One seeded world: the master hotel catalog and each supplier's own, imperfect view of it.

Deterministic for a seed. Each supplier sees a covered hotel under its own name variant (brand word
order, abbreviations, typos, Chinese names at supplier B, pinyin at C), address and phone format,
coordinates jittered by tens of metres (now and then kilometres off) and a star rating that is
sometimes half a star or a star off. Brand chains put sibling properties a few hundred metres apart;
each supplier also sells a few hotels no master record knows (`true_hotel_id=None`).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from suppliers.geo import (
    BRAND_LOCAL_JA,
    BRANDS,
    CITIES,
    CN_STREETS,
    FR_WORDS,
    HOTEL_TYPES,
    INTL_WORDS,
    JA_WORDS,
    NAME_WORDS,
    QUALIFIERS,
    STREETS,
    City,
)

SUPPLIER_LANGUAGE = {"A": "en", "B": "zh", "C": "en"}


@dataclass(frozen=True)
class MasterHotel:
    hotel_id: str
    name: str
    name_local: str | None
    address: str
    address_local: str | None
    city: str
    city_local: str | None
    country: str
    lat: float
    lon: float
    star: float | None
    phone: str | None
    brand: str | None


@dataclass(frozen=True)
class WorldSupplierHotel:
    supplier_code: str
    supplier_hotel_id: str
    name: str
    address: str
    city: str
    country: str
    lat: float
    lon: float
    star: float | None
    phone: str | None
    language: str
    true_hotel_id: str | None  # None = supplier-only hotel (no master)


@dataclass
class World:
    seed: int
    master_hotels: list[MasterHotel]
    supplier_hotels: dict[str, list[WorldSupplierHotel]]
    _facts: dict[str, _Facts] = field(default_factory=dict, repr=False, compare=False)

    def truth(self) -> dict[tuple[str, str], str | None]:
        """(supplier_code, supplier_hotel_id) → the master hotel it really is (None: supplier-only)."""
        return {(h.supplier_code, h.supplier_hotel_id): h.true_hotel_id
                for hotels in self.supplier_hotels.values() for h in hotels}

    def supplier_hotel(self, supplier_code: str, supplier_hotel_id: str) -> WorldSupplierHotel | None:
        index = self.__dict__.setdefault("_index", {})
        if supplier_code not in index:
            index[supplier_code] = {h.supplier_hotel_id: h for h in self.supplier_hotels.get(supplier_code, [])}
        return index[supplier_code].get(supplier_hotel_id)

    def city_of(self, hotel: WorldSupplierHotel) -> City:
        """The world city a supplier hotel lies in (for price levels)."""
        key = hotel.true_hotel_id or f"{hotel.supplier_code}:{hotel.supplier_hotel_id}"
        facts = self._facts.get(key)
        return facts.city if facts else CITIES[0]


@dataclass(frozen=True)
class _Facts:
    """Everything a supplier view is derived from (richer than the MasterHotel record)."""

    hotel_id: str
    city: City
    district: tuple[str, str | None, str]
    brand: tuple | None
    qualifier: tuple[str, str] | None
    words: tuple  # independent: (word, type) name parts
    street_no: int
    street: tuple[str, str | None, str]  # (english, local, pinyin)
    phone_digits: str
    lat: float
    lon: float
    star: float | None


def _metres_to_deg(lat: float, north_m: float, east_m: float) -> tuple[float, float]:
    dlat = north_m / 111_320.0
    dlon = east_m / (111_320.0 * max(0.2, math.cos(math.radians(lat))))
    return dlat, dlon


def _street(rng: random.Random, city: City) -> tuple[str, str | None, str]:
    if city.country == "CN":
        return rng.choice(CN_STREETS)
    name = rng.choice(STREETS[city.country])
    return (name, None, name)


def _phone_digits(rng: random.Random, city: City) -> str:
    first = str(rng.randint(2, 9))
    return first + "".join(str(rng.randint(0, 9)) for _ in range(city.local_digits - 1))


class _Generator:
    def __init__(self, seed: int | str) -> None:
        self.rng = random.Random(seed)
        self.cities = CITIES
        self.city_weights = [c.weight for c in CITIES]
        self.brands_for = {
            c.country: [b for b in BRANDS if b[5] is None or c.country in b[5]] for c in CITIES
        }
        self.branded_in_city: dict[str, list[_Facts]] = {}
        self.names_taken: set[tuple[str, str]] = set()

    def facts(self, hotel_id: str) -> _Facts:
        rng = self.rng
        city = rng.choices(self.cities, weights=self.city_weights)[0]
        siblings = self.branded_in_city.get(city.name)
        if siblings and rng.random() < 0.18:
            return self._sibling(hotel_id, city, rng.choice(siblings))
        district = rng.choice(city.districts)
        radius = 1500 + rng.random() * 6000
        angle = rng.random() * 2 * math.pi
        dlat, dlon = _metres_to_deg(city.lat, radius * math.sin(angle), radius * math.cos(angle))
        lat, lon = city.lat + dlat, city.lon + dlon
        brand = None
        words: tuple = ()
        if rng.random() < 0.55:
            brand = rng.choice(self.brands_for[city.country])
            star: float | None = brand[3]
        else:
            words = self._independent_words(city)
            star = rng.choice((2.0, 3.0, 3.0, 3.5, 4.0, 4.0, 4.5, 5.0))
        if rng.random() < 0.03:
            star = None
        facts = _Facts(hotel_id, city, district, brand, None, words, rng.randint(1, 1999), _street(rng, city),
                       _phone_digits(rng, city), lat, lon, star)
        return self._unique(facts)

    def _independent_words(self, city: City) -> tuple:
        rng = self.rng
        if city.country == "CN":
            return (rng.choice(NAME_WORDS), rng.choice(NAME_WORDS), rng.choice(HOTEL_TYPES))
        if city.country == "JP":
            return (rng.choice(JA_WORDS), rng.choice(JA_WORDS))
        if city.country == "FR":
            return (rng.choice(FR_WORDS),)
        return (rng.choice(INTL_WORDS), rng.choice(INTL_WORDS), rng.choice(("Hotel", "Hotel", "Inn", "Suites",
                                                                            "Resort")))

    def _sibling(self, hotel_id: str, city: City, other: _Facts) -> _Facts:
        """Another property of the same brand family, a few hundred metres from `other`."""
        rng = self.rng
        family = [b for b in self.brands_for[city.country] if b[0] == other.brand[0]]
        brand = rng.choice(family)
        distance = 150 + rng.random() * 450
        angle = rng.random() * 2 * math.pi
        dlat, dlon = _metres_to_deg(other.lat, distance * math.sin(angle), distance * math.cos(angle))
        qualifier = rng.choice(QUALIFIERS) if brand == other.brand or rng.random() < 0.3 else None
        facts = _Facts(hotel_id, city, other.district, brand, qualifier, (), rng.randint(1, 1999),
                       other.street if rng.random() < 0.6 else _street(rng, city), _phone_digits(rng, city),
                       other.lat + dlat, other.lon + dlon, brand[3])
        return self._unique(facts)

    def _unique(self, facts: _Facts) -> _Facts:
        """Two hotels never share a master name in one city: add a qualifier (or a number) if needed."""
        name = master_name(facts)
        attempt = 0
        while (facts.city.name, name) in self.names_taken:
            attempt += 1
            qualifier = QUALIFIERS[(attempt - 1) % len(QUALIFIERS)]
            if attempt > len(QUALIFIERS):
                qualifier = (f"{qualifier[0]} {attempt // len(QUALIFIERS) + 1}",
                             f"{qualifier[1]}{attempt // len(QUALIFIERS) + 1}")
            facts = _replace(facts, qualifier=qualifier)
            name = master_name(facts)
        self.names_taken.add((facts.city.name, name))
        if facts.brand is not None:
            self.branded_in_city.setdefault(facts.city.name, []).append(facts)
        return facts


def _replace(facts: _Facts, **changes) -> _Facts:
    values = {name: getattr(facts, name) for name in facts.__dataclass_fields__}
    values.update(changes)
    return _Facts(**values)


# ------------------------------------------------------------------ master record


def _brand_full(brand: tuple) -> str:
    return f"{brand[1]} {brand[4]}" if brand[4] else brand[1]


def master_name(f: _Facts) -> str:
    district = f.district[0]
    qualifier = f" {f.qualifier[0]}" if f.qualifier else ""
    if f.brand is not None:
        return f"{_brand_full(f.brand)} {f.city.name} {district}{qualifier}"
    country = f.city.country
    if country == "CN":
        (w1, w2, kind) = f.words
        return f"{f.city.name} {w1[0]} {w2[0]} {kind[0]}{qualifier}" if w1 != w2 else \
            f"{f.city.name} {w1[0]} {kind[0]}{qualifier}"
    if country == "JP":
        (w1, w2) = f.words
        return f"Hotel {w1[0]} {w2[0]} {district}{qualifier}"
    if country == "FR":
        return f"Hotel {f.words[0]} {district}{qualifier}"
    (w1, w2, kind) = f.words
    return f"The {w1} {w2} {kind} {district}{qualifier}" if w1 != w2 else f"The {w1} {kind} {district}{qualifier}"


def zh_name(f: _Facts) -> str:
    """The Chinese name a Chinese OTA shows (brands and CN independents; foreign independents stay English)."""
    district_zh = f.district[2]
    qualifier = f.qualifier[1] if f.qualifier else ""
    if f.brand is not None:
        if f.brand[6]:  # Chinese budget chains: "如家酒店(上海虹桥店)"
            return f"{f.brand[2]}酒店({f.city.zh}{district_zh}{qualifier}店)"
        return f"{f.city.zh}{district_zh}{qualifier}{f.brand[2]}酒店"
    if f.city.country == "CN":
        (w1, w2, kind) = f.words
        middle = w1[1] + w2[1] if w1 != w2 else w1[1]
        return f"{f.city.zh}{middle}{kind[1]}{qualifier and '(' + qualifier + ')'}"
    return master_name(f)


def local_name(f: _Facts) -> str | None:
    if f.city.country == "CN":
        return zh_name(f)
    if f.city.country == "JP":
        district = f.district[1]
        if f.brand is not None:
            brand = BRAND_LOCAL_JA.get(f.brand[1], f.brand[1])
            return f"{brand}{f.city.local}{district}"
        (w1, w2) = f.words
        return f"ホテル{w1[1]}{w2[1]}{district}"
    return None


def pinyin_name(f: _Facts) -> str:
    (w1, w2, kind) = f.words
    middle = f"{w1[2]} {w2[2]}" if w1 != w2 else w1[2]
    return f"{f.city.name} {middle} {kind[2]}"


def english_address(f: _Facts) -> str:
    street = f.street[0]
    country = f.city.country
    if country == "CN":
        return f"{f.street_no} {street}, {f.district[0]} District, {f.city.name}"
    if country == "JP":
        no = f.street_no
        return f"{no % 9 + 1}-{no % 23 + 1}-{no % 17 + 1} {f.district[0]}, {f.city.name}"
    if country == "FR":
        return f"{f.street_no % 180 + 1} {street}, {f.city.name}"
    return f"{f.street_no} {street}, {f.city.name}"


def local_address(f: _Facts) -> str | None:
    if f.city.country == "CN":
        return f"{f.city.local}市{f.district[1]}区{f.street[1]}{f.street_no}号"
    if f.city.country == "JP":
        no = f.street_no
        return f"{f.city.local}{f.district[1]}{no % 9 + 1}-{no % 23 + 1}-{no % 17 + 1}"
    return None


def e164(f: _Facts) -> str:
    digits = f.phone_digits
    area = f.city.area
    half = len(digits) // 2
    return f"+{f.city.phone_cc} {area + ' ' if area else ''}{digits[:half]} {digits[half:]}".strip()


def _master(f: _Facts) -> MasterHotel:
    return MasterHotel(
        hotel_id=f.hotel_id, name=master_name(f), name_local=local_name(f), address=english_address(f),
        address_local=local_address(f), city=f.city.name, city_local=f.city.local, country=f.city.country,
        lat=round(f.lat, 6), lon=round(f.lon, 6), star=f.star, phone=e164(f),
        brand=f.brand[1] if f.brand else None,
    )


# ------------------------------------------------------------------ supplier views

_ABBREVIATIONS = (("International", "Intl"), ("Hotel", "Htl"), ("Airport", "Arpt"), ("Railway Station", "Rly Stn"),
                  ("Boulevard", "Blvd"), ("Suites", "Ste"), ("Downtown", "Dtwn"))
_ADDRESS_ABBREVIATIONS = (("Road", "Rd"), ("Avenue", "Ave"), ("Street", "St"), ("Boulevard", "Blvd"),
                          ("District", "Dist."))


def _typo(rng: random.Random, text: str) -> str:
    letters = [i for i, ch in enumerate(text) if ch.isalpha()]
    if len(letters) < 4:
        return text
    i = rng.choice(letters[1:-1])
    kind = rng.random()
    if kind < 0.4 and i + 1 < len(text):
        return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    if kind < 0.7:
        return text[:i] + text[i + 1:]
    return text[:i] + text[i] + text[i:]


def _abbreviate(text: str, table=_ABBREVIATIONS) -> str:
    for long, short in table:
        text = text.replace(long, short)
    return text


def _reordered(f: _Facts) -> str:
    """Place before brand: "Shanghai Hongqiao Hilton"."""
    qualifier = f" {f.qualifier[0]}" if f.qualifier else ""
    return f"{f.city.name} {f.district[0]}{qualifier} {_brand_full(f.brand)}"


def _name_a(rng: random.Random, f: _Facts) -> str:
    name = master_name(f)
    roll = rng.random()
    if roll < 0.62:
        return name
    if roll < 0.72:
        return _abbreviate(name) if _abbreviate(name) != name else name + " Hotel"
    if roll < 0.80 and f.brand is not None:
        return _reordered(f)
    if roll < 0.86:
        return name + " Hotel" if "Hotel" not in name else name.replace(" Hotel", "")
    if roll < 0.93:
        return _typo(rng, name)
    return name.upper()


def _name_b(rng: random.Random, f: _Facts) -> str:
    name = zh_name(f)
    if f.brand is not None and not f.brand[6] and rng.random() < 0.25:
        return f"{f.brand[2]}酒店({f.city.zh}{f.district[2]}{f.qualifier[1] if f.qualifier else ''}店)"
    if f.city.country != "CN" and f.brand is None and rng.random() < 0.3:
        return _typo(rng, name)
    if rng.random() < 0.08:
        return name.replace("酒店", "大酒店", 1) if "大酒店" not in name else name.replace("大酒店", "酒店", 1)
    return name


def _name_c(rng: random.Random, f: _Facts) -> str:
    name = master_name(f)
    roll = rng.random()
    if f.city.country == "CN" and f.brand is None and roll < 0.4:
        return pinyin_name(f)
    if f.brand is not None and f.brand[4] and roll < 0.35:
        return name.replace(f" {f.brand[4]}", "")  # "Courtyard Shanghai Pudong"
    if roll < 0.55:
        return name
    if roll < 0.67 and f.brand is not None:
        qualifier = f" {f.qualifier[0]}" if f.qualifier else ""
        return f"{_brand_full(f.brand)} {f.district[0]}{qualifier}, {f.city.name}"
    if roll < 0.77:
        return _abbreviate(name)
    if roll < 0.87:
        return _typo(rng, name)
    return name.upper()


def _address_a(rng: random.Random, f: _Facts) -> str:
    address = english_address(f)
    return _abbreviate(address, _ADDRESS_ABBREVIATIONS) if rng.random() < 0.3 else address


def _address_b(rng: random.Random, f: _Facts) -> str:
    if f.city.country == "CN":
        local = local_address(f) or english_address(f)
        return local.replace("市", "", 1) if rng.random() < 0.3 else local
    return english_address(f)


def _address_c(rng: random.Random, f: _Facts) -> str:
    if f.city.country == "CN" and rng.random() < 0.5:
        return f"No.{f.street_no} {f.street[2]}, {f.district[0]}, {f.city.name} {f.city.country}"
    address = english_address(f)
    return address.upper() if rng.random() < 0.15 else _abbreviate(address, _ADDRESS_ABBREVIATIONS)


def _phone(rng: random.Random, f: _Facts, style: str) -> str | None:
    if rng.random() < 0.1:
        return None
    cc, area, digits = f.city.phone_cc, f.city.area, f.phone_digits
    if style == "e164" or (style == "compact" and rng.random() < 0.3):
        return e164(f)
    if style == "compact":
        return f"+{cc}{area}{digits}"
    if style == "zh":
        if cc == "86":
            return f"0{area}-{digits}" if rng.random() < 0.5 else f"0086-{area}-{digits}"
        return f"00{cc}-{area + '-' if area else ''}{digits}"
    # national, as locals dial it
    if cc == "1":
        return f"({area}) {digits[:3]}-{digits[3:]}"
    trunk = "" if cc == "65" else "0"
    return f"{trunk}{area}{digits}" if rng.random() < 0.5 else f"{trunk}{area}-{digits}"


def _coordinates(rng: random.Random, f: _Facts) -> tuple[float, float]:
    if rng.random() < 0.02:  # a gross error: kilometres off
        north, east = rng.uniform(-1, 1) * rng.uniform(2000, 25000), rng.uniform(-1, 1) * rng.uniform(2000, 25000)
    else:
        north, east = rng.gauss(0, 25), rng.gauss(0, 25)
    dlat, dlon = _metres_to_deg(f.lat, north, east)
    return round(f.lat + dlat, 6), round(f.lon + dlon, 6)


def _star(rng: random.Random, star: float | None) -> float | None:
    if star is None or rng.random() < 0.04:
        return None
    roll = rng.random()
    if roll < 0.82:
        return star
    delta = 0.5 if roll < 0.94 else 1.0
    moved = star + delta if rng.random() < 0.5 else star - delta
    return min(5.0, max(1.0, moved))


_VIEW = {
    "A": (_name_a, _address_a, "e164"),
    "B": (_name_b, _address_b, "zh"),
    "C": (_name_c, _address_c, "compact"),
}


def _supplier_view(rng: random.Random, code: str, hotel_id: str, f: _Facts, true_id: str | None
                   ) -> WorldSupplierHotel:
    name_of, address_of, phone_style = _VIEW.get(code, _VIEW["A"])
    lat, lon = _coordinates(rng, f)
    city = f.city.zh if code == "B" else f.city.name
    if code == "C" and rng.random() < 0.2:
        city = city.upper()
    return WorldSupplierHotel(
        supplier_code=code, supplier_hotel_id=hotel_id, name=name_of(rng, f), address=address_of(rng, f),
        city=city, country=f.city.country, lat=lat, lon=lon, star=_star(rng, f.star),
        phone=_phone(rng, f, phone_style if code in _VIEW else "national"),
        language=SUPPLIER_LANGUAGE.get(code, "en"), true_hotel_id=true_id,
    )


def _supplier_id(rng: random.Random, code: str, f: _Facts, taken: set[str]) -> str:
    while True:
        if code == "A":
            candidate = str(rng.randint(10_000, 9_999_999))
        elif code == "B":
            candidate = f"{f.city.iata}{rng.randint(0, 9_999_999):07d}"
        elif code == "C":
            candidate = f"c-{rng.getrandbits(40):010x}"
        else:
            candidate = f"{code}{rng.randint(0, 99_999_999):08d}"
        if candidate not in taken:
            taken.add(candidate)
            return candidate


def roughened(rows: list, seed: int, phone_drop: float = 0.5, jitter_m: float = 150.0,
              swapped_share: float = 0.01) -> list:
    """Supplier hotel rows (any dataclass with `lat`, `lon`, `phone`) as messier feeds send them: phones dropped
    (`phone_drop` share), every coordinate moved by a further ~`jitter_m` metres (geocoded to a street, not the
    door), and `swapped_share` of them with latitude and longitude swapped. The same seed gives the same rows."""
    from dataclasses import replace

    rng = random.Random(f"harder:{seed}")
    out = []
    for h in rows:
        lat, lon = h.lat, h.lon
        if lat is not None and lon is not None:
            north, east = rng.gauss(0, jitter_m), rng.gauss(0, jitter_m)
            lat = max(-90.0, min(90.0, lat + north / 111_320.0))
            lon = lon + east / (111_320.0 * max(0.2, math.cos(math.radians(lat))))
            if rng.random() < swapped_share and abs(lon) <= 90:
                lat, lon = lon, lat
        phone = None if rng.random() < phone_drop else h.phone
        out.append(replace(h, lat=lat, lon=lon, phone=phone))
    return out


def roughen_world(world: World) -> World:
    """The world with every supplier's hotels `roughened` (the demo platform's suppliers, as real feeds are: its
    matching then leaves some hotels for an operator to review)."""
    for code, rows in world.supplier_hotels.items():
        world.supplier_hotels[code] = roughened(rows, world.seed)
    return world


def generate_world(seed: int, hotels: int, suppliers: tuple[str, ...] = ("A", "B", "C"), coverage: float = 0.7,
                   supplier_only_share: float = 0.05, master_only: bool = False) -> World:
    """`hotels` master hotels; each supplier covers a `coverage` share of them and sells
    `supplier_only_share` × that many hotels of its own that no master record knows."""
    if hotels < 0:
        raise ValueError("hotels must be >= 0")
    if not 0 <= coverage <= 1:
        raise ValueError("coverage must be between 0 and 1")
    generator = _Generator(seed)
    all_facts = [generator.facts(f"H{index + 1:07d}") for index in range(hotels)]
    world = World(seed=seed, master_hotels=[_master(f) for f in all_facts], supplier_hotels={})
    world._facts.update({f.hotel_id: f for f in all_facts})
    if master_only:
        return world
    for code in suppliers:
        rng = random.Random(f"{seed}:{code}")
        taken: set[str] = set()
        views = [
            _supplier_view(rng, code, _supplier_id(rng, code, f, taken), f, f.hotel_id)
            for f in all_facts if rng.random() < coverage
        ]
        extra = round(len(views) * supplier_only_share)
        # Supplier-only hotels come from the same generator (names stay unique in a city, and some are
        # siblings of catalogued hotels: the hard case for a matcher), on their own random stream.
        generator.rng = random.Random(f"{seed}:{code}:only")
        for index in range(extra):
            f = generator.facts(f"{code}-only-{index}")
            supplier_hotel_id = _supplier_id(rng, code, f, taken)
            view = _supplier_view(rng, code, supplier_hotel_id, f, None)
            world._facts[f"{code}:{supplier_hotel_id}"] = f
            views.append(view)
        rng.shuffle(views)
        world.supplier_hotels[code] = views
    return world
