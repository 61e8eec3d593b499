"""What every page area shares: one stylesheet served by the platform, one sign-in form, a viewport for phones,
and a sign-in that sends the browser only to a page of its own area."""

from __future__ import annotations

import pytest

from core.partners import create_staff_credentials

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
    operator = create_staff_credentials(engine, "operator")
    signed = api_client.post("/reports/login", data={"client_id": operator.client_id,
                                                     "client_secret": operator.client_secret, "next": next_url},
                             follow_redirects=False)
    assert signed.status_code == 303 and signed.headers["location"] == "/reports"
    cookie = signed.headers["set-cookie"]
    assert "reports_session=" in cookie and "HttpOnly" in cookie and "Path=/reports" in cookie
    assert "samesite=lax" in cookie.lower()
