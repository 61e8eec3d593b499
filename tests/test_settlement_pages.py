"""The settlement pages' guards without a browser (so they never skip): other roles are refused at sign-in and
a form without the session's CSRF value is refused."""

from __future__ import annotations

from urllib.parse import urlencode

from tests.api_fixtures import new_staff


def test_pages_refuse_other_roles_and_forged_forms(api_client, engine):
    operator = new_staff(engine, "operator")
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    refused = api_client.post("/settlements/login", content=urlencode({"username": operator.username,
                                                                       "password": operator.password}),
                              headers=form, follow_redirects=False)
    assert refused.status_code == 403 and "finance role only" in refused.text
    assert "staff_session" not in refused.headers.get("set-cookie", "")
    finance = new_staff(engine, "finance")
    signed = api_client.post("/settlements/login", content=urlencode({"username": finance.username,
                                                                      "password": finance.password}),
                             headers=form, follow_redirects=False)
    assert signed.status_code == 303 and "HttpOnly" in signed.headers["set-cookie"]
    forged = api_client.post("/settlements/cycles/1/approve", content="csrf=guess", headers=form,
                             follow_redirects=False)
    assert forged.status_code == 403
    api_client.cookies.clear()
    anonymous = api_client.post("/settlements/cycles/1/approve", content="csrf=guess", follow_redirects=False)
    assert anonymous.status_code == 401
