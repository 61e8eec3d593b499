"""`hotelctl orders …`: expiry, and the operator's order work: search across partners, the review queue,
one order's timeline, approve or reject a REVIEW order, cancel any order with a reason.

`expire` ends unconfirmed orders past ORDER_EXPIRY_MINUTES for every partner. The API also expires a partner's
due orders whenever that partner touches its orders, and the Dagster schedule `order_expiry_schedule` runs the
same every minute; this command covers a platform run without Dagster (cron, a Kubernetes CronJob).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from types import SimpleNamespace

import typer

from cli.common import (
    AS_OPTION,
    admin_call,
    echo_json,
    endpoints_or_exit,
    engine_or_exit,
    operator_actor,
    parse_day,
    settings_or_exit,
)

app = typer.Typer(help="Partner orders: search, review queue, decisions, cancellation, expiry.",
                  no_args_is_help=True)


def _run_order_action(action: Callable[[SimpleNamespace], Awaitable]) -> object:
    from core.orders.expiry import order_state
    from core.orders.service import OrderError

    settings = settings_or_exit()
    endpoints = endpoints_or_exit(settings)

    async def run():
        async with order_state(settings, endpoints.database_url, endpoints.redis_url) as state:
            return await action(state)

    try:
        return asyncio.run(run())
    except OrderError as error:
        typer.echo(f"error: {error.code}: {error.message}", err=True)
        raise typer.Exit(1) from None


@app.command("expire")
def expire() -> None:
    """Expire due PENDING/REVIEW orders (PENDING ones are first looked up at the supplier by reference)."""
    from core.orders.expiry import run_expiry

    typer.echo(f"orders ended: {_run_order_action(run_expiry)}")


@app.command("search")
def search(
    partner: str | None = typer.Option(None, help="Partner id."),
    status: str | None = typer.Option(None, help="PENDING, REVIEW, CONFIRMED, CANCELLED, EXPIRED or FAILED."),
    created_from: str | None = typer.Option(None, help="Created on or after this day (YYYY-MM-DD)."),
    created_to: str | None = typer.Option(None, help="Created on or before this day."),
    check_in_from: str | None = typer.Option(None, help="Check-in on or after this day."),
    check_in_to: str | None = typer.Option(None, help="Check-in on or before this day."),
    hotel: str | None = typer.Option(None, help="Master hotel id."),
    supplier: str | None = typer.Option(None, help="Supplier code."),
    supplier_ref: str | None = typer.Option(None, help="The supplier's booking reference."),
    client_reference: str | None = typer.Option(None, help="The partner's own reference."),
    our_reference: str | None = typer.Option(None, help="Our reference (HP-…)."),
    oldest_first: bool = typer.Option(False, "--oldest-first"),
    cursor: str | None = typer.Option(None, help="next_cursor of the previous page."),
    limit: int = typer.Option(50, min=1, max=200),
) -> None:
    """Orders across partners (JSON: items, next_cursor)."""
    from core.orders.search import OrderFilter, search_orders

    filters = OrderFilter(
        partner_id=partner, status=status, created_from=parse_day(created_from, "--created-from"),
        created_to=parse_day(created_to, "--created-to"), check_in_from=parse_day(check_in_from, "--check-in-from"),
        check_in_to=parse_day(check_in_to, "--check-in-to"), hotel_id=hotel, supplier_code=supplier,
        supplier_ref=supplier_ref, client_reference=client_reference, our_reference=our_reference)
    echo_json(admin_call(search_orders, engine_or_exit(), filters, sort="oldest" if oldest_first else "newest",
                         cursor=cursor, limit=limit))


@app.command("review-queue")
def review_queue(partner: str | None = typer.Option(None, help="Partner id."),
                 cursor: str | None = typer.Option(None), limit: int = typer.Option(50, min=1, max=200)) -> None:
    """Orders held for review, oldest first (JSON)."""
    from core.orders.search import review_queue as queue

    echo_json(admin_call(queue, engine_or_exit(), partner_id=partner, cursor=cursor, limit=limit))


@app.command("show")
def show(order_id: str = typer.Argument(...)) -> None:
    """One order with its events, oldest first (JSON)."""
    from core.orders.search import order_timeline

    echo_json(admin_call(order_timeline, engine_or_exit(), order_id))


def _order_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise typer.BadParameter("not an order id (UUID)", param_hint="ORDER_ID") from None


def _decide(order_id: str, approve: bool, note: str, actor: str | None) -> None:
    from core.orders.service import review_order

    order_id = _order_id(order_id)
    staff = operator_actor(actor)
    status, order = _run_order_action(lambda state: review_order(state, order_id, approve, staff.name,
                                                                 note or None, staff=staff))
    typer.echo(f"order {order['order_id']} ({order['our_reference']}) is {order['status']}")


@app.command("approve")
def approve(order_id: str = typer.Argument(...), note: str = typer.Option("", help="Why (timeline, audit log)."),
            actor: str | None = AS_OPTION) -> None:
    """Approve an order held for review: it is booked now."""
    _decide(order_id, True, note, actor)


@app.command("reject")
def reject(order_id: str = typer.Argument(...), note: str = typer.Option("", help="Why (timeline, audit log)."),
           actor: str | None = AS_OPTION) -> None:
    """Reject an order held for review: FAILED, what it held released."""
    _decide(order_id, False, note, actor)


@app.command("cancel")
def cancel(order_id: str = typer.Argument(...),
           reason: str = typer.Option(..., help="Why the operator cancels (timeline, audit log)."),
           actor: str | None = AS_OPTION) -> None:
    """Cancel any partner's order (a confirmed one at its supplier first)."""
    from core.orders.service import cancel_order

    if not reason.strip():
        raise typer.BadParameter("must not be empty", param_hint="--reason")
    order_id = _order_id(order_id)
    staff = operator_actor(actor)
    order = _run_order_action(lambda state: cancel_order(state, None, order_id, staff.name,
                                                         reason="cancelled_by_operator", staff=staff, note=reason))
    typer.echo(f"order {order['order_id']} ({order['our_reference']}) is {order['status']}")


def register(main_app: typer.Typer) -> None:
    main_app.add_typer(app, name="orders")
