"""Catalog and supplier hotels turned into columns the matcher compares, plus the blocking indexes.

Blocking keeps cost roughly linear: a supplier hotel is compared only with catalog hotels
- in its ~1 km geo cell or the 8 around it,
- sharing one of its two rarest distinguishing name words in the same country, or the whole name
  (both survive gross coordinate errors),
- with the same phone number,
- in the same city when it has no coordinates.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from core.matching import normalize as nz
from core.matching.phone import national_number
from core.matching.records import CatalogHotel, SupplierHotel

CELL_DEG = 0.009  # ~1 km of latitude
MAX_TOKEN_POSTINGS = 60  # words shared by more hotels than this in a country are not used for blocking
_NOT_ALNUM_RE = re.compile(r"[\W_]+")  # \w is str.isalnum() plus "_"


def _cell_row(lat: float) -> int:
    return math.floor(lat / CELL_DEG)


def _cell_col(lon: float, row: int) -> int:
    center = (row + 0.5) * CELL_DEG
    return math.floor(lon * max(math.cos(math.radians(center)), 0.05) / CELL_DEG)


def _raw_local(text: str | None) -> str:
    """A name written (partly) outside ASCII, reduced to its letters and digits; "" for ASCII names."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "" if text.isascii() else _NOT_ALNUM_RE.sub("", text)


def _country(value: str | None) -> str:
    return (value or "").strip().upper()


# distinguishing words of one name variant: (words, as a set, sorted and joined, joined)
CoreWords = tuple[tuple[str, ...], frozenset[str], str, str]


def core_words(words: tuple[str, ...]) -> CoreWords:
    return words, frozenset(words), "".join(sorted(words)), "".join(words)


@dataclass
class Side:
    """Column-wise normalised hotels (catalog or supplier)."""

    ids: list[str]
    country: list[str]
    lat: np.ndarray
    lon: np.ndarray
    star: np.ndarray
    names: list[list[tuple[str, str]]]  # per hotel: (token string, compact) variants (English, local)
    raw_local: list[list[str]]  # names in their own script, for direct comparison
    tokens: list[set[str]]  # all name tokens (for IDF and blocking)
    core_words: list[list[CoreWords]]  # distinguishing words per name variant, in the forms compared
    foreign: list[bool]  # name written in a non-Latin script
    local_city: list[bool]  # city also known in its local script
    addresses: list[list[str]]
    numbers: list[frozenset[str]]
    name_numbers: list[frozenset[str]]
    cities: list[list[str]]
    phone: list[str]
    prelim: list[str] = field(default_factory=list)  # one string per hotel for the cheap pre-score


def _prepare(rows: Sequence, vocabulary: set[str], catalog: bool,
             token_cache: dict[str | None, list[str]] | None = None) -> Side:
    n = len(rows)
    side = Side(ids=[], country=[], lat=np.full(n, np.nan), lon=np.full(n, np.nan), star=np.full(n, np.nan),
                names=[], raw_local=[], tokens=[], core_words=[], foreign=[], local_city=[], addresses=[],
                numbers=[], name_numbers=[], cities=[], phone=[])
    token_cache = token_cache if token_cache is not None else {}

    def toks(text: str | None) -> list[str]:
        hit = token_cache.get(text)
        if hit is None:
            hit = nz.tokens(text, vocabulary)
            if len(token_cache) < 500_000:
                token_cache[text] = hit
        return hit

    for i, row in enumerate(rows):
        side.ids.append(row.hotel_id if catalog else f"{row.supplier_code}\x1f{row.supplier_hotel_id}")
        country = _country(row.country)
        side.country.append(country)
        if row.lat is not None and row.lon is not None:
            side.lat[i], side.lon[i] = row.lat, row.lon
        if row.star is not None:
            side.star[i] = row.star
        city_variants = [c for c in {nz.compact(toks(row.city)),
                                     nz.compact(toks(getattr(row, "city_local", None)))} if c]
        city_tokens = set(toks(row.city)) | set(toks(getattr(row, "city_local", None)))
        name_variants = [toks(row.name)]
        raws = [_raw_local(row.name)]
        if catalog and row.name_local:
            name_variants.append(toks(row.name_local))
            raws.append(_raw_local(row.name_local))
        side.names.append([(" ".join(v), nz.compact(t for t in v if t != "hotel")) for v in name_variants if v]
                          or [("", "")])
        side.raw_local.append([r for r in raws if r])
        side.foreign.append(bool(raws[0]))
        side.local_city.append(bool(getattr(row, "city_local", None)) or bool(_raw_local(row.city)))
        all_tokens = {t for v in name_variants for t in v}
        side.name_numbers.append(nz.numbers(all_tokens))
        side.tokens.append(all_tokens)
        side.core_words.append([core_words(nz.core_tokens(v, city_tokens)) for v in name_variants if v]
                               or [core_words(())])
        addr_variants = [toks(row.address)]
        if catalog and row.address_local:
            addr_variants.append(toks(row.address_local))
        side.addresses.append([" ".join(v) for v in addr_variants if v])
        side.numbers.append(frozenset().union(*(nz.numbers(v) for v in addr_variants)))
        side.cities.append(city_variants)
        side.phone.append(national_number(row.phone, country))
        side.prelim.append(" ".join(name for name, _ in side.names[-1]))
    return side


