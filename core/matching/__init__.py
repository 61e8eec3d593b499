"""Hotel matching: supplier hotels onto the master catalog (auto / review / new), and best-offer ranking.

Public entry points:
- `Matcher(catalog, config).match(supplier_hotels, workers=1) -> list[MatchDecision]`
- `rank_offers(offers: Sequence[OfferFacts], weights: RankingWeights | None = None) -> list[RankedOffer]`
"""
