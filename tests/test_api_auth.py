"""Authentication: tokens, tampering, expiry, `alg: none`, wrong audience, roles (OWASP API2, API5)."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from api.auth import AUDIENCE, ISSUER, Principal, current_principal, require_role
from tests.api_fixtures import new_partner, new_staff, token


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(**overrides) -> dict:
    now = int(time.time())
    claims = {"sub": "someone", "role": "partner", "pid": "00000000-0000-0000-0000-000000000001",
              "aud": AUDIENCE, "iss": ISSUER, "iat": now, "nbf": now, "exp": now + 600}
    claims.update(overrides)
    return claims


def _quote(client, bearer: str):
    return client.post("/v1/quotes", headers={"Authorization": f"Bearer {bearer}"},
                       json={"city": "Nowhere", "check_in": "2030-01-01", "check_out": "2030-01-02", "adults": 1})


def test_token_issued_for_valid_credentials_and_refused_otherwise(api_client, engine, settings):
    creds = new_partner(engine)
    response = api_client.post("/v1/auth/token", json={"client_id": creds.client_id,
                                                        "client_secret": creds.client_secret})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.jwt_expiry_hours * 3600
    claims = jwt.decode(body["access_token"], settings.jwt_secret.get_secret_value(), algorithms=["HS256"],
                        audience=AUDIENCE)
    assert claims["role"] == "partner" and claims["pid"] == str(creds.partner_id)
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "HS256"

    wrong = api_client.post("/v1/auth/token", json={"client_id": creds.client_id, "client_secret": "nope"})
    assert wrong.status_code == 401
    unknown = api_client.post("/v1/auth/token", json={"client_id": "no-such-client", "client_secret": "x"})
    assert unknown.status_code == 401
    assert wrong.json()["error"]["message"] == unknown.json()["error"]["message"]  # no user enumeration


def test_bad_tokens_are_401(api_client, engine, settings):
    secret = settings.jwt_secret.get_secret_value()
    good = token(api_client, new_partner(engine))
    header, payload, signature = good.split(".")
    tampered_payload = _b64({**jwt.decode(good, options={"verify_signature": False}), "role": "operator"})
    cases = {
        "missing": None,
        "garbage": "not-a-jwt",
        "tampered": f"{header}.{tampered_payload}.{signature}",
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims())}.",
        "expired": jwt.encode(_claims(iat=int(time.time()) - 7200, nbf=int(time.time()) - 7200,
                                      exp=int(time.time()) - 3600), secret, algorithm="HS256"),
        "wrong audience": jwt.encode(_claims(aud="someone-else"), secret, algorithm="HS256"),
        "other key": jwt.encode(_claims(), "another-secret-of-sufficient-length-1234", algorithm="HS256"),
        "HS512": jwt.encode(_claims(), secret, algorithm="HS512"),
    }
    for name, bearer in cases.items():
        if bearer is None:
            response = api_client.post("/v1/quotes", json={})
        else:
            response = _quote(api_client, bearer)
        assert response.status_code == 401, name
        assert response.headers.get("www-authenticate", "").startswith("Bearer"), name
    assert _quote(api_client, good).status_code != 401


def test_inactive_credentials_cannot_get_tokens(api_client, engine):
    import sqlalchemy as sa

    creds = new_partner(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE api_credentials SET active = false WHERE client_id = :c"),
                     {"c": creds.client_id})
    response = api_client.post("/v1/auth/token", json={"client_id": creds.client_id,
                                                        "client_secret": creds.client_secret})
    assert response.status_code == 401


@pytest.mark.parametrize("role", ["operator", "finance"])
def test_staff_roles_cannot_use_partner_endpoints(api_client, engine, role):
    """Function-level authorization (OWASP API5): staff tokens do not quote or order as a partner."""
    staff = new_staff(engine, role)
    bearer = token(api_client, staff)
    assert _quote(api_client, bearer).status_code == 403
    headers = {"Authorization": f"Bearer {bearer}"}
    assert api_client.get("/v1/orders", headers=headers).status_code == 403


def test_require_role_dependency(settings, migrated):
    """The dependency other routers import: 401 without a token, 403 for another role, else the principal."""
    from api.auth import issue_token

    app = FastAPI()
    app.state.settings = settings

    @app.get("/ops")
    async def ops(principal: Principal = Depends(require_role("operator"))):
        return {"client": principal.client_id, "role": principal.role}

    @app.get("/me")
    async def me(principal: Principal = Depends(current_principal)):
        return {"role": principal.role}

    operator_token, _ = issue_token(settings, Principal("op-1", "operator", None))
    partner_token, _ = issue_token(settings, Principal("pk-1", "partner", "00000000-0000-0000-0000-000000000002"))
    client = TestClient(app)
    assert client.get("/ops").status_code == 401
    assert client.get("/ops", headers={"Authorization": f"Bearer {partner_token}"}).status_code == 403
    ok = client.get("/ops", headers={"Authorization": f"Bearer {operator_token}"})
    assert ok.status_code == 200 and ok.json() == {"client": "op-1", "role": "operator"}
    assert client.get("/me", headers={"Authorization": f"Bearer {partner_token}"}).json() == {"role": "partner"}
    admin_token, _ = issue_token(settings, Principal("root", "admin", None))
    admitted = client.get("/ops", headers={"Authorization": f"Bearer {admin_token}"})  # an admin may do all staff do
    assert admitted.status_code == 200 and admitted.json() == {"client": "root", "role": "admin"}
    with pytest.raises(ValueError):
        require_role("superuser")
