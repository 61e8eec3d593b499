"""The `webhooks` consumer: each order event (and each test event a partner asks for) POSTed, signed, to its
partner's registered URL, if it registered before the event happened.

A 2xx answer is delivered (recorded; a redelivery of it is not POSTed again). Anything else raises, so the
broker redelivers it; a redelivery waits `backoff_s * 2**(deliveries so far)` (capped) before POSTing, and
after the queue's delivery limit the broker dead-letters the event (recorded as `dead_lettered`; an operator
replays it with `hotelctl webhooks replay`). A partner receives each event at least once, always under the
same `X-Hotel-Event-Id` (the outbox id), so it deduplicates by that id. Outside development nothing is POSTed to
a URL that now resolves to a private address (core/webhooks/targets.py): the attempt fails, and is retried, as a
refused POST would be.
"""

from __future__ import annotations

import asyncio
import json
import time

import asyncpg
import httpx
from prometheus_client import Counter

from core.consumer import EventConsumer, ReceivedEvent
from core.db import plain_url
from core.settings import Settings
from core.topology import DEFAULT_EXCHANGE, DELIVERY_LIMIT
from core.webhooks import store, targets
from core.webhooks.signing import sign

CONSUMER = "webhooks"
WEBHOOK_POSTS = Counter("webhook_posts_total", "Webhook POSTs to partners, by outcome", ["outcome"])


class DeliveryFailed(Exception):
    pass


def order_id_of(event: ReceivedEvent) -> str | None:
    return None if event.event_type == store.TEST_EVENT else event.aggregate_id  # a test event names no order


def webhook_body(event: ReceivedEvent) -> bytes:
    return json.dumps({"id": event.id, "type": event.event_type, "order_id": order_id_of(event),
                       "data": event.payload}, separators=(",", ":"), default=str).encode()


class WebhookDelivery:
    def __init__(self, database_url: str, settings: Settings, *, backoff_s: float = 1.0, max_backoff_s: float = 60.0,
                 timeout_s: float = 10.0, delivery_limit: int = DELIVERY_LIMIT) -> None:
        self.database_url = plain_url(database_url)
        self.keys = settings.encryption_keys()
        self.open_targets = settings.webhook_targets_open
        self.backoff_s, self.max_backoff_s = backoff_s, max_backoff_s
        self.timeout_s = timeout_s
        self.delivery_limit = delivery_limit
        self._pool: asyncpg.Pool | None = None
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, event: ReceivedEvent) -> None:
        if event.event_type.startswith("order."):
            find = store.endpoint_for_order
        elif event.event_type == store.TEST_EVENT:
            find = store.endpoint_for_partner
        else:
            return
        if self._pool is None:
            self._pool = await asyncpg.create_pool(self.database_url, min_size=1, max_size=4)
            self._client = httpx.AsyncClient(timeout=self.timeout_s)
        endpoint = await find(self._pool, event.aggregate_id, event.id, self.keys)
        if endpoint is None or await store.delivered(self._pool, event.id, endpoint.partner_id):
            return  # no webhook registered (when it happened), or delivered before (a redelivery)
        if event.delivery_count:
            await asyncio.sleep(min(self.backoff_s * 2 ** (event.delivery_count - 1), self.max_backoff_s))
        body = webhook_body(event)
        stamp = int(time.time())
        headers = {"Content-Type": "application/json", "X-Hotel-Event-Id": str(event.id),
                   "X-Hotel-Event-Type": event.event_type, "X-Hotel-Timestamp": str(stamp),
                   "X-Hotel-Signature": sign(endpoint.secret, stamp, body)}
        status, error = None, None
        refused = None if self.open_targets else await asyncio.to_thread(targets.refusal, endpoint.url)
        if refused:
            error = f"not sent: {refused}"
        else:
            try:
                response = await self._client.post(endpoint.url, content=body, headers=headers)
                status = response.status_code
                if 200 <= status < 300:
                    WEBHOOK_POSTS.labels("delivered").inc()
                    await store.record(self._pool, event.id, endpoint.partner_id, event.event_type, "delivered",
                                       status)
                    return
                error = f"HTTP {status}"
            except httpx.HTTPError as failure:
                error = f"{type(failure).__name__}: {failure}"[:300]
        last = event.delivery_count >= self.delivery_limit  # the broker dead-letters it when this one fails
        WEBHOOK_POSTS.labels("dead_lettered" if last else "failed").inc()
        await store.record(self._pool, event.id, endpoint.partner_id, event.event_type,
                           "dead_lettered" if last else "retrying", status, error)
        raise DeliveryFailed(error)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        if self._pool is not None:
            await self._pool.close()


async def run_webhooks(database_url: str, rabbitmq_url: str, settings: Settings, stop: asyncio.Event, *,
                       exchange: str = DEFAULT_EXCHANGE, backoff_s: float = 1.0,
                       connection_name: str | None = None) -> dict:
    """Consume the `webhooks` queue until `stop` is set; returns the consumer's counts."""
    handler = WebhookDelivery(database_url, settings, backoff_s=backoff_s)
    consumer = EventConsumer(rabbitmq_url, CONSUMER, handler, exchange=exchange, connection_name=connection_name)
    try:
        await consumer.run(stop)
    finally:
        await handler.close()
    return consumer.stats
