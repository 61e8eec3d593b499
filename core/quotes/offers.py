"""Pricing a stay's offers: every sellable rate at once in floating point to find each offer's cheapest rate and
the cheapest offers, then the price chain exactly, in integers, for the offers shown.

An offer is one per hotel × room name × board × refundability; its rate is the one with the least exact sell
price (ties: the first row of the shelf). Floats only choose: every candidate within FLOAT_SLACK of a choice
is priced exactly, so an amount a partner sees is always the Decimal chain's (tests compare the two over
10 000 random stays).

The chain has no rounding before the sell total, so each of its steps is a linear function of the net: per
price class (supplier, city, star, net currency) `core.pricing`'s Decimal steps are applied once, in `EXACT`,
to one minor unit of net and to nothing (the fixed markups), and give integers over a power of ten (`_Forms`).
An offer's platform markup, partner markup and exact sell price are then one multiply-add each in Python
integers, rounded once as `Money.rounded` does.

A price class whose FX rate is stale (`core.fx.StaleRate`, FX_MAX_AGE_DAYS) is priced like one without a rate,
judged once per class and quote; the offers only it could have sold are listed in `PricedStay.unsellable` with
the reason (`unsellable_json`), never silently dropped. Nightly display amounts and cancellation fees are
`core.pricing.scale_exact` (part × sell_exact / net, half up): in floats for every night of every offer at
once, and in integers for any amount the floats cannot decide (within far more than their error of a half).
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from functools import lru_cache

import numpy as np
import orjson

from core.fx import FxTable, StaleRate
from core.hotcache import day_number
from core.money import minor_digits
from core.pricing import (
    EXACT,
    HUNDRED,
    PricingContext,
    Rule,
    apply_markup,
    fixed_markup,
    rules_for,
    stale_conversion,
)
from core.quotes.caches import ClassMemo, QuoteError
from core.quotes.shelf import Row, Shelf

MAX_OFFERS = 200
FLOAT_SLACK = 1e-9  # relative: far above float error on these amounts, far below a cent
HALF_SLACK = 1e-12  # relative: a float display amount this close to a half is decided in integers
FLOAT_EXACT = 2.0 ** 50  # minor units beyond which display amounts are computed in integers only
ZERO = Decimal(0)
BOUND = 2 ** 62  # fees in minor units beyond it are as good as it (int64 arrays)
EXACT_BITS = (10 ** (EXACT.prec - 1)).bit_length() - 1  # integers of at most this many bits have < EXACT digits


@dataclass(slots=True)
class _Forms:
    """A price class's chain as integers over 10^exp: each step = net in minor units × per_minor + constant."""

    exp: int
    net_scale: int  # 10^exp per net minor unit
    platform: tuple[int, int]  # net currency
    partner: tuple[int, int]  # net currency
    sell: tuple[int, int]  # sell currency
    headroom: int  # how far the chain's intermediate results can outgrow the steps' (in units of 10^-exp)


@dataclass(slots=True)
class _Class:
    """What the chain needs for one price class (supplier, city, star, net currency) in one quote."""

    rules: tuple[Rule | None, Rule | None]
    fixed: tuple[Decimal | None, Decimal | None]
    fx_rate: Decimal
    fx_as_of: dt.date | None  # the day of the oldest rate set the rate comes from (None: undated)
    platform_rate: Decimal | None  # net currency → the platform's currency (FxTable.pivot), for margins
    digits: int  # the net currency's
    forms: _Forms
    scale: float  # float sell per minor unit of net per room (choosing only)
    offset: float  # float sell of the fixed markups (choosing only)
    templates: dict[int, str]  # its stored offers' template by stay length (kept with its chain across quotes)


