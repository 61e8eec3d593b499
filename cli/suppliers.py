"""`hotelctl suppliers …`: the supplier list with health, enable and disable, API key rotation, sync runs and
quarantined records (a thin wrapper over core/suppliers/admin.py; every change in the audit log)."""

from __future__ import annotations

import typer

from cli.common import AS_OPTION, admin_call, echo_json, engine_or_exit, operator_actor, settings_or_exit

app = typer.Typer(help="Suppliers: health, enable/disable, API keys, sync runs, quarantine.", no_args_is_help=True)


@app.command("list")
def list_suppliers() -> None:
    """Every supplier with its health (JSON); `breaker` is this process's, see the API's list for the API's."""
    from core.suppliers import admin

    echo_json(admin_call(admin.list_suppliers, engine_or_exit()))


@app.command("enable")
def enable(code: str = typer.Argument(...), note: str = typer.Option("", help="Why (audit log)."),
           actor: str | None = AS_OPTION) -> None:
    """Enable a supplier: synced and quoted again."""
    from core.suppliers import admin

    admin_call(admin.set_enabled, engine_or_exit(), operator_actor(actor), code, True, note)
    typer.echo(f"supplier {code.upper()} enabled")


@app.command("disable")
def disable(code: str = typer.Argument(...), note: str = typer.Option("", help="Why (audit log)."),
            actor: str | None = AS_OPTION) -> None:
    """Disable a supplier: its offers leave the next quote, no sync runs for it."""
    from core.suppliers import admin

    admin_call(admin.set_enabled, engine_or_exit(), operator_actor(actor), code, False, note)
    typer.echo(f"supplier {code.upper()} disabled")


@app.command("rotate-key")
def rotate_key(code: str = typer.Argument(...), note: str = typer.Option("", help="Why (audit log)."),
               actor: str | None = AS_OPTION) -> None:
    """Store a new API key (read from the prompt, never echoed), encrypted with ENCRYPTION_SECRET."""
    from core.suppliers import admin

    api_key = typer.prompt("new API key", hide_input=True)
    secret = settings_or_exit().encryption_secret.get_secret_value()
    admin_call(admin.rotate_key, engine_or_exit(), operator_actor(actor), code, api_key, secret, note)
    typer.echo(f"supplier {code.upper()}: new API key stored")


@app.command("runs")
def runs(code: str | None = typer.Argument(None, help="Supplier code (all when omitted)."),
         feed: str | None = typer.Option(None, help="content or inventory"),
         status: str | None = typer.Option(None, help="ok, partial, failed or contract_failed"),
         limit: int = typer.Option(50, min=1, max=500), offset: int = typer.Option(0, min=0)) -> None:
    """Sync runs, newest first (JSON)."""
    from core.suppliers import admin

    echo_json(admin_call(admin.sync_runs, engine_or_exit(), code, feed=feed, status=status, limit=limit,
                         offset=offset))


@app.command("quarantine")
def quarantine(code: str | None = typer.Argument(None, help="Supplier code (all when omitted)."),
               feed: str | None = typer.Option(None), run_id: str | None = typer.Option(None),
               reason: str | None = typer.Option(None, help="Reason contains."),
               limit: int = typer.Option(50, min=1, max=500), offset: int = typer.Option(0, min=0)) -> None:
    """Quarantined records with their reasons, newest first (JSON)."""
    from core.suppliers import admin

    echo_json(admin_call(admin.quarantined, engine_or_exit(), code, feed=feed, run_id=run_id, reason=reason,
                         limit=limit, offset=offset))


def register(main_app: typer.Typer) -> None:
    main_app.add_typer(app, name="suppliers")
