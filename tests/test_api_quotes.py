"""Quotes from the hot cache: cheapest first, decimal strings, no supplier data, pricing chain stored."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from contextlib import ExitStack
from decimal import Decimal

import pytest
import sqlalchemy as sa

from api.schemas import QuoteResponse
from tests.api_fixtures import auth, cache_hotels, new_partner, seed_city


@pytest.fixture
def app_with_quote_cache(settings, migrated):
    """Makes an app (its own process caches) with QUOTE_CACHE_MS as the test asks."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    with ExitStack() as stack:
        def make(quote_cache_ms: int) -> TestClient:
            app = create_app(settings.model_copy(update={"quote_cache_ms": quote_cache_ms}), migrated)
            return stack.enter_context(TestClient(app, raise_server_exceptions=False))

        yield make


def _reprice(engine, redis_url: str, room, nights: list[dt.date], net: Decimal) -> None:
    """What a sync does: new net prices in PostgreSQL for a room's nights, written into the hot cache."""
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE rates SET net_amount = :n WHERE room_type_id = :r AND stay_date = ANY(:d)"),
                     {"n": net, "r": room.room_type_id, "d": nights})
    _recache(engine, redis_url, room)


def _recache(engine, redis_url: str, room) -> None:
    start = dt.date.today() + dt.timedelta(days=20)  # seed_city's window
    cache_hotels(engine, redis_url, {room.supplier_code: [room.supplier_hotel_id]}, start,
                 start + dt.timedelta(days=10))


def _eventually(produce, done, within_s: float = 2.0):
    """What `produce` gives once `done` holds of it (a change reaches an API process within a second)."""
    deadline = time.monotonic() + within_s
    while True:
        value = produce()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def _stay(rooms):
    start = dt.date.today() + dt.timedelta(days=20)
    return {"check_in": start.isoformat(), "check_out": (start + dt.timedelta(days=2)).isoformat()}


def test_city_quote_cheapest_first_without_supplier_data(api_client, engine, redis_url):
    rooms = seed_city(engine, redis_url, city="Quoteburg", hotels=3, suppliers=("A", "B"))
    headers = auth(api_client, new_partner(engine))
    response = api_client.post("/v1/quotes", headers=headers,
                               json={"city": "quoteburg", **_stay(rooms), "rooms": 1, "adults": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    QuoteResponse.model_validate(body)
    offers = body["offers"]
    # 3 hotels × 2 room types, sold by two suppliers: one offer each (the cheaper supplier's).
    assert len(offers) == 6
    totals = [Decimal(o["total_price"]["amount"]) for o in offers]
    assert totals == sorted(totals)
    for offer in offers:
        assert isinstance(offer["total_price"]["amount"], str)
        assert offer["total_price"]["currency"] == "CNY"
        assert len(offer["nightly"]) == 2
    text = response.text
    for secret in ("Supplier A", "supplier_code", "net_amount", "Wholesale", "A-", "B-", "markup"):
        assert secret not in text, secret
    # No markup rules: the sell price is the cheaper supplier's net for two nights.
    cheapest = min(r.net for r in rooms) * 2
    assert totals[0] == cheapest


def test_pricing_chain_stored_on_offer(api_client, engine, redis_url):
    seed_city(engine, redis_url, city="Markupville", hotels=1, suppliers=("A",), base_net=Decimal("100.00"),
              rooms_per_hotel=1)
    creds = new_partner(engine, tier="gold")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO pricing_rules (level, city, markup_pct, priority) VALUES"
                             " ('platform', 'Markupville', 10, 5), ('platform', NULL, 50, 1)"))
        conn.execute(sa.text("INSERT INTO pricing_rules (level, partner_tier, markup_pct, markup_fixed, fixed_currency)"
                             " VALUES ('partner', 'gold', 5, 1.5, 'CNY')"))
        # the newest set wins (and is within FX_MAX_AGE_DAYS, else the offers would not be sold)
        conn.execute(sa.text("INSERT INTO fx_rates (base_currency, quote_currency, rate, as_of)"
                             " VALUES ('USD', 'CNY', 7.2, CURRENT_DATE - 1), ('USD', 'CNY', 8, CURRENT_DATE - 400)"
                             " ON CONFLICT (base_currency, quote_currency, as_of) DO UPDATE SET rate = EXCLUDED.rate"))
    headers = auth(api_client, creds)
    body = api_client.post("/v1/quotes", headers=headers, json={
        "city": "Markupville", **_stay(1), "rooms": 2, "adults": 2, "currency": "usd"}).json()
    offer = body["offers"][0]
    assert api_client.get(f"/v1/quotes/{body['quote_id']}", headers=headers).status_code == 200  # stored
    # net 100 × 2 nights × 2 rooms = 400; platform 10 % (priority 5 beats 50 %) = 40;
    # partner 5 % of 440 = 22 plus 1.5 per room-night × 4 = 6 → 468 CNY; / 7.2 = 65.00 USD
    assert offer["total_price"] == {"amount": "65.00", "currency": "USD"}
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT net_amount, platform_markup, partner_markup, sell_amount, sell_currency,"
                                   " price_breakdown FROM quote_offers WHERE id = :id"),
                           {"id": offer["offer_id"]}).one()
    assert (row.net_amount, row.platform_markup, row.partner_markup) == (Decimal(400), Decimal(40), Decimal(28))
    assert row.sell_amount == Decimal("65.00") and row.sell_currency == "USD"
    breakdown = row.price_breakdown
    with engine.connect() as conn:
        ten_pct = conn.execute(sa.text("SELECT id FROM pricing_rules WHERE markup_pct = 10")).scalar_one()
    assert breakdown["platform_markup"]["rule_id"] == ten_pct
    assert breakdown["fx"]["from"] == "CNY" and breakdown["fx"]["to"] == "USD"


