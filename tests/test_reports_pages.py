"""The report pages' guards without a browser (so they never skip): partners' credentials open no staff page,
bad filters are named."""

from __future__ import annotations

from core.partners import create_partner
from tests.api_fixtures import new_staff


def test_partners_cannot_open_reports_and_bad_filters_are_named(engine, api_client):
    partner = create_partner(engine, "WH Reports Outsider")
    # A partner's client credentials open no staff page.
    login = api_client.post("/reports/login", data={"username": partner.client_id,
                                                    "password": partner.client_secret},
                            follow_redirects=False)
    assert login.status_code == 401 and "do not match" in login.text and "set-cookie" not in login.headers
    operator = new_staff(engine, "operator")
    signed = api_client.post("/reports/login", data={"username": operator.username,
                                                     "password": operator.password, "next": "/reports"},
                             follow_redirects=False)
    assert signed.status_code == 303 and "staff_session" in signed.headers["set-cookie"]
    bad = api_client.get("/reports/sales?from=2026-13-01", cookies=signed.cookies)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "from"
    assert "2026-13-01" in bad.json()["error"]["message"]
    missing = api_client.get("/reports/nope", cookies=signed.cookies)
    assert missing.status_code == 404
