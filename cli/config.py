"""`hotelctl config …` and `hotelctl flags …`: the config center and feature flags.

Every change is a row update in PostgreSQL; its NOTIFY trigger tells every running API and worker,
which reload that key within a second (or at their next 30 s poll).
"""

from __future__ import annotations

import json

import typer
from rich.table import Table

from cli.common import AS_OPTION, console, endpoints_or_exit, operator_actor, settings_or_exit

config_app = typer.Typer(help="Read and change platform config (platform_config).", no_args_is_help=True)
flags_app = typer.Typer(help="Read and change feature flags (feature_flags).", no_args_is_help=True)


def _engine():
    import sqlalchemy as sa

    from core.db import engine_for

    settings = settings_or_exit()
    engine = engine_for(endpoints_or_exit(settings).database_url)
    try:
        with engine.connect() as conn:
            migrated = conn.execute(sa.text("SELECT to_regclass('feature_flags') IS NOT NULL")).scalar_one()
    except sa.exc.OperationalError as error:
        _fail(f"cannot reach PostgreSQL (DATABASE_URL): {type(error.orig).__name__}")
    if not migrated:
        _fail("the schema is not migrated: run `hotelctl migrate` first")
    return engine, settings


def _fail(message: str) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(2)


def _show(data, as_json: bool) -> bool:
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))
    return as_json


@config_app.command("set")
def config_set(
    key: str = typer.Argument(..., help="Config key, e.g. matching.algorithm.weights."),
    value: str = typer.Argument(..., help="A JSON value: 30, true, '{\"a\": 1}', '\"text\"' (see --string)."),
    env: str = typer.Option(None, help="Environment row to set (default: HOTEL_ENV)."),
    description: str = typer.Option(None, help="What the key is for."),
    string: bool = typer.Option(False, "--string", help="Store VALUE as a JSON string as given."),
    by: str = typer.Option(None, help="Recorded as updated_by (default: who acts, see --as)."),
    as_: str = AS_OPTION,
) -> None:
    """Set a key (insert or replace); running processes pick it up through NOTIFY."""
    from core.config import ConfigError, set_config

    if string:
        parsed = value
    else:
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            _fail(f"VALUE: {value!r} is not JSON (quote a string as '\"{value}\"' or pass --string)")
    engine, settings = _engine()
    try:
        who = operator_actor(as_)
        row = set_config(engine, key, parsed, env or settings.hotel_env, description, by or who.name, actor=who)
    except ConfigError as error:
        _fail(f"invalid {error.field}: {error.message}")
    typer.echo(json.dumps({"key": row["key"], "env": row["env"], "value": row["value"]}, ensure_ascii=False))


@config_app.command("get")
def config_get(
    key: str = typer.Argument(..., help="Config key."),
    env: str = typer.Option(None, help="Environment (default: HOTEL_ENV); falls back to the production row."),
) -> None:
    """Print a key's effective JSON value for an environment (exit 1 when unset)."""
    from core.config import load_config

    engine, settings = _engine()
    values = load_config(engine, env or settings.hotel_env)
    if key not in values:
        typer.echo(f"{key}: not set", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps(values[key], ensure_ascii=False))


@config_app.command("list")
def config_list(
    env: str = typer.Option(None, help="Only this environment's rows."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Every stored row: key, env, value, who changed it and when."""
    from core.config import list_config

    engine, _ = _engine()
    rows = list_config(engine, env)
    if _show(rows, as_json):
        return
    table = Table(title="platform_config")
    for column in ("key", "env", "value", "updated_at", "updated_by"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["key"], row["env"], json.dumps(row["value"], ensure_ascii=False)[:80],
                      str(row["updated_at"] or ""), row["updated_by"] or "")
    console.print(table)


@config_app.command("delete")
def config_delete(key: str = typer.Argument(...), env: str = typer.Option(None, help="Default: HOTEL_ENV."),
                  as_: str = AS_OPTION) -> None:
    """Delete one env's row of a key (audited)."""
    from core.config import ConfigError, delete_config

    engine, settings = _engine()
    try:
        deleted = delete_config(engine, key, env or settings.hotel_env, operator_actor(as_))
    except ConfigError as error:
        _fail(f"invalid {error.field}: {error.message}")
    if not deleted:
        typer.echo(f"{key}: not set in {env or settings.hotel_env}", err=True)
        raise typer.Exit(1)
    typer.echo(f"deleted {key}")


@flags_app.command("list")
def flags_list(
    tenant: str = typer.Option(None, help="Also show whether each flag is on for this tenant."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Every flag: enabled, rollout %, whitelist (and its value for --tenant)."""
    from core.config import Flag, list_flags

    engine, _ = _engine()
    rows = list_flags(engine)
    if tenant is not None:
        for row in rows:
            row["on_for_tenant"] = Flag(row["name"], row["enabled"], row["rollout_pct"],
                                        tuple(row["whitelist"])).is_on(tenant)
    if _show(rows, as_json):
        return
    table = Table(title="feature_flags")
    columns = ["name", "enabled", "rollout_pct", "whitelist"] + (["on for tenant"] if tenant else [])
    for column in columns:
        table.add_column(column)
    for row in rows:
        cells = [row["name"], str(row["enabled"]).lower(), str(row["rollout_pct"]), ",".join(row["whitelist"])]
        if tenant is not None:
            cells.append(str(row["on_for_tenant"]).lower())
        table.add_row(*cells)
    console.print(table)


@flags_app.command("set")
def flags_set(
    name: str = typer.Argument(..., help="Flag name, e.g. risk.auto.reject."),
    enabled: bool = typer.Option(None, "--on/--off", help="Turn the flag on or off."),
    rollout: int = typer.Option(None, "--rollout", min=0, max=100, help="Percent of tenants (murmur3 of tenant+name)."),
    whitelist: str = typer.Option(None, help="Comma-separated tenant ids that always get the flag ('' clears)."),
    description: str = typer.Option(None),
    create: bool = typer.Option(False, "--create", help="Create the flag if it does not exist."),
    as_: str = AS_OPTION,
) -> None:
    """Change a flag; only the options given change."""
    from core.config import ConfigError, set_flag

    tenants = None if whitelist is None else [t.strip() for t in whitelist.split(",") if t.strip()]
    if enabled is None and rollout is None and tenants is None and description is None and not create:
        _fail("nothing to change: give --on/--off, --rollout, --whitelist or --description")
    engine, _ = _engine()
    try:
        row = set_flag(engine, name, enabled, rollout, tenants, description, create, actor=operator_actor(as_))
    except ConfigError as error:
        _fail(f"invalid {error.field}: {error.message}")
    if row["enabled"] and row["whitelist"] and row["rollout_pct"] >= 100:
        typer.echo("note: rollout_pct is 100, so every tenant has the flag; for whitelist-only set --rollout 0",
                   err=True)
    typer.echo(json.dumps({k: row[k] for k in ("name", "enabled", "rollout_pct", "whitelist")}))


@flags_app.command("check")
def flags_check(name: str = typer.Argument(...), tenant: str = typer.Option(None, help="Tenant id.")) -> None:
    """Print true/false: is the flag on for the tenant? (exit 0 either way; 1 for an unknown flag)"""
    from core.config import load_flags

    engine, _ = _engine()
    flag = load_flags(engine).get(name)
    if flag is None:
        typer.echo(f"unknown flag {name!r}", err=True)
        raise typer.Exit(1)
    typer.echo(str(flag.is_on(tenant)).lower())


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
    app.add_typer(flags_app, name="flags")
