"""`hotelctl partners …`: partner accounts and their API credentials (staff accounts: `hotelctl staff`)."""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation

import typer

from cli.common import endpoints_or_exit, settings_or_exit

app = typer.Typer(help="Manage partners (travel agencies, sub-agents) and API credentials.",
                  no_args_is_help=True)


def _decimal(value: str, option: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise typer.BadParameter(f"{value!r} is not a decimal amount", param_hint=option) from None
    if amount < 0:
        raise typer.BadParameter("must not be negative", param_hint=option)
    return amount


@app.command("create")
def create(
    name: str = typer.Argument(..., help="The partner's display name."),
    tier: str = typer.Option("standard", help="Pricing tier (markup rules can target it)."),
    credit_limit: str = typer.Option("100000", help="Credit limit, a decimal amount."),
    currency: str = typer.Option("CNY", help="Currency of the credit limit (ISO-4217)."),
    commission_pct: str = typer.Option("0", help="Partner commission in percent."),
    parent: str | None = typer.Option(None, help="Parent partner id: creates a sub-agent."),
) -> None:
    """Create a partner and print its new API credentials (the secret is shown once)."""
    from core.db import engine_for
    from core.partners import create_partner

    if len(currency) != 3 or not currency.isalpha():
        raise typer.BadParameter("expected a three-letter ISO-4217 code", param_hint="--currency")
    parent_id = None
    if parent:
        try:
            parent_id = uuid.UUID(parent)
        except ValueError:
            raise typer.BadParameter("not a partner id (UUID)", param_hint="--parent") from None
    settings = settings_or_exit()
    endpoints = endpoints_or_exit(settings)
    credentials = create_partner(
        engine_for(endpoints.database_url), name, tier=tier,
        credit_limit=_decimal(credit_limit, "--credit-limit"), currency=currency,
        commission_pct=_decimal(commission_pct, "--commission-pct"), parent_id=parent_id,
    )
    typer.echo(f"partner_id={credentials.partner_id}")
    typer.echo(f"client_id={credentials.client_id}")
    typer.echo(f"client_secret={credentials.client_secret}")
