"""`hotelctl staff …`: named staff accounts (operator, finance, admin) for the console and the admin API.

A password is read from a hidden prompt (asked twice) or, for scripts, from standard input with
`--password-stdin`; never from the command line, where it would stay in the shell history and `ps`.
Every change is written to the audit log with source "cli" and the name of who ran it (`--by`, default the
login name).
"""

from __future__ import annotations

import getpass
import json
import sys

import typer

from cli.common import endpoints_or_exit, settings_or_exit

app = typer.Typer(help="Staff accounts: create, disable, enable, reset a password, list.", no_args_is_help=True)
_BY = typer.Option(None, "--by", help="Who is doing this, for the audit log (default: your login name).")
_STDIN = typer.Option(False, "--password-stdin", help="Read the password from standard input (one line).")


def _engine():
    from core.db import engine_for

    return engine_for(endpoints_or_exit(settings_or_exit()).database_url)


def _actor(by: str | None):
    from core.audit import Actor

    return Actor(by or getpass.getuser(), "admin", "cli")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


def _run(function, *args):
    from core.staff import StaffError

    try:
        return function(*args)
    except StaffError as error:
        typer.echo(f"error: {error.field}: {error.message}", err=True)
        raise typer.Exit(1) from None


@app.command("create")
def create(username: str = typer.Argument(..., help="The sign-in name: lower-case letters, digits, . _ -"),
           role: str = typer.Option(..., "--role", help="operator, finance or admin (admin may do everything)."),
           name: str = typer.Option("", "--name", help="The display name (default: the username)."),
           password_stdin: bool = _STDIN, by: str | None = _BY) -> None:
    """Create a staff account."""
    from core.staff import create_staff

    engine = _engine()
    staff = _run(create_staff, engine, username, name, role, _password(password_stdin), _actor(by))
    typer.echo(f"created {staff.username} ({staff.display_name}), role {staff.role}")


@app.command("disable")
def disable(username: str, note: str = typer.Option("", "--note", help="Why, for the audit log."),
            by: str | None = _BY) -> None:
    """Disable an account: it can no longer sign in and its console sessions end at once."""
    from core.staff import disable_staff

    staff = _run(disable_staff, _engine(), username, _actor(by), note)
    typer.echo(f"disabled {staff.username}")


@app.command("enable")
def enable(username: str, note: str = typer.Option("", "--note", help="Why, for the audit log."),
           by: str | None = _BY) -> None:
    """Enable a disabled account again."""
    from core.staff import enable_staff

    staff = _run(enable_staff, _engine(), username, _actor(by), note)
    typer.echo(f"enabled {staff.username}")


@app.command("reset-password")
def reset(username: str, password_stdin: bool = _STDIN, by: str | None = _BY) -> None:
    """Set a new password; the account's console sessions end."""
    from core.staff import reset_password

    engine = _engine()
    staff = _run(reset_password, engine, username, _password(password_stdin), _actor(by))
    typer.echo(f"password of {staff.username} reset")


@app.command("list")
def list_accounts() -> None:
    """Every staff account as JSON (no password hashes)."""
    from core.staff import list_staff

    typer.echo(json.dumps(list_staff(_engine()), default=str, indent=1))


def register(main_app: typer.Typer) -> None:
    main_app.add_typer(app, name="staff")
