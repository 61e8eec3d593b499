"""`hotelctl partners …`: partner accounts and their API credentials (staff accounts: `hotelctl staff`)."""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation

import typer

from cli.common import (
    AS_OPTION,
    admin_call,
    echo_json,
    engine_or_exit,
    operator_actor,
)

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
    actor: str | None = AS_OPTION,
) -> None:
    """Create a partner and print its new API credentials (the secret is shown once)."""
    from core import partners_admin

    if len(currency) != 3 or not currency.isalpha():
        raise typer.BadParameter("expected a three-letter ISO-4217 code", param_hint="--currency")
    parent_id = None
    if parent:
        try:
            parent_id = uuid.UUID(parent)
        except ValueError:
            raise typer.BadParameter("not a partner id (UUID)", param_hint="--parent") from None
    limit = _decimal(credit_limit, "--credit-limit")
    commission = _decimal(commission_pct, "--commission-pct")
    partner, credentials = admin_call(partners_admin.create, engine_or_exit(), operator_actor(actor), name,
                                      tier=tier, credit_limit=limit, currency=currency, commission_pct=commission,
                                      parent_id=parent_id)
    typer.echo(f"partner_id={credentials.partner_id}")
    typer.echo(f"client_id={credentials.client_id}")
    typer.echo(f"client_secret={credentials.client_secret}")
    for warning in partner["warnings"]:
        typer.echo(f"warning: {warning}", err=True)


@app.command("list")
def list_partners(
    status: str | None = typer.Option(None, help="active or suspended"),
    tier: str | None = typer.Option(None),
    parent: str | None = typer.Option(None, help="Only sub-agents of this partner id."),
    top_level: bool = typer.Option(False, "--top-level", help="Only partners without a parent."),
    name: str | None = typer.Option(None, help="Name contains."),
    limit: int = typer.Option(50, min=1, max=500),
    offset: int = typer.Option(0, min=0),
) -> None:
    """Partners as JSON (items, total), by name."""
    from core import partners_admin

    echo_json(admin_call(partners_admin.list_partners, engine_or_exit(), status=status, tier=tier,
                         parent_id=parent, top_level=top_level, name=name, limit=limit, offset=offset))


@app.command("show")
def show(partner_id: str = typer.Argument(...)) -> None:
    """One partner with its sub-agents and credentials (JSON)."""
    from core import partners_admin

    echo_json(admin_call(partners_admin.get_partner, engine_or_exit(), partner_id))


@app.command("suspend")
def suspend(partner_id: str = typer.Argument(...), note: str = typer.Option("", help="Why (audit log)."),
            actor: str | None = AS_OPTION) -> None:
    """Suspend a partner: its tokens and credentials, and its sub-agents', are refused at once (403)."""
    from core import partners_admin

    partner = admin_call(partners_admin.suspend, engine_or_exit(), operator_actor(actor), partner_id, note)
    typer.echo(f"partner {partner['partner_id']} ({partner['name']}) is {partner['status']}")


@app.command("reactivate")
def reactivate(partner_id: str = typer.Argument(...), note: str = typer.Option("", help="Why (audit log)."),
               actor: str | None = AS_OPTION) -> None:
    """Reactivate a suspended partner."""
    from core import partners_admin

    partner = admin_call(partners_admin.reactivate, engine_or_exit(), operator_actor(actor), partner_id, note)
    typer.echo(f"partner {partner['partner_id']} ({partner['name']}) is {partner['status']}")


@app.command("update")
def update(
    partner_id: str = typer.Argument(...),
    tier: str | None = typer.Option(None, help="New pricing tier."),
    credit_limit: str | None = typer.Option(None, help="New credit limit, a decimal amount."),
    currency: str | None = typer.Option(None, help="New currency of the credit limit."),
    commission_pct: str | None = typer.Option(None, help="New commission in percent."),
    note: str = typer.Option("", help="Why (audit log)."),
    actor: str | None = AS_OPTION,
) -> None:
    """Change a partner's tier, credit limit (and currency) or commission."""
    from core import partners_admin

    echo_json(admin_call(partners_admin.update, engine_or_exit(), operator_actor(actor), partner_id, tier=tier,
                         credit_limit=credit_limit, currency=currency, commission_pct=commission_pct, note=note))


@app.command("add-credential")
def add_credential(partner_id: str = typer.Argument(...), note: str = typer.Option(""),
                   actor: str | None = AS_OPTION) -> None:
    """Another API credential for the partner (the secret is shown once)."""
    from core import partners_admin

    credentials = admin_call(partners_admin.add_credential, engine_or_exit(), operator_actor(actor), partner_id,
                             note)
    typer.echo(f"client_id={credentials.client_id}")
    typer.echo(f"client_secret={credentials.client_secret}")


@app.command("rotate")
def rotate(client_id: str = typer.Argument(...), note: str = typer.Option(""), actor: str | None = AS_OPTION) -> None:
    """A new secret for a credential (shown once); the old secret and its tokens stop working at once."""
    from core import partners_admin

    credentials = admin_call(partners_admin.rotate_credential, engine_or_exit(), operator_actor(actor), client_id,
                             note)
    typer.echo(f"client_id={credentials.client_id}")
    typer.echo(f"client_secret={credentials.client_secret}")


@app.command("revoke")
def revoke(client_id: str = typer.Argument(...), note: str = typer.Option(""), actor: str | None = AS_OPTION) -> None:
    """Revoke a credential: its secret and every token issued with it stop working at once."""
    from core import partners_admin

    admin_call(partners_admin.revoke_credential, engine_or_exit(), operator_actor(actor), client_id, note)
    typer.echo(f"credential {client_id} revoked")

