"""Console pages for suppliers (operators): the list with health (breaker, last syncs, quarantined records, recent
failed calls), a supplier with its sync runs and quarantined records (filtered, paged), and the actions enable,
disable (its offers leave the next quote, the syncs skip it) and API key rotation (stored encrypted), through
`core.suppliers.admin` as the admin API's are, audited with source "console"."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.pages import console_kit as kit
from api.pages.common import engine
from core.admin_errors import AdminError
from core.suppliers import admin

PAGE_SIZE = 20
NOTE = kit.Field("note", "Note (kept in the audit log)", kind="textarea")
ACTIONS = {
    "disable": ("Disable supplier", "Its offers leave the next quote in every API process; syncs skip it.",
                "Disable", (NOTE,)),
    "enable": ("Enable supplier", "It is synced and quoted again.", "Enable", (NOTE,)),
    "rotate-key": ("Rotate the API key", "The new key is stored encrypted; the next call uses it.", "Store new key",
                   (kit.Field("api_key", "New API key", required=True, kind="password"), NOTE)),
}
router = APIRouter(include_in_schema=False)


@router.get("/console/suppliers")
async def suppliers_page(request: Request) -> Response:
    if (gate := await kit.operator_gate(request)) is not None:
        return gate
    shown = request.query_params.get("enabled", "")
    enabled = {"yes": True, "no": False}.get(shown)
    found = await kit.run(admin.list_suppliers, engine(request), enabled=enabled)
    return await kit.page(request, "suppliers.html", suppliers=found["items"], shown=shown)


def _paging(params, prefix: str, total: int, others: dict) -> tuple[int, str | None, str | None]:
    page = kit.page_number(params.get(f"{prefix}_page"))
    previous_url = f"?{urlencode({**others, f'{prefix}_page': page - 1})}" if page > 1 else None
    next_url = f"?{urlencode({**others, f'{prefix}_page': page + 1})}" if page * PAGE_SIZE < total else None
    return page, previous_url, next_url


@router.get("/console/suppliers/{code}")
async def supplier_page(code: str, request: Request) -> Response:
    if (gate := await kit.operator_gate(request)) is not None:
        return gate
    params, db = request.query_params, engine(request)
    filters = {key: value for key, value in kit.blank_to_none(params, "feed", "status", "reason", "run_id").items()
               if value}
    keep = {**filters, **{k: params[k] for k in ("runs_page", "quarantine_page") if params.get(k)}}
    runs_page = kit.page_number(params.get("runs_page"))
    quarantine_page = kit.page_number(params.get("quarantine_page"))
    errors = []
    try:
        supplier = await kit.run(admin.get_supplier, db, code)
    except AdminError as error:
        return await kit.page(request, "supplier.html", error.status, supplier=None, error=kit.refusal(error))
    try:
        runs = await kit.run(admin.sync_runs, db, code, feed=filters.get("feed"), status=filters.get("status"),
                             limit=PAGE_SIZE, offset=(runs_page - 1) * PAGE_SIZE)
        quarantine = await kit.run(admin.quarantined, db, code, feed=filters.get("feed"),
                                   run_id=filters.get("run_id"), reason=filters.get("reason"), limit=PAGE_SIZE,
                                   offset=(quarantine_page - 1) * PAGE_SIZE)
    except AdminError as error:
        errors.append(kit.refusal(error))
        runs = quarantine = {"items": [], "total": 0}
    _, runs_previous, runs_next = _paging(params, "runs", runs["total"],
                                          {k: v for k, v in keep.items() if k != "runs_page"})
    _, quarantine_previous, quarantine_next = _paging(params, "quarantine", quarantine["total"],
                                                      {k: v for k, v in keep.items() if k != "quarantine_page"})
    return await kit.page(
        request, "supplier.html", supplier=supplier, error=None, errors=errors, filters=filters, runs=runs,
        quarantine=quarantine, feeds=admin.FEEDS, run_statuses=admin.RUN_STATUSES, runs_page=runs_page,
        quarantine_page=quarantine_page, runs_previous=runs_previous, runs_next=runs_next,
        quarantine_previous=quarantine_previous, quarantine_next=quarantine_next)


@router.get("/console/suppliers/{code}/{action}")
async def confirm_supplier_action(code: str, action: str, request: Request) -> Response:
    back = f"/console/suppliers/{code}"
    return await kit.confirm_action(request, ACTIONS, action, f"{back}/{action}", back, subject=code)


@router.post("/console/suppliers/{code}/{action}")
async def supplier_action(code: str, action: str, request: Request) -> Response:
    principal, form = await kit.operator_form(request)
    if action not in ACTIONS:
        return await kit.no_such_action(request)
    actor, note, db = kit.console_actor(principal), (form.get("note") or "").strip()[:2000], engine(request)
    back = f"/console/suppliers/{code}"
    try:
        if action == "rotate-key":
            secret = request.app.state.settings.encryption_secret.get_secret_value()
            await kit.run(admin.rotate_key, db, actor, code, form.get("api_key", ""), secret, note)
            message = f"New API key stored for {code.upper()} by {principal.client_id}."
        else:
            await kit.run(admin.set_enabled, db, actor, code, action == "enable", note)
            message = (f"{code.upper()} {action}d by {principal.client_id}"
                       + (": its offers leave the next quote." if action == "disable" else "."))
    except AdminError as error:
        form.pop("api_key", None)
        return await kit.confirm_action(request, ACTIONS, action, f"{back}/{action}", back, error=kit.refusal(error),
                                        status_code=error.status, form=form)
    return kit.done(request, back, message)
