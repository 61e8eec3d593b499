"""Partner webhooks against the real RabbitMQ, PostgreSQL and HTTP: a partner registers a URL through the
API; the orders it books and cancels reach that URL as signed POSTs, through the outbox relay, the durable
`webhooks` queue and the consumer; an endpoint that is down for a while and a real broker restart mid-way
(`rabbitmqctl stop_app` / `start_app`: every connection gone, the durable queue kept) lose nothing (every
event arrives, under its own id); an event the endpoint keeps refusing is dead-lettered, visible to an
operator, and delivered once replayed."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import html
import itertools
import json
import os
import re
import secrets
import subprocess
import threading
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from core.consumer import EventConsumer
from core.topology import CONSUMERS
from core.webhooks.delivery import CONSUMER, WebhookDelivery
from core.webhooks.signing import sign, verify
from tests.api_fixtures import auth, new_partner, new_staff, order_body, seed_from_simulator
from tests.needs import needs_tool, tool
from tests.test_ops_events import delete_topology, queued
from tests.test_ops_relay import RABBITMQ_URL, _relay, needs_broker

pytestmark = needs_broker


@pytest.fixture(scope="module")
def settings(settings):
    """The broker these tests use is configured, also where RABBITMQ_URL is unset and they use its default address
    (`make test` with nothing set): the API then answers as a platform with a broker does."""
    return settings.model_copy(update={"rabbitmq_url": RABBITMQ_URL})
_days = itertools.count(50, 3)


class PartnerEndpoint:
    """The partner's receiver: refuses every POST (503) while `down`, and those of the orders in
    `always_refuse`; records each POST and whether its signature verified."""

    def __init__(self) -> None:
        self.down = False
        self.always_refuse: set[str] = set()
        self.secret = ""
        self.posts: dict[int, list[tuple[int, dict, bool]]] = defaultdict(list)  # id -> (status, body, signed)
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                body = json.loads(raw)
                event_id = int(self.headers["X-Hotel-Event-Id"])
                signed = verify(endpoint.secret, self.headers["X-Hotel-Timestamp"], raw,
                                self.headers["X-Hotel-Signature"])
                seen = endpoint.posts[event_id]
                refused = endpoint.down or body["order_id"] in endpoint.always_refuse
                status = 503 if refused else 200
                seen.append((status, body, signed))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hotel-events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self) -> dict[int, list[dict]]:
        return {i: [body for status, body, _ in posts if status == 200] for i, posts in self.posts.items()
                if any(status == 200 for status, _, _ in posts)}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def partner(api_client, engine):
    endpoint = PartnerEndpoint()
    headers = auth(api_client, new_partner(engine))
    registered = api_client.put("/v1/webhooks", headers=headers, json={"url": endpoint.url})
    assert registered.status_code == 200, registered.text
    endpoint.secret = registered.json()["secret"]
    yield endpoint, headers
    endpoint.close()


@pytest.fixture
def exchange():
    name = f"hotel.events.test.{secrets.token_hex(4)}"
    yield name
    asyncio.run(delete_topology(name, CONSUMER))


def _book(api_client, headers, engine, redis_url, supplier_a, cancel: bool = False) -> str:
    start = dt.date.today() + dt.timedelta(days=next(_days))
    offer = seed_from_simulator(engine, redis_url, supplier_a, start=start, nights=2, hotels=1, allotment=20)[0]
    quote = api_client.post("/v1/quotes", headers=headers, json={
        "hotel_ids": [offer["hotel_id"]], "check_in": start.isoformat(),
        "check_out": (start + dt.timedelta(days=2)).isoformat(), "rooms": 1, "adults": 1}).json()
    offer_id = next(o["offer_id"] for o in quote["offers"] if o["room_type"] == offer["room_name"])
    order = api_client.post("/v1/orders", json=order_body(offer_id),
                            headers={**headers, "Idempotency-Key": str(uuid.uuid4())})
    assert order.status_code == 201, order.text
    order_id = order.json()["order_id"]
    if cancel:
        assert api_client.post(f"/v1/orders/{order_id}/cancel", headers=headers).status_code == 200
    return order_id


def _events(engine, order_ids: list[str]) -> dict[int, str]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT id, event_type FROM outbox_events WHERE aggregate_id = ANY(:ids)"),
                                 {"ids": order_ids}).all())


async def _publish(migrated, exchange: str) -> None:
    relay = _relay(migrated, exchange, consumers={CONSUMER: CONSUMERS[CONSUMER]})
    try:
        while await relay.run_once():
            pass
    finally:
        await relay.close()


@contextlib.asynccontextmanager
async def _consuming(migrated, settings, exchange: str, backoff_s: float = 1.0) -> AsyncIterator[EventConsumer]:
    """The webhooks consumer on `exchange` while the block runs."""
    handler = WebhookDelivery(migrated.database_url, settings, backoff_s=backoff_s)
    consumer = EventConsumer(RABBITMQ_URL, CONSUMER, handler, exchange=exchange,
                             connection_name=f"webhooks-test-{secrets.token_hex(4)}")
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        yield consumer
    finally:
        stop.set()
        await task
        await handler.close()


async def _until(predicate, timeout_s: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, f"timed out: {what}"
        await asyncio.sleep(0.05)


def _rabbitmqctl(*args: str) -> None:
    subprocess.run([tool("rabbitmqctl"), *args], capture_output=True, text=True, timeout=60, check=True)


def _start_broker() -> None:
    """Start the broker's application (a no-op when it runs) and wait until it accepts connections."""
    _rabbitmqctl("start_app")
    _rabbitmqctl("await_startup", "--timeout", "60")


