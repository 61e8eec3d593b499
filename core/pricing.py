"""The B2B2B price chain: supplier net → platform markup rule → partner markup rule → FX → sell price.

Rules (`pricing_rules`) match on partner (or partner tier), supplier, city, star range and the
check-in date; at each level the matching rule with the highest priority wins (ties: the most
specific, then the newest). A markup is `markup_pct` percent of the amount it applies to plus
`markup_fixed` per room-night (converted from `fixed_currency` when needed).

Every step is kept unrounded in a `PriceBreakdown`, computed in `EXACT` (60 significant digits: every
product of the chain fits, so nothing rounds on the way); the sell total is rounded exactly once, half up
to the currency's minor unit — the documented rounding place. Nightly prices and cancellation fees shown
to the partner are display values of the same exact amounts (`scale_exact`).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, localcontext

from core.fx import FxTable, StaleRate
from core.hotcache import normalise_city
from core.money import Money, exponent

RULES_CACHE_TTL_S = 30.0
HUNDRED = Decimal(100)
# Amounts have ~12 significant digits and rates at most 28 (a rate derived in the default context): no product
# or sum of the chain needs more than 60, so the chain is exact and only the documented rounding rounds.
EXACT = Context(prec=60, rounding=ROUND_HALF_EVEN)

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
    specific: int = 0  # how many criteria the rule names (ties between equal priorities go to the most specific)

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
    criteria = ("partner_id", "partner_tier", "supplier_code", "city", "star_min", "star_max", "date_from", "date_to")
    return Rule(
        row["id"], row["level"], row["partner_id"], row["partner_tier"], row["supplier_code"],
        normalise_city(row["city"]) if row["city"] else None, row["star_min"], row["star_max"],
        row["date_from"], row["date_to"], row["markup_pct"], row["markup_fixed"], row["fixed_currency"],
        row["priority"], created.timestamp() if created else 0.0, sum(row[c] is not None for c in criteria),
    )


def best_rule(rules: list[Rule], level: str, ctx: PricingContext) -> Rule | None:
    best: Rule | None = None
    best_key = None
    for rule in rules:
        if rule.level != level or not rule.matches(ctx):
            continue
        key = (rule.priority, rule.specific, rule.created, rule.id)
        if best_key is None or key > best_key:
            best, best_key = rule, key
    return best


@dataclass(frozen=True, slots=True)
class PriceBreakdown:
    """All amounts for the whole stay (all rooms); every step exact, the sell total rounded once."""

    net: Money
    platform_markup: Decimal  # in the net currency
    partner_markup: Decimal  # in the net currency
    gross: Decimal  # net + both markups, in the net currency
    fx_rate: Decimal  # net currency → sell currency
    sell_exact: Decimal  # gross × fx_rate, unrounded, in the sell currency
    sell_currency: str
    platform_rule: Rule | None
    partner_rule: Rule | None
    sell_total: Money  # Money(sell_exact).rounded(): the one rounding place of the price chain

    def as_json(self) -> dict:
        return breakdown_json(self.net.amount, self.net.currency, self.platform_markup, self.platform_rule,
                              self.partner_markup, self.partner_rule, self.gross, self.fx_rate, self.sell_exact,
                              self.sell_total.amount, self.sell_currency)


def breakdown_json(net: Decimal, currency: str, platform: Decimal, platform_rule: Rule | None, partner: Decimal,
                   partner_rule: Rule | None, gross: Decimal, fx_rate: Decimal, sell_exact: Decimal, sell: Decimal,
                   sell_currency: str) -> dict:
    """The stored form of every step of the chain (what orders and the warehouse read back)."""
    return {
        "net": {"amount": str(net), "currency": currency},
        "platform_markup": {"amount": str(platform), "currency": currency,
                            "rule_id": platform_rule.id if platform_rule else None},
        "partner_markup": {"amount": str(partner), "currency": currency,
                           "rule_id": partner_rule.id if partner_rule else None},
        "gross": {"amount": str(gross), "currency": currency},
        "fx": {"from": currency, "to": sell_currency, "rate": str(fx_rate)},
        "sell_exact": {"amount": str(sell_exact), "currency": sell_currency},
        "sell": {"amount": str(sell), "currency": sell_currency},
    }


def fixed_markup(rule: Rule | None, room_nights: int, currency: str, fx: FxTable) -> Decimal | None:
    """A rule's fixed markup for the stay, in the net currency (None: the rule has none)."""
    if rule is None or not rule.markup_fixed:
        return None
    fixed = rule.markup_fixed * room_nights
    if rule.fixed_currency and rule.fixed_currency != currency:
        fixed = fixed * fx.rate(rule.fixed_currency, currency)
    return fixed


