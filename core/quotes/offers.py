"""Pricing a stay's offers: every sellable rate at once in floating point to find each offer's cheapest rate and
the cheapest offers, then the price chain exactly for the offers shown.

An offer is one per hotel × room name × board × refundability; its rate is the one with the least exact sell
price (ties: the first row of the shelf). Floats only choose: every candidate within FLOAT_SLACK of a choice
is priced exactly, so an amount a partner sees is always the Decimal chain's (tests compare the two over
10 000 random stays). The chain's steps are `core.pricing`'s own (`fixed_markup` once per price class,
`apply_markup` per offer, in `EXACT`); nightly display amounts are its `scale_exact` in integers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext

import numpy as np
import orjson

from core.fx import FxTable
from core.hotcache import day_number
from core.money import exponent, minor_digits
from core.pricing import EXACT, PricingContext, Rule, apply_markup, fixed_markup, rules_for, scale_exact
from core.quotes.caches import QuoteError
from core.quotes.shelf import Row, Shelf

MAX_OFFERS = 200
FLOAT_SLACK = 1e-9  # relative: far above float error on these amounts, far below a cent


@dataclass(slots=True)
class _Class:
    """What the chain needs for one price class (supplier, city, star, net currency) in one quote."""

    rules: tuple[Rule | None, Rule | None]
    fixed: tuple[Decimal | None, Decimal | None]
    fx_rate: Decimal
    scale: float  # float sell per minor unit of net per room (choosing only)
    offset: float  # float sell of the fixed markups (choosing only)


@dataclass(slots=True)
class PricedOffer:
    row: Row
    nightly_minor: list[int]  # net per room and night, minor units of the net currency
    net_per_room: int  # minor units
    net: Decimal  # all nights, all rooms
    platform: Decimal
    partner: Decimal
    rules: tuple[Rule | None, Rule | None]
    fx_rate: Decimal
    sell_exact: Decimal
    sell: Decimal  # rounded once: the documented rounding place
    refundable: bool
    policy: int  # the check-in night's supplier policy (index into the shelf's)


@dataclass(slots=True)
class PricedStay:
    """One quote's stay, as every offer of it is shown."""

    shelf: Shelf
    check_in: dt.date
    nights: int
    rooms: int
    sell_currency: str
    offers: list[PricedOffer]

    @property
    def dates(self) -> list[str]:
        return [(self.check_in + dt.timedelta(days=index)).isoformat() for index in range(self.nights)]


def price_offers(shelf: Shelf, *, partner_id: str, tier: str, check_in: dt.date, nights: int, rooms: int,
                 per_room: int, sell_currency: str, rules: list[Rule], fx: FxTable,
                 explicit_currency: bool = False) -> PricedStay:
    """The stay's offers, cheapest first (then hotel id, room name), at most MAX_OFFERS."""
    result = PricedStay(shelf, check_in, nights, rooms, sell_currency, [])
    stay = shelf.stay(day_number(check_in), nights, rooms, per_room)
    if stay is None:
        return result
    room_nights = nights * rooms
    row_class = shelf.price_class[stay.rows]
    classes: list[_Class | None] = [None] * len(shelf.classes)
    for index in np.unique(row_class).tolist():
        classes[index] = _price_class(shelf.classes[index], partner_id, tier, check_in, rules, room_nights,
                                      rooms, sell_currency, fx)
    scale = np.array([c.scale if c else np.nan for c in classes])
    offset = np.array([c.offset if c else np.nan for c in classes])
    sell = stay.net * scale[row_class] + offset[row_class]
    sellable = ~np.isnan(sell)
    if not sellable.any():
        if explicit_currency:
            raise QuoteError(422, "currency_unavailable", f"no exchange rate into {sell_currency}")
        return result
    positions = np.flatnonzero(sellable)
    groups = shelf.group[stay.rows[positions]] * 2 + stay.refundable[positions]
    sells = sell[positions]
    order = np.lexsort((positions, sells, groups))  # by group, then float sell, then shelf order
    groups, sells, positions = groups[order], sells[order], positions[order]
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    best = np.repeat(sells[starts], np.diff(np.r_[starts, len(groups)]))
    ties = np.flatnonzero(sells <= best * (1 + FLOAT_SLACK) + FLOAT_SLACK)
    ties = ties[~np.isin(ties, starts)]  # candidates beside each group's float minimum
    tied: dict[int, list[int]] = {}
    for tie in ties.tolist():
        tied.setdefault(int(groups[tie]), []).append(int(positions[tie]))
    cut = _cutoff(sells[starts])
    with localcontext(EXACT):
        unit = exponent(sell_currency)
        for index in np.flatnonzero(sells[starts] <= cut).tolist():
            start = int(starts[index])
            candidates = sorted([int(positions[start]), *tied.get(int(groups[start]), ())])
            priced = [_exact(stay, shelf, classes, row_class, p, rooms, nights, unit) for p in candidates]
            result.offers.append(min(priced, key=lambda offer: offer.sell_exact))  # min keeps the first of equals
    result.offers.sort(key=lambda offer: (offer.sell, offer.row.product.hotel_id, offer.row.room_name))
    del result.offers[MAX_OFFERS:]
    return result


