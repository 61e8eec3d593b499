"""Property-based tests of the partner API against its own OpenAPI document (schemathesis, in-process
over ASGI, lifespan included, authenticated as a real partner): no 5xx, and every response — status
code, content type, headers, body — matches what the document declares."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.auth import Principal, issue_token
from tests.api_fixtures import new_partner


@pytest.fixture(scope="module")
def partner_headers(engine, settings) -> dict[str, str]:
    creds = new_partner(engine)
    bearer, _ = issue_token(settings, Principal(creds.client_id, "partner", str(creds.partner_id)))
    return {"Authorization": f"Bearer {bearer}"}


@pytest.fixture
def api_schema(settings, migrated):
    roomy = settings.model_copy(update={"rate_limit_max": 1_000_000})
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(roomy, migrated))


schema = schemathesis.pytest.from_fixture("api_schema")


def test_openapi_describes_exactly_the_partner_routes(api_client):
    paths = api_client.get("/openapi.json").json()["paths"]
    from api.routes import ROUTERS

    mounted = {(route.path, method) for router in ROUTERS for route in router.routes
               for method in getattr(route, "methods", ()) if getattr(route, "include_in_schema", False)
               and method not in ("HEAD", "OPTIONS")}
    documented = {(path, method.upper()) for path, item in paths.items() for method in item}
    assert mounted == documented
    for path, method in [("/v1/auth/token", "post"), ("/v1/quotes", "post"), ("/v1/quotes/{quote_id}", "get"),
                         ("/v1/orders", "post"), ("/v1/orders", "get"), ("/v1/orders/{order_id}", "get"),
                         ("/v1/orders/{order_id}/cancel", "post")]:
        assert method in paths[path], (path, method)


def test_every_partner_operation_but_the_token_declares_the_bearer_scheme(api_client):
    document = api_client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http", "scheme": "bearer", "description": "`POST /v1/auth/token` returns the bearer token"}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if path.startswith(("/v1/quotes", "/v1/orders")):
                assert operation.get("security") == [{"HTTPBearer": []}], (path, method)
    assert "security" not in document["paths"]["/v1/auth/token"]["post"]


@schema.include(path_regex=r"^/v1/(auth|quotes|orders)").parametrize()
@hypothesis_settings(max_examples=12, deadline=None, derandomize=True,
                     suppress_health_check=list(HealthCheck))
def test_partner_api_conforms_to_its_schema(case, partner_headers):
    case.call_and_validate(
        headers=partner_headers,
        checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                response_headers_conformance, response_schema_conformance],
    )
