"""`hotelctl secrets rotate`: re-encrypt stored supplier keys with ENCRYPTION_SECRET."""

from __future__ import annotations

import typer

from cli.common import AS_OPTION, endpoints_or_exit, operator_actor, settings_or_exit

app = typer.Typer(help="Stored secrets: key rotation.", no_args_is_help=True)


@app.command("rotate")
def rotate(actor: str | None = AS_OPTION) -> None:
    """Re-encrypt every stored supplier API key with ENCRYPTION_SECRET (old keys in ENCRYPTION_SECRET_PREVIOUS).

    Safe to interrupt and rerun: each key is rewritten in its own transaction. Exit 1 when a stored key
    opens with none of the configured keys.
    """
    from core.db import engine_for
    from core.secret_rotation import rotate_supplier_keys

    settings = settings_or_exit()
    endpoints = endpoints_or_exit(settings)
    result = rotate_supplier_keys(engine_for(endpoints.database_url), settings.encryption_keys(),
                                  operator_actor(actor))
    typer.echo(result.summary())
    if result.unreadable:
        raise typer.Exit(1)


def register(main_app: typer.Typer) -> None:
    main_app.add_typer(app, name="secrets")