def test_hotel_ids_quote_and_sold_out_nights(api_client, engine, redis_url):
    rooms = seed_city(engine, redis_url, city="Idtown", hotels=2, suppliers=("A",), allotment=1)
    headers = auth(api_client, new_partner(engine))
    hotel = rooms[0].hotel_id
    body = api_client.post("/v1/quotes", headers=headers, json={
        "hotel_ids": [hotel], **_stay(1), "rooms": 1, "adults": 1}).json()
    assert {o["hotel_id"] for o in body["offers"]} == {hotel}
    # Two rooms asked, one left per night: nothing to sell.
    body = api_client.post("/v1/quotes", headers=headers, json={
        "hotel_ids": [hotel], **_stay(1), "rooms": 2, "adults": 2}).json()
    assert body["offers"] == []


def test_an_empty_quote_says_why(api_client, engine, redis_url):
    seed_city(engine, redis_url, city="Noticeburg", hotels=2, rooms_per_hotel=1)  # 10 nights from day 20
    headers = auth(api_client, new_partner(engine))

    def notice(**search) -> dict | None:
        response = api_client.post("/v1/quotes", headers=headers, json={"rooms": 1, "adults": 2, **search})
        assert response.status_code == 200, response.text
        body = response.json()
        QuoteResponse.model_validate(body)
        assert body.get("notice") is None or body["offers"] == []
        return body.get("notice")

    assert notice(city="Noticeburg", **_stay(1)) is None  # offers: nothing to explain
    typo = notice(city="Noticebrug", **_stay(1))
    assert typo["code"] == "unknown_city"
    assert typo["message"].startswith("no hotel is sold in a city named 'Noticebrug'; closest: ")
    assert "Noticeburg" in typo["message"].split("closest: ")[1].split(", ")
    assert notice(city="Noticeburg", country="FR", **_stay(1)) == {
        "code": "unknown_city", "message": "no hotel is sold in 'Noticeburg' in FR; it has hotels in CN"}
    assert notice(hotel_ids=["no-such-hotel"], **_stay(1))["code"] == "unknown_hotels"
    first, last = (dt.date.today() + dt.timedelta(days=days) for days in (20, 29))
    late = dt.date.today() + dt.timedelta(days=28)
    assert notice(city="Noticeburg", check_in=late.isoformat(), check_out=(late + dt.timedelta(days=3)).isoformat()) \
        == {"code": "outside_inventory", "message": f"rates are held for nights {first} to {last}; the stay {late} "
                                                    f"to {late + dt.timedelta(days=3)} is not within them"}
    crowded = notice(city="Noticeburg", **{**_stay(1), "adults": 4})  # its rooms sleep 3
    assert crowded == {"code": "no_availability", "message": "none of the 2 hotel(s) searched has a room sellable "
                                                             "for these nights, rooms and guests"}


def test_quote_validation_names_fields(api_client, engine):
    headers = auth(api_client, new_partner(engine))
    response = api_client.post("/v1/quotes", headers=headers, json={
        "city": "X", **_stay(1), "adults": 1, "promo": "free"})
    assert response.status_code == 422
    assert any(f["field"] == "promo" and f["reason"] == "unknown field" for f in response.json()["error"]["fields"])
    response = api_client.post("/v1/quotes", headers=headers, json={
        "city": "X", "check_in": "2030-01-05", "check_out": "2030-01-01", "adults": 1})
    assert response.status_code == 422 and "check_out" in response.json()["error"]["message"]
    response = api_client.post("/v1/quotes", headers=headers, json={
        "city": "X", "hotel_ids": ["a"], **_stay(1), "adults": 1})
    assert response.status_code == 422


