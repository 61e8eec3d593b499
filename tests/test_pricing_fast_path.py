"""The quote engine's fast path against the plain Decimal price chain: 10 000 random stays, 0 mismatches.

Each case packs random rates (per-night prices with fractions, 1–30 nights, 1–9 rooms, four net currencies)
into hot-cache values exactly as the sync does, stacks them into a shelf and prices the stay with
`core.quotes.offers`; the reference prices every rate of the stay with `core.pricing.breakdown_of` from the
generated Decimal prices, at every level of the chain (platform and partner rules with percentages and fixed
markups in other currencies, FX direct, inverse and crossed through the pivot). Every amount shown and
stored must be the reference's, and each offer must be its group's cheapest rate.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import orjson

from core.fx import FxTable
from core.hotcache import InventoryBuilder, Product, RateRow, decode_inventory
from core.money import MINOR_UNITS, Money
from core.pricing import PricingContext, Rule, breakdown_of, rules_for, scale_to_sell
from core.quotes.caches import HotelFacts
from core.quotes.offers import format_minor, offer_json, price_offers
from core.quotes.shelf import build_shelf

CASES = 10_000
CURRENCIES = ("CNY", "USD", "EUR", "JPY")
FIRST = dt.date(2027, 3, 1)
WINDOW = 40
BOARDS = ("RO", "BB")


def _fx(rng: random.Random) -> FxTable:
    """Rates to the pivot (CNY), each stored directly or only as its inverse; USD↔EUR↔JPY cross the pivot."""
    rates = {}
    for currency, around in (("USD", 7.2), ("EUR", 7.8), ("JPY", 0.048)):
        value = Decimal(str(round(around * rng.uniform(0.9, 1.1), rng.choice((4, 6, 8)))))
        if rng.random() < 0.5:
            rates[(currency, "CNY")] = value
        else:
            rates[("CNY", currency)] = Decimal(1) / value  # stored the other way round (28 digits)
    return FxTable(rates, "CNY")


def _rule(rng: random.Random, rule_id: int, level: str) -> Rule | None:
    if rng.random() < 0.2:
        return None
    pct = Decimal(rng.randint(-1500, 40000)).scaleb(-3)  # -1.5 % … 40 %, three decimals
    fixed, fixed_currency = Decimal(0), None
    if rng.random() < 0.5:
        fixed_currency = rng.choice(CURRENCIES)
        fixed = Decimal(rng.randint(0, 50000)).scaleb(-MINOR_UNITS.get(fixed_currency, 2))
    return Rule(rule_id, level, None, None, None, None, None, None, None, None, pct, fixed, fixed_currency, 0,
                float(rule_id))


def _case(rng: random.Random):
    nights = rng.randint(1, 30)
    check_in = FIRST + dt.timedelta(days=rng.randint(0, WINDOW - nights))
    rooms = rng.randint(1, 9)
    products, inventories, truth = [], [], {}
    for hotel in range(rng.randint(1, 2)):
        for supplier in rng.sample(("A", "B", "C"), rng.randint(1, 2)):
            product = Product(f"H{hotel}", supplier, f"{supplier}-{hotel}")
            builder = InventoryBuilder(FIRST, WINDOW)
            for room_type in range(rng.randint(1, 2)):
                room_type_id = hotel * 10 + room_type
                name = ("Standard Double", "Deluxe King")[room_type]
                for board in rng.sample(BOARDS, rng.randint(1, 2)):
                    currency = rng.choice(CURRENCIES)
                    digits = MINOR_UNITS.get(currency, 2)
                    row = RateRow(room_type_id, f"R{room_type}", name, board, "BAR", currency, None)
                    refundable = rng.random() < 0.7
                    fee = Decimal(rng.randint(0, 300000)).scaleb(-digits)
                    # A non-refundable rate's rule may name less than the stay (supplier B's names one night).
                    policy = [{"hours_before": 48 if refundable else 8760, "fee": str(fee), "currency": currency}] \
                        if refundable or rng.random() < 0.7 else []
                    base = rng.randint(5000, 2_000_000) if digits else rng.randint(500, 200_000)
                    nightly = {}
                    for day in range(WINDOW):
                        night = FIRST + dt.timedelta(days=day)
                        minor = max(1, base + rng.randint(-base // 5, base // 5))
                        builder.allotment(room_type_id, 4, night, rng.choice((rooms, rooms + 3, 50)))
                        builder.rate(row, 4, night, minor, refundable, policy)
                        nightly[night] = Decimal(minor).scaleb(-digits)
                    truth[(product, room_type_id, board)] = (nightly, currency, refundable, policy, name)
            products.append(product)
            inventories.append(decode_inventory(builder.encode()))
    return check_in, nights, rooms, products, inventories, truth


def _reference(truth_row, check_in, nights, rooms, rules, sell_currency, fx):
    nightly, currency, refundable, policy, _ = truth_row
    stay = [nightly[check_in + dt.timedelta(days=n)] for n in range(nights)]
    net = sum(stay, Decimal(0)) * rooms
    try:
        breakdown = breakdown_of(rules, Money(net, currency), nights * rooms, sell_currency, fx)
    except LookupError:
        return None
    shown_nightly = [scale_to_sell(breakdown, night * rooms)["amount"] for night in stay]
    fees = [scale_to_sell(breakdown, min(Decimal(rule["fee"]) * rooms, net) if refundable else net)["amount"]
            for rule in policy]  # non-refundable: cancelling costs the whole price
    return breakdown, shown_nightly, fees, refundable


def test_fast_path_equals_the_decimal_chain_over_10000_random_stays():
    rng = random.Random(20261203)
    mismatches, offers_checked, by_chain = [], 0, 0
    for case in range(CASES):
        check_in, nights, rooms, products, inventories, truth = _case(rng)
        fx = _fx(rng)
        rules_list = [r for r in (_rule(rng, 1, "platform"), _rule(rng, 2, "partner")) if r is not None]
        sell_currency = rng.choice(CURRENCIES)
        facts = {p.hotel_id: HotelFacts(f"Hotel {p.hotel_id}", "testville", "CN", Decimal("4.0")) for p in products}
        shelf = build_shelf(products, inventories, facts)
        stay = price_offers(shelf, partner_id="p", tier="standard", check_in=check_in, nights=nights, rooms=rooms,
                              per_room=1, sell_currency=sell_currency, rules=rules_list, fx=fx)
        applied = rules_for(rules_list, PricingContext("p", "standard", "A", "testville", Decimal("4.0"), check_in))
        references = {key: _reference(row, check_in, nights, rooms, applied, sell_currency, fx)
                      for key, row in truth.items()}
        offers = stay.offers
        shown_offers, stored_set, layout = offer_json(stay)
        stored = orjson.loads(stored_set)
        alternatives = [alternative for offer in offers for alternative in offer.alternatives]
        assert [len(ranks) for ranks in layout] == [len(offer.alternatives) for offer in offers]
        for offer, kept, shown_json in zip(offers + alternatives, stored, shown_offers, strict=True):
            offers_checked += 1
            by_chain += offer.by_chain
            key = (offer.row.product, offer.row.room_type_id, offer.row.board)
            breakdown, nightly, fees, refundable = references[key]
            truth_nightly = truth[key][0]
            shown = orjson.loads('{"offer_id":"x",' + shown_json + "}")
            # Shown amounts as text (the partner's strings); stored steps by value (their trailing zeros vary).
            got = (shown["total_price"]["amount"], [n["price"]["amount"] for n in shown["nightly"]],
                   [f["fee"]["amount"] for f in shown["cancellation_policy"]], shown["refundable"],
                   kept["sell_amount"], [Decimal(kept[k]) for k in ("sell_exact", "platform_markup", "partner_markup")],
                   kept["net_amount"], kept["nightly_net"], kept["fx_rate"])
            want = (str(breakdown.sell_total.amount), nightly, fees, refundable, str(breakdown.sell_total.amount),
                    [breakdown.sell_exact, breakdown.platform_markup, breakdown.partner_markup],
                    str(breakdown.net.amount), [str(truth_nightly[check_in + dt.timedelta(days=n)])
                                                for n in range(nights)], str(breakdown.fx_rate))
            if got != want:
                mismatches.append((case, key, got, want))
            # The offer is its group's cheapest rate (hotel, room name, board, refundability).
            rivals = [ref[0].sell_exact for k, ref in references.items() if ref is not None
                      and k[0].hotel_id == key[0].hotel_id and truth[k][4] == truth[key][4] and k[2] == key[2]
                      and ref[3] == refundable]
            if offer in alternatives:  # its supplier's cheapest of the group, not cheaper than the group's offer
                rivals = [ref[0].sell_exact for k, ref in references.items() if ref is not None
                          and k[0] == key[0] and truth[k][4] == truth[key][4] and k[2] == key[2]
                          and ref[3] == refundable]
            if breakdown.sell_exact != min(rivals):
                mismatches.append((case, key, "not the cheapest", breakdown.sell_exact, min(rivals)))
        groups = {(k[0].hotel_id, truth[k][4], k[2], ref[3]) for k, ref in references.items() if ref is not None}
        if len(offers) != len(groups):
            mismatches.append((case, "offers", len(offers), len(groups)))
        if [o.sell_minor for o in offers] != sorted(o.sell_minor for o in offers):
            mismatches.append((case, "not cheapest first"))
    assert offers_checked > CASES
    # Both ways are exercised: in integers, and by the Decimal chain itself where long FX rates make it round.
    assert 0.05 < by_chain / offers_checked < 0.95
    assert mismatches == []


def test_at_most_200_offers_with_their_alternatives_the_cheapest_products_first():
    """150 hotels, each room sold by two suppliers: 150 products of 2 offers; a quote shows the 100 cheapest."""
    products, inventories, cheapest = [], [], {}
    for hotel in range(150):
        for supplier, extra in (("A", 0), ("B", 500)):
            product = Product(f"H{hotel:03d}", supplier, f"{supplier}-{hotel}")
            builder = InventoryBuilder(FIRST, WINDOW)
            builder.allotment(1, 4, FIRST, 5)
            row = RateRow(1, "R1", "Standard Double", "RO", "BAR", "CNY", None)
            minor = 10_000 + ((hotel * 7919) % 150) * 100 + extra  # distinct per hotel, B always dearer
            builder.rate(row, 4, FIRST, minor, False, [])
            products.append(product)
            inventories.append(decode_inventory(builder.encode()))
            cheapest.setdefault(product.hotel_id, minor)
    facts = {p.hotel_id: HotelFacts(f"Hotel {p.hotel_id}", "testville", "CN", Decimal("4.0")) for p in products}
    stay = price_offers(build_shelf(products, inventories, facts), partner_id="p", tier="standard", check_in=FIRST,
                        nights=1, rooms=1, per_room=1, sell_currency="CNY", rules=[], fx=FxTable({}, "CNY"))
    assert len(stay.offers) == 100
    assert all(len(offer.alternatives) == 1 and offer.row.product.supplier_code == "A" for offer in stay.offers)
    assert [offer.row.product.hotel_id for offer in stay.offers] == sorted(cheapest, key=cheapest.get)[:100]


def test_price_classes_kept_across_quotes_follow_dates_nights_and_new_rules():
    """One ClassMemo across quotes (as an API process keeps it): a dated rule applies only on its dates, a fixed
    markup per room-night follows the stay's length, and a reloaded rule list is priced afresh."""
    from core.quotes.caches import ClassMemo

    product = Product("H1", "A", "A-1")
    builder = InventoryBuilder(FIRST, WINDOW)
    row = RateRow(1, "R1", "Standard Double", "RO", "BAR", "CNY", None)
    for day in range(WINDOW):
        builder.allotment(1, 4, FIRST + dt.timedelta(days=day), 5)
        builder.rate(row, 4, FIRST + dt.timedelta(days=day), 10_000, False, [])
    facts = {"H1": HotelFacts("Hotel H1", "testville", "CN", Decimal("4.0"))}
    shelf = build_shelf([product], [decode_inventory(builder.encode())], facts)
    memo, fx = ClassMemo(), FxTable({}, "CNY")

    def rule(pct: str, fixed: str = "0", dates: tuple = (None, None)) -> Rule:
        return Rule(1, "platform", None, None, None, None, None, None, dates[0], dates[1], Decimal(pct),
                    Decimal(fixed), "CNY" if fixed != "0" else None, 0, 1.0)

    def sell(rules: list, check_in: dt.date, nights: int = 1) -> str:
        stay = price_offers(shelf, partner_id="p", tier="standard", check_in=check_in, nights=nights, rooms=1,
                            per_room=1, sell_currency="CNY", rules=rules, fx=fx, memo=memo)
        return format_minor(stay.offers[0].sell_minor, 2)

    dated = [rule("10", dates=(FIRST + dt.timedelta(days=5), FIRST + dt.timedelta(days=10)))]
    assert [sell(dated, FIRST), sell(dated, FIRST + dt.timedelta(days=6)), sell(dated, FIRST)] == \
        ["100.00", "110.00", "100.00"]
    fixed = [rule("0", fixed="5")]
    assert [sell(fixed, FIRST, 1), sell(fixed, FIRST, 3), sell(fixed, FIRST, 1)] == ["105.00", "315.00", "105.00"]
    assert len(memo.priced) == 2  # the third stay reused the first's chain
    assert sell([rule("20")], FIRST) == "120.00"  # a new rule list: nothing of the old one is reused
    assert len(memo.priced) == 1


