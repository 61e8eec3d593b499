"""Console pages for partners (operators): the list (status, tier, name, top level only; paged), a partner with
its sub-agents and credentials, and the actions create (a sub-agent too), suspend, reactivate, change tier / credit
limit / commission, add, rotate and revoke a credential. A new secret is shown once, on the page the action
returns. Every action goes through `core.partners_admin` (validated, audited with source "console") and reaches
every API process at once, as the admin API's do."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.pages import console_kit as kit
from api.pages.common import engine
from api.routes.admin_partners import access_changed
from core import partners_admin
from core.admin_errors import AdminError
from core.webhooks import store as webhooks

PAGE_SIZE = 25
WEBHOOK_DELIVERIES_SHOWN = 10
NOTE = kit.Field("note", "Note (kept in the audit log)", kind="textarea")
ACTIONS = {  # action: (title, what it does, button, fields)
    "suspend": ("Suspend partner", "Its tokens and credentials, and every sub-agent's, are refused (403) at once.",
                "Suspend", (NOTE,)),
    "reactivate": ("Reactivate partner", "Its tokens and credentials work again at once.", "Reactivate", (NOTE,)),
    "update": ("Change tier, credit limit or commission", "Only the fields you fill in change.", "Save changes",
               (kit.Field("tier", "Tier"), kit.Field("credit_limit", "Credit limit"),
                kit.Field("currency", "Credit currency (ISO-4217)"), kit.Field("commission_pct", "Commission %"),
                kit.Field("name", "Name"), NOTE)),
    "add-credential": ("Add a credential", "Another client id and secret (the secret is shown once).",
                       "Add credential", (NOTE,)),
}
CREDENTIAL_ACTIONS = {
    "rotate": ("Rotate credential", "A new secret, shown once; the old secret and its tokens stop working at once.",
               "Rotate", (NOTE,)),
    "revoke": ("Revoke credential", "Its secret and every token issued with it stop working at once.", "Revoke",
               (NOTE,)),
}
router = APIRouter(include_in_schema=False)


@router.get("/console/partners")
async def partners_page(request: Request) -> Response:
    if (gate := await kit.operator_gate(request)) is not None:
        return gate
    params = request.query_params
    given = kit.blank_to_none(params, "status", "tier", "name")
    top_level = params.get("top_level") == "1"
    page = kit.page_number(params.get("page"))
    errors = []
    try:
        found = await kit.run(partners_admin.list_partners, engine(request), **given, top_level=top_level,
                              limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    except AdminError as error:
        errors.append(kit.refusal(error))
        found = {"items": [], "total": 0}
    filters = {key: value for key, value in given.items() if value} | ({"top_level": "1"} if top_level else {})
    return await kit.page(
        request, "partners.html", partners=found["items"], total=found["total"], filters=filters, errors=errors,
        statuses=partners_admin.STATUSES, page=page,
        previous_url=f"?{urlencode({**filters, 'page': page - 1})}" if page > 1 else None,
        next_url=f"?{urlencode({**filters, 'page': page + 1})}" if page * PAGE_SIZE < found["total"] else None)


NEW_FIELDS = (kit.Field("name", "Name", required=True), kit.Field("tier", "Tier", value="standard"),
              kit.Field("credit_limit", "Credit limit", value="100000"),
              kit.Field("currency", "Credit currency", value="CNY"), kit.Field("commission_pct", "Commission %",
                                                                            value="0"))


@router.get("/console/partners/new")
async def new_partner_page(request: Request) -> Response:
    parent = request.query_params.get("parent_id", "")
    return await kit.confirm(
        request, title="New sub-agent" if parent else "New partner", button="Create partner",
        what="Creates the partner and its first client id and secret (the secret is shown once).",
        action="/console/partners/new" + (f"?{urlencode({'parent_id': parent})}" if parent else ""),
        back=f"/console/partners/{parent}" if parent else "/console/partners", fields=NEW_FIELDS)


@router.post("/console/partners/new")
async def create_partner(request: Request) -> Response:
    principal, form = await kit.operator_form(request)
    parent = request.query_params.get("parent_id") or None
    try:
        partner, credentials = await kit.run(
            partners_admin.create, engine(request), kit.console_actor(principal), form.get("name", ""),
            tier=form.get("tier") or "standard", credit_limit=form.get("credit_limit") or "100000",
            currency=form.get("currency") or "CNY", commission_pct=form.get("commission_pct") or "0",
            parent_id=parent)
    except AdminError as error:
        return await kit.confirm(request, title="New partner", what="Fix the field below.", button="Create partner",
                                 action=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
                                 back="/console/partners", fields=NEW_FIELDS, error=kit.refusal(error),
                                 status_code=error.status, form=form)
    return await _partner_page(request, partner["partner_id"], secret=credentials,
                               flash=f"Partner {partner['name']} created by {principal.client_id}.")


async def _partner_page(request: Request, partner_id: str, secret=None, flash: str | None = None,
                        status_code: int = 200) -> Response:
    try:
        partner = await kit.run(partners_admin.get_partner, engine(request), partner_id)
    except AdminError as error:
        return await kit.page(request, "partner.html", error.status, partner=None, error=kit.refusal(error))
    context = {"flash": flash} if flash else {}
    return await kit.page(request, "partner.html", status_code, partner=partner, secret=secret, error=None,
                          webhook=await kit.run(_webhook, engine(request), partner["partner_id"]),
                          no_broker=webhooks.no_broker_notice(request.app.state.settings), **context)


def _webhook(engine, partner_id: str) -> dict:
    """The partner's webhook, its latest deliveries and its events not yet published: what an operator checks when
    events do not arrive."""
    return {"registration": webhooks.registration(engine, partner_id),
            "deliveries": webhooks.deliveries(engine, partner_id, limit=WEBHOOK_DELIVERIES_SHOWN),
            "waiting": webhooks.waiting(engine, partner_id)}


@router.get("/console/partners/{partner_id}")
async def partner_page(partner_id: str, request: Request) -> Response:
    if (gate := await kit.operator_gate(request)) is not None:
        return gate
    return await _partner_page(request, partner_id)


@router.get("/console/partners/{partner_id}/{action}")
async def confirm_partner_action(partner_id: str, action: str, request: Request) -> Response:
    back = f"/console/partners/{partner_id}"
    return await kit.confirm_action(request, ACTIONS, action, f"{back}/{action}", back)


@router.post("/console/partners/{partner_id}/{action}")
async def partner_action(partner_id: str, action: str, request: Request) -> Response:
    principal, form = await kit.operator_form(request)
    if action not in ACTIONS:
        return await kit.no_such_action(request)
    actor, note, db = kit.console_actor(principal), (form.get("note") or "").strip()[:2000], engine(request)
    back = f"/console/partners/{partner_id}"
    try:
        if action == "suspend":
            await kit.run(partners_admin.suspend, db, actor, partner_id, note)
            message = f"Suspended by {principal.client_id}: its API calls are refused from now on."
        elif action == "reactivate":
            await kit.run(partners_admin.reactivate, db, actor, partner_id, note)
            message = f"Reactivated by {principal.client_id}."
        elif action == "update":
            changes = kit.blank_to_none(form, "tier", "credit_limit", "currency", "commission_pct", "name")
            await kit.run(partners_admin.update, db, actor, partner_id, **changes, note=note)
            message = "Changed: " + ", ".join(f"{key} {value}" for key, value in changes.items() if value) + "."
        else:
            credentials = await kit.run(partners_admin.add_credential, db, actor, partner_id, note)
            return await _partner_page(request, partner_id, secret=credentials, flash="Credential added.")
    except AdminError as error:
        return await kit.confirm_action(request, ACTIONS, action, f"{back}/{action}", back, error=kit.refusal(error),
                                        status_code=error.status, form=form)
    access_changed(request)
    return kit.done(request, back, message)


def _credential_back(request: Request) -> str:
    """The partner page a credential action returns to (only a console partner page, never another site)."""
    back = request.query_params.get("back", "/console/partners")
    return back if back.startswith("/console/partners/") and "//" not in back else "/console/partners"


def _credential_url(client_id: str, action: str, back: str) -> str:
    return f"/console/credentials/{client_id}/{action}?{urlencode({'back': back})}"


@router.get("/console/credentials/{client_id}/{action}")
async def confirm_credential_action(client_id: str, action: str, request: Request) -> Response:
    back = _credential_back(request)
    return await kit.confirm_action(request, CREDENTIAL_ACTIONS, action, _credential_url(client_id, action, back),
                                    back, subject=client_id)


@router.post("/console/credentials/{client_id}/{action}")
async def credential_action(client_id: str, action: str, request: Request) -> Response:
    principal, form = await kit.operator_form(request)
    if action not in CREDENTIAL_ACTIONS:
        return await kit.no_such_action(request)
    actor, note, db = kit.console_actor(principal), (form.get("note") or "").strip()[:2000], engine(request)
    back = _credential_back(request)
    try:
        if action == "rotate":
            credentials = await kit.run(partners_admin.rotate_credential, db, actor, client_id, note)
        else:
            await kit.run(partners_admin.revoke_credential, db, actor, client_id, note)
    except AdminError as error:
        return await kit.confirm_action(request, CREDENTIAL_ACTIONS, action, _credential_url(client_id, action, back),
                                        back, error=kit.refusal(error), status_code=error.status, form=form)
    access_changed(request)
    if action == "rotate":
        return await _partner_page(request, str(credentials.partner_id), secret=credentials,
                                   flash=f"Credential {client_id} rotated: its old secret stopped working.")
    return kit.done(request, back, f"Credential {client_id} revoked by {principal.client_id}.")