def test_signature_is_hmac_over_timestamp_and_body():
    body = b'{"id":1}'
    signature = sign("whsec_x", 1_700_000_000, body)
    assert verify("whsec_x", "1700000000", body, signature, now=1_700_000_100)
    assert not verify("whsec_x", "1700000000", body + b" ", signature, now=1_700_000_100)  # body changed
    assert not verify("whsec_y", "1700000000", body, signature, now=1_700_000_100)  # another secret
    assert not verify("whsec_x", "1700000000", body, signature, now=1_700_000_000 + 3600)  # replayed late


@needs_tool("rabbitmqctl")
async def test_every_event_arrives_through_an_outage_and_a_broker_restart(
        api_client, engine, redis_url, migrated, settings, supplier_a, partner, exchange):
    endpoint, headers = partner
    endpoint.down = True
    orders = [_book(api_client, headers, engine, redis_url, supplier_a, cancel=n == 0) for n in range(2)]
    expected = _events(engine, orders)
    assert sorted(expected.values()) == ["order.cancelled", "order.confirmed", "order.confirmed",
                                         "order.pending", "order.pending"]
    await _publish(migrated, exchange)

    # Retries wait 0.5, 1, 2, 4, 8 s: the outage below (a few seconds) stays within the delivery limit.
    async with _consuming(migrated, settings, exchange, backoff_s=0.5):
        await _until(lambda: len(endpoint.posts) == len(expected), 20, "a first POST of every event")
        # A real restart, kept short (other tests share this broker): the consumer's connection dies with it,
        # its unacknowledged deliveries go back to the durable queue.
        try:
            await asyncio.to_thread(_rabbitmqctl, "stop_app")
            assert not endpoint.delivered()
            endpoint.down = False  # what arrives now came after the restart, over the consumer's new connection
        finally:
            await asyncio.to_thread(_start_broker)  # running again whatever happened
        await _until(lambda: set(endpoint.delivered()) == set(expected), 60, "every event delivered")
        await asyncio.sleep(0.3)
    delivered = endpoint.delivered()
    assert {i: bodies[0]["type"] for i, bodies in delivered.items()} == expected
    assert all(len({json.dumps(b, sort_keys=True) for b in bodies}) == 1 for bodies in delivered.values())
    assert all(signed for posts in endpoint.posts.values() for _, _, signed in posts)
    assert {body["order_id"] for bodies in delivered.values() for body in bodies} == set(orders)
    assert await queued(f"{exchange}.{CONSUMER}") == 0
    shown = api_client.get("/v1/webhooks/deliveries", headers=headers).json()
    assert {row["event_id"]: row["status"] for row in shown} == {i: "delivered" for i in expected}
    assert all(row["attempts"] >= 2 for row in shown)  # refused while down, then delivered


