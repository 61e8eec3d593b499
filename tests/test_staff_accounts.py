"""Named staff accounts: `hotelctl staff`, argon2id hashes, admin API tokens by username and password, console
sessions that end when the account is disabled, sign-in throttling, and the old shared staff secrets refused."""

from __future__ import annotations

import re
import secrets

import jwt
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from api.staff_sign_in import FAILURES_PER_USER, WINDOW_S
from core import audit
from core.partners import _insert_credentials
from tests.api_fixtures import new_staff


def _cli_env(monkeypatch, settings) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    monkeypatch.setenv("HOTEL_DATA_DIR", str(settings.data_dir))


def _staff_token(api_client, username: str, password: str):
    return api_client.post("/v1/auth/staff-token", json={"username": username, "password": password})


def test_hotelctl_staff_creates_disables_and_resets_with_audit(api_client, engine, settings, monkeypatch):
    from cli.main import app

    _cli_env(monkeypatch, settings)
    runner = CliRunner()
    username, password = f"ops-{secrets.token_hex(3)}", "correct horse battery"
    created = runner.invoke(app, ["staff", "create", username, "--role", "operator", "--name", "Olga Operator",
                                  "--password-stdin", "--by", "root-admin"], input=password + "\n")
    assert created.exit_code == 0, created.output
    assert password not in created.output
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT password_hash FROM staff WHERE username = :u"), {"u": username}).scalar()
    assert stored.startswith("$argon2id$") and password not in stored
    again = runner.invoke(app, ["staff", "create", username, "--role", "operator", "--password-stdin"],
                          input=password + "\n")
    assert again.exit_code == 1 and "exists already" in again.output
    short = runner.invoke(app, ["staff", "create", f"x-{username}", "--role", "operator", "--password-stdin"],
                          input="short\n")
    assert short.exit_code == 1 and "password: between 12" in short.output
    bad_role = runner.invoke(app, ["staff", "create", f"y-{username}", "--role", "boss", "--password-stdin"],
                             input=password + "\n")
    assert bad_role.exit_code == 1 and "role: one of operator, finance, admin" in bad_role.output

    # The token names the staff member: the admin API can audit by name.
    issued = _staff_token(api_client, username, password)
    assert issued.status_code == 200, issued.text
    claims = jwt.decode(issued.json()["access_token"], options={"verify_signature": False})
    assert claims["sub"] == username and claims["role"] == "operator"

    new_password = "another long passphrase"
    reset = runner.invoke(app, ["staff", "reset-password", username, "--password-stdin", "--by", "root-admin"],
                          input=new_password + "\n")
    assert reset.exit_code == 0, reset.output
    assert _staff_token(api_client, username, password).status_code == 401
    assert _staff_token(api_client, username, new_password).status_code == 200
    disabled = runner.invoke(app, ["staff", "disable", username, "--note", "left the company", "--by", "root-admin"])
    assert disabled.exit_code == 0, disabled.output
    refused = _staff_token(api_client, username, new_password)
    assert refused.status_code == 401 and "invalid username or password" in refused.text

    entries = audit.search(engine, target=f"staff:{username}")
    assert [(e["action"], e["actor"], e["source"]) for e in entries] == [
        ("staff.disable", "root-admin", "cli"), ("staff.reset_password", "root-admin", "cli"),
        ("staff.create", "root-admin", "cli")]
    assert entries[0]["before"]["disabled"] is False and entries[0]["after"]["disabled"] is True
    assert entries[0]["note"] == "left the company"
    assert all(password not in str(e) and new_password not in str(e) for e in entries)


