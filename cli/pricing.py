"""`hotelctl pricing …`: pricing rules (list, add, update, retire, history, preview) and FX rate loads.

Every change goes through `core.pricing_rules` (validated, versioned with the operator's name, `--by`),
exactly as the operator API does; a bad value prints one line naming the field and exits 1.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json

import typer

from cli.common import endpoints_or_exit, operator_actor, settings_or_exit

app = typer.Typer(help="Pricing rules and exchange rates.", no_args_is_help=True)

_RULE_OPTIONS = ("level", "partner_id", "partner_tier", "supplier_code", "city", "star_min", "star_max",
                 "date_from", "date_to", "markup_pct", "markup_fixed", "fixed_currency", "priority")


def _engine():
    from core.db import engine_for

    settings = settings_or_exit()
    return engine_for(endpoints_or_exit(settings).database_url), settings


def _run(function, *args):
    from core.pricing_rules import RuleError

    try:
        return function(*args)
    except RuleError as error:
        typer.echo(f"error: {error.field}: {error.reason}", err=True)
        raise typer.Exit(1) from None


def _print(value) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def _values(**options) -> dict:
    return {name: value for name, value in options.items() if name in _RULE_OPTIONS and value is not None}


@app.command("list")
def list_rules(include_retired: bool = typer.Option(False, "--all", help="Retired rules too.")) -> None:
    """Active pricing rules, highest priority first (JSON)."""
    from core.pricing_rules import list_rules as rules

    engine, _ = _engine()
    _print(_run(rules, engine, include_retired))


@app.command("add")
def add(
    level: str = typer.Argument(..., help="platform or partner"),
    markup_pct: str | None = typer.Option(None, help="Percent of the amount (0-100)."),
    markup_fixed: str | None = typer.Option(None, help="Fixed amount per room-night."),
    fixed_currency: str | None = typer.Option(None, help="Currency of --markup-fixed."),
    partner_id: str | None = typer.Option(None), partner_tier: str | None = typer.Option(None),
    supplier_code: str | None = typer.Option(None), city: str | None = typer.Option(None),
    star_min: str | None = typer.Option(None), star_max: str | None = typer.Option(None),
    date_from: str | None = typer.Option(None, help="First check-in date (YYYY-MM-DD)."),
    date_to: str | None = typer.Option(None, help="Last check-in date (YYYY-MM-DD)."),
    priority: int | None = typer.Option(None),
    by: str = typer.Option(getpass.getuser(), help="Who makes the change (kept in the history)."),
) -> None:
    """Create a rule (validated, versioned)."""
    from core.pricing_rules import create_rule

    engine, settings = _engine()
    values = _values(**{k: v for k, v in locals().items() if k not in ("engine", "settings", "by")})
    _print(_run(create_rule, engine, values, operator_actor(by), settings.default_currency))


@app.command("update")
def update(
    rule_id: int = typer.Argument(...),
    markup_pct: str | None = typer.Option(None), markup_fixed: str | None = typer.Option(None),
    fixed_currency: str | None = typer.Option(None), partner_tier: str | None = typer.Option(None),
    supplier_code: str | None = typer.Option(None), city: str | None = typer.Option(None),
    star_min: str | None = typer.Option(None), star_max: str | None = typer.Option(None),
    date_from: str | None = typer.Option(None), date_to: str | None = typer.Option(None),
    priority: int | None = typer.Option(None),
    by: str = typer.Option(getpass.getuser(), help="Who makes the change (kept in the history)."),
) -> None:
    """Change the given fields of an active rule (validated, versioned)."""
    from core.pricing_rules import update_rule

    engine, settings = _engine()
    values = _values(**{k: v for k, v in locals().items() if k not in ("engine", "settings", "by", "rule_id")})
    _print(_run(update_rule, engine, rule_id, values, operator_actor(by), settings.default_currency))


@app.command("retire")
def retire(rule_id: int = typer.Argument(...),
           by: str = typer.Option(getpass.getuser(), help="Who makes the change.")) -> None:
    """Retire a rule: it stops pricing new quotes; it and its history are kept."""
    from core.pricing_rules import retire_rule

    engine, _ = _engine()
    _print(_run(retire_rule, engine, rule_id, operator_actor(by)))


@app.command("history")
def history(rule_id: int = typer.Argument(...)) -> None:
    """Every change of a rule: who, when, before and after."""
    from core.pricing_rules import get_rule, rule_history

    engine, _ = _engine()
    _run(get_rule, engine, rule_id)
    _print(_run(rule_history, engine, rule_id))


@app.command("preview")
def preview(
    partner_id: str = typer.Option(..., help="The partner (UUID)."),
    hotel_id: str = typer.Option(..., help="The master hotel id."),
    check_in: dt.datetime = typer.Option(..., formats=["%Y-%m-%d"]),
    check_out: dt.datetime = typer.Option(..., formats=["%Y-%m-%d"]),
    rooms: int = typer.Option(1, min=1, max=9),
    currency: str | None = typer.Option(None, help="Sell currency (default: the partner's)."),
) -> None:
    """What the partner would pay for the hotel on these nights: net, each step of the chain, sell."""
    from core.pricing_preview import PreviewRequest
    from core.pricing_preview import preview as run_preview

    engine, settings = _engine()
    request = PreviewRequest(partner_id, hotel_id, check_in.date(), check_out.date(), rooms, currency)
    _print(_run(run_preview, engine, request, settings.default_currency, settings.fx_max_age_days))


@app.command("seed-defaults")
def seed_defaults(by: str = typer.Option(getpass.getuser(), help="Who makes the change.")) -> None:
    """Add the default rule set (platform margin, tier markups) if the platform has never had a rule."""
    from core.pricing_rules import seed_default_rules

    engine, _ = _engine()
    typer.echo(f"{seed_default_rules(engine, operator_actor(by))} default rules added")


def register(main_app: typer.Typer) -> None:
    main_app.add_typer(app, name="pricing")
