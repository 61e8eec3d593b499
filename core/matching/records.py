"""The hotel records the matcher reads and the decisions it writes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class CatalogHotel:
    hotel_id: str
    name: str
    name_local: str | None = None
    address: str | None = None
    city: str | None = None
    country: str | None = None
    lat: float | None = None
    lon: float | None = None
    star: float | None = None
    phone: str | None = None
    address_local: str | None = None
    city_local: str | None = None


@dataclass(frozen=True, slots=True)
class SupplierHotel:
    supplier_code: str
    supplier_hotel_id: str
    name: str
    address: str | None = None
    city: str | None = None
    country: str | None = None
    lat: float | None = None
    lon: float | None = None
    star: float | None = None
    phone: str | None = None


@dataclass(slots=True)
class Candidate:
    hotel_id: str
    score: float
    features: dict[str, float | None]
    contributions: dict[str, float]
    distance_m: float | None
    row: int = -1  # position in the prepared catalog

    def as_dict(self) -> dict:
        return {"hotel_id": self.hotel_id, "score": round(self.score, 4), "distance_m": self.distance_m,
                "features": {k: (None if v is None else round(v, 4)) for k, v in self.features.items()},
                "contributions": {k: round(v, 4) for k, v in self.contributions.items()}}


@dataclass(slots=True)
class MatchDecision:
    supplier_code: str
    supplier_hotel_id: str
    decision: str  # auto | review | new
    hotel_id: str | None  # matched (auto) or None
    score: float
    reason: str
    candidates: list[Candidate] = field(default_factory=list)

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None