@dataclass
class PreparedCatalog:
    side: Side
    vocabulary: set[str]
    cells: dict[tuple[int, int], np.ndarray]
    country_code: np.ndarray  # catalog country as a small integer, for vectorised comparison
    country_ids: dict[str, int]
    token_index: dict[tuple[str, str], list[int]]
    name_index: dict[tuple[str, str], list[int]]
    phone_index: dict[str, list[int]]
    city_index: dict[tuple[str, str], list[int]]
    idf: dict[str, float]
    default_idf: float
    lat_rad: np.ndarray  # latitudes in radians and their cosines, for distances to many rows at once
    cos_lat: np.ndarray
    prelim: np.ndarray  # Side.prelim as an object array, indexed by candidate rows


def prepare_catalog(hotels: Sequence[CatalogHotel]) -> PreparedCatalog:
    cache: dict = {}
    vocabulary = nz.vocabulary_of((text for h in hotels for text in (h.name, h.address, h.city) if text), cache)
    side = _prepare(hotels, vocabulary, catalog=True, token_cache=cache)
    cells: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i in np.flatnonzero(~np.isnan(side.lat)).tolist():
        row = _cell_row(side.lat[i])
        cells[(row, _cell_col(side.lon[i], row))].append(i)
    token_index: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, cores in enumerate(side.core_words):
        for token in frozenset().union(*(words for words, *_ in cores)):
            token_index[(side.country[i], token)].append(i)
    token_index = {k: v for k, v in token_index.items() if len(v) <= MAX_TOKEN_POSTINGS}
    name_index: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, names in enumerate(side.names):
        for key in _name_keys(names):
            name_index[(side.country[i], key)].append(i)
    phone_index: dict[str, list[int]] = defaultdict(list)
    for i, phone in enumerate(side.phone):
        if phone:
            phone_index[phone[-8:]].append(i)
    # A number several catalog hotels share (a chain's reservation line) identifies none of them.
    for rows in phone_index.values():
        if len(rows) > 1:
            for i in rows:
                side.phone[i] = ""
    phone_index = {k: v for k, v in phone_index.items() if len(v) == 1}
    city_index: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, cities in enumerate(side.cities):
        for city in cities:
            city_index[(side.country[i], city)].append(i)
    df: dict[str, int] = defaultdict(int)
    for toks in side.tokens:
        for t in toks:
            df[t] += 1
    n = max(len(hotels), 1)
    idf = {t: math.log((n + 1) / (c + 0.5)) for t, c in df.items()}
    country_ids = {c: k for k, c in enumerate(sorted(set(side.country)))}
    country_code = np.array([country_ids[c] for c in side.country], dtype=np.int32)
    cells_np = {k: np.array(v, dtype=np.int64) for k, v in cells.items()}
    lat_rad = np.radians(side.lat)
    return PreparedCatalog(side, vocabulary, cells_np, country_code, country_ids, token_index, dict(name_index),
                           dict(phone_index), dict(city_index), idf, math.log(n + 1), lat_rad, np.cos(lat_rad),
                           np.array(side.prelim, dtype=object))


