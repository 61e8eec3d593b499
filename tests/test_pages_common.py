"""What every page area shares: one stylesheet served by the platform, one sign-in form, a viewport for phones,
a sign-in that sends the browser only to a page of its own area, and headers that keep other sites from framing a
page or taking its forms."""

from __future__ import annotations

import pytest

from tests.api_fixtures import new_staff

AREAS = ["/settlements", "/billing", "/reports", "/pricing"]


def test_the_stylesheet_is_served_and_every_area_uses_it(api_client):
    css = api_client.get("/static/app.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "@media (max-width" in css.text  # the phone layout
    for prefix in AREAS:
        page = api_client.get(prefix)
        assert page.status_code == 200, prefix
        assert '<link rel="stylesheet" href="/static/app.css">' in page.text, prefix
        assert 'name="viewport"' in page.text, prefix
        assert f'action="{prefix}/login"' in page.text and 'id="login-form"' in page.text, prefix
    assert api_client.get("/static/nope.css").status_code == 404


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/reports", "/settlements"])
def test_sign_in_never_leaves_its_area(api_client, engine, next_url):
    operator = new_staff(engine, "operator")
    signed = api_client.post("/reports/login", data={"username": operator.username,
                                                     "password": operator.password, "next": next_url},
                             follow_redirects=False)
    assert signed.status_code == 303 and signed.headers["location"] == "/reports"
    cookie = signed.headers["set-cookie"]
    assert "staff_session=" in cookie and "HttpOnly" in cookie and "Path=/;" in cookie
    assert "samesite=lax" in cookie.lower() and "secure" in cookie.lower()  # the tests run as production


def test_no_other_site_may_frame_a_page_or_take_its_forms(api_client, engine):
    operator = new_staff(engine, "operator")
    signed = api_client.post("/console/login", data={"username": operator.username, "password": operator.password,
                                                     "next": "/console"})
    assert signed.status_code == 200 and 'id="login-form"' not in signed.text  # a signed-in page, with actions
    for page in [signed, *(api_client.get(prefix) for prefix in AREAS)]:
        policy = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "form-action 'self'" in policy, page.url
        assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