def test_checks_across_fields_name_the_field_they_fail(api_client, engine, redis_url):
    headers = auth(api_client, new_partner(engine))
    stay = _stay(1)

    def fields(path: str, body, **extra) -> list[tuple[str, str]]:
        sent = {"content": body} if isinstance(body, str) else {"json": body}
        response = api_client.post(path, headers={**headers, **extra}, **sent)
        assert response.status_code == 422, response.text
        return [(f["field"], f["reason"]) for f in response.json()["error"]["fields"]]

    assert fields("/v1/quotes", {"city": "X", "check_in": stay["check_out"], "check_out": stay["check_in"],
                                 "adults": 1}) == [("check_out", "must be after check_in")]
    assert fields("/v1/quotes", {"city": "X", **stay, "adults": 1, "rooms": 2}) == [
        ("adults", "each room needs at least one adult")]
    assert fields("/v1/quotes", {"city": "X", **stay, "adults": 1, "children_ages": [4, 18]}) == [
        ("children_ages", "each age must be 0 to 17")]
    assert fields("/v1/quotes", {**stay, "adults": 1}) == [("city", "give exactly one of city or hotel_ids")]
    [(field, reason)] = fields("/v1/quotes", '{"city": "X",', **{"Content-Type": "application/json"})
    assert field == "body" and reason.startswith("the body is not valid JSON"), reason
    seed_city(engine, redis_url, city="Nofxville", hotels=1)
    unpriced = api_client.post("/v1/quotes", headers=headers, json={"city": "Nofxville", **stay, "adults": 1,
                                                                    "currency": "XYZ"})
    assert unpriced.status_code == 422 and unpriced.json()["error"]["code"] == "currency_unavailable"
    assert unpriced.json()["error"]["fields"] == [{"field": "currency", "reason": "no exchange rate into XYZ"}]
    order = {"offer_id": str(uuid.uuid4()), "guests": [{"first_name": "Ada"}], "contact": {"name": "Ada"}}
    assert sorted(fields("/v1/orders", order, **{"Idempotency-Key": "k-1"})) == [
        ("contact.email", "contact needs an email or a phone"),
        ("guests.0.name", "each guest needs first_name and last_name (or name)")]


def test_quote_of_another_partner_is_404(api_client, engine, redis_url):
    seed_city(engine, redis_url, city="Privacy", hotels=1)
    owner = auth(api_client, new_partner(engine))
    other = auth(api_client, new_partner(engine))
    quote = api_client.post("/v1/quotes", headers=owner, json={"city": "Privacy", **_stay(1), "adults": 1}).json()
    mine = api_client.get(f"/v1/quotes/{quote['quote_id']}", headers=owner)
    assert mine.status_code == 200
    assert [o["offer_id"] for o in mine.json()["offers"]] == [o["offer_id"] for o in quote["offers"]]
    assert mine.json()["offers"][0]["total_price"] == quote["offers"][0]["total_price"]
    assert api_client.get(f"/v1/quotes/{quote['quote_id']}", headers=other).status_code == 404


def test_amounts_never_floats(api_client, engine, redis_url):
    seed_city(engine, redis_url, city="Floatless", hotels=1)
    headers = auth(api_client, new_partner(engine))
    raw = api_client.post("/v1/quotes", headers=headers, json={"city": "Floatless", **_stay(1), "adults": 1}).text

    def no_floats(value):
        raise AssertionError(f"float in response: {value}")

    json.loads(raw, parse_float=no_floats)


def test_occupancy_filters_rooms_too_small(api_client, engine, redis_url):
    seed_city(engine, redis_url, city="Crowdville", hotels=1, rooms_per_hotel=1)  # rooms sleep 3
    headers = auth(api_client, new_partner(engine))

    def offers(**party) -> int:
        response = api_client.post("/v1/quotes", headers=headers, json={"city": "Crowdville", **_stay(1), **party})
        assert response.status_code == 200, response.text
        return len(response.json()["offers"])

    assert offers(rooms=1, adults=3) == 1
    assert offers(rooms=1, adults=2, children_ages=[4, 9]) == 0
    assert offers(rooms=2, adults=4, children_ages=[4, 9]) == 1  # three per room