@dataclass(slots=True)
class PricedOffer:
    row: Row
    row_index: int
    net_minor: int  # all nights, all rooms, minor units of the net currency
    price_class: _Class
    sell_scaled: int  # the exact sell price × 10^exp
    exp: int
    sell_minor: int  # rounded once: the documented rounding place
    refundable: bool
    policy: int  # the check-in night's supplier policy (index into the shelf's)
    steps: tuple[str, str]  # the platform and partner markups (net currency) as stored
    by_chain: bool = False  # priced by the Decimal chain itself (it rounds: long FX rates), not in integers
    alternatives: list[PricedOffer] = field(default_factory=list)  # other suppliers' best of the group

    @property
    def net(self) -> Decimal:
        return Decimal(self.net_minor).scaleb(-self.price_class.digits)

    @property
    def sell_exact(self) -> Decimal:
        return Decimal(self.sell_scaled).scaleb(-self.exp)


@dataclass(slots=True)
class PricedStay:
    """One quote's stay, as every offer of it is shown."""

    shelf: Shelf
    check_in: dt.date
    nights: int
    rooms: int
    sell_currency: str
    offers: list[PricedOffer]
    first: int = 0  # the check-in night's column of the shelf
    unsellable: list[tuple[Row, bool, StaleRate]] = field(default_factory=list)  # (row, refundable, why)

    @property
    def dates(self) -> list[str]:
        return [(self.check_in + dt.timedelta(days=index)).isoformat() for index in range(self.nights)]

    @property
    def sell_digits(self) -> int:
        return minor_digits(self.sell_currency)


def price_offers(shelf: Shelf, *, partner_id: str, tier: str, check_in: dt.date, nights: int, rooms: int,
                 per_room: int, sell_currency: str, rules: list[Rule], fx: FxTable,
                 explicit_currency: bool = False, memo: ClassMemo | None = None) -> PricedStay:
    """The stay's offers, cheapest first (then hotel id, room name), at most MAX_OFFERS with their alternatives."""
    result = PricedStay(shelf, check_in, nights, rooms, sell_currency, [])
    stay = shelf.stay(day_number(check_in), nights, rooms, per_room)
    if stay is None:
        return result
    result.first = stay.first
    room_nights = nights * rooms
    sell_digits = minor_digits(sell_currency)
    row_class = shelf.price_class[stay.rows]
    classes: list[_Class | None] = [None] * len(shelf.classes)
    memo = (memo or ClassMemo()).refresh(rules, fx)
    stale: dict[int, StaleRate] = {}
    for index in np.unique(row_class).tolist():
        priced = _price_class(shelf.classes[index], partner_id, tier, check_in, rules, room_nights, rooms,
                              sell_currency, fx, memo)
        if isinstance(priced, StaleRate):
            stale[index] = priced
        else:
            classes[index] = priced
    scale = np.array([c.scale if c else np.nan for c in classes])
    offset = np.array([c.offset if c else np.nan for c in classes])
    sell = stay.net * scale[row_class] + offset[row_class]
    sellable = ~np.isnan(sell)
    if stale:
        result.unsellable = _unsellable(shelf, stay, row_class, sellable, stale)
    if not sellable.any():
        if explicit_currency and not stale:
            raise QuoteError(422, "currency_unavailable", f"no exchange rate into {sell_currency}", "currency")
        return result
    positions = np.flatnonzero(sellable)
    groups = shelf.group[stay.rows[positions]] * 2 + stay.refundable[positions]
    suppliers = shelf.supplier[stay.rows[positions]]
    sells = sell[positions]
    order = np.lexsort((positions, sells, suppliers, groups))  # by group, supplier, float sell, shelf order
    groups, suppliers, sells, positions = groups[order], suppliers[order], sells[order], positions[order]
    # A run: one supplier's rows of one group. Its first row is its float minimum; rows within FLOAT_SLACK of it
    # are priced exactly too. A group's offer is its runs' cheapest; the others are its alternatives.
    new_group = np.r_[True, groups[1:] != groups[:-1]]
    new_run = new_group | np.r_[True, suppliers[1:] != suppliers[:-1]]
    runs = np.flatnonzero(new_run)
    run_of = np.cumsum(new_run) - 1
    best = sells[runs][run_of]
    ties = np.flatnonzero(sells <= best * (1 + FLOAT_SLACK) + FLOAT_SLACK)
    ties = ties[~np.isin(ties, runs)]
    tied: dict[int, list[int]] = {}
    for run, tie in zip(run_of[ties].tolist(), positions[ties].tolist(), strict=True):
        tied.setdefault(run, []).append(tie)
    group_starts = np.flatnonzero(new_group)
    group_best = np.minimum.reduceat(sells, group_starts)
    run_group = np.searchsorted(group_starts, runs, side="right") - 1
    chosen = np.flatnonzero(_within_budget(group_best, np.bincount(run_group))[run_group])
    rows_of, nets, refundables, policies = (stay.rows.tolist(), stay.net.tolist(), stay.refundable.tolist(),
                                            stay.policy.tolist())
    class_of = row_class.tolist()

    def exact(p: int) -> PricedOffer:
        return _exact(shelf, classes[class_of[p]], rows_of[p], nets[p] * rooms, refundables[p], policies[p],
                      sell_digits)

    by_group: dict[int, list[PricedOffer]] = {}
    for run, position, group in zip(chosen.tolist(), positions[runs[chosen]].tolist(),
                                    run_group[chosen].tolist(), strict=True):
        candidates = tied.get(run)
        by_group.setdefault(group, []).append(_cheapest([exact(p) for p in sorted([position, *candidates])])
                                              if candidates else exact(position))
    offers = result.offers
    for priced in by_group.values():
        if len(priced) == 1:  # one supplier sells the group: no alternatives
            offers.append(priced[0])
            continue
        main = _cheapest(priced)
        main.alternatives = sorted((offer for offer in priced if offer is not main),
                                   key=lambda offer: (offer.sell_minor, offer.row_index))
        offers.append(main)
    offers.sort(key=lambda offer: (offer.sell_minor, offer.row.product.hotel_id, offer.row.room_name))
    total = 0
    for index, offer in enumerate(offers):
        total += 1 + len(offer.alternatives)
        if total > MAX_OFFERS:
            del offers[index:]
            break
    return result


