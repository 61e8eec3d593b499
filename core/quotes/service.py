"""Answering a quote: the product set, its shelf (from the replica, else Redis), every sellable rate priced at
once, the cheapest offers priced exactly, the response body, and the quote stored off the request.

Cost per quote: no PostgreSQL or Redis round trip in the steady state (rules, FX, partner and hotel facts,
product sets and product values are held in-process and kept current, see `caches` and `replica`); numpy over
the shelf for every rate of the stay; Decimal only for the offers shown.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid

import orjson

from core import hotcache
from core.matching.ranking import RANKING_WEIGHTS_KEY, RankingWeights
from core.outages import HOT_CACHE_DOWN
from core.quotes.caches import (
    QuoteCaches,
    caches_for,
    city_countries,
    disabled_suppliers,
    hotel_facts,
    partner_facts,
    product_set_keys,
    products_from_sets,
    room_epoch,
    room_names,
    supplier_reliability,
)
from core.quotes.fallback import database_shelf
from core.quotes.ids import new_quote_id, offer_id_suffix
from core.quotes.notice import empty_quote_notice
from core.quotes.offers import offer_json, price_offers, unsellable_json
from core.quotes.recommend import recommend
from core.quotes.shelf import Shelf, build_shelf
from core.quotes.store import OfferSet

QUOTE_TTL = dt.timedelta(minutes=30)
MEMO_SIZE = 512  # priced searches kept for QUOTE_CACHE_MS (tens of KB each)

async def answer_quote(state, partner_id: str, request: dict) -> bytes:
    """Price every sellable offer of a search and store the quote; returns the response body (JSON)."""
    caches = caches_for(state)
    pool = state.pg
    check_in: dt.date = request["check_in"]
    check_out: dt.date = request["check_out"]
    rooms: int = request["rooms"]
    partner = await partner_facts(pool, caches, partner_id)
    sell_currency = request.get("currency") or partner.credit_currency or state.settings.default_currency
    guests = request["adults"] + len(request.get("children_ages") or ())
    per_room = -(-guests // rooms)  # the fullest room of an even split
    rules = await caches.rules.rules(pool)
    fx = await caches.fx.table(pool)
    try:
        shelf = await _shelf(state, caches, request)
    except HOT_CACHE_DOWN:  # the same inputs from PostgreSQL, slower; the response says so
        shelf = await database_shelf(state, caches, request)

    nights = (check_out - check_in).days
    weights = None
    if request.get("sort") == "recommended":
        weights = RankingWeights.live(state.config.get(RANKING_WEIGHTS_KEY) if state.config else None)
    memo_key = (hotcache.day_number(check_in), nights, rooms, per_room, partner_id, partner.tier,
                request.get("currency"), sell_currency, weights)
    tails = offer_set = None
    unsellable = b"[]"
    if caches.memo_ttl_s > 0:
        hit = caches.memo_items.get((shelf.serial, memo_key))
        if hit is not None and time.monotonic() - hit[0] < caches.memo_ttl_s and hit[1] is rules and hit[2] is fx:
            tails, offer_set, unsellable = hit[3], hit[4], hit[5]
        caches.memo.count(tails is not None, tails is None)
    if tails is None:
        stay = price_offers(shelf, partner_id=partner_id, tier=partner.tier, check_in=check_in, nights=nights,
                            rooms=rooms, per_room=per_room, sell_currency=sell_currency, rules=rules, fx=fx,
                            explicit_currency=request.get("currency") is not None, memo=caches.classes)
        if weights is not None:
            recommend(stay, weights, await supplier_reliability(pool, caches))
        tails, offer_set = _segments(*offer_json(stay))
        if stay.unsellable:
            unsellable = unsellable_json(stay)
        if caches.memo_ttl_s > 0:
            memo = caches.memo_items
            memo[(shelf.serial, memo_key)] = (time.monotonic(), rules, fx, tails, offer_set, unsellable)
            while len(memo) > MEMO_SIZE:  # the oldest first: bounded however many distinct searches arrive
                memo.popitem(last=False)

    quote_id, prefix = new_quote_id()
    now = dt.datetime.now(dt.UTC)
    expires_at = now + QUOTE_TTL
    caches.writer.add((quote_id, uuid.UUID(partner_id), orjson.dumps(request).decode(), sell_currency, now,
                       expires_at, offer_set.id), offer_set)
    head = orjson.dumps({
        "quote_id": str(quote_id), "expires_at": expires_at.isoformat(), "check_in": check_in.isoformat(),
        "check_out": check_out.isoformat(), "rooms": rooms, "currency": sell_currency,
    })
    if not tails and unsellable == b"[]":
        notice = await empty_quote_notice(pool, caches, request, shelf)
        return head[:-1] + b',"offers":[],"unsellable_offers":[],"notice":' + orjson.dumps(notice) + b"}"
    opening = '{"offer_id":"' + prefix
    listed = (opening + opening.join(tails)).encode() if tails else b""
    return head[:-1] + b',"offers":[' + listed + b'],"unsellable_offers":' + unsellable + b"}"


def _segments(shown: list[str], stored: bytes, layout: list[list[int]]) -> tuple[list[str], OfferSet]:
    """The offers' JSON as the pieces that follow each offer id's opening (`{"offer_id":"<quote prefix>`), so
    that a quote's offers are its opening joined with them: each shown offer, its alternatives inside it."""
    segments = []
    for main, alternatives in enumerate(layout):
        segments.append(f'{offer_id_suffix(main)}",{shown[main]},"alternatives":[' + ("" if alternatives else "]},"))
        for rank in alternatives:
            segments.append(f'{offer_id_suffix(rank)}",{shown[rank]}}},')
        if alternatives:
            segments[-1] = segments[-1][:-1] + "]},"
    if segments:
        segments[-1] = segments[-1][:-1]
    return segments, OfferSet(uuid.uuid4(), stored)


async def _shelf(state, caches: QuoteCaches, request: dict) -> Shelf:
    """The search's product set and its shelf: held while no product of it changed, else built from the replica's
    values (Redis for what it does not hold)."""
    city, hotel_ids = request.get("city"), request.get("hotel_ids")
    countries: list[str] = []
    if city is not None:
        country = request.get("country")
        countries = [country.upper()] if country else await city_countries(state.pg, caches, city)
    keys = tuple(product_set_keys(city, countries, hotel_ids))
    disabled = await disabled_suppliers(state.pg, caches)
    products = caches.product_sets.get(keys)
    if products is None:
        pipe = state.redis.pipeline(transaction=False)
        for key in keys:
            pipe.smembers(key)
        products = products_from_sets(await pipe.execute(), hotel_ids)
        if disabled:
            products = [product for product in products if product.supplier_code not in disabled]
        caches.product_sets.put(keys, products)
    replica = caches.replica
    shelf = replica.shelf(keys)
    epoch = await room_epoch(state.pg, caches)
    if shelf is not None and shelf.rooms_epoch == epoch and (shelf.products is products or shelf.products == products):
        shelf.products = products  # the same list read again: compared once, then by identity
        replica.lookups.count(len(products), 0)
        return shelf
    changes = replica.changes
    inventories, read = await replica.inventories(products)
    replica.lookups.count(len(products) - read, read)
    hotel_ids = {product.hotel_id for product in products}
    facts = await hotel_facts(state.pg, caches, hotel_ids) if products else {}
    rooms = await room_names(state.pg, caches, hotel_ids) if products else {}
    shelf = build_shelf(products, inventories, facts, rooms)
    shelf.rooms_epoch = epoch
    replica.keep_shelf(keys, shelf, products, changes)
    return shelf