def test_console_session_is_server_side_and_ends_when_the_account_is_disabled(api_client, engine):
    from core.staff import disable_staff

    finance = new_staff(engine, "finance")
    signed = api_client.post("/settlements/login", data={"username": finance.username, "password": finance.password},
                             follow_redirects=False)
    assert signed.status_code == 303
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Secure" in cookie
    session_id = re.search(r"staff_session=([^;]+)", cookie).group(1)
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT id_hash FROM staff_sessions s JOIN staff t ON t.id = s.staff_id"
                                      " WHERE t.username = :u"), {"u": finance.username}).scalars().all()
    assert len(stored) == 1 and session_id not in stored[0]  # only a hash of the cookie is kept
    page = api_client.get("/settlements")
    assert 'id="upload-form"' in page.text and finance.username in page.text
    # One session for every area the role may open (billing is finance's too); another area's refusal is clear.
    assert 'id="bank-form"' in api_client.get("/billing").text
    pricing = api_client.get("/pricing")
    assert pricing.status_code == 403 and "operator role only" in pricing.text

    disable_staff(engine, finance.username, audit.Actor("pytest", "admin", "cli"))
    assert 'id="login-form"' in api_client.get("/settlements").text

    other = new_staff(engine, "finance")
    api_client.post("/settlements/login", data={"username": other.username, "password": other.password})
    assert 'id="upload-form"' in api_client.get("/settlements").text
    api_client.post("/settlements/logout")
    with engine.connect() as conn:
        left = conn.execute(sa.text("SELECT count(*) FROM staff_sessions s JOIN staff t ON t.id = s.staff_id"
                                    " WHERE t.username = :u"), {"u": other.username}).scalar()
    assert left == 0


@pytest.mark.embedded  # the embedded Redis is 6.2: the failure count must not need a Redis 7 command
def test_sign_in_is_throttled_per_username(api_client, engine):
    operator = new_staff(engine, "operator")
    for _ in range(FAILURES_PER_USER):
        assert _staff_token(api_client, operator.username, "wrong password!").status_code == 401
    throttled = _staff_token(api_client, operator.username, operator.password)  # even the right one, for now
    assert throttled.status_code == 429 and 0 < int(throttled.headers["Retry-After"]) <= WINDOW_S
    assert "too many failed sign-ins" in throttled.json()["error"]["message"]
    page = api_client.post("/pricing/login", data={"username": operator.username, "password": operator.password})
    assert page.status_code == 429 and "Too many failed sign-ins" in page.text
    # Another account from the same address is not locked out by these failures.
    other = new_staff(engine, "operator")
    assert _staff_token(api_client, other.username, other.password).status_code == 200


def test_admin_may_do_everything_and_shared_staff_secrets_are_gone(api_client, engine):
    admin = new_staff(engine, "admin")
    token = _staff_token(api_client, admin.username, admin.password).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert api_client.get("/v1/settlements/cycles", headers=headers).status_code == 200  # finance's
    assert api_client.get("/v1/admin/pricing-rules", headers=headers).status_code == 200  # operator's
    assert api_client.get("/v1/orders", headers=headers).status_code == 403  # a partner's: not staff work
    signed = api_client.post("/pricing/login", data={"username": admin.username, "password": admin.password},
                             follow_redirects=False)
    assert signed.status_code == 303

    # A row of the old role-level client credentials (as older releases seeded them) no longer signs in.
    with engine.begin() as conn:
        old = _insert_credentials(conn, "operator", None, f"ops_{secrets.token_hex(4)}", None)
    refused = api_client.post("/v1/auth/token", json={"client_id": old.client_id, "client_secret": old.client_secret})
    assert refused.status_code == 401


def test_development_demo_staff_are_stable_and_sign_in(api_client, engine):
    from core.staff import ensure_demo_staff

    first = ensure_demo_staff(engine, "a development seed secret of some length")
    again = ensure_demo_staff(engine, "a development seed secret of some length")
    assert [(s.username, s.role, p) for s, p in first] == [(s.username, s.role, p) for s, p in again]
    assert {s.role for s, _ in first} == {"operator", "finance", "admin"}
    for staff, password in first:
        assert _staff_token(api_client, staff.username, password).status_code == 200