def _unsellable(shelf: Shelf, stay, row_class: np.ndarray, sellable: np.ndarray,
                stale: dict[int, StaleRate]) -> list[tuple[Row, bool, StaleRate]]:
    """One entry per offer (group × refundability) that only stale-rate classes could sell, by hotel and room."""
    keys = shelf.group[stay.rows] * 2 + stay.refundable
    sold = set(keys[sellable].tolist())
    found: dict[int, tuple[Row, bool, StaleRate]] = {}
    for position in np.flatnonzero(np.isin(row_class, list(stale))).tolist():
        key = int(keys[position])
        if key not in sold and key not in found:
            found[key] = (shelf.rows[int(stay.rows[position])], bool(stay.refundable[position]),
                          stale[int(row_class[position])])
    listed = sorted(found.values(), key=lambda item: (item[0].product.hotel_id, item[0].room_name, item[1]))
    return listed[:MAX_OFFERS]


def _cheapest(priced: list[PricedOffer]) -> PricedOffer:
    """The offer of least exact sell price (compared at one exponent across price classes); of equals, the first
    row of the shelf."""
    if len(priced) == 1:
        return priced[0]
    top = max(offer.exp for offer in priced)
    return min(priced, key=lambda offer: (offer.sell_scaled * 10 ** (top - offer.exp), offer.row_index))