def test_quotes_answered_right_before_shutdown_are_stored(settings, migrated, engine, redis_url):
    """The batch writer's pending quotes go to PostgreSQL when the app stops, not lost with the process."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    rooms = seed_city(engine, redis_url, city="Lastbatch", hotels=2, suppliers=("A",))
    partner = new_partner(engine)
    with TestClient(create_app(settings, migrated), raise_server_exceptions=False) as client:
        response = client.post("/v1/quotes", headers=auth(client, partner),
                               json={"city": "lastbatch", **_stay(rooms), "rooms": 1, "adults": 2})
        assert response.status_code == 200, response.text
        body = response.json()
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT count(*) FROM quote_offers WHERE quote_id = :q"),
                              {"q": body["quote_id"]}).scalar_one()
    assert body["offers"] and stored == len(body["offers"])


def test_shutdown_ends_while_a_connection_is_still_out(settings, migrated, engine, monkeypatch):
    """A PostgreSQL connection never given back (a stuck request) does not hold the app's shutdown forever:
    past its bound the pool is terminated, and that connection closed with it."""
    from fastapi.testclient import TestClient

    import api.app
    from api.app import create_app

    monkeypatch.setattr(api.app, "SHUTDOWN_STEP_S", 1.0)
    app = create_app(settings, migrated)
    with TestClient(app, raise_server_exceptions=False) as client:
        async def hold():
            return await app.state.pg.acquire()

        backend = client.portal.call(hold).get_server_pid()
    with engine.connect() as conn:
        alive = conn.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                             {"pid": backend}).scalar_one()
    assert alive == 0


def test_cheaper_rate_plan_of_the_same_room_is_the_offer(app_with_quote_cache, engine, redis_url):
    """Two rate plans of one room (same board, refundability): one offer, at the cheaper plan's price;
    a plan missing a night of the stay is not sellable at all. (Other tests' markup rules may apply:
    prices are compared with this room's own quote before the extra plans.) The hot cache is read afresh
    for every quote here (QUOTE_CACHE_MS=0): the test rewrites it between quotes."""

    api_client = app_with_quote_cache(0)

    rooms = seed_city(engine, redis_url, city="Planville", hotels=1, suppliers=("A",), rooms_per_hotel=1)
    room = rooms[0]
    start = dt.date.fromisoformat(_stay(1)["check_in"])
    headers = auth(api_client, new_partner(engine))

    def quoted() -> list[Decimal]:
        body = api_client.post("/v1/quotes", headers=headers,
                               json={"city": "planville", **_stay(1), "rooms": 1, "adults": 2}).json()
        return [Decimal(offer["total_price"]["amount"]) for offer in body["offers"]]

    def add_plan(plan: str, net: Decimal, nights: int) -> None:
        with engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO rates (room_type_id, stay_date, board, rate_plan, net_amount, currency, refundable,"
                " cancellation_policy) SELECT room_type_id, stay_date, board, :p, :n, currency, refundable,"
                " cancellation_policy FROM rates WHERE room_type_id = :r AND rate_plan = 'BAR'"
                " AND stay_date >= :s AND stay_date < :e"),
                {"p": plan, "n": net, "r": room.room_type_id, "s": start, "e": start + dt.timedelta(days=nights)})
        _recache(engine, redis_url, room)

    [original] = quoted()
    add_plan("PROMO", room.net - 20, nights=2)
    [promo] = _eventually(quoted, lambda prices: prices != [original])
    assert promo < original
    add_plan("DEAR", room.net + 20, nights=2)
    add_plan("LASTNIGHT", room.net - 90, nights=1)  # the first night only: not sellable for two nights
    time.sleep(0.5)
    assert quoted() == [promo]


def test_a_repeated_search_is_priced_once_per_partner_within_quote_cache_ms(app_with_quote_cache, engine,
                                                                              redis_url):
    """Within QUOTE_CACHE_MS a process reuses a search's night values and priced offers: the same prices, yet
    every quote its own ids, expiry and stored offers (an order can take them); another partner's rules are
    never served from a neighbour's pricing; after QUOTE_CACHE_MS what the sync wrote is quoted."""
    [room] = seed_city(engine, redis_url, city="Memoville", hotels=1, suppliers=("A",), rooms_per_hotel=1)
    own_rule, plain = new_partner(engine), new_partner(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO pricing_rules (level, partner_id, markup_pct, priority)"
                             " VALUES ('partner', :p, 40, 100)"), {"p": own_rule.partner_id})
    search = {"city": "memoville", **_stay(1), "rooms": 1, "adults": 2}
    nights = [dt.date.fromisoformat(search["check_in"]) + dt.timedelta(days=n) for n in range(2)]

    cached = app_with_quote_cache(60_000)
    marked_up, plain_headers = auth(cached, own_rule), auth(cached, plain)
    first = cached.post("/v1/quotes", headers=plain_headers, json=search).json()
    second = cached.post("/v1/quotes", headers=plain_headers, json=search).json()
    price = [offer["total_price"] for offer in first["offers"]]
    assert [offer["total_price"] for offer in second["offers"]] == price
    assert second["quote_id"] != first["quote_id"]
    assert {o["offer_id"] for o in second["offers"]}.isdisjoint(o["offer_id"] for o in first["offers"])
    stored = cached.get(f"/v1/quotes/{second['quote_id']}", headers=plain_headers)
    assert stored.status_code == 200
    assert [(o["offer_id"], o["total_price"]) for o in stored.json()["offers"]] == \
        [(o["offer_id"], o["total_price"]) for o in second["offers"]]
    with engine.connect() as conn:
        ids = conn.execute(sa.text("SELECT id::text FROM quote_offers WHERE quote_id = :q ORDER BY rank"),
                           {"q": second["quote_id"]}).scalars().all()
        sets = conn.execute(sa.text("SELECT count(DISTINCT offer_set) FROM quotes WHERE id IN (:a, :b)"),
                            {"a": first["quote_id"], "b": second["quote_id"]}).scalar_one()
    assert ids == [o["offer_id"] for o in second["offers"]]
    assert sets == 1  # the offers of both quotes are stored once
    # The other partner's 40 % rule applies to its own quote of the very same values.
    theirs = cached.post("/v1/quotes", headers=marked_up, json=search).json()
    [mine_total] = [Decimal(o["total_price"]["amount"]) for o in second["offers"]]
    [their_total] = [Decimal(o["total_price"]["amount"]) for o in theirs["offers"]]
    assert abs(their_total - mine_total * Decimal("1.4")) <= Decimal("0.01")
    # What the sync writes is quoted within a second, QUOTE_CACHE_MS or not: the changes stream drops the memo.
    _reprice(engine, redis_url, room, nights, room.net + 100)
    repriced = _eventually(lambda: cached.post("/v1/quotes", headers=plain_headers, json=search).json(),
                           lambda body: [o["total_price"] for o in body["offers"]] != price)
    assert Decimal(repriced["offers"][0]["total_price"]["amount"]) > mine_total

    short = app_with_quote_cache(200)
    short_headers = auth(short, plain)
    before = short.post("/v1/quotes", headers=short_headers, json=search).json()
    time.sleep(0.25)
    after = short.post("/v1/quotes", headers=short_headers, json=search).json()
    assert short.get(f"/v1/quotes/{after['quote_id']}", headers=short_headers).status_code == 200  # stored now
    with engine.connect() as conn:
        sets = conn.execute(sa.text("SELECT count(DISTINCT offer_set) FROM quotes WHERE id IN (:a, :b)"),
                            {"a": before["quote_id"], "b": after["quote_id"]}).scalar_one()
    assert sets == 2  # priced again once QUOTE_CACHE_MS had passed