def apply_markup(rule: Rule | None, base: Decimal, fixed: Decimal | None) -> Decimal:
    """A rule's markup on `base`: its percentage, plus its fixed part (`fixed_markup`)."""
    if rule is None:
        return Decimal(0)
    amount = base * rule.markup_pct / HUNDRED
    return amount if fixed is None else amount + fixed


def _markup(rule: Rule | None, base: Decimal, room_nights: int, currency: str, fx: FxTable) -> Decimal:
    return apply_markup(rule, base, fixed_markup(rule, room_nights, currency, fx))


def stale_conversion(rules: tuple[Rule | None, Rule | None], currency: str, sell_currency: str,
                     fx: FxTable) -> StaleRate | None:
    """Why a stay priced with `rules` from `currency` into `sell_currency` is not sold: the first conversion it
    needs (the net's, then a fixed markup's) whose rate is stale (FX_MAX_AGE_DAYS); None when none is."""
    stale = fx.stale(currency, sell_currency)
    for rule in rules:
        if stale is None and rule is not None and rule.markup_fixed and rule.fixed_currency:
            stale = fx.stale(rule.fixed_currency, currency)
    return stale


def rules_for(rules: list[Rule], ctx: PricingContext) -> tuple[Rule | None, Rule | None]:
    """The winning (platform, partner) rules for a context."""
    return best_rule(rules, "platform", ctx), best_rule(rules, "partner", ctx)


def chain(rules: tuple[Rule | None, Rule | None], net: Decimal, room_nights: int, currency: str,
          fx: FxTable) -> tuple[Decimal, Decimal]:
    """(platform markup, partner markup) on a net amount, exact, in the net currency."""
    with localcontext(EXACT):
        platform = _markup(rules[0], net, room_nights, currency, fx)
        return platform, _markup(rules[1], net + platform, room_nights, currency, fx)


def breakdown_of(rules: tuple[Rule | None, Rule | None], net_total: Money, room_nights: int, sell_currency: str,
                 fx: FxTable) -> PriceBreakdown:
    """The full breakdown for already resolved rules (see `price`)."""
    currency = net_total.currency
    net = net_total.amount
    platform, partner = chain(rules, net, room_nights, currency, fx)
    rate = fx.rate(currency, sell_currency)
    with localcontext(EXACT):
        gross = net + platform + partner
        sell_exact = gross * rate
    # The one rounding place of the price chain.
    sell_total = Money(sell_exact.quantize(exponent(sell_currency), rounding=ROUND_HALF_UP), sell_currency)
    return PriceBreakdown(
        net=net_total, platform_markup=platform, partner_markup=partner, gross=gross, fx_rate=rate,
        sell_exact=sell_exact, sell_currency=sell_currency, platform_rule=rules[0], partner_rule=rules[1],
        sell_total=sell_total,
    )


def scale_exact(part: Decimal, sell_exact: Decimal, net: Decimal, unit: Decimal) -> Decimal:
    """A part of the net (one night, a cancellation fee) at the offer's sell/net ratio, as a display amount:
    part × sell_exact / net, rounded half up once (as the sell total is). Never summed into the total."""
    if not net:
        return Decimal(0).quantize(unit)
    with localcontext(EXACT):
        return (part * sell_exact / net).quantize(unit, rounding=ROUND_HALF_UP)


def price(rules: list[Rule], ctx: PricingContext, net_total: Money, room_nights: int, sell_currency: str,
          fx: FxTable, memo: dict | None = None) -> PriceBreakdown:
    """Price a stay whose total net (all nights, all rooms) is `net_total`.

    `memo` (one per quote) remembers the winning rules per supplier/city/star, which is all that
    varies between the offers of one quote.
    """
    key = (ctx.supplier_code, ctx.city, ctx.star)
    found = memo.get(key) if memo is not None else None
    if found is None:
        found = rules_for(rules, ctx)
        if memo is not None:
            memo[key] = found
    return breakdown_of(found, net_total, room_nights, sell_currency, fx)


def scale_to_sell(breakdown: PriceBreakdown, net_amount: Decimal) -> dict[str, str]:
    """A part of the net (one night, a cancellation fee) in the sell currency, as a display amount (JSON money)."""
    currency = breakdown.sell_currency
    amount = scale_exact(net_amount, breakdown.sell_exact, breakdown.net.amount, exponent(currency))
    return {"amount": str(amount), "currency": currency}


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
