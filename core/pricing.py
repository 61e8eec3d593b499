"""The B2B2B price chain: supplier net → platform markup rule → partner markup rule → FX → sell price.

Rules (`pricing_rules`) match on partner (or partner tier), supplier, city, star range and the
check-in date; at each level the matching rule with the highest priority wins (ties: the most
specific, then the newest). A markup is `markup_pct` percent of the amount it applies to plus
`markup_fixed` per room-night (converted from `fixed_currency` when needed).

Every step is kept unrounded in a `PriceBreakdown`; the sell total is rounded exactly once, by
`Money.rounded()` in `PriceBreakdown.sell_total` — the documented rounding place. Nightly prices
shown to the partner are display values of the same exact amounts.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from decimal import Decimal

from core.fx import FxTable
from core.hotcache import normalise_city
from core.money import Money

RULES_CACHE_TTL_S = 30.0
HUNDRED = Decimal(100)

RULES_SQL = (
    "SELECT id, level, partner_id::text AS partner_id, partner_tier, supplier_code, city, star_min, star_max,"
    " date_from, date_to, markup_pct, markup_fixed, fixed_currency, priority, created_at"
    " FROM pricing_rules WHERE active"
)


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    level: str
    partner_id: str | None
    partner_tier: str | None
    supplier_code: str | None
    city: str | None  # normalised
    star_min: Decimal | None
    star_max: Decimal | None
    date_from: dt.date | None
    date_to: dt.date | None
    markup_pct: Decimal
    markup_fixed: Decimal
    fixed_currency: str | None
    priority: int
    created: float

    def matches(self, ctx: PricingContext) -> bool:
        if self.partner_id is not None and self.partner_id != ctx.partner_id:
            return False
        if self.partner_tier is not None and self.partner_tier != ctx.partner_tier:
            return False
        if self.supplier_code is not None and self.supplier_code != ctx.supplier_code:
            return False
        if self.city is not None and self.city != ctx.city:
            return False
        if self.star_min is not None and (ctx.star is None or ctx.star < self.star_min):
            return False
        if self.star_max is not None and (ctx.star is None or ctx.star > self.star_max):
            return False
        if self.date_from is not None and ctx.check_in < self.date_from:
            return False
        if self.date_to is not None and ctx.check_in > self.date_to:
            return False
        return True

    def specificity(self) -> int:
        return sum(v is not None for v in (self.partner_id, self.partner_tier, self.supplier_code, self.city,
                                           self.star_min, self.star_max, self.date_from, self.date_to))

    def as_json(self) -> dict:
        return {"rule_id": self.id, "markup_pct": str(self.markup_pct), "markup_fixed": str(self.markup_fixed),
                "fixed_currency": self.fixed_currency}


@dataclass(frozen=True, slots=True)
class PricingContext:
    partner_id: str
    partner_tier: str
    supplier_code: str
    city: str  # normalised
    star: Decimal | None
    check_in: dt.date


def rule_from_row(row) -> Rule:
    created = row["created_at"]
    return Rule(
        row["id"], row["level"], row["partner_id"], row["partner_tier"], row["supplier_code"],
        normalise_city(row["city"]) if row["city"] else None, row["star_min"], row["star_max"],
        row["date_from"], row["date_to"], row["markup_pct"], row["markup_fixed"], row["fixed_currency"],
        row["priority"], created.timestamp() if created else 0.0,
    )


def best_rule(rules: list[Rule], level: str, ctx: PricingContext) -> Rule | None:
    best: Rule | None = None
    best_key = None
    for rule in rules:
        if rule.level != level or not rule.matches(ctx):
            continue
        key = (rule.priority, rule.specificity(), rule.created, rule.id)
        if best_key is None or key > best_key:
            best, best_key = rule, key
    return best


@dataclass(frozen=True, slots=True)
class PriceBreakdown:
    """All amounts for the whole stay (all rooms), unrounded until `sell_total`."""

    net: Money
    platform_markup: Money  # in the net currency
    partner_markup: Money  # in the net currency
    fx_rate: Decimal  # net currency → sell currency
    sell_currency: str
    platform_rule: Rule | None
    partner_rule: Rule | None
    factor_pct: tuple[Decimal, Decimal]  # (platform pct, partner pct) for nightly display

    @property
    def gross(self) -> Money:
        return self.net + self.platform_markup + self.partner_markup

    @property
    def sell_exact(self) -> Money:
        return Money(self.gross.amount * self.fx_rate, self.sell_currency)

    @property
    def sell_total(self) -> Money:
        return self.sell_exact.rounded()  # the one rounding place of the price chain

    def as_json(self) -> dict:
        return {
            "net": {"amount": str(self.net.amount), "currency": self.net.currency},
            "platform_markup": {"amount": str(self.platform_markup.amount), "currency": self.net.currency,
                                "rule": self.platform_rule.as_json() if self.platform_rule else None},
            "partner_markup": {"amount": str(self.partner_markup.amount), "currency": self.net.currency,
                               "rule": self.partner_rule.as_json() if self.partner_rule else None},
            "gross": {"amount": str(self.gross.amount), "currency": self.net.currency},
            "fx": {"from": self.net.currency, "to": self.sell_currency, "rate": str(self.fx_rate)},
            "sell_exact": {"amount": str(self.sell_exact.amount), "currency": self.sell_currency},
            "sell": {"amount": str(self.sell_total.amount), "currency": self.sell_currency},
            "rounding": "ROUND_HALF_UP to the sell currency's minor unit, once, on the total",
        }


def _markup(rule: Rule | None, base: Decimal, room_nights: int, currency: str, fx: FxTable) -> Decimal:
    if rule is None:
        return Decimal(0)
    amount = base * rule.markup_pct / HUNDRED
    if rule.markup_fixed:
        fixed = rule.markup_fixed * room_nights
        if rule.fixed_currency and rule.fixed_currency != currency:
            fixed = fixed * fx.rate(rule.fixed_currency, currency)
        amount += fixed
    return amount


def price(rules: list[Rule], ctx: PricingContext, net_total: Money, room_nights: int, sell_currency: str,
          fx: FxTable) -> PriceBreakdown:
    """Price a stay whose total net (all nights, all rooms) is `net_total`."""
    platform_rule = best_rule(rules, "platform", ctx)
    partner_rule = best_rule(rules, "partner", ctx)
    currency = net_total.currency
    platform = _markup(platform_rule, net_total.amount, room_nights, currency, fx)
    partner = _markup(partner_rule, net_total.amount + platform, room_nights, currency, fx)
    return PriceBreakdown(
        net=net_total, platform_markup=Money(platform, currency), partner_markup=Money(partner, currency),
        fx_rate=fx.rate(currency, sell_currency), sell_currency=sell_currency,
        platform_rule=platform_rule, partner_rule=partner_rule,
        factor_pct=(platform_rule.markup_pct if platform_rule else Decimal(0),
                    partner_rule.markup_pct if partner_rule else Decimal(0)),
    )


def scale_to_sell(breakdown: PriceBreakdown, net_amount: Decimal) -> Money:
    """A part of the net (one night, a cancellation fee) at the same sell/net ratio, rounded for display."""
    if breakdown.net.amount == 0:
        return Money(Decimal(0), breakdown.sell_currency).rounded()
    ratio = breakdown.sell_exact.amount / breakdown.net.amount
    return Money(net_amount * ratio, breakdown.sell_currency).rounded()


class RulesCache:
    """Active pricing rules, reloaded at most every RULES_CACHE_TTL_S seconds."""

    def __init__(self, ttl_s: float = RULES_CACHE_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._rules: list[Rule] | None = None
        self._loaded_at = 0.0

    async def rules(self, pool) -> list[Rule]:
        if self._rules is None or time.monotonic() - self._loaded_at >= self.ttl_s:
            async with pool.acquire() as conn:
                rows = await conn.fetch(RULES_SQL)
            self._rules = [rule_from_row(row) for row in rows]
            self._loaded_at = time.monotonic()
        return self._rules

    def invalidate(self) -> None:
        self._rules = None