async def test_a_partner_receives_only_the_events_after_it_registered(
        api_client, engine, redis_url, migrated, settings, supplier_a, exchange):
    """Events that waited in the outbox (no broker ran, or the relay was behind) are not POSTed to a webhook
    registered after them; those that happened since are."""
    endpoint, headers = PartnerEndpoint(), auth(api_client, new_partner(engine))
    try:
        before = _book(api_client, headers, engine, redis_url, supplier_a)
        registered = api_client.put("/v1/webhooks", headers=headers, json={"url": endpoint.url})
        endpoint.secret = registered.json()["secret"]
        after = _book(api_client, headers, engine, redis_url, supplier_a)
        assert api_client.get("/v1/webhooks", headers=headers).json()["events_waiting"] == 2  # the second order's
        await _publish(migrated, exchange)
        async with _consuming(migrated, settings, exchange) as consumer:
            await _until(lambda: len(endpoint.delivered()) >= 2, 20, "the second order's events delivered")
            for _ in range(200):  # every published event handled (acknowledged), the first order's included
                if await queued(f"{exchange}.{CONSUMER}") == 0 and consumer.stats["acked"] >= 4:
                    break
                await asyncio.sleep(0.1)
    finally:
        endpoint.close()
    assert await queued(f"{exchange}.{CONSUMER}") == 0
    assert set(endpoint.delivered()) == set(_events(engine, [after]))
    assert not set(endpoint.posts) & set(_events(engine, [before]))


def test_without_a_broker_registering_testing_and_the_console_say_that_no_webhook_is_sent(engine, migrated, settings):
    from fastapi.testclient import TestClient

    from api.app import create_app

    no_broker = settings.model_copy(update={"rabbitmq_url": None})  # as the embedded default runs
    partner, operator = new_partner(engine), new_staff(engine, "operator")
    with TestClient(create_app(no_broker, migrated), base_url="https://testserver") as client:
        headers = auth(client, partner)
        registered = client.put("/v1/webhooks", headers=headers, json={"url": "http://127.0.0.1:9/in"})
        queued_test = client.post("/v1/webhooks/test", headers=headers)
        shown = client.get("/v1/webhooks", headers=headers)
        client.post("/console/login", data={"username": operator.username, "password": operator.password,
                                            "next": "/console"})
        page = html.unescape(client.get(f"/console/partners/{partner.partner_id}").text)
    said = ("this platform runs no event broker (a development one, started without RABBITMQ_URL): events wait in "
            "its outbox and no webhook is sent until it has one")
    assert registered.status_code == 200 and registered.json()["notice"] == said
    assert queued_test.status_code == 202 and queued_test.json() == {
        "event_id": queued_test.json()["event_id"], "event_type": "webhook.test", "notice": said}
    # The partner, looking later, sees the same, and that its test event waits.
    assert shown.status_code == 200 and (shown.json()["events_waiting"], shown.json()["notice"]) == (1, said)
    # The operator the partner calls sees why nothing arrived, and what waits.
    assert f"Not sent: {said}." in page
    assert "1 of this partner's events wait in the outbox" in " ".join(page.split())


async def test_a_partner_sends_itself_a_signed_test_event(api_client, engine, migrated, settings, partner, exchange):
    endpoint, headers = partner
    nobody = auth(api_client, new_partner(engine))
    refused = api_client.post("/v1/webhooks/test", headers=nobody)
    assert refused.status_code == 404 and refused.json()["error"]["message"] == "no webhook registered"
    queued_test = api_client.post("/v1/webhooks/test", headers=headers)
    assert queued_test.status_code == 202, queued_test.text
    event_id = queued_test.json()["event_id"]
    assert queued_test.json() == {"event_id": event_id, "event_type": "webhook.test"}
    await _publish(migrated, exchange)
    async with _consuming(migrated, settings, exchange):
        await _until(lambda: event_id in endpoint.delivered(), 20, "the test event delivered")
    [(status, body, signed)] = endpoint.posts[event_id]
    assert status == 200 and signed
    assert body == {"id": event_id, "type": "webhook.test", "order_id": None,
                    "data": {"message": "a test event: your endpoint received and can verify it", "url": endpoint.url}}
    [shown] = api_client.get("/v1/webhooks/deliveries", headers=headers).json()
    assert (shown["event_id"], shown["event_type"], shown["status"], shown["attempts"]) == (
        event_id, "webhook.test", "delivered", 1)


