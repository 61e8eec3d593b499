"""What a partner would pay for a hotel on some nights: per synced room rate, net, each step of the chain, sell.

Priced by `core.pricing.price` over the active rules and the newest exchange rates, as a quote is, from the
rates the inventory sync stored in PostgreSQL (`rates`, for the hotel's auto-matched supplier hotels).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.fx import LATEST_RATES_SQL, FxTable, FxUnavailable
from core.hotcache import normalise_city
from core.money import Money
from core.pricing import RULES_SQL, PricingContext, price, rule_from_row
from core.pricing_rules import RuleError, as_json


@dataclass(frozen=True)
class PreviewRequest:
    partner_id: str
    hotel_id: str
    check_in: dt.date
    check_out: dt.date
    rooms: int = 1
    currency: str | None = None  # default: the partner's credit currency


_NETS_SQL = """
SELECT sh.supplier_code, rt.room_code, r.board, r.rate_plan, r.currency, sum(r.net_amount) AS net,
       count(*) AS nights
FROM hotel_mappings m
JOIN supplier_hotels sh ON sh.id = m.supplier_hotel
JOIN room_types rt ON rt.supplier_hotel = sh.id
JOIN rates r ON r.room_type_id = rt.id
WHERE m.master_hotel_id = :hotel  -- the mappings the hot cache sells (core.inventory.cache)
  AND ((m.decision = 'auto' AND m.status NOT IN ('rejected', 'marked_new')) OR m.status = 'accepted')
  AND r.stay_date >= :check_in AND r.stay_date < :check_out
GROUP BY sh.supplier_code, rt.room_code, r.board, r.rate_plan, r.currency
HAVING count(*) = :nights
ORDER BY sum(r.net_amount), sh.supplier_code, rt.room_code, r.board, r.rate_plan
"""


def preview(engine: Engine, request: PreviewRequest, default_currency: str) -> dict:
    """What partner P would pay for hotel H on these nights, per synced room rate: net, each step, sell.

    Priced by `core.pricing.price` over the active rules and the newest rates, as a quote is."""
    nights = (request.check_out - request.check_in).days
    if nights < 1:
        raise RuleError("check_out", "must be after check_in")
    if not 1 <= request.rooms <= 9:
        raise RuleError("rooms", "must be between 1 and 9")
    with engine.connect() as conn:
        try:
            partner = conn.execute(sa.text("SELECT tier, credit_currency FROM partners WHERE id = CAST(:p AS uuid)"),
                                   {"p": request.partner_id}).first()
        except sa.exc.DataError:
            raise RuleError("partner_id", "not a partner id (UUID)") from None
        if partner is None:
            raise RuleError("partner_id", "no such partner", 404)
        hotel = conn.execute(sa.text("SELECT city, star FROM master_hotels WHERE id = :h"),
                             {"h": request.hotel_id}).first()
        if hotel is None:
            raise RuleError("hotel_id", "no such hotel", 404)
        rules = [rule_from_row(row) for row in conn.execute(sa.text(RULES_SQL)).mappings()]
        fx = FxTable({(r.base_currency, r.quote_currency): r.rate for r in conn.execute(sa.text(LATEST_RATES_SQL))},
                     default_currency)
        nets = conn.execute(sa.text(_NETS_SQL), {"hotel": request.hotel_id, "check_in": request.check_in,
                                                 "check_out": request.check_out, "nights": nights}).all()
    sell_currency = (request.currency or partner.credit_currency).upper()
    offers = []
    for net in nets:
        ctx = PricingContext(request.partner_id, partner.tier, net.supplier_code, normalise_city(hotel.city),
                             hotel.star, request.check_in)
        base = {"supplier_code": net.supplier_code, "room_code": net.room_code, "board": net.board,
                "rate_plan": net.rate_plan}
        try:
            breakdown = price(rules, ctx, Money(net.net * request.rooms, net.currency.strip()),
                              nights * request.rooms, sell_currency, fx)
        except FxUnavailable as error:
            offers.append({**base, "sellable": False, "reason": str(error)})
            continue
        offers.append({**base, "sellable": True, "breakdown": breakdown.as_json()})
    return {"partner_id": request.partner_id, "partner_tier": partner.tier, "hotel_id": request.hotel_id,
            "check_in": request.check_in.isoformat(), "check_out": request.check_out.isoformat(),
            "nights": nights, "rooms": request.rooms, "currency": sell_currency, "offers": offers}




def latest_rates(engine: Engine) -> list[dict]:
    """The newest stored rate of each pair (what quotes convert with), for display."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT DISTINCT ON (base_currency, quote_currency) base_currency, quote_currency, rate, as_of, source"
            " FROM fx_rates ORDER BY base_currency, quote_currency, as_of DESC")).mappings().all()
    return [as_json(dict(row)) for row in rows]
