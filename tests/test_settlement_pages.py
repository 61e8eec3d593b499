"""The settlement pages without a browser (so they never skip): other roles are refused at sign-in, a form without
the session's CSRF value is refused, and margins converted at each order's rates show the currency's minor unit."""

from __future__ import annotations

from urllib.parse import urlencode

from api.pages.common import templates
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


def test_converted_margins_show_minor_units_and_keep_the_exact_value_in_the_tooltip():
    totals = {"margin_supplier_currency": {"EUR": "12.3450", "JPY": "1234.5"},
              "margin_platform_currency": {"CNY": "98.7649"}}
    html = templates.get_template("settlement/summary.html").render(
        cycle={"id": 7, "totals": totals, "counts": {}, "journal": {}}, classes=[], journal=[])
    assert '<td class="num" title="12.3450 exactly">12.35</td><td>EUR</td>' in html  # half up
    assert '<td class="num" title="1234.5 exactly">1235</td><td>JPY</td>' in html  # no minor unit
    assert '<td class="num" title="98.7649 exactly">98.76</td><td>CNY</td>' in html
    listed = templates.get_template("settlement/cycles.html").render(
        cycles=[{"id": 7, "supplier_code": "A", "period_start": "2026-11-23", "period_end": "2026-11-30",
                 "revision": 1, "status": "reconciled", "counts": {}, "totals": totals}], request=None)
    assert '<span title="98.7649 exactly">98.76</span> CNY' in listed
