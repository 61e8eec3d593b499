"""A staff member's bearer tokens (POST /v1/auth/staff-token) end at once in every API process when the account is
disabled (403 staff_disabled) or its password is reset (401 token_revoked), through PostgreSQL's notification to
each process's access list; once enabled again the member signs in anew and the new token works, the old stays
refused."""

from __future__ import annotations

import time

import httpx

from core import audit
from core.staff import disable_staff, enable_staff, reset_password
from tests.api_fixtures import new_staff

pytest_plugins = ["tests.admin_fixtures"]
ADMIN = audit.Actor("pytest", "admin", "cli")


def _token(base: str, username: str, password: str) -> httpx.Response:
    return httpx.post(f"{base}/v1/auth/staff-token", json={"username": username, "password": password}, timeout=30)


def _bearer(base: str, username: str, password: str) -> dict:
    response = _token(base, username, password)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _audit(base: str, headers: dict) -> httpx.Response:
    """The audit log, which operators and finance may read."""
    return httpx.get(f"{base}/v1/admin/audit", headers=headers, params={"limit": 1}, timeout=30)


def _until(check, timeout_s: float = 1.0) -> None:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout_s, "not within the time allowed"
        time.sleep(0.01)


def _code(response: httpx.Response) -> str:
    return response.json()["error"]["code"]


def test_disabling_a_staff_member_refuses_their_tokens_at_once_in_every_process(engine, apis):
    first, second = apis
    staff = new_staff(engine, "operator")
    old = _bearer(first, staff.username, staff.password)
    bystander = new_staff(engine, "operator")
    other = _bearer(second, bystander.username, bystander.password)
    for base in apis:
        assert _audit(base, old).status_code == 200 and _audit(base, other).status_code == 200

    disable_staff(engine, staff.username, ADMIN, note="left the company")  # as `hotelctl staff disable` does
    for base in apis:
        _until(lambda base=base: _audit(base, old).status_code == 403)
        refused = _audit(base, old)
        assert refused.status_code == 403 and _code(refused) == "staff_disabled"
        assert _token(base, staff.username, staff.password).status_code == 401
        assert _audit(base, other).status_code == 200  # only that member

    enable_staff(engine, staff.username, ADMIN)
    new = _bearer(second, staff.username, staff.password)
    for base in apis:
        _until(lambda base=base: _audit(base, new).status_code == 200)
        stale = _audit(base, old)  # a token from before the disable does not come back to life
        assert stale.status_code == 401 and _code(stale) == "token_revoked"


def test_a_password_reset_refuses_the_tokens_issued_before_it(engine, apis):
    first, second = apis
    staff = new_staff(engine, "finance")
    old = _bearer(first, staff.username, staff.password)
    assert _audit(second, old).status_code == 200
    reset_password(engine, staff.username, "a brand new long passphrase", ADMIN)
    for base in apis:
        _until(lambda base=base: _audit(base, old).status_code == 401)
        assert _code(_audit(base, old)) == "token_revoked"
    new = _bearer(second, staff.username, "a brand new long passphrase")
    for base in apis:
        assert _audit(base, new).status_code == 200
