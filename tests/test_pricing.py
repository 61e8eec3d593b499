"""The B2B2B price chain and FX, as pure functions: rule choice, each step, one rounding."""

from __future__ import annotations

import datetime as dt
from decimal import Context, Decimal

import pytest

from core.fx import FxTable, FxUnavailable
from core.money import Money
from core.pricing import PricingContext, Rule, best_rule, price, scale_to_sell

D = Decimal


def rule(id_: int, level: str, pct: str = "0", *, priority: int = 0, fixed: str = "0", fixed_currency=None,
         **criteria) -> Rule:
    names = ("partner_id", "partner_tier", "supplier_code", "city", "star_min", "star_max", "date_from", "date_to")
    values = {name: criteria.get(name) for name in names}
    return Rule(id_, level, *values.values(), D(pct), D(fixed), fixed_currency, priority, float(id_),
                sum(v is not None for v in values.values()))


CTX = PricingContext("p-1", "gold", "A", "shanghai", D("4.5"), dt.date(2027, 5, 1))
FX = FxTable({("USD", "CNY"): D("7.2"), ("EUR", "CNY"): D("7.8")}, pivot="CNY")


def test_highest_priority_wins_then_most_specific():
    rules = [rule(1, "platform", "50", priority=1), rule(2, "platform", "10", priority=5, city="shanghai"),
             rule(3, "platform", "99", priority=9, city="beijing"), rule(4, "platform", "20", priority=5)]
    assert best_rule(rules, "platform", CTX).id == 2  # 3 does not match; 2 and 4 tie on priority, 2 is specific


@pytest.mark.parametrize(("criteria", "matches"), [
    ({"partner_tier": "gold"}, True), ({"partner_tier": "standard"}, False),
    ({"supplier_code": "B"}, False), ({"star_min": D("4")}, True), ({"star_min": D("5")}, False),
    ({"star_max": D("4")}, False), ({"date_from": dt.date(2027, 5, 1)}, True),
    ({"date_to": dt.date(2027, 4, 30)}, False), ({"partner_id": "p-2"}, False),
])
def test_rule_criteria(criteria, matches):
    assert rule(1, "partner", "5", **criteria).matches(CTX) is matches


def test_chain_steps_and_single_rounding():
    rules = [rule(1, "platform", "10"), rule(2, "partner", "5", fixed="1.5", fixed_currency="CNY")]
    result = price(rules, CTX, Money(D("400"), "CNY"), room_nights=4, sell_currency="USD", fx=FX)
    assert result.platform_markup == D("40")
    assert result.partner_markup == D("28")  # 5 % of 440 + 1.5 × 4 room-nights
    assert result.gross == D("468")
    rate = 1 / D("7.2")  # the inverse of the stored USD rate, as FxTable derives it (28 digits)
    assert result.fx_rate == rate
    assert result.sell_exact == Context(prec=60).multiply(D("468"), rate)  # exact: the chain rounds nothing
    assert result.sell_total == Money(D("65.00"), "USD")
    stored = result.as_json()
    assert stored["platform_markup"]["rule_id"] == 1 and stored["partner_markup"]["rule_id"] == 2
    assert stored["sell"] == {"amount": "65.00", "currency": "USD"}


def test_rounding_half_up_once_on_the_total():
    # Three nights of 10.005 would round to 10.01 each (30.03) if rounded per night; once, the total is 30.02.
    result = price([], CTX, Money(D("30.015"), "CNY"), room_nights=3, sell_currency="CNY", fx=FX)
    assert result.sell_total.amount == D("30.02")
    assert scale_to_sell(result, D("10.005")) == {"amount": "10.01", "currency": "CNY"}  # display only


def test_fixed_markup_in_another_currency_is_converted():
    rules = [rule(1, "platform", "0", fixed="1", fixed_currency="USD")]
    result = price(rules, CTX, Money(D("100"), "CNY"), room_nights=2, sell_currency="CNY", fx=FX)
    assert result.platform_markup == D("14.4")


def test_fx_direct_inverse_cross_and_missing():
    assert FX.rate("CNY", "CNY") == 1
    assert FX.rate("USD", "CNY") == D("7.2")
    assert FX.rate("CNY", "USD") == 1 / D("7.2")
    assert FX.rate("EUR", "USD") == D("7.8") * (1 / D("7.2"))
    with pytest.raises(FxUnavailable):
        FX.rate("JPY", "CNY")


def test_money_refuses_floats():
    with pytest.raises(TypeError):
        Money.of(1.5, "CNY")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(D("1"), "CNY") * 1.1  # type: ignore[operator]
