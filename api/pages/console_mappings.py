"""Console pages for the mapping review queues (operators), over what /v1/mappings/reviews and
/v1/mappings/room-reviews call (`core.matching.store`, `core.rooms.store`): hotel mappings (accept a candidate or
a master hotel id, reject, add as a new master hotel) and room mappings (accept the proposed group, the same product
as another room, a product of its own); paged and filtered by supplier, each decision confirmed and audited with
source "console"."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.pages import console_kit as kit
from api.pages.common import engine
from core.matching import store
from core.rooms import store as room_store

PAGE_SIZE = 20
HOTEL_ACTIONS = {  # action: (title, what, button, fields, core function)
    "accept": ("Accept hotel mapping", "The supplier hotel is this master hotel; its rates become quotable.",
               "Accept", (kit.Field("hotel_id", "Master hotel id", required=True),)),
    "reject": ("Reject hotel mapping", "The supplier hotel is none of the candidates.", "Reject", ()),
    "new": ("Add as a new master hotel", "The supplier hotel becomes a master hotel of its own.", "Add hotel", ()),
}
ROOM_ACTIONS = {
    "accept": ("Accept room group", "The proposed group is right.", "Accept", ()),
    "assign": ("Same product as another room", "The room joins the group of the room mapping you name.",
               "Assign", (kit.Field("same_as", "Room mapping id of the same product", required=True),)),
    "separate": ("A product of its own", "The room gets a group of its own.", "Separate", ()),
}
router = APIRouter(include_in_schema=False)


@router.get("/console/mappings")
async def mappings_page(request: Request) -> Response:
    if (gate := await kit.operator_gate(request)) is not None:
        return gate
    params, db = request.query_params, engine(request)
    supplier = (params.get("supplier") or "").strip().upper() or None
    hotel_page, room_page = kit.page_number(params.get("hotel_page")), kit.page_number(params.get("room_page"))
    hotels = await kit.run(store.list_reviews, db, PAGE_SIZE + 1, (hotel_page - 1) * PAGE_SIZE, supplier)
    rooms = await kit.run(room_store.list_room_reviews, db, PAGE_SIZE + 1, (room_page - 1) * PAGE_SIZE, supplier)
    keep = {"supplier": supplier} if supplier else {}

    def link(name: str, page: int) -> str:
        return "?" + urlencode({**keep, "hotel_page": hotel_page, "room_page": room_page, name: page})

    return await kit.page(
        request, "mappings.html", hotels=hotels[:PAGE_SIZE], rooms=rooms[:PAGE_SIZE], supplier=supplier or "",
        hotel_page=hotel_page, room_page=room_page,
        hotel_previous=link("hotel_page", hotel_page - 1) if hotel_page > 1 else None,
        hotel_next=link("hotel_page", hotel_page + 1) if len(hotels) > PAGE_SIZE else None,
        room_previous=link("room_page", room_page - 1) if room_page > 1 else None,
        room_next=link("room_page", room_page + 1) if len(rooms) > PAGE_SIZE else None)


def _table(kind: str) -> dict:
    return {"hotel": HOTEL_ACTIONS, "room": ROOM_ACTIONS}.get(kind, {})


@router.get("/console/mappings/{kind}/{mapping_id}/{action}")
async def confirm_mapping(kind: str, mapping_id: int, action: str, request: Request) -> Response:
    preset = {"hotel_id": request.query_params.get("hotel_id", "")}
    return await kit.confirm_action(request, _table(kind), action, f"/console/mappings/{kind}/{mapping_id}/{action}",
                                    "/console/mappings", subject=str(mapping_id), form=preset)


@router.post("/console/mappings/{kind}/{mapping_id}/{action}")
async def decide(kind: str, mapping_id: int, action: str, request: Request) -> Response:
    principal, form = await kit.operator_form(request)
    if action not in _table(kind):
        return await kit.no_such_action(request)
    actor, db = kit.console_actor(principal), engine(request)
    try:
        if kind == "hotel":
            if action == "accept":
                result = await kit.run(store.accept, db, mapping_id, form.get("hotel_id", "").strip(), actor)
            else:
                result = await kit.run(store.reject if action == "reject" else store.mark_new, db, mapping_id, actor)
        elif action == "assign":
            same_as = form.get("same_as", "").strip()
            if not same_as.isdigit():
                raise store.ReviewError(422, "validation_error", "same_as: a room mapping id (a whole number)")
            result = await kit.run(room_store.assign_room, db, mapping_id, int(same_as), actor)
        else:
            fn = room_store.accept_room if action == "accept" else room_store.separate_room
            result = await kit.run(fn, db, mapping_id, actor)
    except store.ReviewError as error:
        return await kit.confirm_action(request, _table(kind), action,
                                        f"/console/mappings/{kind}/{mapping_id}/{action}", "/console/mappings",
                                        error=error.message, status_code=error.status, form=form)
    return kit.done(request, "/console/mappings", f"{kind.title()} mapping {mapping_id}: {result['status']}.")