def _price_class(price_class: tuple, partner_id: str, tier: str, check_in: dt.date, rules: list[Rule],
                 room_nights: int, rooms: int, sell_currency: str, fx: FxTable) -> _Class | None:
    supplier_code, city, star, currency = price_class
    applied = rules_for(rules, PricingContext(partner_id, tier, supplier_code, city, star, check_in))
    try:
        fx_rate = fx.rate(currency, sell_currency)
        with localcontext(EXACT):
            fixed = (fixed_markup(applied[0], room_nights, currency, fx),
                     fixed_markup(applied[1], room_nights, currency, fx))
    except LookupError:  # no FX path for this supplier currency, or for a fixed markup's
        return None
    k, f = 1.0, 0.0
    for rule, part in zip(applied, fixed, strict=True):
        if rule is not None:
            factor = 1 + float(rule.markup_pct) / 100
            k, f = k * factor, f * factor + (float(part) if part is not None else 0.0)
    rate = float(fx_rate)
    return _Class(applied, fixed, fx_rate, k * rate * rooms / 10 ** minor_digits(currency), f * rate)


def _cutoff(sells: np.ndarray) -> float:
    """The float sell at or under which an offer may be among the MAX_OFFERS cheapest (with the slack)."""
    if len(sells) <= MAX_OFFERS:
        return float("inf")
    limit = float(np.partition(sells, MAX_OFFERS - 1)[MAX_OFFERS - 1])
    return limit * (1 + FLOAT_SLACK) + FLOAT_SLACK


def _exact(stay, shelf: Shelf, classes: list, row_class: np.ndarray, position: int, rooms: int, nights: int,
           unit: Decimal) -> PricedOffer:
    """The chain for one row of the stay, as `core.pricing.breakdown_of` computes it (inside EXACT)."""
    row_index = int(stay.rows[position])
    row = shelf.rows[row_index]
    price_class = classes[int(row_class[position])]
    per_room = int(stay.net[position])
    net = Decimal(per_room * rooms).scaleb(-row.digits)
    platform_rule, partner_rule = price_class.rules
    platform = apply_markup(platform_rule, net, price_class.fixed[0])
    partner = apply_markup(partner_rule, net + platform, price_class.fixed[1])
    sell_exact = (net + platform + partner) * price_class.fx_rate
    return PricedOffer(row, shelf.prices[row_index, stay.first:stay.first + nights].tolist(), per_room, net,
                       platform, partner, price_class.rules, price_class.fx_rate, sell_exact,
                       sell_exact.quantize(unit, rounding=ROUND_HALF_UP), bool(stay.refundable[position]),
                       int(stay.policy[position]))


# ------------------------------------------------------------------ JSON


