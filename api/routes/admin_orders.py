"""Operator API for orders across partners (role `operator`), over `core/orders/search.py` and the order flow.

GET  /v1/admin/orders                     search: partner_id, status, created_from/to, check_in_from/to, hotel_id,
                                          supplier_code, supplier_ref, client_reference, our_reference; sort, cursor
GET  /v1/admin/orders/review-queue        orders held for review, oldest first
GET  /v1/admin/orders/{id}                one order with its events as a timeline
POST /v1/admin/orders/{id}/approve        {"note": "..."}: booked now (the same path as /v1/orders/{id}/review)
POST /v1/admin/orders/{id}/reject         {"note": "..."}: FAILED, what it held released
POST /v1/admin/orders/{id}/cancel         {"reason": "..."}: cancelled (at the supplier first when confirmed)

Each decision writes its audit entry (the operator's client id) in the order's transition transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import DbEngine, OperatorUser, admin_action, api_actor
from core.orders import search
from core.orders.service import OrderError, cancel_order, review_order

router = APIRouter(prefix="/v1/admin/orders", tags=["admin: orders"])
Status = Literal["PENDING", "REVIEW", "CONFIRMED", "CANCELLED", "EXPIRED", "FAILED"]


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field("", max_length=2000, description="Why (on the order's timeline and in the audit log)")


class Cancellation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(..., min_length=1, max_length=2000, description="Why the operator cancels")


def _order_error(error: OrderError) -> HTTPException:
    return HTTPException(error.status, detail=error.body())


@router.get("", summary="Search orders across partners (keyset-paged: pass next_cursor back as cursor)")
async def search_orders(
    engine: DbEngine, _: OperatorUser,
    partner_id: uuid.UUID | None = Query(None), status: Status | None = Query(None),
    created_from: dt.date | None = Query(None, description="created on or after this day"),
    created_to: dt.date | None = Query(None, description="created on or before this day"),
    check_in_from: dt.date | None = Query(None), check_in_to: dt.date | None = Query(None),
    hotel_id: str | None = Query(None, min_length=1, max_length=255),
    supplier_code: str | None = Query(None, min_length=1, max_length=20),
    supplier_ref: str | None = Query(None, min_length=1, max_length=255),
    client_reference: str | None = Query(None, min_length=1, max_length=255, description="the partner's reference"),
    our_reference: str | None = Query(None, min_length=1, max_length=255),
    sort: Literal["newest", "oldest"] = Query("newest"),
    cursor: str | None = Query(None, max_length=200), limit: int = Query(50, ge=1, le=search.MAX_LIMIT),
) -> dict:
    filters = search.OrderFilter(
        partner_id=str(partner_id) if partner_id else None, status=status, created_from=created_from,
        created_to=created_to, check_in_from=check_in_from, check_in_to=check_in_to, hotel_id=hotel_id,
        supplier_code=supplier_code, supplier_ref=supplier_ref, client_reference=client_reference,
        our_reference=our_reference)
    return await admin_action(search.search_orders, engine, filters, sort=sort, cursor=cursor, limit=limit)


@router.get("/review-queue", summary="Orders held for review, oldest first")
async def review_queue(engine: DbEngine, _: OperatorUser, partner_id: uuid.UUID | None = Query(None),
                       cursor: str | None = Query(None, max_length=200),
                       limit: int = Query(50, ge=1, le=search.MAX_LIMIT)) -> dict:
    return await admin_action(search.review_queue, engine, partner_id=str(partner_id) if partner_id else None,
                       cursor=cursor, limit=limit)


@router.get("/{order_id}", summary="One order (partner, supplier, net, risk) and its events, oldest first")
async def order(order_id: uuid.UUID, engine: DbEngine, _: OperatorUser) -> dict:
    return await admin_action(search.order_timeline, engine, str(order_id))


async def _decide(request: Request, order_id: uuid.UUID, approve: bool, note: str, principal) -> JSONResponse:
    try:
        status, body = await review_order(request.app.state, str(order_id), approve, principal.client_id,
                                          note or None, staff=api_actor(principal))
    except OrderError as error:
        raise _order_error(error) from None
    return JSONResponse(body, status_code=status)


@router.post("/{order_id}/approve", summary="Approve an order held for review: it is booked now")
async def approve(order_id: uuid.UUID, request: Request, principal: OperatorUser,
                  body: Decision | None = None) -> JSONResponse:
    return await _decide(request, order_id, True, (body or Decision()).note, principal)


@router.post("/{order_id}/reject", summary="Reject an order held for review: FAILED, its hold released")
async def reject(order_id: uuid.UUID, request: Request, principal: OperatorUser,
                 body: Decision | None = None) -> JSONResponse:
    return await _decide(request, order_id, False, (body or Decision()).note, principal)


@router.post("/{order_id}/cancel", summary="Cancel any partner's order with a reason (at the supplier first)")
async def cancel(order_id: uuid.UUID, body: Cancellation, request: Request, principal: OperatorUser) -> dict:
    try:
        return await cancel_order(request.app.state, None, str(order_id), principal.client_id,
                                  reason="cancelled_by_operator", staff=api_actor(principal), note=body.reason)
    except OrderError as error:
        raise _order_error(error) from None