async def test_a_refused_event_is_dead_lettered_shown_and_replayed(
        api_client, engine, redis_url, migrated, settings, supplier_a, partner, exchange):
    endpoint, headers = partner
    order = _book(api_client, headers, engine, redis_url, supplier_a)
    endpoint.always_refuse.add(order)
    expected = _events(engine, [order])
    await _publish(migrated, exchange)
    env = {**os.environ, "DATABASE_URL": migrated.database_url, "REDIS_URL": migrated.redis_url,
           "CLICKHOUSE_URL": migrated.clickhouse_url, "RABBITMQ_URL": RABBITMQ_URL}

    def hotelctl(*args):
        from cli.main import app

        return CliRunner().invoke(app, ["webhooks", *args, "--exchange", exchange], env=env)

    dead = f"{exchange}.{CONSUMER}.dead"
    async with _consuming(migrated, settings, exchange, backoff_s=0.01):
        deadline = asyncio.get_running_loop().time() + 30
        while await queued(dead) < len(expected):
            assert asyncio.get_running_loop().time() < deadline, "never dead-lettered"
            await asyncio.sleep(0.1)
        assert all(len(endpoint.posts[i]) == 6 for i in expected)  # the first POST and 5 retries
        listed = await asyncio.to_thread(hotelctl, "dead")
        assert listed.exit_code == 0, listed.output
        assert {json.loads(line)["id"] for line in listed.stdout.splitlines()} == set(expected)
        shown = api_client.get("/v1/webhooks/deliveries", params={"status": "dead_lettered"}, headers=headers)
        assert {row["event_id"] for row in shown.json()} == set(expected)

        endpoint.always_refuse.clear()  # the partner fixed its endpoint; the operator replays
        replayed = await asyncio.to_thread(hotelctl, "replay")
        assert replayed.stdout.strip() == f"replayed {len(expected)}"
        await _until(lambda: set(endpoint.delivered()) == set(expected), 20, "replayed events delivered")
    assert await queued(dead) == 0


def test_registration_is_the_partners_own(api_client, engine, partner):
    endpoint, headers = partner
    shown = api_client.get("/v1/webhooks", headers=headers)
    assert shown.status_code == 200 and shown.json()["url"] == endpoint.url
    assert "secret" not in shown.json()  # shown once, at registration
    assert shown.json()["events_waiting"] == 0 and "notice" not in shown.json()  # a broker runs: nothing to say
    other = auth(api_client, new_partner(engine))
    assert api_client.get("/v1/webhooks", headers=other).status_code == 404
    bad = api_client.put("/v1/webhooks", headers=other, json={"url": "ftp://example.com/x"})
    assert bad.status_code == 422 and "url" in bad.text
    assert api_client.delete("/v1/webhooks", headers=headers).status_code == 204
    assert api_client.get("/v1/webhooks", headers=headers).status_code == 404


@pytest.fixture
def closed_settings(settings):
    """A deployment's settings: webhooks only to https URLs on public addresses."""
    closed = settings.model_copy(update={"webhook_private_targets": False, "hotel_env": "production"})
    assert not closed.webhook_targets_open
    return closed


def test_outside_development_a_webhook_must_be_https_on_a_public_address(engine, migrated, closed_settings):
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(closed_settings, migrated), base_url="https://testserver") as client:
        headers = auth(client, new_partner(engine))
        for url, reason in (
                ("http://93.184.215.14/hook", "the URL is not https"),
                ("https://127.0.0.1:8443/hook", "resolves to 127.0.0.1"),
                ("https://localhost/hook", "'localhost' resolves to "),
                ("https://169.254.169.254/latest/meta-data", "resolves to 169.254.169.254, not a public address"),
                ("https://10.0.0.5/hook", "resolves to 10.0.0.5"),
                ("https://[::1]/hook", "resolves to ::1"),
                ("https://[::ffff:192.168.1.9]/hook", "not a public address")):
            refused = client.put("/v1/webhooks", headers=headers, json={"url": url})
            assert refused.status_code == 422, (url, refused.text)
            [field] = refused.json()["error"]["fields"]
            assert field["field"] == "url" and reason in field["reason"], (url, field)
        assert client.get("/v1/webhooks", headers=headers).status_code == 404  # nothing stored
        accepted = client.put("/v1/webhooks", headers=headers, json={"url": "https://93.184.215.14/hook"})
        assert accepted.status_code == 200, accepted.text