def prepare_suppliers(hotels: Sequence[SupplierHotel], catalog: PreparedCatalog) -> Side:
    side = _prepare(hotels, catalog.vocabulary, catalog=False)
    # A country the catalog does not know ("China", "CHN", a typo) is treated as unknown, not as a mismatch.
    side.country = [c if c in catalog.country_ids else "" for c in side.country]
    return side


def _name_keys(names: list[tuple[str, str]]) -> set[str]:
    """Whole-name keys: the compact name, and its words sorted (word order differs between suppliers)."""
    keys = {compact for _, compact in names if compact}
    keys.update("".join(sorted(t for t in text.split() if t != "hotel")) for text, _ in names if text)
    return keys - {""}


def token_df(catalog: PreparedCatalog, country: str, token: str) -> int:
    postings = catalog.token_index.get((country, token))
    return len(postings) if postings is not None else 10**9


def geo_block(catalog: PreparedCatalog, lat: float, lon: float) -> np.ndarray:
    """Catalog rows in the ~1 km cell of (lat, lon) and the 8 around it."""
    if math.isnan(lat):
        return np.empty(0, dtype=np.int64)
    parts = []
    row0 = _cell_row(lat)
    for row in (row0 - 1, row0, row0 + 1):
        col0 = _cell_col(lon, row)
        for col in (col0 - 1, col0, col0 + 1):
            hit = catalog.cells.get((row, col))
            if hit is not None:
                parts.append(hit)
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)


def block(catalog: PreparedCatalog, sup: Side, i: int) -> tuple[set[int], set[int]]:
    """Catalog rows found for supplier row i by name, phone or city (not geo), and those sharing the phone."""
    candidates: set[int] = set()
    lat = sup.lat[i]
    country = sup.country[i]
    rare = sorted(frozenset().union(*(words for words, *_ in sup.core_words[i])),
                  key=lambda t: token_df(catalog, country, t))[:2]
    for token in rare:
        hit = catalog.token_index.get((country, token))
        if hit:
            candidates.update(hit)
    for key in _name_keys(sup.names[i]):
        candidates.update(catalog.name_index.get((country, key), ()))
    phone_hits: set[int] = set()
    if sup.phone[i]:
        phone_hits = set(catalog.phone_index.get(sup.phone[i][-8:], ()))
        candidates |= phone_hits
    if math.isnan(lat):
        for city in sup.cities[i]:
            candidates.update(catalog.city_index.get((country, city), ()))
    return candidates, phone_hits


def _great_circle_m(lat1: float, lat2_rad: np.ndarray, cos_lat2: np.ndarray, dlon: np.ndarray) -> np.ndarray:
    p1 = np.radians(lat1)
    a = np.sin((lat2_rad - p1) / 2) ** 2 + np.cos(p1) * cos_lat2 * np.sin(np.radians(dlon) / 2) ** 2
    return 2 * 6_371_000.0 * np.arcsin(np.sqrt(np.minimum(a, 1.0)))  # a >= 0: a sum of non-negative terms


def haversine_m(lat1: float, lon1: float, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distances in metres from one point to many (NaN where a coordinate is missing)."""
    lat2_rad = np.radians(lat2)
    return _great_circle_m(lat1, lat2_rad, np.cos(lat2_rad), lon2 - lon1)


def distances_m(catalog: PreparedCatalog, lat: float, lon: float, rows: np.ndarray) -> np.ndarray:
    """haversine_m from (lat, lon) to catalog rows, with the catalog's radians and cosines precomputed."""
    return _great_circle_m(lat, catalog.lat_rad[rows], catalog.cos_lat[rows], catalog.side.lon[rows] - lon)


def iter_ids(rows: Iterable[SupplierHotel]) -> list[tuple[str, str]]:
    return [(r.supplier_code, r.supplier_hotel_id) for r in rows]
