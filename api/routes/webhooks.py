"""A partner's webhook: where its order confirmations, cancellations and expiries are POSTed (signed), and
what was delivered. Registering returns the signing secret once; registering again replaces URL and secret."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import AnyHttpUrl, BaseModel, Field

from api.auth import Principal
from api.limits import LimitedRoute, limited_partner
from api.schemas import ErrorResponse
from core.db import engine_for
from core.webhooks import store, targets

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], route_class=LimitedRoute)
ERRORS = {code: {"model": ErrorResponse} for code in (401, 403, 404, 413, 422, 429)}
NOTICE = Field(None, description="Only where the platform cannot send webhooks yet: why. Absent otherwise.")


class WebhookIn(BaseModel):
    url: AnyHttpUrl = Field(description="https URL on a public address that receives POSTs of order.confirmed, "
                                        "order.cancelled, order.expired … (JSON, signed)")


class WebhookCreated(BaseModel):
    url: str
    secret: str = Field(description="HMAC-SHA256 key: X-Hotel-Signature = 'v1=' + hex(HMAC(secret, "
                                    "X-Hotel-Timestamp + '.' + body)). Shown only now.")
    notice: str | None = NOTICE


class WebhookOut(BaseModel):
    url: str
    created_at: dt.datetime
    updated_at: dt.datetime
    events_waiting: int = Field(description="The partner's events since it registered (its orders' and its test "
                                            "events) not yet handed to the platform's event broker; each is POSTed "
                                            "once it is")
    notice: str | None = NOTICE


class DeliveryOut(BaseModel):
    event_id: int
    event_type: str
    status: Literal["retrying", "delivered", "dead_lettered"]
    attempts: int
    last_status: int | None
    last_error: str | None
    updated_at: dt.datetime
    delivered_at: dt.datetime | None


def _engine(request: Request):
    return engine_for(request.app.state.endpoints.database_url)


@router.put("", summary="Register (or replace) the partner's webhook URL; returns its new signing secret",
            response_model=WebhookCreated, response_model_exclude_none=True, responses=ERRORS)
def register(body: WebhookIn, request: Request, principal: Principal = Depends(limited_partner)) -> WebhookCreated:
    url = str(body.url)
    if not request.app.state.settings.webhook_targets_open and (reason := targets.refusal(url)):
        raise HTTPException(422, detail={"code": "validation_error", "message": f"url: {reason}",
                                         "fields": [{"field": "url", "reason": reason}]})
    secret = store.register(_engine(request), principal.partner_id, url,
                            request.app.state.settings.encryption_secret.get_secret_value())
    return WebhookCreated(url=url, secret=secret, notice=store.no_broker_notice(request.app.state.settings))


@router.get("", summary="The partner's webhook, and how many of its events wait to be sent",
            response_model=WebhookOut, response_model_exclude_none=True, responses=ERRORS)
def show(request: Request, principal: Principal = Depends(limited_partner)) -> WebhookOut:
    engine = _engine(request)
    found = store.registration(engine, principal.partner_id)
    if found is None:
        raise HTTPException(404, detail={"code": "not_found", "message": "no webhook registered"})
    return WebhookOut(**found, events_waiting=store.waiting(engine, principal.partner_id),
                      notice=store.no_broker_notice(request.app.state.settings))


@router.delete("", status_code=204, summary="Stop webhook deliveries", responses=ERRORS)
def remove(request: Request, principal: Principal = Depends(limited_partner)) -> Response:
    if not store.unregister(_engine(request), principal.partner_id):
        raise HTTPException(404, detail={"code": "not_found", "message": "no webhook registered"})
    return Response(status_code=204)


class TestEventQueued(BaseModel):
    event_id: int = Field(description="X-Hotel-Event-Id of the POST to come; its delivery shows under "
                                      "GET /v1/webhooks/deliveries")
    event_type: Literal["webhook.test"]
    notice: str | None = NOTICE


@router.post("/test", status_code=202, response_model=TestEventQueued, response_model_exclude_none=True,
             responses=ERRORS,
             summary="Send a signed test event (type webhook.test, order_id null) to the registered URL, delivered "
                     "and retried as order events are")
def send_test_event(request: Request, principal: Principal = Depends(limited_partner)) -> TestEventQueued:
    event_id = store.request_test_event(_engine(request), principal.partner_id)
    if event_id is None:
        raise HTTPException(404, detail={"code": "not_found", "message": "no webhook registered"})
    return TestEventQueued(event_id=event_id, event_type=store.TEST_EVENT,
                           notice=store.no_broker_notice(request.app.state.settings))


@router.get("/deliveries", summary="The partner's webhook deliveries, newest first", response_model=list[DeliveryOut],
            responses=ERRORS)
def list_deliveries(request: Request, principal: Principal = Depends(limited_partner),
                    status: Literal["retrying", "delivered", "dead_lettered"] | None = Query(None),
                    limit: int = Query(100, ge=1, le=1000)) -> list[DeliveryOut]:
    rows = store.deliveries(_engine(request), principal.partner_id, status, limit)
    return [DeliveryOut(**row) for row in rows]
