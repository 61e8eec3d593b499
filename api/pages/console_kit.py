"""What the console's operator pages share, over `api.pages.common` and the console `area`: who may act (operator
or admin; finance reads the audit log and its own pages), the confirm step every action goes through, the flash
message an action leaves on the page it returns to, and the audit actor (source "console", the staff username).

An action is two requests: GET …/<action> shows what will happen with the fields it needs (note, reason) and a
button; POST …/<action> (CSRF-checked) calls the core function and redirects back with `?flash=…` (signed
with the app's secret, so a link made elsewhere cannot show its own text), or shows the
confirm page again with the refusal (the field and the reason) and status of the core's AdminError.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from api.auth import Principal
from api.pages.common import signed_flash, verified_flash
from api.pages.console import area, nav_for
from core import audit
from core.admin_errors import AdminError

OPERATOR_ROLES = ("operator", "admin")
def console_actor(principal: Principal) -> audit.Actor:
    return audit.Actor(principal.client_id, principal.role, "console")


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    required: bool = False
    kind: str = "text"  # text | textarea | password | select
    options: tuple[str, ...] = ()
    value: str = ""


async def page(request: Request, name: str, status_code: int = 200, **context) -> Response:
    """A console page with the header's links for the signed-in role and the flash message of the last action."""
    session = await area.session(request)
    role = session.principal.role if session else ""
    flash = context.pop("flash", None) or verified_flash(request)
    return await area.page(request, name, status_code, nav=nav_for(role), flash=flash, **context)


async def operator_gate(request: Request) -> Response | None:
    """None for a signed-in operator (or admin); else the sign-in page or a 403 saying who may act here."""
    session = await area.session(request)
    if session is None:
        query = f"?{request.url.query}" if request.url.query else ""
        return await area.login_page(request, next_url=f"{request.url.path}{query}")
    if session.principal.role not in OPERATOR_ROLES:
        return await page(request, "refused.html", 403, role=session.principal.role)
    return None


async def operator_form(request: Request) -> tuple[Principal, dict[str, str]]:
    """A posted, CSRF-checked form of an operator (401 not signed in, 403 stale form or another role)."""
    principal, form = await area.checked_form(request)
    if principal.role not in OPERATOR_ROLES:
        raise HTTPException(403, detail={"code": "forbidden",
                                         "message": f"the {principal.role} role cannot change this"})
    return principal, form


async def no_such_action(request: Request) -> Response:
    return await page(request, "refused.html", 404, role=None, message="No such action.")


async def confirm(request: Request, *, title: str, what: str, action: str, back: str, button: str,
                  fields: tuple[Field, ...] = (), error: str | None = None, status_code: int = 200,
                  form: dict | None = None) -> Response:
    """The confirm step of an action: what it does, its fields, a button that posts it, a way back."""
    gate = await operator_gate(request)
    if gate is not None:
        return gate
    return await page(request, "confirm.html", status_code, title=title, what=what, action=action, back=back,
                      button=button, fields=fields, error=error, form=form or {})


async def confirm_action(request: Request, actions: dict, action: str, url: str, back: str, *, subject: str = "",
                         error: str | None = None, status_code: int = 200, form: dict | None = None) -> Response:
    """The confirm step of `action` from a page's table of actions ({action: (title, what, button, fields)}),
    posting to `url`; the title gets the `subject` (an id) when given; 404 for an action not in the table."""
    if action not in actions:
        return await no_such_action(request)
    title, what, button, fields = actions[action]
    return await confirm(request, title=f"{title} {subject}" if subject else title, what=what, action=url, back=back,
                         button=button, fields=fields, error=error, status_code=status_code, form=form)


def done(request: Request, url: str, message: str) -> RedirectResponse:
    """Back to `url` with the action's result shown at the top (signed: a forged `?flash=` is not shown)."""
    joiner = "&" if "?" in url else "?"
    return RedirectResponse(f"{url}{joiner}{urlencode(signed_flash(request, message))}", status_code=303)


def refusal(error: AdminError) -> str:
    return f"{error.field}: {error.message}" if error.field else error.message


async def run(function, *args, **kwargs):
    """A synchronous core function in a thread (its AdminError reaches the caller)."""
    return await asyncio.to_thread(function, *args, **kwargs)


def page_number(value: str | None) -> int:
    return int(value) if value and value.isdigit() and 0 < int(value) < 100_000 else 1


def blank_to_none(form, *names: str) -> dict[str, str | None]:
    return {name: (form.get(name) or "").strip() or None for name in names}
