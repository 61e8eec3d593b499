"""Best-offer ranking: several suppliers offer the same mapped hotel and room; which offer comes first.

score = w_price · (cheapest price / this price) + w_rating · (rating / 5) + w_availability · (rooms left,
capped at `availability_cap`, / cap) + w_reliability · supplier reliability. Default weights 0.4 / 0.3 /
0.2 / 0.1, overridden by `platform_config` key `matching.algorithm.weights` (price_weight,
rating_weight, availability_weight, supplier_reliability_weight).

Prices are compared as Decimal `Money` in one currency (convert before ranking); the score is a
unitless ranking number, never money. Ties keep the cheaper offer first, then the input order.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, TypeVar

from core.money import Money

logger = logging.getLogger("matching.ranking")
RANKING_WEIGHTS_KEY = "matching.algorithm.weights"
# The `matching.algorithm.weights` JSON's fields, by the weight each sets.
_CONFIG_NAMES = {"price_weight": "price", "rating_weight": "rating", "availability_weight": "availability",
                 "supplier_reliability_weight": "reliability"}
CONFIG_FIELDS = tuple(_CONFIG_NAMES)
_WARNED: set[str] = set()
T = TypeVar("T")


@dataclass(frozen=True)
class RankingWeights:
    price: float = 0.4
    rating: float = 0.3
    availability: float = 0.2
    reliability: float = 0.1

    @classmethod
    def live(cls, value: Any) -> RankingWeights:
        """`from_config` for a value read live: one stored before the config center checked values, unusable, is
        logged and the defaults rank instead of every recommended quote failing."""
        try:
            return cls.from_config(value)
        except (AttributeError, TypeError, ValueError) as error:
            if str(error) not in _WARNED:  # once per process and value, not once per quote
                _WARNED.add(str(error))
                logger.warning("unusable config value; ranking with the default weights",
                               extra={"context": {"key": RANKING_WEIGHTS_KEY, "error": str(error)}})
            return cls()

    @classmethod
    def from_config(cls, value: Mapping[str, Any] | None) -> RankingWeights:
        """From the `matching.algorithm.weights` JSON (missing keys keep their defaults)."""
        value = value or {}
        default = cls()
        weights = cls(**{name: float(value.get(field, getattr(default, name)))
                         for field, name in _CONFIG_NAMES.items()})
        if min(weights.price, weights.rating, weights.availability, weights.reliability) < 0:
            raise ValueError(f"{RANKING_WEIGHTS_KEY}: weights must not be negative")
        return weights


@dataclass(frozen=True)
class OfferFacts(Generic[T]):
    """What ranking needs to know about one offer; `offer` is the caller's own object, returned as is."""

    offer: T
    price: Money
    rating: float | None = None  # hotel/supplier rating on a 0..5 scale; None counts as the lowest
    rooms_available: int = 0
    supplier_reliability: float = 0.95  # suppliers.reliability, 0..1


@dataclass(frozen=True)
class RankedOffer(Generic[T]):
    offer: T
    score: float
    parts: dict[str, float]  # each weighted component, for explaining the order


def rank_offers(offers: Sequence[OfferFacts[T]], weights: RankingWeights | None = None,
                availability_cap: int = 5) -> list[RankedOffer[T]]:
    """Offers best first. All prices must share one currency (ValueError otherwise)."""
    if not offers:
        return []
    weights = weights or RankingWeights()
    currencies = {o.price.currency for o in offers}
    if len(currencies) > 1:
        raise ValueError(f"rank offers in one currency; got {', '.join(sorted(currencies))}")
    cheapest = min(o.price.amount for o in offers)
    ranked: list[tuple[float, Decimal, int, RankedOffer[T]]] = []
    for index, o in enumerate(offers):
        if o.price.amount <= 0:
            raise ValueError("offer price must be positive")
        price = float(cheapest / o.price.amount)
        rating = max(0.0, min(1.0, (o.rating or 0.0) / 5.0))
        availability = max(0, min(o.rooms_available, availability_cap)) / availability_cap if availability_cap else 0.0
        reliability = max(0.0, min(1.0, float(o.supplier_reliability)))
        parts = {"price": weights.price * price, "rating": weights.rating * rating,
                 "availability": weights.availability * availability, "reliability": weights.reliability * reliability}
        score = sum(parts.values())
        ranked.append((-score, o.price.amount, index, RankedOffer(o.offer, round(score, 6), parts)))
    ranked.sort(key=lambda item: item[:3])
    return [item[3] for item in ranked]


def ranking_weights(engine, env: str = "production") -> RankingWeights:
    """The weights stored in platform_config (defaults when the key is absent)."""
    from core.config import config_value

    return RankingWeights.from_config(config_value(engine, RANKING_WEIGHTS_KEY, None, env))
