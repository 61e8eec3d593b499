"""`sort=recommended`: a stay's offers in the order of the deployment plan's weights (`core.matching.ranking`):
price, hotel rating (its stars), availability (rooms left on the stay's scarcest night) and the supplier's
reliability as the platform measures it (`caches.supplier_reliability`)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from core.matching.ranking import OfferFacts, RankingWeights, rank_offers
from core.money import Money
from core.quotes.offers import PricedStay

DEFAULT_RELIABILITY = 0.95


def recommend(stay: PricedStay, weights: RankingWeights, reliability: dict[str, float]) -> None:
    """Reorder the stay's offers, best score first (ties: the cheaper, then price order)."""
    offers = stay.offers
    if len(offers) < 2 or any(offer.sell_minor <= 0 for offer in offers):
        return
    rows = np.fromiter((offer.row_index for offer in offers), np.int64, len(offers))
    rooms_left = stay.shelf.counts[rows, stay.first:stay.first + stay.nights].min(axis=1).tolist()
    facts = [OfferFacts(offer, Money(Decimal(offer.sell_minor).scaleb(-stay.sell_digits), stay.sell_currency),
                        float(offer.row.hotel.star) if offer.row.hotel.star is not None else None, left,
                        reliability.get(offer.row.product.supplier_code, DEFAULT_RELIABILITY))
             for offer, left in zip(offers, rooms_left, strict=True)]
    offers[:] = [ranked.offer for ranked in rank_offers(facts, weights)]
