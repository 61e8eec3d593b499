"""/health, /metrics, JSON errors and JSON logs from the real app against real engines."""

import json
import logging

import pytest

from core import runtime

pytestmark = pytest.mark.embedded


def test_health_reports_all_three_parts(api_client):
    response = api_client.get("/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"postgresql", "redis", "clickhouse"}
    assert all(check["status"] == "ok" for check in body["checks"].values())


def test_health_names_the_failing_engine(settings, migrated, tmp_path):
    from fastapi.testclient import TestClient

    from api.app import create_app

    broken = runtime.Endpoints(
        database_url=migrated.database_url,
        redis_url=f"unix://{tmp_path / 'no-redis.sock'}",
        clickhouse_url=migrated.clickhouse_url,
        rabbitmq_url=None,
        modes=migrated.modes,
    )
    with TestClient(create_app(settings, broken)) as client:
        response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["redis"]
    assert body["checks"]["postgresql"]["status"] == "ok"


def test_metrics_count_requests_by_route_and_status(api_client):
    api_client.get("/health")
    api_client.get("/no-such-route")
    text = api_client.get("/metrics").text
    assert 'http_requests_total{method="GET",route="/health",service="api",status="200"}' in text
    assert 'route="unmatched",service="api",status="404"' in text
    assert "http_request_duration_seconds_bucket" in text


def test_unknown_route_gets_a_json_error(api_client):
    response = api_client.get("/no-such-route")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_request_log_is_json_with_trace_from_traceparent(api_client, capsys):
    from core.logs import configure_logging

    configure_logging("api", "info")
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    response = api_client.get("/no-such-route", headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01"})
    assert response.headers["x-request-id"] == trace
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    request_lines = [line for line in lines if line["message"] == "request"]
    assert request_lines, lines
    line = request_lines[-1]
    assert set(line) == {"timestamp", "level", "service", "traceId", "spanId", "message", "context"}
    assert line["traceId"] == trace and line["service"] == "api"
    assert line["context"]["status"] == 404
    logging.getLogger().handlers.clear()


def test_an_http_client_call_is_not_logged_twice_unless_debug(api_client, capsys):
    from core.logs import configure_logging

    def http_lines(level: str) -> list[str]:
        configure_logging("api", level)
        api_client.get("/health")  # the test client is an httpx client: the library logs its request
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
        return [line["message"] for line in lines if line["message"].startswith("HTTP Request:")]

    try:
        assert http_lines("info") == []
        [line] = http_lines("debug")
        assert line.startswith("HTTP Request: GET ") and line.endswith('/health "HTTP/1.1 200 OK"')
    finally:
        logging.getLogger().handlers.clear()


def test_x_request_id_becomes_the_trace_id(api_client):
    response = api_client.get("/health", headers={"X-Request-ID": "req-123"})
    assert response.headers["x-request-id"] == "req-123"


def test_log_level_is_honoured(capsys):
    from core.logs import configure_logging

    configure_logging("api", "warning")
    logging.getLogger("x").info("hidden")
    logging.getLogger("x").warning("shown", extra={"context": {"client_secret": "s3cr3t"}})
    out = capsys.readouterr().out
    assert "hidden" not in out and "shown" in out and "s3cr3t" not in out
    logging.getLogger().handlers.clear()


def test_every_api_worker_logs_json_lines_with_the_trace_id(database_url, redis_url, settings, tmp_path):
    """`python -m api.app` as `hotelctl up` and the images start it, two uvicorn workers: each is a fresh
    interpreter, and each must log as the API does, so a 500's traceId can be found in the log."""
    import os

    from tests.live_server import start_apis, stop_api

    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "API_WORKERS": "2",
           "LOG_LEVEL": "info", "HOTEL_DATA_DIR": str(tmp_path / "data"),
           "JWT_SECRET": settings.jwt_secret.get_secret_value(),
           "ENCRYPTION_SECRET": settings.encryption_secret.get_secret_value()}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log_path = tmp_path / "api.log"
    trace = "0af7651916cd43dd8448eb211c80319c"
    with log_path.open("w") as log_file:
        [(process, base)] = start_apis(env, output=log_file)
        try:
            import httpx

            for _ in range(4):  # either worker may answer
                response = httpx.get(f"{base}/no-such-route",
                                     headers={"traceparent": f"00-{trace}-b7ad6b7169203331-01"})
                assert response.status_code == 404
        finally:
            stop_api(process)
    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line JSON: no plain-text line from any worker
    started = [record for record in records if record["message"] == "api started"]
    assert len(started) == 2, lines  # one per worker, each configured
    requests = [record for record in records if record["message"] == "request" and record["traceId"] == trace]
    assert len(requests) == 4 and all(record["service"] == "api" for record in requests), lines