def _price_class(price_class: tuple, partner_id: str, tier: str, check_in: dt.date, rules: list[Rule],
                 room_nights: int, rooms: int, sell_currency: str, fx: FxTable,
                 memo: ClassMemo) -> _Class | StaleRate | None:
    supplier_code, city, star, currency = price_class
    key = (price_class, partner_id, tier, check_in if memo.dated else None)
    applied = memo.applied.get(key)
    if applied is None:
        applied = memo.applied[key] = rules_for(rules, PricingContext(partner_id, tier, supplier_code, city, star,
                                                                      check_in))
    fixed_nights = room_nights if any(rule is not None and rule.markup_fixed for rule in applied) else 0
    priced_key = (id(applied[0]), id(applied[1]), fixed_nights, currency, sell_currency)
    priced = memo.priced.get(priced_key)
    memo.lookups.count(priced is not None, priced is None)
    if priced is None:
        priced = memo.priced[priced_key] = _chain(applied, fixed_nights, currency, sell_currency, fx)
    if not priced:
        return None
    if isinstance(priced, StaleRate):
        return priced
    fixed, fx_rate, fx_as_of, platform_rate, digits, forms, per_room, offset, templates = priced
    return _Class(applied, fixed, fx_rate, fx_as_of, platform_rate, digits, forms, per_room * rooms, offset,
                  templates)


def _chain(applied: tuple[Rule | None, Rule | None], room_nights: int, currency: str, sell_currency: str,
           fx: FxTable) -> tuple | StaleRate:
    """A price class's chain for its rules: fixed markups, FX rate, its rate set's day, the rate into the platform's
    currency, forms, float scale (per room) and offset, and room for its stored templates; () where it has no FX
    path (for its currency, or a fixed markup's); the StaleRate where one it needs is stale."""
    digits = minor_digits(currency)
    try:
        fx_rate, fx_as_of, _ = fx.quote(currency, sell_currency)
        stale = stale_conversion(applied, currency, sell_currency, fx)
        if stale is not None:
            return stale
        with localcontext(EXACT):
            fixed = (fixed_markup(applied[0], room_nights, currency, fx),
                     fixed_markup(applied[1], room_nights, currency, fx))
    except LookupError:
        return ()
    try:
        platform_rate = fx.rate(currency, fx.pivot)
    except LookupError:
        platform_rate = None
    k, f = 1.0, 0.0
    for rule, part in zip(applied, fixed, strict=True):
        if rule is not None:
            factor = 1 + float(rule.markup_pct) / 100
            k, f = k * factor, f * factor + (float(part) if part is not None else 0.0)
    rate = float(fx_rate)
    return (fixed, fx_rate, fx_as_of, platform_rate, digits, _forms(applied, fixed, fx_rate, digits),
            k * rate / 10 ** digits, f * rate, {})


def _forms(rules: tuple[Rule | None, Rule | None], fixed: tuple[Decimal | None, Decimal | None], fx_rate: Decimal,
           digits: int) -> _Forms:
    """`core.pricing.chain` and `breakdown_of` applied to one minor unit of net and to a net of nothing."""
    platform_rule, partner_rule = rules
    with localcontext(EXACT):
        unit = Decimal(1).scaleb(-digits)
        platform = (unit * platform_rule.markup_pct / HUNDRED, fixed[0] or ZERO) if platform_rule else (ZERO, ZERO)
        partner = ((unit + platform[0]) * partner_rule.markup_pct / HUNDRED,
                   platform[1] * partner_rule.markup_pct / HUNDRED + (fixed[1] or ZERO)) if partner_rule else \
            (ZERO, ZERO)
        sell = ((unit + platform[0] + partner[0]) * fx_rate, (platform[1] + partner[1]) * fx_rate)
        parts = (*platform, *partner, *sell)
        exp = max(digits, *(-part.as_tuple().exponent for part in parts))
        scaled = [int(part.scaleb(exp)) for part in parts]
    # The chain's intermediate results (a base times a percentage, before it is divided by 100) can be larger
    # than the steps by the percentage, and carry two more decimals than its forms.
    percents = [abs(rule.markup_pct) for rule in rules if rule is not None]
    return _Forms(exp, 10 ** (exp - digits), (scaled[0], scaled[1]), (scaled[2], scaled[3]), (scaled[4], scaled[5]),
                  100 * (int(max(percents, default=0) / 100) + 2))


