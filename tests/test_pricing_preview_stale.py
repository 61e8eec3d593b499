"""The pricing preview does not show a price the quote would refuse: a conversion older than FX_MAX_AGE_DAYS makes
the room rate unsellable with the quote's own reason (`fx_rate_stale: ...`), and the /pricing page marks the stale
rates; once a fresh set is loaded the preview prices it as the quote does."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from decimal import Decimal

import pytest
import sqlalchemy as sa

from api.auth import Principal, issue_token
from tests.api_fixtures import auth, fx_rates_restored, new_partner, new_staff, seed_city

MAX_AGE = 3  # the setting's default


@pytest.fixture
def only_our_rates(engine):
    with fx_rates_restored(engine, clear=True):
        yield


def _load_rates(engine, day: dt.date) -> None:
    """A euro reference set (as the ECB publishes) dated `day`: USD → CNY crosses through EUR."""
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO fx_rates (base_currency, quote_currency, rate, as_of, source)"
                             " VALUES ('EUR', 'USD', 1.0800, :d, 'test'), ('EUR', 'CNY', 7.7760, :d, 'test')"),
                     {"d": day})


def _eventually(fetch, ready, timeout_s: float = 2.0):
    """A rate load reaches the API's cached rates through a NOTIFY, within a second."""
    deadline = time.monotonic() + timeout_s
    value = fetch()
    while not ready(value) and time.monotonic() < deadline:
        time.sleep(0.05)
        value = fetch()
    return value


def test_a_stale_rate_makes_the_preview_unsellable_with_the_quotes_reason(api_client, settings, engine, redis_url,
                                                                         only_our_rates):
    today = dt.datetime.now(dt.UTC).date()
    [room] = seed_city(engine, redis_url, city=f"Previewstale-{secrets.token_hex(3)}", hotels=1, suppliers=("C",),
                       rooms_per_hotel=1, base_net=Decimal("100.00"), currency="USD")
    partner = new_partner(engine, tier=f"t-{secrets.token_hex(3)}")
    token, _ = issue_token(settings, Principal("ops-preview", "operator", None))
    ops = {"Authorization": f"Bearer {token}"}
    start = today + dt.timedelta(days=20)  # seed_city's window
    stay = {"check_in": start.isoformat(), "check_out": (start + dt.timedelta(days=2)).isoformat()}
    search = {"hotel_ids": [room.hotel_id], **stay, "rooms": 1, "adults": 1, "currency": "CNY"}
    partner_headers = auth(api_client, partner)

    def preview() -> dict:
        response = api_client.post("/v1/admin/pricing-rules/preview", headers=ops, json={
            "partner_id": str(partner.partner_id), "hotel_id": room.hotel_id, **stay, "currency": "CNY"})
        assert response.status_code == 200, response.text
        [offer] = response.json()["offers"]
        return offer

    def quote() -> dict:
        response = api_client.post("/v1/quotes", headers=partner_headers, json=search)
        assert response.status_code == 200, response.text
        return response.json()

    old = today - dt.timedelta(days=MAX_AGE + 2)
    _load_rates(engine, old)
    reason = {"code": "fx_rate_stale",
              "message": f"fx_rate_stale: USD→CNY rate set of {old.isoformat()} is older than {MAX_AGE} days"}
    offer = preview()
    assert offer["sellable"] is False and "breakdown" not in offer  # no price shown as if it were sold
    assert offer["reason"] == reason
    quoted = _eventually(quote, lambda body: body["unsellable_offers"])
    assert quoted["offers"] == []
    assert [o["reason"] for o in quoted["unsellable_offers"]] == [reason]  # the same words as the quote

    operator = new_staff(engine, "operator")
    signed = api_client.post("/pricing/login", data={"username": operator.username, "password": operator.password},
                             follow_redirects=False)
    assert signed.status_code == 303, signed.text
    page = api_client.get("/pricing")  # the staff session's cookie
    assert page.status_code == 200
    for pair in ("EUR→USD", "EUR→CNY"):
        assert f"fx_rate_stale: {pair} rate set of {old.isoformat()} is older than {MAX_AGE} days" in page.text

    # A fresh set: the preview prices the room rate again, at the quote's price; the page flags nothing.
    _load_rates(engine, today)
    offer = preview()
    assert offer["sellable"] is True and "reason" not in offer
    assert offer["breakdown"]["sell"]["currency"] == "CNY" and Decimal(offer["breakdown"]["sell"]["amount"]) > 0
    quoted = _eventually(quote, lambda body: body["offers"])
    assert quoted["unsellable_offers"] == []
    assert offer["breakdown"]["sell"] == quoted["offers"][0]["total_price"]
    assert "fx_rate_stale" not in api_client.get("/pricing").text
