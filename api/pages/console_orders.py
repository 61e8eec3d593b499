"""Console pages for orders across partners (operators): search by every filter GET /v1/admin/orders takes, the
REVIEW queue (oldest first), an order with its events on a timeline, and the actions approve / reject (with a note)
and cancel (with a reason), each behind a confirm step, through the same core functions as the admin API."""

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.pages import console_kit as kit
from api.pages.common import engine
from core.admin_errors import AdminError
from core.orders import search
from core.orders.service import OrderError, cancel_order, review_order

PAGE_SIZE = 25
FILTERS = ("partner_id", "status", "created_from", "created_to", "check_in_from", "check_in_to", "hotel_id",
           "supplier_code", "supplier_ref", "client_reference", "our_reference")
DATES = ("created_from", "created_to", "check_in_from", "check_in_to")
NOTE = kit.Field("note", "Note (on the order's timeline and in the audit log)", kind="textarea")
ACTIONS = {
    "approve": ("Approve order", "It is booked at the supplier now.", "Approve", (NOTE,)),
    "reject": ("Reject order", "It fails and what it held is released.", "Reject", (NOTE,)),
    "cancel": ("Cancel order", "It is cancelled (at the supplier first when confirmed); the partner is told.",
               "Cancel the order", (kit.Field("reason", "Reason", required=True, kind="textarea"),)),
}
DONE = {"approve": "approved", "reject": "rejected", "cancel": "cancelled"}
router = APIRouter(include_in_schema=False)


def _filters(params) -> tuple[search.OrderFilter, dict[str, str], list[str]]:
    """The search form's filters (blank ones dropped); a malformed date or id is an error, not a 500."""
    given = {name: params.get(name, "").strip() for name in FILTERS if params.get(name, "").strip()}
    errors, values = [], dict(given)
    for name in DATES:
        if name in values:
            try:
                values[name] = dt.date.fromisoformat(values[name])
            except ValueError:
                errors.append(f"{name}: a date (YYYY-MM-DD)")
                del values[name]
    if values.get("status") and values["status"] not in search.STATUSES:
        errors.append(f"status: one of {', '.join(search.STATUSES)}")
        del values["status"]
    return search.OrderFilter(**values), given, errors


async def _list(request: Request, template: str, filters: search.OrderFilter, given: dict, errors: list[str],
                sort: str) -> Response:
    cursor = request.query_params.get("cursor") or None
    try:
        found = await kit.run(search.search_orders, engine(request), filters, sort=sort, cursor=cursor,
                              limit=PAGE_SIZE)
    except AdminError as error:
        errors.append(kit.refusal(error))
        found = {"items": [], "next_cursor": None}
    next_url = (f"?{urlencode({**given, 'sort': sort, 'cursor': found['next_cursor']})}"
                if found["next_cursor"] else None)
    first_url = f"?{urlencode({**given, 'sort': sort})}" if cursor else None
    return await kit.page(request, template, orders=found["items"], filters=given, errors=errors, sort=sort,
                          statuses=search.STATUSES, next_url=next_url, first_url=first_url)


@router.get("/console/orders")
async def orders_page(request: Request) -> Response:
    if (gate := await kit.operator_gate(request)) is not None:
        return gate
    filters, given, errors = _filters(request.query_params)
    sort = request.query_params.get("sort") if request.query_params.get("sort") in search.SORTS else "newest"
    return await _list(request, "orders.html", filters, given, errors, sort)


@router.get("/console/orders/review")
async def review_queue_page(request: Request) -> Response:
    if (gate := await kit.operator_gate(request)) is not None:
        return gate
    filters, given, errors = _filters(request.query_params)
    given = {key: value for key, value in given.items() if key in ("partner_id",)}
    queue = search.OrderFilter(partner_id=filters.partner_id, status="REVIEW")
    return await _list(request, "review_queue.html", queue, given, errors, "oldest")


@router.get("/console/orders/{order_id}")
async def order_page(order_id: str, request: Request) -> Response:
    if (gate := await kit.operator_gate(request)) is not None:
        return gate
    try:
        order = await kit.run(search.order_timeline, engine(request), order_id)
    except AdminError as error:
        return await kit.page(request, "order.html", error.status, order=None, error=kit.refusal(error))
    return await kit.page(request, "order.html", order=order, error=None)


@router.get("/console/orders/{order_id}/{action}")
async def confirm_action(order_id: str, action: str, request: Request) -> Response:
    back = f"/console/orders/{order_id}"
    return await kit.confirm_action(request, ACTIONS, action, f"{back}/{action}", back, subject=order_id[:8])


@router.post("/console/orders/{order_id}/{action}")
async def act(order_id: str, action: str, request: Request) -> Response:
    principal, form = await kit.operator_form(request)
    if action not in ACTIONS:
        return await kit.no_such_action(request)
    text = (form.get("reason" if action == "cancel" else "note") or "").strip()[:2000]
    try:
        order_id = str(uuid.UUID(order_id))
    except ValueError:
        return await kit.page(request, "refused.html", 404, role=None, message="No such order.")
    staff = kit.console_actor(principal)
    back = f"/console/orders/{order_id}"
    try:
        if action == "cancel":
            if not text:
                raise OrderError(422, "validation_error", "reason: say why the order is cancelled")
            body = await cancel_order(request.app.state, None, order_id, principal.client_id,
                                      reason="cancelled_by_operator", staff=staff, note=text)
            status = 200
        else:
            status, body = await review_order(request.app.state, order_id, action == "approve", principal.client_id,
                                              text or None, staff=staff)
    except OrderError as error:
        return await kit.confirm_action(request, ACTIONS, action, f"{back}/{action}", back, error=error.message,
                                        status_code=error.status, form=form)
    if status >= 400:
        message = (body.get("error") or {}).get("message") or body.get("message") or str(body)
        return kit.done(request, back, f"{action} did not go through: {message}")
    status = body.get("status", "changed")
    return kit.done(request, back, f"Order {DONE[action]} by {principal.client_id}: now {status}.")
