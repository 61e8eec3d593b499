"""Fixtures of the operator-action tests: two live API processes on the session's engines, and the environment a
`hotelctl` command run in-process needs (the test run's engines and secrets)."""

from __future__ import annotations

import datetime as dt
import os
import uuid

import pytest

from tests.api_fixtures import auth, new_partner, order_body, seed_city
from tests.live_server import start_apis, stop_api


@pytest.fixture(scope="module")
def apis(database_url, redis_url, settings, tmp_path_factory):
    """Base URLs of two API processes (`python -m api.app`), for changes that must reach every process."""
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "API_WORKERS": "1",
           "LOG_LEVEL": "warning", "RATE_LIMIT_MAX": "100000",
           "JWT_SECRET": settings.jwt_secret.get_secret_value(),
           "ENCRYPTION_SECRET": settings.encryption_secret.get_secret_value()}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    started = start_apis(*({**env, "HOTEL_DATA_DIR": str(tmp_path_factory.mktemp(f"api{index}"))}
                           for index in range(2)))
    yield [base for _, base in started]
    for process, _ in started:
        stop_api(process)


@pytest.fixture
def cli_env(settings, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    monkeypatch.setenv("HOTEL_DATA_DIR", str(settings.hotel_data_dir))
    monkeypatch.setenv("JWT_SECRET", settings.jwt_secret.get_secret_value())
    monkeypatch.setenv("ENCRYPTION_SECRET", settings.encryption_secret.get_secret_value())


def order_held_for_review(api_client, engine, redis_url, settings, client_reference: str | None = None):
    """A new partner's order held for review (over half its credit, risk threshold 40) in a city of its own;
    returns (credentials, bearer headers, order)."""
    city = f"Reviewville {uuid.uuid4().hex[:6]}"
    seed_city(engine, redis_url, city=city, hotels=1, rooms_per_hotel=1, allotment=5)
    creds = new_partner(engine, credit_limit="600")
    headers = auth(api_client, creds)
    start = dt.date.today() + dt.timedelta(days=20)
    quote = api_client.post("/v1/quotes", headers=headers, json={
        "city": city, "check_in": start.isoformat(), "check_out": (start + dt.timedelta(days=1)).isoformat(),
        "adults": 1}).json()
    api_client.app.state.settings = settings.model_copy(update={"risk_score_threshold": 40})
    order = api_client.post("/v1/orders", headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                            json=order_body(quote["offers"][0]["offer_id"], client_reference=client_reference)).json()
    assert order["status"] == "REVIEW", order
    return creds, headers, order