def _within_budget(best: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The groups (float best sell, offers each would show with its alternatives) that may be among the cheapest
    whose offers number at most MAX_OFFERS in all (with the slack)."""
    if sizes.sum() <= MAX_OFFERS:
        return np.ones(len(best), dtype=bool)
    order = np.argsort(best, kind="stable")
    fits = int(np.searchsorted(np.cumsum(sizes[order]), MAX_OFFERS, side="right"))
    limit = float(best[order[max(fits - 1, 0)]])
    return best <= limit * (1 + FLOAT_SLACK) + FLOAT_SLACK


def _exact(shelf: Shelf, price_class: _Class, row_index: int, net_minor: int, refundable: bool, policy: int,
           sell_digits: int) -> PricedOffer:
    forms, digits = price_class.forms, price_class.digits
    platform = net_minor * forms.platform[0] + forms.platform[1]
    partner = net_minor * forms.partner[0] + forms.partner[1]
    sell_scaled = net_minor * forms.sell[0] + forms.sell[1]
    # Every result the Decimal chain computes for this net, in units of 10^-exp, is within these times the
    # headroom: under 10^59, each fits EXACT's digits, so the chain rounded nothing and equals these.
    bound = (net_minor * forms.net_scale + abs(platform) + abs(partner) + abs(sell_scaled)) * forms.headroom
    if bound.bit_length() <= EXACT_BITS:
        return PricedOffer(shelf.rows[row_index], row_index, net_minor, price_class, sell_scaled, forms.exp,
                           round_half_up(sell_scaled, forms.exp - sell_digits), refundable, policy,
                           (decimal_text(platform, forms.exp, digits), decimal_text(partner, forms.exp, digits)))
    with localcontext(EXACT):  # the chain rounds somewhere (long FX rates): `core.pricing.breakdown_of` itself
        net = Decimal(net_minor).scaleb(-digits)
        platform = apply_markup(price_class.rules[0], net, price_class.fixed[0])
        partner = apply_markup(price_class.rules[1], net + platform, price_class.fixed[1])
        sell_exact = (net + platform + partner) * price_class.fx_rate
    sell_scaled, exp = _scaled(sell_exact)
    return PricedOffer(shelf.rows[row_index], row_index, net_minor, price_class, sell_scaled, exp,
                       round_half_up(sell_scaled, exp - sell_digits), refundable, policy, (str(platform), str(partner)),
                       True)


def _scaled(value: Decimal) -> tuple[int, int]:
    """A Decimal as (integer, exp): value = integer × 10^-exp, exp ≥ 0."""
    numerator, denominator = value.as_integer_ratio()  # the denominator divides 10^exp
    places = max(0, -value.as_tuple().exponent)
    return numerator * (10 ** places // denominator), places


def round_half_up(value: int, places: int) -> int:
    """value × 10^-places rounded to an integer, halves away from zero (Decimal's ROUND_HALF_UP)."""
    if places <= 0:
        return value * 10 ** -places
    return _divide_half_up(value, 10 ** places)


def _divide_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator (> 0) rounded half away from zero."""
    if numerator >= 0:
        return (2 * numerator + denominator) // (2 * denominator)
    return -((-2 * numerator + denominator) // (2 * denominator))


def decimal_text(value: int, exp: int, keep: int) -> str:
    """value × 10^-exp as a plain decimal string, trailing zeros dropped down to `keep` decimals."""
    if exp <= 0:
        whole = str(value * 10 ** -exp)
        return whole + "." + "0" * keep if keep else whole
    text = str(abs(value)).rjust(exp + 1, "0")
    fraction = text[-exp:].rstrip("0")
    if len(fraction) < keep:
        fraction += "0" * (keep - len(fraction))
    whole = "-" + text[:-exp] if value < 0 else text[:-exp]
    return whole + "." + fraction if fraction else whole


def format_minor(amount: int, digits: int) -> str:
    """Integer minor units as the decimal string `Decimal.quantize` gives ("12.30", "-0.05", "1200")."""
    if not digits:
        return str(amount)
    text = str(abs(amount)).rjust(digits + 1, "0")
    return ("-" if amount < 0 else "") + text[:-digits] + "." + text[-digits:]


# ------------------------------------------------------------------ JSON

SHOWN = '%s,"total_price":{"amount":"%s","currency":"%s"},"nightly":[%s],"cancellation_policy":[%s],"refundable":%s'
STORED = ('{%s,"rank":%s,"net_amount":"%s","platform_markup":"%s","platform_rule_id":%s,"partner_markup":"%s",'
          '"partner_rule_id":%s,"fx_rate":"%s","fx_as_of":%s,"platform_fx_rate":%s,"sell_exact":"%s","sell_amount":"%s","refundable":%s,'
          '"nightly_net":[%s],"supplier_policy":%s,"cancellation_policy":[%s],"alternative_of":%s}')


@dataclass(slots=True)
class _Policy:
    """A supplier policy for some number of rooms: each fee for all rooms, in the net currency."""

    hours: tuple[int, ...]  # shared by every policy with the same deadlines
    fees: tuple[tuple[int, int], ...]  # (fee × 10^exp, exp)
    minor: tuple[int, ...] | None  # the fees in net minor units (None: one has a fraction of a minor unit)
    stored: str  # its stored JSON


_SHARED_MAX = 4096  # distinct deadline patterns and fee templates kept, the least recently used dropped first


@lru_cache(maxsize=_SHARED_MAX)
def _deadlines(hours: tuple[int, ...]) -> tuple[int, ...]:
    """The one tuple kept for these deadlines (the first equal one seen), shared by every policy with them."""
    return hours


@lru_cache(maxsize=_SHARED_MAX)
def _fee_template(hours: tuple[int, ...], money: str, currency: str) -> str:
    """The cancellation fees of an offer as shown, amounts to fill: one template per deadlines and currency."""
    return ",".join(
        f'{{"hours_before":{before},"fee":{{"amount":"{money}","currency":"{currency}"}}}}' for before in hours)


def offer_json(stay: PricedStay) -> tuple[list[str], bytes, list[list[int]]]:
    """Each offer's JSON for the partner after its id (`"offer_id":"…",` is the caller's), without its closing
    brace; the offer set as stored (the `quote_offers` view's elements: every step of the chain); and each
    shown offer's alternatives. Ranks (what offer ids end with): the shown offers in order, then every
    alternative, the first offer's first."""
    offers = list(stay.offers)
    layout = []
    for main in stay.offers:
        layout.append(list(range(len(offers), len(offers) + len(main.alternatives))))
        offers.extend(main.alternatives)
    if not offers:
        return [], b"[]", []
    alternative_of = ["null"] * len(stay.offers)
    for main, ranks in enumerate(layout):
        alternative_of.extend([str(main)] * len(ranks))
    currency, digits, nights, rooms = stay.sell_currency, stay.sell_digits, stay.nights, stay.rooms
    policies = [_policy(stay.shelf, offer.policy, rooms, offer.price_class.digits) for offer in offers]
    net_digits = np.fromiter((offer.price_class.digits for offer in offers), np.int64, len(offers))
    rows = np.fromiter((offer.row_index for offer in offers), np.int64, len(offers))
    nightly_net = stay.shelf.prices[rows, stay.first:stay.first + nights]
    # Every amount shown beside the total, in one array: the nights, then each cancellation fee (at most the net;
    # a non-refundable offer's every fee is the net, whatever its supplier's rule says: cancelling it costs the
    # whole price, as the order charges it).
    most_fees = max(len(policy.fees) for policy in policies)
    parts = np.zeros((len(offers), nights + most_fees), dtype=np.int64)
    parts[:, :nights] = nightly_net * rooms
    if most_fees:
        padding = (0,) * most_fees
        fee_minor = np.array([(policy.minor + padding)[:most_fees] if policy.minor is not None else padding
                              for policy in policies], dtype=np.int64)
        nets = np.fromiter((offer.net_minor for offer in offers), np.int64, len(offers))
        refundable = np.fromiter((offer.refundable for offer in offers), bool, len(offers))
        parts[:, nights:] = np.where(refundable[:, None], np.minimum(fee_minor, nets[:, None]), nets[:, None])
    inexact = [index for index, policy in enumerate(policies)  # refundable fees with a fraction of a minor unit
               if policy.minor is None and offers[index].refundable]
    amounts = _display_amounts(offers, parts, digits)
    for index in inexact:
        offer = offers[index]
        amounts[index, nights:nights + len(policies[index].fees)] = [
            _fee_minor(offer, fee, exp, digits) for fee, exp in policies[index].fees]
    money = f"%.{digits}f" if digits else "%d"
    literal_currency = _literal(currency)
    nightly = ",".join(f'{{"date":"{day}","price":{{"amount":"{money}","currency":"{literal_currency}"}}}}'
                       for day in stay.dates)
    # The shown offer: its room, total, nights, cancellation fees, as one template per refundability.
    shown_templates = tuple(SHOWN % ("%s", "%s", literal_currency, nightly, "%s", refundable)
                            for refundable in ("false", "true"))
    shown_values = (amounts / 10.0 ** digits).tolist()
    net_values = (nightly_net / 10.0 ** net_digits[:, None]).tolist()
    shown, stored = [], []
    for rank, (offer, policy) in enumerate(zip(offers, policies, strict=True)):
        values = shown_values[rank]
        cancellation = ""
        if policy.hours:
            cancellation = _fee_template(policy.hours, money, literal_currency) % tuple(
                values[nights:nights + len(policy.hours)])
        sell = format_minor(offer.sell_minor, digits)
        shown.append(shown_templates[offer.refundable] % (offer.row.shown, sell, *values[:nights], cancellation))
        price_class = offer.price_class
        template = price_class.templates.get(nights)
        if template is None:
            template = price_class.templates[nights] = _stored_template(price_class, nights)
        stored.append(template % (
            offer.row.stored, rank, format_minor(offer.net_minor, price_class.digits), offer.steps[0], offer.steps[1],
            decimal_text(offer.sell_scaled, offer.exp, digits), sell, "true" if offer.refundable else "false",
            *net_values[rank], policy.stored, cancellation, alternative_of[rank]))
    return shown, ("[" + ",".join(stored) + "]").encode(), layout


def _stored_template(price_class: _Class, nights: int) -> str:
    """STORED for one price class and stay length: its rules, FX rate and dates written in, the rest left to fill
    (the offer's fields in STORED's order, each night's net in place of `nightly_net`)."""
    platform_rule, partner_rule = price_class.rules
    digits = price_class.digits
    constants = (orjson.dumps(platform_rule.id if platform_rule else None).decode(),
                 orjson.dumps(partner_rule.id if partner_rule else None).decode(),
                 str(price_class.fx_rate), orjson.dumps(price_class.fx_as_of).decode(),
                 orjson.dumps(None if price_class.platform_rate is None else str(price_class.platform_rate)).decode())
    platform_id, partner_id, fx_rate, fx_as_of, platform_rate = (_literal(text) for text in constants)
    nights_net = ",".join([f'"%.{digits}f"' if digits else '"%d"'] * nights)
    return STORED % ("%s", "%s", "%s", "%s", platform_id, "%s", partner_id, fx_rate, fx_as_of, platform_rate, "%s",
                     "%s", "%s", nights_net, "%s", "%s", "%s")


def _literal(text: str) -> str:
    """Text written into a %-template as itself."""
    return text.replace("%", "%%")


UNSELLABLE = '{%s,"refundable":%s,"sellable":false,"reason":{"code":"%s","message":%s}}'


def unsellable_json(stay: PricedStay) -> bytes:
    """The offers not sold for a stale rate, as the quote lists them (`unsellable_offers`)."""
    return ("[" + ",".join(UNSELLABLE % (row.shown, "true" if refundable else "false", why.code,
                                         orjson.dumps(why.message).decode())
                           for row, refundable, why in stay.unsellable) + "]").encode()


def _display_amounts(offers: list[PricedOffer], parts: np.ndarray, digits: int) -> np.ndarray:
    """`scale_exact` of each part (net minor units, one row per offer) in sell minor units: floats decide every
    amount not within HALF_SLACK of a half; integers decide the rest."""
    ratios = np.array([_ratio(offer, digits) for offer in offers])
    scaled = parts * ratios[:, None]
    amounts = np.floor(scaled + 0.5)
    undecided = np.abs(scaled - np.floor(scaled) - 0.5) <= HALF_SLACK * (np.abs(scaled) + 1)
    if len(scaled) and np.abs(scaled).max() >= FLOAT_EXACT:
        undecided[:] = True
    for i, j in zip(*np.nonzero(undecided), strict=True):
        offer = offers[i]
        amounts[i, j] = _scale_minor(int(parts[i, j]), offer.price_class.digits, offer, digits)
    return amounts


def _ratio(offer: PricedOffer, digits: int) -> float:
    """Sell minor units per net minor unit of this offer (float, correctly rounded)."""
    shift = digits - offer.exp
    if not offer.net_minor:
        return 0.0
    return offer.sell_scaled * 10 ** max(0, shift) / (offer.net_minor * 10 ** max(0, -shift))


def _scale_minor(part: int, part_exp: int, offer: PricedOffer, digits: int) -> int:
    """part × 10^-part_exp (net currency) × sell_exact / net, in sell minor units, rounded half up."""
    if not offer.net_minor:
        return 0
    shift = offer.price_class.digits - part_exp + digits - offer.exp
    return _divide_half_up(part * offer.sell_scaled * 10 ** max(0, shift), offer.net_minor * 10 ** max(0, -shift))


def _fee_minor(offer: PricedOffer, fee: int, exp: int, digits: int) -> int:
    """A cancellation fee (at most the net) at the offer's sell/net ratio, in sell minor units."""
    net_digits = offer.price_class.digits
    if (fee * 10 ** max(0, net_digits - exp)) > offer.net_minor * 10 ** max(0, exp - net_digits):
        fee, exp = offer.net_minor, net_digits
    return _scale_minor(fee, exp, offer, digits)


def _policy(shelf: Shelf, index: int, rooms: int, digits: int) -> _Policy:
    """A supplier policy of the shelf for this many rooms and net minor-unit digits, parsed once per product
    value (kept in its `Inventory.parsed`, which every shelf holding the product shares)."""
    owner = bisect_right(shelf.policy_starts, index) - 1
    parsed = shelf.policy_parsed[owner]
    key = (index - shelf.policy_starts[owner], rooms, digits)
    policy = parsed.get(key)
    if policy is None:
        policy = parsed[key] = _supplier_policy(shelf.policies[index], rooms, digits)
    return policy


def _supplier_policy(rules: list | None, rooms: int, digits: int) -> _Policy:
    """A supplier policy for this many rooms (stored form: fee for all rooms, net currency); bad rules left out."""
    hours, fees, stored = [], [], []
    for rule in rules or ():
        try:
            before, fee = int(rule["hours_before"]), Decimal(str(rule["fee"])) * rooms
            scaled = _scaled(fee)
        except (KeyError, TypeError, ValueError, ArithmeticError):
            continue
        while scaled[1] > digits and scaled[0] % 10 == 0:
            scaled = (scaled[0] // 10, scaled[1] - 1)
        hours.append(before)
        fees.append(scaled)
        stored.append({"hours_before": before, "fee": str(fee), "currency": rule.get("currency")})
    # In minor units, bounded (a fee is shown at most at the net, far below these bounds).
    minor = tuple(max(-BOUND, min(BOUND, fee * 10 ** (digits - exp))) if exp <= digits else None for fee, exp in fees)
    return _Policy(_deadlines(tuple(hours)), tuple(fees), None if None in minor else minor,
                   orjson.dumps(stored).decode())