async def test_nothing_is_posted_to_a_url_that_now_resolves_to_a_private_address(
        api_client, engine, redis_url, migrated, closed_settings, supplier_a, partner):
    from core.consumer import ReceivedEvent
    from core.webhooks.delivery import DeliveryFailed
    from core.webhooks.store import deliveries

    endpoint, headers = partner  # registered while allowed: as if its name resolved elsewhere then
    order = _book(api_client, headers, engine, redis_url, supplier_a)
    [(event_id, event_type)] = [(i, t) for i, t in _events(engine, [order]).items() if t == "order.confirmed"]
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE partner_webhooks SET url = replace(url, 'http://', 'https://')"
                             " WHERE url = :u"), {"u": endpoint.url})
    handler = WebhookDelivery(migrated.database_url, closed_settings)
    event = ReceivedEvent(event_id, event_type, event_type, "order", order, {}, False)
    try:
        refused = "not sent: the host '127.0.0.1' resolves to 127.0.0.1, not a public address"
        with pytest.raises(DeliveryFailed, match=refused):
            await handler(event)
    finally:
        await handler.close()
    assert endpoint.posts == {}
    [row] = [r for r in deliveries(engine) if r["event_id"] == event_id]
    assert row["status"] == "retrying" and row["last_status"] is None and "127.0.0.1" in row["last_error"]

    # The operator the partner calls sees the URL and why the event did not go out.
    operator = new_staff(engine, "operator")
    api_client.post("/console/login", data={"username": operator.username, "password": operator.password,
                                            "next": "/console"})
    page = api_client.get(f"/console/partners/{row['partner_id']}").text
    assert endpoint.url.replace("http://", "https://") in page
    [shown] = re.findall(rf'<tr data-event-id="{event_id}">(.*?)</tr>', page, re.S)
    assert "retrying" in shown and refused in html.unescape(shown)


def test_hotelctl_up_with_a_broker_runs_the_relay_and_the_webhooks_consumer(migrated, engine, exchange, tmp_path):
    """A platform started by `hotelctl up` with RABBITMQ_URL delivers a partner's webhook with nothing else run;
    `hotelctl status` shows who moves the events, and `hotelctl down` stops them."""
    import sys
    import time

    import httpx

    from core import runtime

    endpoint, port = PartnerEndpoint(), runtime.free_port()
    env = {**os.environ, "DATABASE_URL": migrated.database_url, "REDIS_URL": migrated.redis_url,
           "CLICKHOUSE_URL": f"chdb://{tmp_path / 'clickhouse'}", "RABBITMQ_URL": RABBITMQ_URL,
           "HOTEL_DATA_DIR": str(tmp_path), "API_PORT": str(port), "API_WORKERS": "1",
           "EVENTS_EXCHANGE": exchange, "WEBHOOK_PRIVATE_TARGETS": "true"}

    def hotelctl(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cli.main", *args], env=env, capture_output=True, text=True,
                              timeout=300, cwd=os.path.dirname(os.path.dirname(__file__)))

    try:
        up = hotelctl("up", "--no-dagster", "--no-run-main", "--no-demo")
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        assert "events: the outbox relay and the webhooks consumer run" in " ".join((up.stdout + up.stderr).split())
        assert {"api", "relay", "webhooks"} <= set(runtime.started_processes(tmp_path))
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            headers = auth(client, new_partner(engine))
            registered = client.put("/v1/webhooks", headers=headers, json={"url": endpoint.url})
            assert registered.status_code == 200, registered.text
            endpoint.secret = registered.json()["secret"]
            event_id = client.post("/v1/webhooks/test", headers=headers).json()["event_id"]
            deadline = time.monotonic() + 30
            while event_id not in endpoint.delivered():
                assert time.monotonic() < deadline, "the test event did not arrive"
                time.sleep(0.1)
            [(status, body, signed)] = endpoint.posts[event_id]
            assert status == 200 and signed and body["type"] == "webhook.test"
            [shown] = client.get("/v1/webhooks/deliveries", headers=headers).json()
            assert (shown["event_id"], shown["status"]) == (event_id, "delivered")
        status = hotelctl("status", "--json")
        events = {part["part"]: part for part in json.loads(status.stdout)}["events"]
        assert events["mode"] == "rabbitmq" and events["reachable"], events
        assert re.search(r"^outbox: \d+ waiting; relay pid \d+, webhooks pid \d+$", events["detail"]), events
    finally:
        down = hotelctl("down")
        endpoint.close()
    assert down.returncode == 0 and runtime.started_processes(tmp_path) == {}