@pytest.fixture
def app_without_replica(settings, migrated):
    """An app whose quotes read every product value from Redis (HOT_CACHE_REPLICA=false)."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    app = create_app(settings.model_copy(update={"quote_cache_ms": 0, "hot_cache_replica": False}), migrated)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_without_the_replica_quotes_read_redis_and_price_the_same(app_with_quote_cache, app_without_replica, engine,
                                                                   redis_url):
    """The replica only saves reading Redis: with it off the same search gets the same offers, and what the sync
    writes is quoted by the very next quote (no changes stream to wait for)."""
    room = seed_city(engine, redis_url, city="Replicaville", hotels=2, suppliers=("A", "B"), rooms_per_hotel=1)[0]
    search = {"city": "replicaville", **_stay(1), "rooms": 1, "adults": 2}
    partner = new_partner(engine)
    held = app_with_quote_cache(0)

    def offers(client) -> list[tuple]:
        body = client.post("/v1/quotes", headers=auth(client, partner), json=search).json()
        return [(o["hotel_id"], o["room_type"], o["total_price"]["amount"],
                 [n["price"]["amount"] for n in o["nightly"]]) for o in body["offers"]]

    before = offers(app_without_replica)
    assert before == offers(held) != []
    nights = [dt.date.fromisoformat(search["check_in"]) + dt.timedelta(days=n) for n in range(2)]
    _reprice(engine, redis_url, room, nights, room.net - 50)
    repriced = offers(app_without_replica)
    assert repriced != before
    assert _eventually(lambda: offers(held), lambda seen: seen == repriced) == repriced
