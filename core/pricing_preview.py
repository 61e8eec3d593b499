"""What a partner would pay for a hotel on some nights: per synced room rate, net, each step of the chain, sell.

Priced by `core.pricing.price` over the active rules and the newest exchange rates, as a quote is, from the
rates the inventory sync stored in PostgreSQL (`rates`, for the hotel's auto-matched supplier hotels). A rate a
quote would not sell on (older than FX_MAX_AGE_DAYS, `core.pricing.stale_conversion`) makes the room rate unsellable
with the quote's reason (`fx_rate_stale: ...`) instead of a price.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.fx import LATEST_RATES_SQL, FxUnavailable, StaleRate, table_of
from core.hotcache import normalise_city
from core.money import Money
from core.pricing import RULES_SQL, PricingContext, price, rule_from_row, rules_for, stale_conversion
from core.pricing_rules import RuleError, as_json
from core.settings import get_settings


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


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _max_age(max_age_days: int | None) -> int:
    return get_settings().fx_max_age_days if max_age_days is None else max_age_days


def preview(engine: Engine, request: PreviewRequest, default_currency: str, max_age_days: int | None = None) -> dict:
    """What partner P would pay for hotel H on these nights, per synced room rate: net, each step, sell.

    Priced by `core.pricing.price` over the active rules and the newest rates, as a quote is; a rate older than
    `max_age_days` (default FX_MAX_AGE_DAYS) gives the room rate no price but the quote's reason."""
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
        fx = table_of(conn.execute(sa.text(LATEST_RATES_SQL)).mappings().all(), default_currency,
                      _max_age(max_age_days), _today())
        nets = conn.execute(sa.text(_NETS_SQL), {"hotel": request.hotel_id, "check_in": request.check_in,
                                                 "check_out": request.check_out, "nights": nights}).all()
    sell_currency = (request.currency or partner.credit_currency).upper()
    offers = []
    for net in nets:
        ctx = PricingContext(request.partner_id, partner.tier, net.supplier_code, normalise_city(hotel.city),
                             hotel.star, request.check_in)
        base = {"supplier_code": net.supplier_code, "room_code": net.room_code, "board": net.board,
                "rate_plan": net.rate_plan}
        net_currency = net.currency.strip()
        stale = stale_conversion(rules_for(rules, ctx), net_currency, sell_currency, fx)
        if stale is not None:  # as a quote lists it under unsellable_offers
            offers.append({**base, "sellable": False, "reason": _reason(stale)})
            continue
        try:
            breakdown = price(rules, ctx, Money(net.net * request.rooms, net_currency),
                              nights * request.rooms, sell_currency, fx)
        except FxUnavailable as error:
            offers.append({**base, "sellable": False, "reason": {"code": "fx_rate_missing", "message": str(error)}})
            continue
        offers.append({**base, "sellable": True, "breakdown": breakdown.as_json()})
    return {"partner_id": request.partner_id, "partner_tier": partner.tier, "hotel_id": request.hotel_id,
            "check_in": request.check_in.isoformat(), "check_out": request.check_out.isoformat(),
            "nights": nights, "rooms": request.rooms, "currency": sell_currency, "offers": offers}


def _reason(stale: StaleRate) -> dict:
    return {"code": stale.code, "message": stale.message}


def latest_rates(engine: Engine, max_age_days: int | None = None) -> list[dict]:
    """The newest stored rate of each pair (what quotes convert with), for display; `stale` is the quote's reason
    (`fx_rate_stale: ...`) for a rate older than `max_age_days` (default FX_MAX_AGE_DAYS), else None."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT DISTINCT ON (base_currency, quote_currency) base_currency, quote_currency, rate, as_of, source"
            " FROM fx_rates ORDER BY base_currency, quote_currency, as_of DESC")).mappings().all()
    max_age = _max_age(max_age_days)
    stale_before = _today() - dt.timedelta(days=max_age)
    return [{**as_json(dict(row)),
             "stale": StaleRate(row["base_currency"], row["quote_currency"], row["as_of"], max_age).message
             if row["as_of"] < stale_before else None} for row in rows]