def test_a_supplier_policy_is_parsed_once_per_product_value_whichever_shelves_hold_it():
    """A city's shelf and a search by hotel ids hold the same product values: each policy is parsed once, kept
    with the value, and an offer shows its own product's fees whatever its position on the shelf."""
    products, inventories = [], []
    for hotel, fee in (("H1", "30.00"), ("H2", "45.50")):
        builder = InventoryBuilder(FIRST, WINDOW)
        builder.allotment(1, 4, FIRST, 5)
        builder.rate(RateRow(1, "R1", "Standard Double", "RO", "BAR", "CNY", None), 4, FIRST, 10_000, True,
                     [{"hours_before": 48, "fee": fee, "currency": "CNY"}, {"hours_before": 0, "fee": "100.00"}])
        products.append(Product(hotel, "A", f"A-{hotel}"))
        inventories.append(decode_inventory(builder.encode()))
    facts = {p.hotel_id: HotelFacts(f"Hotel {p.hotel_id}", "testville", "CN", Decimal("4.0")) for p in products}

    def cancellation(shelf) -> dict[str, list]:
        stay = price_offers(shelf, partner_id="p", tier="standard", check_in=FIRST, nights=1, rooms=2, per_room=1,
                            sell_currency="CNY", rules=[], fx=FxTable({}, "CNY"))
        shown, _, _ = offer_json(stay)
        return {offer.row.product.hotel_id: orjson.loads("{" + text + "}")["cancellation_policy"]
                for offer, text in zip(stay.offers, shown, strict=True)}

    city = cancellation(build_shelf(products, inventories, facts))
    assert city["H2"] == [{"hours_before": 48, "fee": {"amount": "91.00", "currency": "CNY"}},
                          {"hours_before": 0, "fee": {"amount": "200.00", "currency": "CNY"}}]
    assert city["H1"][0]["fee"]["amount"] == "60.00"
    parsed = [dict(inventory.parsed) for inventory in inventories]
    assert [len(entries) for entries in parsed] == [1, 1]
    assert cancellation(build_shelf(products[1:], inventories[1:], facts)) == {"H2": city["H2"]}
    assert inventories[1].parsed == parsed[1]  # the second shelf parsed nothing again
    assert all(inventories[1].parsed[key] is policy for key, policy in parsed[1].items())