class _Scale:
    """`core.pricing.scale_exact` for one offer in integers: part × sell_exact / net, rounded half up to the sell
    currency's minor unit. Exact, as the Decimal form at 60 digits is (a quotient of these sizes is either on a
    half-unit boundary exactly or far from it)."""

    def __init__(self, offer: PricedOffer, rooms: int, digits: int) -> None:
        sign, mantissa, exponent = offer.sell_exact.as_tuple()
        number = int("".join(map(str, mantissa))) * (-1 if sign else 1)
        # part_minor / net_minor × number × 10^exponent, in units of 10^-digits of the sell currency
        self.numerator = number * 10 ** max(0, exponent + digits)
        self.denominator = offer.net_per_room * rooms * 10 ** max(0, -(exponent + digits))
        self.digits = digits

    def minor(self, part_minor: int) -> int:
        if not self.denominator:
            return 0
        numerator = 2 * part_minor * self.numerator
        return (numerator + self.denominator) // (2 * self.denominator) if numerator >= 0 else \
            -((-numerator + self.denominator) // (2 * self.denominator))

    def text(self, part_minor: int) -> str:
        return format_minor(self.minor(part_minor), self.digits)


def format_minor(amount: int, digits: int) -> str:
    """Integer minor units as the decimal string `Decimal.quantize` gives ("12.30", "-0.05", "1200")."""
    if not digits:
        return str(amount)
    sign = "-" if amount < 0 else ""
    whole, part = divmod(abs(amount), 10 ** digits)
    return f"{sign}{whole}.{part:0{digits}d}"


def _supplier_policy(rules: list | None, rooms: int) -> list[dict]:
    """A supplier policy for this many rooms (stored form: fee for all rooms, net currency); bad rules left out."""
    stored = []
    for rule in rules or ():
        try:
            stored.append({"hours_before": int(rule["hours_before"]), "fee": Decimal(str(rule["fee"])) * rooms,
                           "currency": rule.get("currency")})
        except (KeyError, TypeError, ValueError, ArithmeticError):
            continue
    return stored


def _cancellation(policy: list[dict], offer: PricedOffer, unit: Decimal, currency: str) -> str:
    """The partner's cancellation policy (JSON): each fee, at most the net, at the offer's sell/net ratio."""
    return ",".join(
        f'{{"hours_before":{rule["hours_before"]},"fee":{{"amount":'
        f'"{scale_exact(min(rule["fee"], offer.net), offer.sell_exact, offer.net, unit)}","currency":"{currency}"}}}}'
        for rule in policy)


def offer_json(stay: PricedStay) -> tuple[list[bytes], bytes]:
    """Each offer's JSON for the partner after its id (`"offer_id":"…",` is the caller's), closing brace
    included, and the offer set as stored (the `quote_offers` view's elements: every step of the chain)."""
    currency, rooms = stay.sell_currency, stay.rooms
    digits, unit = minor_digits(currency), exponent(currency)
    dates = stay.dates
    price = '"currency":"' + currency + '"}}'
    policies: dict[int, list[dict]] = {}  # each supplier policy of the shelf parsed once per stay
    shown, stored = [], []
    for rank, offer in enumerate(stay.offers):
        scale = _Scale(offer, rooms, digits)
        nightly = ",".join(f'{{"date":"{day}","price":{{"amount":"{scale.text(night * rooms)}",{price}'
                           for day, night in zip(dates, offer.nightly_minor, strict=True))
        policy = policies.get(offer.policy)
        if policy is None:
            policy = policies[offer.policy] = _supplier_policy(stay.shelf.policies[offer.policy], rooms)
        cancellation = _cancellation(policy, offer, unit, currency)
        refundable = "true" if offer.refundable else "false"
        sell = str(offer.sell)
        shown.append(offer.row.shown + (
            f',"total_price":{{"amount":"{sell}","currency":"{currency}"}},"nightly":[{nightly}],'
            f'"cancellation_policy":[{cancellation}],"refundable":{refundable}}}').encode())
        platform_rule, partner_rule = offer.rules
        net_digits = offer.row.digits
        stored.append(b"{" + offer.row.stored + orjson.dumps({
            "rank": rank, "net_amount": str(offer.net), "platform_markup": str(offer.platform),
            "platform_rule_id": platform_rule.id if platform_rule else None,
            "partner_markup": str(offer.partner), "partner_rule_id": partner_rule.id if partner_rule else None,
            "fx_rate": str(offer.fx_rate), "sell_exact": str(offer.sell_exact), "sell_amount": sell,
            "refundable": offer.refundable, "nightly_net": [format_minor(n, net_digits) for n in offer.nightly_minor],
            "supplier_policy": [{**rule, "fee": str(rule["fee"])} for rule in policy],
        }).replace(b"{", b",", 1)[:-1] + f',"cancellation_policy":[{cancellation}]}}'.encode())
    return shown, b"[" + b",".join(stored) + b"]"
